//! `[[link]]`: one bank connection (or, for a listener, every connection it
//! accepts). The first stage checks what each entry says and that entries do
//! not collide; its spec file and keys are read in the second
//! ([`super::resolve`]).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use codecs::framing::LengthHeader;
use codecs::Spec;
use serde::Deserialize;

use super::error::{ConfigError, ConfigWarning, Problems};
use super::switch_section::is_institution_id;
use super::units::Millis;
use crate::security::mac::MacPadding;
use crate::security::pin::PinFormat;
use crate::security::settings::{link_security_settings, RawKey, RawLinkSecurity};
use crate::security::LinkSecurity;
use crate::tls::settings::{link_tls, RawLinkTls};
use crate::tls::{LinkTls, TlsConfig};

/// Which side of the switch a link is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sends requests to the switch (an acquiring bank host).
    Acquirer,
    /// Receives requests from the switch (an issuing bank host).
    Issuer,
}

/// Who opens the TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The bank connects to the switch.
    Listen,
    /// The switch connects to the bank, reconnecting with backoff.
    Dial,
}

/// One `[[link]]` as written. `echo_interval_secs` is the deprecated spelling
/// of `echo_interval_ms` (see [`super::units`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLink {
    name: Option<String>,
    role: Role,
    bank: String,
    acquirers: Option<Vec<String>>,
    direction: Direction,
    address: String,
    spec: Option<String>,
    framing: Option<String>,
    timeout_ms: Option<u64>,
    cash_timeout_ms: Option<u64>,
    echo_interval_ms: Option<u64>,
    echo_interval_secs: Option<u64>,
    max_missed_echoes: Option<u32>,
    max_in_flight: Option<usize>,
    max_connections: Option<usize>,
    tls: Option<bool>,
    identity: Option<String>,
    identities: Option<BTreeMap<String, String>>,
    mac_key: Option<RawKey>,
    mac_padding: Option<MacPadding>,
    pin_key: Option<RawKey>,
    pin_format: Option<PinFormat>,
}

/// One configured link (for a listener, every connection accepted on it).
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// Name used in logs and metrics.
    pub name: String,
    /// Acquirer or issuer side.
    pub role: Role,
    /// The bank at the other end.
    pub bank: String,
    /// Field-32 ids accepted on an acquirer link.
    pub acquirers: Vec<String>,
    /// Who connects.
    pub direction: Direction,
    /// Where.
    pub address: SocketAddr,
    /// The message dialect.
    pub spec: Arc<Spec>,
    /// The length header.
    pub framing: LengthHeader,
    /// Response timeout for purchases and other POS traffic.
    pub timeout: Duration,
    /// Response timeout for cash (ATM) withdrawals.
    pub cash_timeout: Duration,
    /// Idle time after which the switch sends an echo on an issuer link.
    pub echo_interval: Duration,
    /// Echoes missed in a row before the link is marked down.
    pub max_missed_echoes: u32,
    /// Requests in flight on one connection before new ones get RC 91.
    pub max_in_flight: usize,
    /// Simultaneous connections on a listener.
    pub max_connections: usize,
    /// MAC and PIN block settings (the keys are in the security module).
    pub security: LinkSecurity,
}

/// A link checked by the first stage: everything but its spec (a built-in
/// name or a file, read by the second stage) and its keys.
pub(crate) struct LinkDraft<'a> {
    pub(crate) raw: &'a RawLink,
    pub(crate) name: String,
    pub(crate) acquirers: Vec<String>,
    pub(crate) address: SocketAddr,
    /// A built-in spec name, or a spec file's path joined to the file's folder.
    pub(crate) spec: String,
    pub(crate) framing: LengthHeader,
    pub(crate) timeouts: [Duration; 3],
    pub(crate) max_in_flight: usize,
    pub(crate) max_connections: usize,
    pub(crate) security: LinkSecurity,
    pub(crate) tls: Option<LinkTls>,
}

impl LinkDraft<'_> {
    /// The link's security fields as written (for its keys).
    pub(crate) fn raw_security(&self) -> RawLinkSecurity<'_> {
        self.raw.security()
    }

    /// The configured link, with its spec.
    pub(crate) fn finish(self, spec: Arc<Spec>) -> LinkConfig {
        let [timeout, cash_timeout, echo_interval] = self.timeouts;
        LinkConfig {
            name: self.name,
            role: self.raw.role,
            bank: self.raw.bank.clone(),
            acquirers: self.acquirers,
            direction: self.raw.direction,
            address: self.address,
            spec,
            framing: self.framing,
            timeout,
            cash_timeout,
            echo_interval,
            max_missed_echoes: self.raw.max_missed_echoes.unwrap_or(3),
            max_in_flight: self.max_in_flight,
            max_connections: self.max_connections,
            security: self.security,
        }
    }
}

