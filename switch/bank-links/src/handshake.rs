//! TLS handshakes on a link's TCP connection, each under a deadline, with their
//! failures sorted: certificate problems (the peer's certificate missing,
//! untrusted, expired or revoked) apart from time-outs and the rest. What a
//! refusal means beyond that (the switch binds certificates to banks, counts and
//! logs refusals within a budget) is the caller's.

use std::io;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

/// Why a handshake gave no TLS stream. Reasons are rustls' texts: they name
/// what is wrong with a certificate, never key material.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// Not done within the deadline.
    #[error("TLS handshake timed out")]
    TimedOut,
    /// The peer's certificate was missing, untrusted, expired, revoked or wrong.
    #[error("TLS handshake: certificate refused: {0}")]
    Certificate(String),
    /// Not TLS, a protocol error, or the connection went away.
    #[error("TLS handshake: {0}")]
    Other(String),
}

impl From<HandshakeError> for io::Error {
    fn from(e: HandshakeError) -> io::Error {
        let kind = match e {
            HandshakeError::TimedOut => io::ErrorKind::TimedOut,
            _ => io::ErrorKind::ConnectionAborted,
        };
        io::Error::new(kind, e)
    }
}

/// Sort a handshake's I/O error: certificate problems apart from the rest.
pub fn classify(e: &io::Error) -> HandshakeError {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(
            err @ (rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::InvalidCertRevocationList(_)),
        ) => HandshakeError::Certificate(err.to_string()),
        Some(err) => HandshakeError::Other(err.to_string()),
        None => HandshakeError::Other(e.to_string()),
    }
}

/// Server side of a handshake on an accepted connection, done by `until`.
pub async fn accept_until(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    until: Instant,
) -> Result<TlsStream<TcpStream>, HandshakeError> {
    match tokio::time::timeout_at(until, acceptor.accept(tcp)).await {
        Err(_) => Err(HandshakeError::TimedOut),
        Ok(Err(e)) => Err(classify(&e)),
        Ok(Ok(s)) => Ok(TlsStream::Server(s)),
    }
}

/// Client side of a handshake on a dialed connection, done within `deadline`:
/// the server must present `server_name` (a SAN DNS name).
pub async fn connect_within(
    connector: &TlsConnector,
    server_name: ServerName<'static>,
    tcp: TcpStream,
    deadline: Duration,
) -> Result<TlsStream<TcpStream>, HandshakeError> {
    match tokio::time::timeout(deadline, connector.connect(server_name, tcp)).await {
        Err(_) => Err(HandshakeError::TimedOut),
        Ok(Err(e)) => Err(classify(&e)),
        Ok(Ok(s)) => Ok(TlsStream::Client(s)),
    }
}
