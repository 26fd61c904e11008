//! The switch's configuration file (TOML), validated at load: every problem names
//! the file, the entry and what is wrong.
//!
//! ```toml
//! [switch]
//! institution_id = "940000"      # the switch's own id (field 33 on forwarded messages)
//! rules = "../../routing-rules/rules/national.toml"   # relative to this file
//! admin = "127.0.0.1:9100"       # /metrics (optional)
//! saf_retry_ms = 2000            # first store-and-forward retry (doubling, capped at 60 s)
//! saf_window = 32                # store-and-forward messages outstanding per issuer connection
//! first_byte_timeout_ms = 1000   # listeners: a socket silent this long after accept is closed
//! first_frame_timeout_ms = 5000  # plain listeners: its first complete frame by then
//! max_pending = 256              # plain listeners: sockets without a first frame yet
//!
//! [[link]]
//! name = "provincial-hosts"
//! role = "acquirer"              # acquirer | issuer
//! bank = "940851"                # the bank on the other end
//! acquirers = ["940851", "940852"]  # field-32 ids allowed on this link (default: bank)
//! direction = "listen"           # listen (the bank connects) | dial (the switch connects)
//! address = "127.0.0.1:7001"
//! spec = "iso87ascii"            # built-in name or a spec file
//! framing = "binary2"            # binary2 | ascii4 | bcd2
//! tls = true                     # mutual TLS (needs [switch.tls]; see crate::tls::settings)
//! identity = "940851.banks.test" # the SAN DNS name or CN the bank's certificate presents
//! mac_key = { env = "MAC_940851" }   # MAC on this link (see crate::security::settings)
//! pin_key = { wrapped = "…" }        # PIN blocks translated under this zone PIN key
//! ```

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use codecs::framing::LengthHeader;
use codecs::Spec;
use serde::Deserialize;

use crate::security::mac::MacPadding;
use crate::security::pin::PinFormat;
use crate::security::settings::{link_security, KeyLoader, RawKey, RawLinkSecurity, RawSecurity};
use crate::security::{LinkSecurity, SecurityConfig};
use crate::tls::settings::{link_tls, RawLinkTls, RawTls};
use crate::tls::TlsConfig;

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    switch: RawSwitch,
    journal: Option<RawJournal>,
    settlement: Option<RawSettlement>,
    #[serde(default, rename = "link")]
    links: Vec<RawLink>,
}

/// `[settlement]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettlement {
    #[serde(default)]
    interchange: Vec<crate::store::interchange::RawInterchange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwitch {
    institution_id: String,
    rules: PathBuf,
    admin: Option<String>,
    duplicate_window_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    read_timeout_secs: Option<u64>,
    saf_retry_ms: Option<u64>,
    saf_expiry_secs: Option<u64>,
    saf_window: Option<usize>,
    max_frame: Option<usize>,
    first_byte_timeout_ms: Option<u64>,
    first_frame_timeout_ms: Option<u64>,
    max_pending: Option<usize>,
    tls: Option<RawTls>,
    security: Option<RawSecurity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJournal {
    path: PathBuf,
    durability: Option<String>,
    pan_key: Option<RawKey>,
    group_commit_max: Option<usize>,
    group_commit_us: Option<u64>,
    cutover: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
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

/// When a journal record counts as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// The acquirer's response (and the forward to the issuer) wait until the
    /// record is durable (fsynced).
    Strict,
    /// Records are written behind the responses; a crash may lose the last batch.
    Relaxed,
}

/// A secret key: its bytes never appear in Debug output or logs.
#[derive(Clone)]
pub struct SecretKey(pub Vec<u8>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({} bytes)", self.0.len())
    }
}

/// How long, by default, a relaxed journal's writer lets records gather once it
/// has one (`group_commit_us`): fewer, larger commits cost the
/// switch far less CPU per record than one commit per record, for at most this
/// much added latency per commit, which relaxed answers do not wait for. In
/// `switch-compare` at 10,000 TPS, 1 ms instead of 0.2 ms took the whole run's CPU
/// from 0.49 to 0.32-0.47 (0.26 without a journal), and the p99 the journal adds
/// with it. A crash still loses at most one batch.
pub const DEFAULT_RELAXED_GROUP_COMMIT_US: u64 = 1000;

/// The same default for a strict journal: none. Every strict answer waits for its
/// commit, so a window would add to each one; batches still form, from the records
/// that arrive while the previous commit is being written.
pub const DEFAULT_STRICT_GROUP_COMMIT_US: u64 = 0;

