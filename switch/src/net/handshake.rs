//! TLS handshakes on links, each under a deadline (`bank_links::handshake` does
//! the handshake; this is the switch's policy around it): accept (a listener's side: the
//! bank's client certificate is required and bound to the link's banks; the
//! ClientHello's first byte has a shorter deadline of its own) and connect
//! (a dialed link: the bank's server certificate must carry the link's identity).
//! Refused certificates and identities are logged as security events, within a
//! budget per link ([`super::event_budget`]); handshakes that time out or are not
//! TLS at all only count in the metrics and the debug log, so a flood of either
//! cannot flood the log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bank_links::handshake::{accept_until, connect_within, HandshakeError};
use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

use super::event_budget::may_log;
use super::pending::{first_byte, NoFirstByte};
use super::stream::LinkStream;
use crate::config::{Config, LinkConfig};
use crate::error::TlsSetupError;
use crate::tls::identity::{bind, Binding};
use crate::tls::{LinkTls, TlsConfig, TlsMaterial};

/// Why a handshake did not give a usable link. Reasons are rustls' texts and
/// certificate names: never key material.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Not a byte within the first-byte deadline (a listener's side).
    #[error("no ClientHello within the first-byte deadline")]
    Silent,
    /// Not done within the deadline.
    #[error("TLS handshake timed out")]
    TimedOut,
    /// The peer closed before sending anything (a listener's side).
    #[error("closed before a ClientHello")]
    Closed,
    /// The peer's certificate was missing, untrusted, expired, revoked or wrong.
    #[error("TLS handshake: certificate refused: {0}")]
    Certificate(String),
    /// The certificate is valid but names none of the link's bank identities.
    #[error("TLS handshake: certificate identities {0:?} are not bound to this link")]
    Identity(Vec<String>),
    /// Not TLS, a protocol error, or the connection went away.
    #[error("TLS handshake: {0}")]
    Other(String),
}

impl Refused {
    fn label(&self) -> &'static str {
        match self {
            Refused::Silent => "silent",
            Refused::TimedOut => "timeout",
            Refused::Closed => "closed",
            Refused::Certificate(_) => "certificate",
            Refused::Identity(_) => "identity",
            Refused::Other(_) => "protocol",
        }
    }

    /// Log and count a refusal on link `link` with peer `peer`.
    pub(crate) fn report(&self, link: &str, peer: Option<SocketAddr>) {
        metrics::counter!("switch_tls_handshake_failures_total", "link" => link.to_string(), "reason" => self.label())
            .increment(1);
        // A host retrying a refused certificate can cause thousands a second:
        // a few lines per period, then a count (the metric counts each one).
        let suppressed = match self {
            Refused::Certificate(_) | Refused::Identity(_) => match may_log(link, self.label()) {
                Some(suppressed) => suppressed,
                None => return,
            },
            _ => 0,
        };
        match self {
            Refused::Certificate(reason) => tracing::warn!(
                target: "switch::security",
                link,
                ?peer,
                reason = %reason,
                suppressed,
                "security event: peer certificate refused"
            ),
            Refused::Identity(names) => tracing::warn!(
                target: "switch::security",
                link,
                ?peer,
                certificate = ?names,
                suppressed,
                "security event: certificate identity is not bound to this link"
            ),
            Refused::Silent => tracing::debug!(link, ?peer, "no ClientHello; closed"),
            Refused::Closed => tracing::debug!(link, ?peer, "closed before a ClientHello"),
            Refused::TimedOut => tracing::debug!(link, ?peer, "TLS handshake timed out"),
            Refused::Other(reason) => {
                tracing::debug!(link, ?peer, reason = %reason, "TLS handshake failed")
            }
        }
    }
}

impl From<NoFirstByte> for Refused {
    fn from(n: NoFirstByte) -> Self {
        match n {
            NoFirstByte::Silent => Refused::Silent,
            NoFirstByte::Closed => Refused::Closed,
            NoFirstByte::Io(e) => Refused::Other(e.to_string()),
        }
    }
}

impl From<HandshakeError> for Refused {
    fn from(e: HandshakeError) -> Self {
        match e {
            HandshakeError::TimedOut => Refused::TimedOut,
            HandshakeError::Certificate(reason) => Refused::Certificate(reason),
            HandshakeError::Other(reason) => Refused::Other(reason),
        }
    }
}

/// `link`'s TLS settings, its own and the loaded material: None for a plain
/// link, an error when the material was not loaded.
pub(crate) fn link_tls<'c>(
    config: &'c Config,
    link: &LinkConfig,
) -> Result<Option<(&'c TlsConfig, &'c LinkTls, &'c TlsMaterial)>, TlsSetupError> {
    let Some(t) = &config.tls else {
        return Ok(None);
    };
    let Some(lt) = t.links.get(&link.name) else {
        return Ok(None);
    };
    let material = t.material.as_ref().ok_or(TlsSetupError::NotLoaded)?;
    Ok(Some((t, lt, material)))
}

/// Bind the peer's end-entity certificate to the link's banks; on refusal, close
/// the TLS session properly (close_notify, within a short bound) before dropping it.
async fn bind_or_close(
    tls: &LinkTls,
    mut stream: TlsStream<TcpStream>,
) -> Result<(LinkStream, Arc<Binding>), Refused> {
    match bind_peer(tls, &stream) {
        Ok(binding) => Ok((LinkStream::Tls(Box::new(stream)), Arc::new(binding))),
        Err(refused) => {
            let _ = tokio::time::timeout(CLOSE_GRACE, stream.shutdown()).await;
            Err(refused)
        }
    }
}

/// How long a refused peer gets to take our close_notify.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// Bind the peer's end-entity certificate to the link's banks.
fn bind_peer(tls: &LinkTls, stream: &TlsStream<TcpStream>) -> Result<Binding, Refused> {
    let certs = match stream {
        TlsStream::Server(s) => s.get_ref().1.peer_certificates(),
        TlsStream::Client(s) => s.get_ref().1.peer_certificates(),
    };
    let Some(end_entity) = certs.and_then(|c| c.first()) else {
        return Err(Refused::Certificate("no certificate presented".into()));
    };
    bind(tls, end_entity).map_err(|u| Refused::Identity(u.names))
}

/// Server side of a handshake on an accepted connection: the peer's first byte
/// within `first_byte_within`, the whole handshake within `deadline`.
pub(crate) async fn accept(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    first_byte_within: Duration,
    deadline: Duration,
    tls: &LinkTls,
) -> Result<(LinkStream, Arc<Binding>), Refused> {
    let until = tokio::time::Instant::now() + deadline;
    first_byte(&tcp, first_byte_within.min(deadline)).await?;
    let stream = accept_until(acceptor, tcp, until).await?;
    bind_or_close(tls, stream).await
}

/// Client side of a handshake on a dialed connection: the server must present
/// `server_name` (a SAN DNS name).
pub(crate) async fn connect(
    connector: &TlsConnector,
    server_name: ServerName<'static>,
    tcp: TcpStream,
    deadline: Duration,
    tls: &LinkTls,
) -> Result<(LinkStream, Arc<Binding>), Refused> {
    let stream = connect_within(connector, server_name, tcp, deadline).await?;
    bind_or_close(tls, stream).await
}
