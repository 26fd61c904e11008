//! Accept loops, one per listening link.
//!
//! Plain TCP: a permit is taken before each accept, so a listener never holds more
//! than its link's `max_connections`; over the bound, new peers wait in the
//! kernel's backlog instead of consuming the switch's memory.
//!
//! TLS: handshakes in progress have a cap of their own (`[switch.tls]
//! max_handshakes`, taken before each accept) and a deadline; a connection takes one
//! of the link's `max_connections` only once its handshake is done and its
//! certificate bound to the link's banks. Slow or idle handshakes therefore hold at
//! most `max_handshakes` sockets for at most the deadline each, and never a slot of
//! an established bank.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use super::connection::serve;
use super::handshake;
use super::runtime::Shared;
use super::stream::LinkStream;
use crate::config::LinkConfig;
use crate::tls::LinkTls;

/// A listening link's TLS: the acceptor, the identities its banks must present,
/// the handshake deadline and cap.
struct TlsListener {
    acceptor: TlsAcceptor,
    identities: Arc<LinkTls>,
    deadline: Duration,
    max_handshakes: usize,
}

pub(crate) async fn accept_loop(shared: Arc<Shared>, link: Arc<LinkConfig>, listener: TcpListener) {
    let tls = match &shared.config.tls {
        Some(t) => match (t.links.get(&link.name), &t.material) {
            (None, _) => None,
            (Some(lt), Some(material)) => Some(TlsListener {
                acceptor: TlsAcceptor::from(material.server.clone()),
                identities: Arc::new(lt.clone()),
                deadline: t.handshake_timeout,
                max_handshakes: t.max_handshakes,
            }),
            (Some(_), None) => {
                tracing::error!(link = %link.name, "TLS certificates not loaded; not accepting on this link");
                return;
            }
        },
        None => None,
    };
    match tls {
        None => plain_loop(shared, link, listener).await,
        Some(tls) => tls_loop(shared, link, listener, tls).await,
    }
}

/// Wait for a permit, or None when the switch stops.
async fn permit(shared: &Shared, permits: &Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
    let mut stop = shared.stop.subscribe();
    if *stop.borrow() {
        return None;
    }
    tokio::select! {
        p = permits.clone().acquire_owned() => p.ok(),
        _ = stop.changed() => None,
    }
}

/// Accept one connection, or None when the switch stops.
async fn accept(
    shared: &Shared,
    link: &LinkConfig,
    listener: &TcpListener,
) -> Option<(TcpStream, SocketAddr)> {
    let mut stop = shared.stop.subscribe();
    loop {
        if *stop.borrow() {
            return None;
        }
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return None,
        };
        match accepted {
            Ok(pair) => return Some(pair),
            Err(e) => {
                tracing::warn!(link = %link.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn plain_loop(shared: Arc<Shared>, link: Arc<LinkConfig>, listener: TcpListener) {
    let permits = Arc::new(Semaphore::new(link.max_connections));
    loop {
        let Some(permit) = permit(&shared, &permits).await else {
            return;
        };
        let Some((stream, _)) = accept(&shared, &link, &listener).await else {
            return;
        };
        let (shared, link) = (shared.clone(), link.clone());
        tokio::spawn(async move {
            serve(shared, link, LinkStream::Plain(stream), None).await;
            drop(permit);
        });
    }
}

async fn tls_loop(
    shared: Arc<Shared>,
    link: Arc<LinkConfig>,
    listener: TcpListener,
    tls: TlsListener,
) {
    let handshakes = Arc::new(Semaphore::new(tls.max_handshakes));
    let connections = Arc::new(Semaphore::new(link.max_connections));
    let tls = Arc::new(tls);
    loop {
        let Some(handshaking) = permit(&shared, &handshakes).await else {
            return;
        };
        let Some((tcp, peer)) = accept(&shared, &link, &listener).await else {
            return;
        };
        let _ = tcp.set_nodelay(true);
        let (shared, link, tls, connections) = (
            shared.clone(),
            link.clone(),
            tls.clone(),
            connections.clone(),
        );
        tokio::spawn(async move {
            let result = handshake::accept(&tls.acceptor, tcp, tls.deadline, &tls.identities).await;
            drop(handshaking);
            match result {
                Err(refused) => refused.report(&link.name, Some(peer)),
                Ok((stream, binding)) => {
                    let Ok(permit) = connections.try_acquire_owned() else {
                        tracing::warn!(link = %link.name, %peer, max = link.max_connections, "connection limit reached; closing the new connection");
                        return;
                    };
                    serve(shared, link, stream, Some(binding)).await;
                    drop(permit);
                }
            }
        });
    }
}