/// Most records per commit by default (`group_commit_max`), and so, in relaxed
/// mode, most records a crash can lose: large enough that a stall of the disk (a
/// commit of 100 ms happens on this machine's virtual disk) is absorbed without
/// holding answers back at 10,000 TPS.
pub const DEFAULT_GROUP_COMMIT_MAX: usize = 8192;

/// Store-and-forward messages outstanding per issuer connection by default
/// (`saf_window`): an issuer answering in 20 ms then takes 1,600 owed messages a
/// second on one connection instead of one per answer, and live requests keep at
/// least half of the connection's `max_in_flight` (see `core::saf_delivery`).
pub const DEFAULT_SAF_WINDOW: usize = 32;

/// The durable journal and store-and-forward queue (`[journal]`).
#[derive(Clone, Debug)]
pub struct JournalConfig {
    /// The SQLite database file (resolved against the config file's folder).
    pub path: PathBuf,
    /// Strict (default) or relaxed.
    pub durability: Durability,
    /// The key of the PAN's keyed hash (HMAC-SHA-256), or why it could not be
    /// had here (say, its variable is unset): the switch does not start without
    /// it, `switch settle` and `switch cutover` do not need it.
    pub pan_key: Result<SecretKey, String>,
    /// Most records per commit.
    pub group_commit_max: usize,
    /// How long a commit waits for more records once it has one.
    pub group_commit_window: Duration,
    /// Business-day cutover, seconds after midnight UTC.
    pub cutover_secs: u32,
}

/// The whole configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// The switch's institution id (field 33).
    pub institution_id: String,
    /// Routing rules file or directory (resolved against the config file's folder).
    pub rules: PathBuf,
    /// Metrics endpoint address.
    pub admin: Option<SocketAddr>,
    /// How long a (acquirer, MTI class, 7, 11, 41) key counts as a duplicate.
    pub duplicate_window: Duration,
    /// How long a graceful shutdown waits for in-flight responses.
    pub shutdown_grace: Duration,
    /// Read deadline for a peer that stops mid-frame.
    pub read_timeout: Duration,
    /// First store-and-forward retry interval (doubles, capped at 60 s).
    pub saf_retry: Duration,
    /// Store-and-forward messages older than this are dropped with an alert.
    pub saf_expiry: Duration,
    /// Store-and-forward messages outstanding (sent, unacknowledged) at once per
    /// issuer connection (at least 1; they count inside its `max_in_flight`).
    pub saf_window: usize,
    /// Largest frame accepted.
    pub max_frame: usize,
    /// What a listener allows a socket it accepted before it proves itself.
    pub pending: PendingLimits,
    /// The links.
    pub links: Vec<LinkConfig>,
    /// The durable journal; None keeps records in the log only and the
    /// store-and-forward queue in memory.
    pub journal: Option<JournalConfig>,
    /// Interchange fees settled with the transactions (`[[settlement.interchange]]`;
    /// empty: none).
    pub interchange: crate::store::interchange::Interchange,
    /// Mutual TLS (`[switch.tls]`) and the links that use it; None: plain TCP only.
    pub tls: Option<TlsConfig>,
    /// The links' MAC and PIN keys (`[switch.security]` and the links' key fields).
    pub security: SecurityConfig,
}

/// Deadlines and bound for the sockets a listener accepted that have not yet
/// proved themselves (TLS: handshake done and certificate bound; plain TCP: a
/// first complete frame). TLS listeners take their overall deadline and bound
/// from `[switch.tls]` (`handshake_timeout_ms`, `max_handshakes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingLimits {
    /// A socket that sends nothing this long after accept is closed: an idle
    /// socket gives its descriptor back long before the overall deadline.
    pub first_byte_timeout: Duration,
    /// Plain listeners: a socket without a complete frame by then is closed.
    pub first_frame_timeout: Duration,
    /// Plain listeners: pending sockets per listener; at the bound the oldest is
    /// closed to admit the new one.
    pub max_pending: usize,
}

/// Default first-byte deadline: a bank's host speaks at once (a TLS ClientHello,
/// a sign-on), an attacker's idle socket is gone within a second.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_millis(1000);
/// Default deadline for a plain-TCP socket's first complete frame.
pub const DEFAULT_FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(5);
/// Default bound on pending plain-TCP sockets per listener.
pub const DEFAULT_MAX_PENDING: usize = 256;

impl Default for PendingLimits {
    fn default() -> Self {
        PendingLimits {
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            first_frame_timeout: DEFAULT_FIRST_FRAME_TIMEOUT,
            max_pending: DEFAULT_MAX_PENDING,
        }
    }
}

