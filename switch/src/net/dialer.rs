//! Outbound links: connect (and, on TLS links, handshake under the deadline,
//! presenting the switch's certificate and verifying the bank's against the link's
//! identity), serve until the connection ends, and reconnect with exponential
//! backoff (`bank_links::backoff`: 100 ms doubling to 5 s) until the switch stops.

use std::sync::Arc;
use std::time::Duration;

use bank_links::backoff::Backoff;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::connection::serve;
use super::handshake;
use super::runtime::Shared;
use super::stream::LinkStream;
use crate::config::LinkConfig;
use crate::tls::LinkTls;

/// A dialed link's TLS.
struct TlsDialer {
    connector: TlsConnector,
    server_name: ServerName<'static>,
    identities: LinkTls,
    deadline: Duration,
}

/// The link's TLS, Ok(None) for plain TCP, Err when it cannot be used.
fn tls_dialer(shared: &Shared, link: &LinkConfig) -> Result<Option<TlsDialer>, String> {
    let Some(t) = &shared.config.tls else {
        return Ok(None);
    };
    let Some(lt) = t.links.get(&link.name) else {
        return Ok(None);
    };
    let material = t.material.as_ref().ok_or("TLS certificates not loaded")?;
    let identity = lt
        .identity_of(&link.bank)
        .ok_or("no certificate identity for the link's bank")?;
    let server_name = ServerName::try_from(identity.to_string())
        .map_err(|_| format!("identity {identity:?} is not a DNS name the server can present"))?;
    Ok(Some(TlsDialer {
        connector: TlsConnector::from(material.client.clone()),
        server_name,
        identities: lt.clone(),
        deadline: t.handshake_timeout,
    }))
}

pub(crate) async fn dial_loop(shared: Arc<Shared>, link: Arc<LinkConfig>) {
    let tls = match tls_dialer(&shared, &link) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(link = %link.name, error = %e, "cannot dial this link over TLS");
            return;
        }
    };
    let mut stop = shared.stop.subscribe();
    let mut backoff = Backoff::new();
    loop {
        if *stop.borrow() {
            return;
        }
        let connected = tokio::select! {
            c = TcpStream::connect(link.address) => c,
            _ = stop.changed() => return,
        };
        match connected {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                match &tls {
                    None => {
                        backoff.reset();
                        serve(shared.clone(), link.clone(), LinkStream::Plain(tcp), None).await;
                    }
                    Some(t) => {
                        let secured = tokio::select! {
                            s = handshake::connect(&t.connector, t.server_name.clone(), tcp, t.deadline, &t.identities) => s,
                            _ = stop.changed() => return,
                        };
                        match secured {
                            Ok((stream, binding)) => {
                                backoff.reset();
                                serve(shared.clone(), link.clone(), stream, Some(binding)).await;
                            }
                            Err(refused) => {
                                refused.report(&link.name, Some(link.address));
                                if let handshake::Refused::TimedOut | handshake::Refused::Other(_) =
                                    refused
                                {
                                    // A bank host this switch dials is expected to answer.
                                    tracing::warn!(link = %link.name, address = %link.address, failure = ?refused, delay = ?backoff.upcoming(), "TLS handshake failed; retrying");
                                }
                            }
                        }
                    }
                }
            }
            Err(e) => {
                tracing::debug!(link = %link.name, address = %link.address, error = %e, delay = ?backoff.upcoming(), "connect failed; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.next_pause()) => {}
            _ = stop.changed() => return,
        }
    }
}
