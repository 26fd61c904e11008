//! Accept loops, one per listening link.
//!
//! The accept loop never waits for a slot: it always drains the kernel's backlog,
//! so a socket that connects and sends nothing cannot keep the next one (a
//! bank's) waiting there. Each accepted socket is *pending* until it proves
//! itself: on TLS, until its handshake is done and its certificate bound to the
//! link's banks ([`super::handshake`]); on plain TCP, until its first complete
//! frame arrives ([`super::first_frame`]). A pending socket is closed if it sends
//! no byte within `first_byte_timeout_ms`, or no proof within the overall
//! deadline (`[switch.tls] handshake_timeout_ms`, `first_frame_timeout_ms`; a
//! plain socket that pauses mid-frame also by `read_timeout_ms`, as an
//! established link would be).
//! Pending sockets per listener are bounded (`max_handshakes` on TLS,
//! `max_pending` on plain TCP): at the bound the oldest is closed to admit the
//! new one ([`super::pending`]), so neither idle nor trickling sockets can hold
//! the place a bank needs.
//!
//! A socket that has proved itself takes one of the link's `max_connections`;
//! when the link is full it is closed. Descriptors per listener are thus at most
//! the pending bound plus `max_connections`.
//!
//! A plain listener on an issuer link is the exception: there the switch speaks
//! first (its sign-on), so a socket is established at once; a silent peer is
//! found by the link's echoes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use super::connection::{link_codec, serve_with};
use super::event_budget::may_log;
use super::first_frame::{first_frame, FrameDeadlines};
use super::handshake::{self, link_tls};
use super::pending::PendingSet;
use super::runtime::Shared;
use super::stream::LinkStream;
use crate::config::{Config, LinkConfig, Role};
use crate::error::{Classify, LinkError, TlsSetupError};
use crate::tls::LinkTls;

/// A listening link's TLS: the acceptor, the identities its banks must present,
/// the handshake deadline and the bound on handshakes in progress.
pub(crate) struct TlsListener {
    acceptor: TlsAcceptor,
    identities: Arc<LinkTls>,
    deadline: Duration,
    max_handshakes: usize,
}

impl TlsListener {
    /// The link's TLS, None for plain TCP, an error when it cannot be used.
    pub(crate) fn for_link(
        config: &Config,
        link: &LinkConfig,
    ) -> Result<Option<TlsListener>, TlsSetupError> {
        let Some((t, lt, material)) = link_tls(config, link)? else {
            return Ok(None);
        };
        Ok(Some(TlsListener {
            acceptor: TlsAcceptor::from(material.server.clone()),
            identities: Arc::new(lt.clone()),
            deadline: t.handshake_timeout,
            max_handshakes: t.max_handshakes,
        }))
    }
}

/// Accept connections on `listener` for `link` (over `tls`, if any) until the
/// switch stops.
pub(crate) async fn accept_loop(
    shared: Arc<Shared>,
    link: Arc<LinkConfig>,
    listener: TcpListener,
    tls: Option<TlsListener>,
) {
    super::open_files::raise_once();
    match tls {
        None => plain_loop(shared, link, listener).await,
        Some(tls) => tls_loop(shared, link, listener, tls).await,
    }
}

/// The pause after a failed accept: the backlog stays readable, so an immediate
/// retry would spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Whether an accept error means the process or system is out of descriptors
/// (EMFILE 24, ENFILE 23: the same numbers on Linux and the BSDs).
fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// Accept one connection, or None when the switch stops. Out of descriptors, the
/// oldest pending socket is closed to make room.
async fn accept(
    shared: &Shared,
    link: &LinkConfig,
    listener: &TcpListener,
    pending: &PendingSet,
    errors: &metrics::Counter,
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
            Ok((socket, peer)) if super::lease_gate::refuses(shared, link) => {
                // Closed at once: the acquirer host tries its next address.
                drop(socket);
                if let Some(suppressed) = may_log(&link.name, "lease lapsed") {
                    tracing::warn!(link = %link.name, %peer, suppressed, "connection refused: this node's cluster lease lapsed");
                }
            }
            Ok(pair) => return Some(pair),
            Err(e) => {
                errors.increment(1);
                let evicted = out_of_descriptors(&e) && pending.evict_oldest();
                // Out of descriptors, every attempt fails: a few lines, then a count.
                if let Some(suppressed) = may_log(&link.name, "accept failed") {
                    tracing::warn!(link = %link.name, error = %e, suppressed, evicted, "accept failed");
                }
                tokio::time::sleep(ACCEPT_RETRY).await;
            }
        }
    }
}