impl PendingLimits {
    /// From `[switch]`; a zero deadline or bound is a problem.
    fn from_raw(s: &RawSwitch, problem: &mut dyn FnMut(String)) -> PendingLimits {
        let d = PendingLimits::default();
        let limits = PendingLimits {
            first_byte_timeout: s
                .first_byte_timeout_ms
                .map_or(d.first_byte_timeout, Duration::from_millis),
            first_frame_timeout: s
                .first_frame_timeout_ms
                .map_or(d.first_frame_timeout, Duration::from_millis),
            max_pending: s.max_pending.unwrap_or(d.max_pending),
        };
        if limits.first_byte_timeout.is_zero()
            || limits.first_frame_timeout.is_zero()
            || limits.max_pending == 0
        {
            problem(
                "first_byte_timeout_ms, first_frame_timeout_ms and max_pending must be at least 1"
                    .into(),
            );
        }
        limits
    }
}

/// A configuration problem: file, entry, message.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {entry}: {message}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// The entry (e.g. `link hamhung-host`).
    pub entry: String,
    /// What is wrong.
    pub message: String,
}

impl Config {
    /// Read and validate `path`.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let file = path.display().to_string();
        let err = |entry: &str, message: String| ConfigError {
            file: file.clone(),
            entry: entry.to_string(),
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![err("", format!("cannot read: {e}"))])?;
        Config::parse(&text, path)
    }

    /// Read and validate `path` without opening the TLS certificate files it names
    /// (`switch gen-certs` creates them) or reading its keys; nothing may run on
    /// the result.
    pub fn load_without_tls_files(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                file: path.display().to_string(),
                entry: String::new(),
                message: format!("cannot read: {e}"),
            }]
        })?;
        Config::parse_with(&text, path, false)
    }

    /// Validate configuration text; `path` locates relative paths and names errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, Vec<ConfigError>> {
        Config::parse_with(text, path, true)
    }

    fn parse_with(text: &str, path: &Path, load_tls: bool) -> Result<Config, Vec<ConfigError>> {
        let file = path.display().to_string();
        let err = |entry: &str, message: String| ConfigError {
            file: file.clone(),
            entry: entry.to_string(),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            vec![err(
                &line.map(|l| format!("line {l}")).unwrap_or_default(),
                e.message().to_string(),
            )]
        })?;
        let mut errors = Vec::new();
        let base = path.parent().unwrap_or(Path::new("."));
        let s = &raw.switch;
        if s.institution_id.is_empty()
            || s.institution_id.len() > 11
            || !s.institution_id.bytes().all(|b| b.is_ascii_digit())
        {
            errors.push(err("switch", "institution_id must be 1-11 digits".into()));
        }
        let saf_window = s.saf_window.unwrap_or(DEFAULT_SAF_WINDOW);
        if saf_window == 0 {
            errors.push(err("switch", "saf_window must be at least 1".into()));
        }
        let admin = match &s.admin {
            None => None,
            Some(a) => match a.parse() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    errors.push(err(
                        "switch",
                        format!("admin {a:?} is not an address (host:port)"),
                    ));
                    None
                }
            },
        };
        let mut tls = s
            .tls
            .as_ref()
            .and_then(|t| TlsConfig::from_raw(t, base, &mut |m| errors.push(err("switch.tls", m))));
        let every_link = s.tls.as_ref().is_some_and(TlsConfig::every_link);
        let mut keys = KeyLoader::new(s.security.as_ref(), load_tls);
        let mut security = keys.config();
        let mut links = Vec::new();
        let mut names = HashSet::new();
        let mut addresses = HashSet::new();
        for (i, l) in raw.links.iter().enumerate() {
            let role = match l.role {
                Role::Acquirer => "acquirer",
                Role::Issuer => "issuer",
            };
            let name = l
                .name
                .clone()
                .unwrap_or_else(|| format!("{role}-{}", l.bank));
            let entry = format!("link {name}");
            if !names.insert(name.clone()) {
                errors.push(err(
                    &entry,
                    format!("duplicate link name (entry {})", i + 1),
                ));
            }
            let digits =
                |v: &str| !v.is_empty() && v.len() <= 11 && v.bytes().all(|b| b.is_ascii_digit());
            if !digits(&l.bank) {
                errors.push(err(
                    &entry,
                    format!("bank {:?} must be 1-11 digits", l.bank),
                ));
            }
            let acquirers = l.acquirers.clone().unwrap_or_else(|| vec![l.bank.clone()]);
            for a in &acquirers {
                if !digits(a) {
                    errors.push(err(&entry, format!("acquirer {a:?} must be 1-11 digits")));
                }
            }
            if l.role == Role::Issuer && l.acquirers.is_some() {
                errors.push(err(
                    &entry,
                    "acquirers applies to acquirer links only".into(),
                ));
            }
            let address: Option<SocketAddr> = match l.address.parse() {
                Ok(a) => Some(a),
                Err(_) => {
                    errors.push(err(
                        &entry,
                        format!("address {:?} is not host:port", l.address),
                    ));
                    None
                }
            };
            if let (Some(a), Direction::Listen) = (address, l.direction) {
                if a.port() != 0 && !addresses.insert(a) {
                    errors.push(err(
                        &entry,
                        format!("address {a} is already used by another listening link"),
                    ));
                }
            }
            let spec_name = l.spec.clone().unwrap_or_else(|| "iso87ascii".into());
            let spec_path = if spec_name.contains('/')
                || spec_name.ends_with(".toml")
                || spec_name.ends_with(".json")
            {
                base.join(&spec_name).display().to_string()
            } else {
                spec_name.clone()
            };
            let spec = match Spec::by_name_or_path(&spec_path) {
                Ok(s) => Some(s),
                Err(e) => {
                    errors.push(err(&entry, format!("spec: {e}")));
                    None
                }
            };
            let framing_name = l.framing.clone().unwrap_or_else(|| "binary2".into());
            let framing = LengthHeader::from_name(&framing_name);
            if framing.is_none() {
                errors.push(err(
                    &entry,
                    format!("framing {framing_name:?} (expected binary2, ascii4 or bcd2)"),
                ));
            }
            let max_in_flight = l.max_in_flight.unwrap_or(10_000);
            let max_connections = l.max_connections.unwrap_or(64);
            if max_in_flight == 0 || max_connections == 0 {
                errors.push(err(
                    &entry,
                    "max_in_flight and max_connections must be at least 1".into(),
                ));
            }
            let raw_tls = RawLinkTls {
                tls: l.tls,
                identity: l.identity.as_deref(),
                identities: l.identities.as_ref(),
                banks: std::iter::once(l.bank.as_str())
                    .chain(acquirers.iter().map(String::as_str))
                    .collect(),
            };
            match link_tls(&raw_tls, tls.as_ref(), every_link) {
                Ok(Some(lt)) => {
                    if let Some(t) = tls.as_mut() {
                        t.links.insert(name.clone(), lt);
                    }
                }
                Ok(None) => {}
                Err(m) => errors.push(err(&entry, m)),
            }
            let raw_security = RawLinkSecurity {
                mac_key: l.mac_key.as_ref(),
                mac_padding: l.mac_padding,
                pin_key: l.pin_key.as_ref(),
                pin_format: l.pin_format,
            };
            let link_sec = match spec
                .as_ref()
                .map(|sp| link_security(&raw_security, sp, &mut keys))
            {
                Some(Ok((settings, zone_keys))) => {
                    if let Some(k) = zone_keys {
                        security.keys.insert(name.clone(), k);
                    }
                    settings
                }
                Some(Err(m)) => {
                    errors.push(err(&entry, m));
                    LinkSecurity::default()
                }
                None => LinkSecurity::default(),
            };
            if let (Some(address), Some(spec), Some(framing)) = (address, spec, framing) {
                links.push(LinkConfig {
                    name,
                    role: l.role,
                    bank: l.bank.clone(),
                    acquirers,
                    direction: l.direction,
                    address,
                    spec,
                    framing,
                    timeout: Duration::from_millis(l.timeout_ms.unwrap_or(10_000)),
                    cash_timeout: Duration::from_millis(l.cash_timeout_ms.unwrap_or(25_000)),
                    echo_interval: Duration::from_secs(l.echo_interval_secs.unwrap_or(30)),
                    max_missed_echoes: l.max_missed_echoes.unwrap_or(3),
                    max_in_flight,
                    max_connections,
                    security: link_sec,
                });
            }
        }
        let pending = PendingLimits::from_raw(s, &mut |m| errors.push(err("switch", m)));
        let rules = base.join(&s.rules);
        if !rules.exists() {
            errors.push(err(
                "switch",
                format!("rules {} does not exist", rules.display()),
            ));
        }
        let journal = raw.journal.as_ref().and_then(|j| {
            journal_config(j, base, &mut keys, &mut |m| errors.push(err("journal", m)))
        });
        let interchange = crate::store::interchange::Interchange::from_raw(
            raw.settlement
                .as_ref()
                .map_or(&[], |s| s.interchange.as_slice()),
            &mut |m| errors.push(err("settlement", m)),
        );
        if let (true, true, Some(t)) = (load_tls, errors.is_empty(), tls.as_mut()) {
            if let Err(m) = t.load_material() {
                errors.push(err("switch.tls", m));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Config {
            journal,
            interchange,
            tls,
            security,
            path: path.to_path_buf(),
            institution_id: s.institution_id.clone(),
            rules,
            admin,
            duplicate_window: Duration::from_secs(s.duplicate_window_secs.unwrap_or(300)),
            shutdown_grace: Duration::from_secs(s.shutdown_grace_secs.unwrap_or(10)),
            read_timeout: Duration::from_secs(s.read_timeout_secs.unwrap_or(30)),
            saf_retry: Duration::from_millis(s.saf_retry_ms.unwrap_or(2_000)),
            saf_expiry: Duration::from_secs(s.saf_expiry_secs.unwrap_or(24 * 3600)),
            saf_window,
            max_frame: s.max_frame.unwrap_or(codecs::framing::DEFAULT_MAX_FRAME),
            pending,
            links,
        })
    }
}