/// What every link is checked against: the file and the switch's TLS section.
pub(crate) struct LinkContext<'a> {
    pub(crate) file: &'a str,
    pub(crate) base: &'a Path,
    pub(crate) tls: Option<&'a TlsConfig>,
    pub(crate) every_link_tls: bool,
}

/// Validate every `[[link]]`, each on its own and against the others (names
/// and listening addresses are unique).
pub(crate) fn validate_links<'a>(
    raws: &'a [RawLink],
    cx: &LinkContext<'_>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Vec<LinkDraft<'a>>, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut drafts = Vec::new();
    let mut names = HashSet::new();
    let mut addresses = HashSet::new();
    for (i, raw) in raws.iter().enumerate() {
        let mut p = Problems::new(cx.file, format!("link {}", raw.name()));
        if !names.insert(raw.name()) {
            p.push(format!("duplicate link name (entry {})", i + 1));
        }
        let draft = raw.validate(cx, &mut p, warnings);
        if let (Some(d), Direction::Listen) = (&draft, raw.direction) {
            if d.address.port() != 0 && !addresses.insert(d.address) {
                p.push(format!(
                    "address {} is already used by another listening link",
                    d.address
                ));
            }
        }
        match (draft, p.is_empty()) {
            (Some(d), true) => drafts.push(d),
            _ => errors.extend(p.into_errors()),
        }
    }
    if errors.is_empty() {
        Ok(drafts)
    } else {
        Err(errors)
    }
}

impl RawLink {
    /// The link's name: as written, or `ROLE-BANK`.
    fn name(&self) -> String {
        let role = match self.role {
            Role::Acquirer => "acquirer",
            Role::Issuer => "issuer",
        };
        self.name
            .clone()
            .unwrap_or_else(|| format!("{role}-{}", self.bank))
    }

    fn security(&self) -> RawLinkSecurity<'_> {
        RawLinkSecurity {
            mac_key: self.mac_key.as_ref(),
            mac_padding: self.mac_padding,
            pin_key: self.pin_key.as_ref(),
            pin_format: self.pin_format,
        }
    }

    /// Check this entry; None when something needed is missing (the problems
    /// say what).
    fn validate(
        &self,
        cx: &LinkContext<'_>,
        p: &mut Problems<'_>,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Option<LinkDraft<'_>> {
        if !is_institution_id(&self.bank) {
            p.push(format!("bank {:?} must be 1-11 digits", self.bank));
        }
        let acquirers = self
            .acquirers
            .clone()
            .unwrap_or_else(|| vec![self.bank.clone()]);
        for a in acquirers.iter().filter(|a| !is_institution_id(a)) {
            p.push(format!("acquirer {a:?} must be 1-11 digits"));
        }
        if self.role == Role::Issuer && self.acquirers.is_some() {
            p.push("acquirers applies to acquirer links only");
        }
        let address = self.address.parse::<SocketAddr>().ok();
        if address.is_none() {
            p.push(format!("address {:?} is not host:port", self.address));
        }
        let spec_name = self.spec.as_deref().unwrap_or("iso87ascii");
        let spec = if spec_name.contains('/')
            || spec_name.ends_with(".toml")
            || spec_name.ends_with(".json")
        {
            cx.base.join(spec_name).display().to_string()
        } else {
            spec_name.to_string()
        };
        let framing_name = self.framing.as_deref().unwrap_or("binary2");
        let framing = LengthHeader::from_name(framing_name);
        if framing.is_none() {
            p.push(format!(
                "framing {framing_name:?} (expected binary2, ascii4 or bcd2)"
            ));
        }
        let max_in_flight = self.max_in_flight.unwrap_or(10_000);
        let max_connections = self.max_connections.unwrap_or(64);
        if max_in_flight == 0 || max_connections == 0 {
            p.push("max_in_flight and max_connections must be at least 1");
        }
        let echo_interval = Millis {
            name: "echo_interval_ms",
            ms: self.echo_interval_ms,
            secs: self.echo_interval_secs,
        }
        .resolve(Duration::from_secs(30), p, warnings);
        let raw_tls = RawLinkTls {
            tls: self.tls,
            identity: self.identity.as_deref(),
            identities: self.identities.as_ref(),
            banks: std::iter::once(self.bank.as_str())
                .chain(acquirers.iter().map(String::as_str))
                .collect(),
        };
        let tls = link_tls(&raw_tls, cx.tls, cx.every_link_tls).unwrap_or_else(|e| {
            p.push(e.to_string());
            None
        });
        let security = link_security_settings(&self.security()).unwrap_or_else(|e| {
            p.push(e.to_string());
            LinkSecurity::default()
        });
        Some(LinkDraft {
            raw: self,
            name: self.name(),
            acquirers,
            address: address?,
            spec,
            framing: framing?,
            timeouts: [
                Duration::from_millis(self.timeout_ms.unwrap_or(10_000)),
                Duration::from_millis(self.cash_timeout_ms.unwrap_or(25_000)),
                echo_interval,
            ],
            max_in_flight,
            max_connections,
            security,
            tls,
        })
    }
}
