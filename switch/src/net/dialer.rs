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
use super::handshake::{self, link_tls};
use super::runtime::Shared;
use super::stream::LinkStream;
use crate::config::{Config, LinkConfig};
use crate::error::{Classify, LinkError, Retry, TlsSetupError};
use crate::tls::LinkTls;

/// A dialed link's TLS.
pub(crate) struct TlsDialer {
    connector: TlsConnector,
    server_name: ServerName<'static>,
    identities: LinkTls,
    deadline: Duration,
}

impl TlsDialer {
    /// The link's TLS, None for plain TCP, an error when it cannot be used.
    pub(crate) fn for_link(
        config: &Config,
        link: &LinkConfig,
    ) -> Result<Option<TlsDialer>, TlsSetupError> {
        let Some((t, lt, material)) = link_tls(config, link)? else {
            return Ok(None);
        };
        let identity = lt
            .identity_of(&link.bank)
            .ok_or_else(|| TlsSetupError::NoIdentity {
                bank: link.bank.clone(),
            })?;
        let server_name =
            ServerName::try_from(identity.to_string()).map_err(|_| TlsSetupError::NotDnsName {
                identity: identity.to_string(),
            })?;
        Ok(Some(TlsDialer {
            connector: TlsConnector::from(material.client.clone()),
            server_name,
            identities: lt.clone(),
            deadline: t.handshake_timeout,
        }))
    }
}

/// A link marked as being dialed, unmarked when dropped (however the attempt
/// ends).
struct Dialing<'a> {
    shared: &'a Shared,
    name: &'a str,
}

impl<'a> Dialing<'a> {
    fn new(shared: &'a Shared, name: &'a str) -> Dialing<'a> {
        shared.dialing.insert(name.to_string());
        Dialing { shared, name }
    }
}

impl Drop for Dialing<'_> {
    fn drop(&mut self) {
        self.shared.dialing.remove(self.name);
    }
}

/// Dial `link` (over `tls`, if any) and serve it, reconnecting after each
/// failure or close until the switch stops.
pub(crate) async fn dial_loop(shared: Arc<Shared>, link: Arc<LinkConfig>, tls: Option<TlsDialer>) {
    let mut stop = shared.stop.subscribe();
    let mut backoff = Backoff::new();
    loop {
        if *stop.borrow() {
            return;
        }
        // Shown as connecting until connected and, on TLS, handshaken.
        let mut dialing = Some(Dialing::new(&shared, &link.name));
        let connected = tokio::select! {
            c = TcpStream::connect(link.address) => c,
            _ = stop.changed() => return,
        };
        let failed = match connected {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                match &tls {
                    None => {
                        backoff.reset();
                        dialing.take();
                        serve(shared.clone(), link.clone(), LinkStream::Plain(tcp), None).await;
                        None
                    }
                    Some(t) => {
                        let secured = tokio::select! {
                            s = handshake::connect(&t.connector, t.server_name.clone(), tcp, t.deadline, &t.identities) => s,
                            _ = stop.changed() => return,
                        };
                        dialing.take();
                        match secured {
                            Ok((stream, binding)) => {
                                backoff.reset();
                                serve(shared.clone(), link.clone(), stream, Some(binding)).await;
                                None
                            }
                            Err(refused) => {
                                refused.report(&link.name, Some(link.address));
                                Some(LinkError::Handshake(refused))
                            }
                        }
                    }
                }
            }
            Err(e) => Some(LinkError::Connect(e)),
        };
        dialing.take();
        // Always dialed again after the pause: a bank that fixes its certificate
        // must not need a restart of the switch. What is safe to retry is news
        // (its refusal, a security event, was reported above).
        match failed {
            Some(e @ LinkError::Connect(_)) => {
                tracing::debug!(link = %link.name, address = %link.address, error = %e, delay = ?backoff.upcoming(), "connect failed; retrying");
            }
            // A bank host this switch dials is expected to answer.
            Some(e) if e.retry() == Retry::Safe => {
                tracing::warn!(link = %link.name, address = %link.address, error = %e, delay = ?backoff.upcoming(), "TLS handshake failed; retrying");
            }
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.next_pause()) => {}
            _ = stop.changed() => return,
        }
    }
}