/// Validate `[journal]`; problems go to `problem`.
fn journal_config(
    j: &RawJournal,
    base: &Path,
    keys: &mut KeyLoader,
    problem: &mut dyn FnMut(String),
) -> Option<JournalConfig> {
    let durability = match j.durability.as_deref().unwrap_or("strict") {
        "strict" => Durability::Strict,
        "relaxed" => Durability::Relaxed,
        other => {
            problem(format!("durability {other:?} (expected strict or relaxed)"));
            return None;
        }
    };
    // Resolved now when it can be; when it cannot (a variable unset in this
    // environment) only what needs it fails: `switch run`, not `settle`.
    let pan_key = match &j.pan_key {
        Some(raw) => match keys.key(raw, "pan_key") {
            Ok(Some(k)) if k.len() >= 16 => Ok(SecretKey(k.expose().to_vec())),
            Ok(Some(_)) => {
                problem("pan_key: the PAN key must be at least 16 bytes".into());
                return None;
            }
            Ok(None) => Err("pan_key: keys are not loaded in this mode".to_string()),
            Err(e) if raw.is_plain() => {
                problem(e);
                return None;
            }
            Err(e) => Err(e),
        },
        None => {
            problem(
                "pan_key is needed: { env = \"VARIABLE\" } or { wrapped = \"...\" } (switch wrap-key)"
                    .into(),
            );
            return None;
        }
    };
    let cutover_secs = match j.cutover.as_deref().unwrap_or("00:00").split_once(':') {
        Some((h, m)) => match (h.parse::<u32>(), m.parse::<u32>()) {
            (Ok(h), Ok(m)) if h < 24 && m < 60 => h * 3600 + m * 60,
            _ => {
                problem("cutover must be HH:MM (UTC)".into());
                return None;
            }
        },
        None => {
            problem("cutover must be HH:MM (UTC)".into());
            return None;
        }
    };
    Some(JournalConfig {
        path: base.join(&j.path),
        durability,
        pan_key,
        group_commit_max: j
            .group_commit_max
            .unwrap_or(DEFAULT_GROUP_COMMIT_MAX)
            .max(1),
        group_commit_window: Duration::from_micros(j.group_commit_us.unwrap_or(match durability {
            Durability::Strict => DEFAULT_STRICT_GROUP_COMMIT_US,
            Durability::Relaxed => DEFAULT_RELAXED_GROUP_COMMIT_US,
        })),
        cutover_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[switch]` with `extra` lines, next to the shipped configuration.
    fn parse_switch(extra: &str) -> Result<Config, Vec<ConfigError>> {
        let text = format!(
            "[switch]\ninstitution_id = \"940000\"\nrules = \"../../routing-rules/rules/national.toml\"\n{extra}"
        );
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/test.toml"));
        Config::parse(&text, path)
    }

    #[test]
    fn the_saf_window_defaults_to_32_and_must_be_at_least_1() {
        assert_eq!(parse_switch("").expect("valid").saf_window, 32);
        assert_eq!(parse_switch("saf_window = 1").expect("valid").saf_window, 1);
        let errors = parse_switch("saf_window = 0").expect_err("invalid");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].entry, "switch");
        assert!(errors[0].message.contains("saf_window"), "{}", errors[0]);
    }
}
