//! Taking an issuer host down and bringing it back, as a bank's host restarting
//! during the day: the listener is closed and every connection dropped (the
//! switch's links go down and its redials are refused), then the host listens
//! again on the same address, or dials again, with the same books (the accounts,
//! the transaction log and the totals live in the [`Issuer`](super::behaviour::Issuer),
//! which outlives its links).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::server::Server;
use super::RunningIssuer;

/// Where a host's link lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// It listens on this (bound) address.
    Listen(SocketAddr),
    /// It dials the switch at this address.
    Dial(SocketAddr),
}

impl Endpoint {
    /// The listening address, in listen mode.
    pub fn listening(self) -> Option<SocketAddr> {
        match self {
            Endpoint::Listen(a) => Some(a),
            Endpoint::Dial(_) => None,
        }
    }
}

/// A link about to be served: a bound listener, or the switch's address to dial.
pub enum LinkSide {
    /// Accept connections here.
    Listening(TcpListener),
    /// Dial here, and redial whenever the link drops.
    Dialing(SocketAddr),
}

/// Bind `addr` for listening.
pub async fn listen(addr: &str) -> Result<TcpListener, String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    if let Ok(local) = listener.local_addr() {
        tracing::info!("listening on {local}");
    }
    Ok(listener)
}

impl LinkSide {
    /// Where this link lives (the bound address when listening).
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        match self {
            LinkSide::Listening(l) => l
                .local_addr()
                .map(Endpoint::Listen)
                .map_err(|e| format!("cannot listen: {e}")),
            LinkSide::Dialing(a) => Ok(Endpoint::Dial(*a)),
        }
    }

    /// Serve the link in a task of its own, stopped by the returned sender.
    pub fn spawn(self, server: &Arc<Server>) -> (watch::Sender<bool>, JoinHandle<()>) {
        let (stop, stop_rx) = watch::channel(false);
        let task = match self {
            LinkSide::Listening(l) => tokio::spawn(server.clone().serve(l, stop_rx)),
            LinkSide::Dialing(a) => tokio::spawn(server.clone().dial(a, stop_rx)),
        };
        (stop, task)
    }
}

impl RunningIssuer {
    /// Whether the host is up (its link served).
    pub fn is_up(&self) -> bool {
        self.link.is_some()
    }

    /// Take the host down: stop accepting (the listener is closed) and drop every
    /// connection; returns once the link task has ended. The books stay.
    pub async fn take_down(&mut self) {
        let _ = self.link_stop.send(true);
        if let Some(link) = self.link.take() {
            let _ = link.await;
        }
        tracing::info!(endpoint = ?self.endpoint, "host down");
    }

    /// Bring the host back where it was, with the same books (a no-op when up).
    pub async fn bring_up(&mut self) -> Result<(), String> {
        if self.link.is_some() {
            return Ok(());
        }
        let side = match self.endpoint {
            Endpoint::Listen(addr) => LinkSide::Listening(listen(&addr.to_string()).await?),
            Endpoint::Dial(addr) => LinkSide::Dialing(addr),
        };
        let (stop, task) = side.spawn(&self.server);
        (self.link_stop, self.link) = (stop, Some(task));
        tracing::info!(endpoint = ?self.endpoint, "host up again");
        Ok(())
    }
}
