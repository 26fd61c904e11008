//! A stand-in for one node of a switch cluster, for the acquirer's failover
//! tests: it accepts acquirer connections on a loopback port of its own and
//! relays each, byte for byte, over a connection of its own to one issuer host,
//! so that whatever node a request or its reversal went through, the books are
//! that one issuer's (as behind a real cluster, where every node links every
//! issuer). It can be killed (listener and every connection dropped at once, as
//! by kill -9), revived on the same port, or frozen (sockets kept open, nothing
//! relayed: a hung node).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// One relaying node.
pub struct RelayNode {
    /// Where acquirers connect.
    pub addr: SocketAddr,
    upstream: SocketAddr,
    /// Bytes relayed from the issuer back to acquirers (answers).
    answered_bytes: Arc<AtomicU64>,
    frozen: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl RelayNode {
    /// A node on a free loopback port relaying to `upstream`.
    pub async fn start(upstream: SocketAddr) -> RelayNode {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut node = RelayNode {
            addr: listener.local_addr().unwrap(),
            upstream,
            answered_bytes: Arc::new(AtomicU64::new(0)),
            frozen: Arc::new(AtomicBool::new(false)),
            accept: None,
        };
        node.serve(listener);
        node
    }

    /// Bytes of answers relayed so far.
    pub fn answered_bytes(&self) -> u64 {
        self.answered_bytes.load(Ordering::Relaxed)
    }

    /// Drop the listener and every connection at once.
    pub async fn kill(&mut self) {
        if let Some(task) = self.accept.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listen again on the same port (after [`RelayNode::kill`]).
    pub async fn revive(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.frozen.store(false, Ordering::Relaxed);
        self.serve(listener);
    }

    /// Stop relaying in both directions, keeping every socket open.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::Relaxed);
    }

    fn serve(&mut self, listener: TcpListener) {
        let upstream = self.upstream;
        let answered = Arc::clone(&self.answered_bytes);
        let frozen = Arc::clone(&self.frozen);
        // The connections live in the accept task's JoinSet: aborting the task
        // drops the set, which aborts them and closes their sockets.
        self.accept = Some(tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((down, _)) = accepted else { continue };
                        let answered = Arc::clone(&answered);
                        let frozen = Arc::clone(&frozen);
                        connections.spawn(relay(down, upstream, answered, frozen));
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        }));
    }
}

/// Relay one acquirer connection to a new connection to the issuer.
async fn relay(
    down: TcpStream,
    upstream: SocketAddr,
    answered: Arc<AtomicU64>,
    frozen: Arc<AtomicBool>,
) {
    let Ok(up) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = (down.set_nodelay(true), up.set_nodelay(true));
    let (down_r, down_w) = down.into_split();
    let (up_r, up_w) = up.into_split();
    let requests = pump(down_r, up_w, None, Arc::clone(&frozen));
    let answers = pump(up_r, down_w, Some(answered), frozen);
    // Either side closing ends the relay (both sockets close with it).
    tokio::select! {
        _ = requests => {}
        _ = answers => {}
    }
}

/// Copy `from` to `to` until either ends, holding the bytes while frozen.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    counted: Option<Arc<AtomicU64>>,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while frozen.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while frozen.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        if let Some(c) = &counted {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}
