//! One token API listener: accepts up to `max_connections` connections at once,
//! each over plain TCP or mutual TLS (the switch's server configuration, the
//! client certificate bound to the listener's identity with the links' binding
//! code), and drives HTTP/1.1 on it with hyper under the request deadline.
//! Returns when told to stop, after the open connections finish their answers
//! (at most [`REQUEST_TIMEOUT`] more).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::backend::TokenBackend;
use super::routes::{router, Api, REQUEST_TIMEOUT};
use crate::config::TokenApiConfig;
use crate::core::tokens::Caller;
use crate::net::http1::{accept_within, serve_connection, Limits};
use crate::tls::identity;
use crate::tls::LinkTls;

/// Largest buffer for a request's head (hyper's minimum): headers beyond it are
/// refused.
const MAX_HEAD: usize = 8192;
/// Most header lines in a request (hyper's default; said here so both
/// listeners' bounds read alike).
const MAX_HEADERS: usize = 100;

/// Serve `config`'s token API on `listener` until `stop` turns true (or its
/// sender is dropped). With `config.tls`, `tls` is the switch's server
/// configuration (client certificates required); without it the listener's
/// participant is whoever connects.
pub async fn serve(
    listener: TcpListener,
    config: TokenApiConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    backend: Arc<dyn TokenBackend>,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = match (config.tls, tls) {
        (true, Some(server)) => Some(TlsAcceptor::from(server)),
        (true, None) => {
            // Never fall back to plain HTTP on a listener configured for TLS.
            tracing::error!(api = %config.name, "token API configured with TLS but given no TLS configuration; not serving");
            return;
        }
        (false, _) => None,
    };
    let participant = match config.participant() {
        Caller::App(id) | Caller::Bank(id) => id.clone(),
    };
    let binding = Arc::new(LinkTls {
        identities: vec![(participant, config.identity.clone())],
    });
    let app = router(Arc::new(Api {
        name: config.name.clone(),
        caller: config.participant().clone(),
        backend,
    }));
    let name: Arc<str> = config.name.as_str().into();
    let limit = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let mut connections = JoinSet::new();
    tracing::info!(api = %name, address = ?listener.local_addr().ok(), tls = config.tls, "token API listening");
    while let Some((tcp, peer, permit)) =
        accept_within(&listener, &limit, &mut stop, "token API").await
    {
        let connection = Connection {
            api: name.clone(),
            peer,
            app: app.clone(),
            binding: binding.clone(),
            _permit: permit,
        };
        connections.spawn(connection.run(tcp, acceptor.clone(), stop.clone()));
        while connections.try_join_next().is_some() {}
    }
    // Open connections finish the answer in progress and close (graceful).
    let drained = tokio::time::timeout(REQUEST_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(api = %name, "token API connections still open at stop; closed");
    }
    connections.abort_all();
    tracing::info!(api = %name, "token API stopped");
}

/// One accepted connection and what it holds.
struct Connection {
    api: Arc<str>,
    peer: SocketAddr,
    app: Router,
    binding: Arc<LinkTls>,
    /// Released when the connection ends.
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, tcp: TcpStream, tls: Option<TlsAcceptor>, stop: watch::Receiver<bool>) {
        let Some(acceptor) = tls else {
            return self.http(tcp, stop).await;
        };
        let until = tokio::time::Instant::now() + REQUEST_TIMEOUT;
        let stream = match bank_links::handshake::accept_until(&acceptor, tcp, until).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(api = %self.api, peer = %self.peer, error = %e, "token API TLS handshake failed");
                return;
            }
        };
        let bound = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|der| identity::bind(&self.binding, der));
        match bound {
            Some(Ok(_)) => self.http(stream, stop).await,
            Some(Err(unbound)) => {
                tracing::warn!(api = %self.api, peer = %self.peer, names = ?unbound.names,
                    "token API client certificate does not name this listener's identity; closed");
            }
            None => {
                tracing::warn!(api = %self.api, peer = %self.peer, "token API client presented no certificate; closed");
            }
        }
    }

    /// HTTP/1.1 on `io` until the client closes, a deadline passes or the
    /// listener stops.
    async fn http<I>(self, io: I, stop: watch::Receiver<bool>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let limits = Limits {
            max_head: MAX_HEAD,
            max_headers: MAX_HEADERS,
            header_timeout: REQUEST_TIMEOUT,
        };
        if let Err(e) = serve_connection(io, self.app.clone(), stop, limits).await {
            tracing::debug!(api = %self.api, peer = %self.peer, error = %e, "token API connection ended");
        }
    }
}