/// One of the link's connections for a socket that proved itself, or None (the
/// socket is then refused: [`LinkError::LinkFull`]) when the link is full.
fn connection_slot(
    listening: &Listening,
    link: &LinkConfig,
    peer: SocketAddr,
) -> Option<OwnedSemaphorePermit> {
    let full = match listening.connections.clone().try_acquire_owned() {
        Ok(slot) => return Some(slot),
        Err(_) => LinkError::LinkFull {
            max: link.max_connections,
        },
    };
    listening.refused.increment(1);
    // Anyone can send a frame on a plain link: a few lines, then a count.
    if let Some(suppressed) = may_log(&link.name, "connection limit") {
        tracing::warn!(link = %link.name, %peer, error = %full, action = %full.disposition(), suppressed, "connection limit reached; closing the new connection");
    }
    None
}

/// What one listener shares with the tasks of the sockets it accepted: the
/// link's connection slots and its counters (registered once, not per event).
struct Listening {
    connections: Arc<Semaphore>,
    refused: metrics::Counter,
    accept_errors: metrics::Counter,
}

impl Listening {
    fn new(link: &LinkConfig) -> Arc<Listening> {
        let label = link.name.clone();
        Arc::new(Listening {
            connections: Arc::new(Semaphore::new(link.max_connections)),
            refused: metrics::counter!("switch_connections_refused_total", "link" => label.clone()),
            accept_errors: metrics::counter!("switch_accept_errors_total", "link" => label),
        })
    }
}

/// Whether a socket that proved itself may still be served: not once the switch
/// stops (its drain has closed the links it knows of, and would not know of this
/// one), nor on an acquirer link while a cluster node's lease is lapsed.
fn still_serving(shared: &Shared, link: &LinkConfig) -> bool {
    !*shared.stop.borrow() && !super::lease_gate::refuses(shared, link)
}

async fn plain_loop(shared: Arc<Shared>, link: Arc<LinkConfig>, listener: TcpListener) {
    let limits = shared.config.pending;
    let pending = PendingSet::new(&link.name, limits.max_pending);
    let listening = Listening::new(&link);
    while let Some((mut tcp, peer)) = accept(
        &shared,
        &link,
        &listener,
        &pending,
        &listening.accept_errors,
    )
    .await
    {
        // Admitted here, in accept order, so that the oldest is evicted first.
        let slot = (link.role == Role::Acquirer).then(|| pending.admit());
        let (shared, link, listening) = (shared.clone(), link.clone(), listening.clone());
        tokio::spawn(async move {
            let prefix = match slot {
                // The switch speaks first on an issuer link.
                None => None,
                Some(mut slot) => {
                    let codec = link_codec(&shared, &link);
                    let deadlines = FrameDeadlines {
                        first_byte: limits.first_byte_timeout,
                        first_frame: limits.first_frame_timeout,
                        stall: shared.config.read_timeout,
                    };
                    let proof = first_frame(&mut tcp, codec, deadlines);
                    match slot.run(proof).await {
                        None => return, // evicted (counted by the set)
                        Some(Err(why)) => {
                            why.report(&link.name, peer);
                            return;
                        }
                        Some(Ok(prefix)) => Some(prefix),
                    }
                }
            };
            if !still_serving(&shared, &link) {
                return;
            }
            let Some(permit) = connection_slot(&listening, &link, peer) else {
                return;
            };
            serve_with(shared, link, LinkStream::Plain(tcp), None, prefix).await;
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
    let first_byte = shared.config.pending.first_byte_timeout;
    let pending = PendingSet::new(&link.name, tls.max_handshakes);
    let listening = Listening::new(&link);
    let tls = Arc::new(tls);
    while let Some((tcp, peer)) = accept(
        &shared,
        &link,
        &listener,
        &pending,
        &listening.accept_errors,
    )
    .await
    {
        // The handshake's flights go out at once.
        let _ = tcp.set_nodelay(true);
        let mut slot = pending.admit();
        let (shared, link, tls, listening) =
            (shared.clone(), link.clone(), tls.clone(), listening.clone());
        tokio::spawn(async move {
            let handshake = handshake::accept(
                &tls.acceptor,
                tcp,
                first_byte,
                tls.deadline,
                &tls.identities,
            );
            let result = slot.run(handshake).await;
            drop(slot);
            match result {
                None => {} // evicted (counted by the set)
                Some(Err(refused)) => refused.report(&link.name, Some(peer)),
                Some(Ok((stream, binding))) => {
                    if !still_serving(&shared, &link) {
                        return;
                    }
                    let Some(permit) = connection_slot(&listening, &link, peer) else {
                        return;
                    };
                    serve_with(shared, link, stream, Some(binding), None).await;
                    drop(permit);
                }
            }
        });
    }
}
