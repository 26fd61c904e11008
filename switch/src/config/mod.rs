//! The switch's configuration file (TOML), read in two stages: each section is
//! validated on its own ([`switch_section`], [`journal`], [`settlement`],
//! [`link`], and `[switch.tls]`/`[switch.security]` in their modules'
//! `settings`), then [`resolve`] reads what lies outside the file: the rules
//! path, spec files, environment variables, keys and certificate files. Every
//! problem names the file, the entry and what is wrong; every duration key is
//! in milliseconds ([`units`] keeps the old `_secs` names loading, with a
//! warning).
//!
//! ```toml
//! [switch]
//! institution_id = "940000"      # the switch's own id (field 33 on forwarded messages)
//! rules = "../../routing-rules/rules/national.toml"   # relative to this file
//! admin = "127.0.0.1:9100"       # console, /api/status, /metrics (optional)
//! admin_token_env = "SWITCH_ADMIN_TOKEN"  # bearer token: required off loopback
//! duplicate_window_ms = 300000   # how long a repeated request counts as a duplicate
//! shutdown_grace_ms = 10000      # a graceful shutdown waits this long for answers in flight
//! read_timeout_ms = 30000        # a peer that stops mid-frame is closed after this
//! saf_retry_ms = 2000            # first store-and-forward retry (doubling, capped at 60 s)
//! saf_expiry_ms = 86400000       # store-and-forward messages older than this are dropped
//! saf_window = 32                # store-and-forward messages outstanding per issuer connection
//! hsm_timeout_ms = 2000          # a PIN translation not answered by then: declined 91
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
//! timeout_ms = 10000             # issuer links: answer deadline (cash_timeout_ms for ATMs)
//! echo_interval_ms = 30000       # issuer links: an idle link is echoed this often
//! tls = true                     # mutual TLS (needs [switch.tls]; see crate::tls::settings)
//! identity = "940851.banks.test" # the SAN DNS name or CN the bank's certificate presents
//! mac_key = { env = "MAC_940851" }   # MAC on this link (see crate::security::settings)
//! pin_key = { wrapped = "…" }        # PIN blocks translated under this zone PIN key
//! ```
//!
//! `[stand_in]` ([`stand_in`]) marks the decisions the switch takes for an issuer
//! that cannot answer; `[journal]`, `[settlement]` and `[[token_api]]` are
//! described in their modules.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::security::settings::KeyLoader;
use crate::security::SecurityConfig;
use crate::store::interchange::Interchange;
use crate::tls::TlsConfig;

pub mod cluster;
mod error;
pub mod journal;
pub mod link;
mod resolve;
mod secret;
mod settlement;
pub mod stand_in;
mod switch_section;
#[cfg(test)]
mod tests;
pub mod token_api;
mod units;

pub use cluster::ClusterConfig;
pub use error::{ConfigError, ConfigWarning};
pub use journal::{
    Durability, JournalConfig, PostgresConfig, DEFAULT_GROUP_COMMIT_MAX,
    DEFAULT_RELAXED_GROUP_COMMIT_US, DEFAULT_STRICT_GROUP_COMMIT_US,
};
pub use link::{Direction, LinkConfig, Role};
pub use secret::SecretKey;
pub use stand_in::StandInConfig;
pub use switch_section::DEFAULT_SAF_WINDOW;
pub use token_api::TokenApiConfig;

use error::Problems;
use journal::{JournalDraft, RawJournal};
use link::{validate_links, LinkContext, LinkDraft, RawLink};
use resolve::Resolver;
use settlement::RawSettlement;
use switch_section::{RawSwitch, SwitchSection};
use token_api::{validate_token_apis, RawTokenApi, TokenApiContext};

/// The file as written: one table per section.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    switch: RawSwitch,
    journal: Option<RawJournal>,
    cluster: Option<cluster::RawCluster>,
    settlement: Option<RawSettlement>,
    stand_in: Option<stand_in::RawStandIn>,
    #[serde(default, rename = "link")]
    links: Vec<RawLink>,
    #[serde(default, rename = "token_api")]
    token_apis: Vec<RawTokenApi>,
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
    /// The admin address: operator console, status API, metrics.
    pub admin: Option<SocketAddr>,
    /// The environment variable holding the admin address's bearer token
    /// (required when it is not loopback; see `crate::admin::access`).
    pub admin_token_env: String,
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
    /// How long a request waits for the security module's answer (PIN
    /// translation) before it is declined 91.
    pub hsm_timeout: Duration,
    /// Largest frame accepted.
    pub max_frame: usize,
    /// What a listener allows a socket it accepted before it proves itself.
    pub pending: PendingLimits,
    /// The links.
    pub links: Vec<LinkConfig>,
    /// The token API listeners (`[[token_api]]`).
    pub token_apis: Vec<TokenApiConfig>,
    /// The durable journal; None keeps records in the log only and the
    /// store-and-forward queue in memory.
    pub journal: Option<JournalConfig>,
    /// Interchange fees settled with the transactions (`[[settlement.interchange]]`;
    /// empty: none).
    pub interchange: Interchange,
    /// This switch as a node of a cluster (`[cluster]`); None: a single node.
    pub cluster: Option<ClusterConfig>,
    /// How stand-in decisions are marked (`[stand_in]`; the issuers' parameters
    /// are in the routing rules).
    pub stand_in: StandInConfig,
    /// Mutual TLS (`[switch.tls]`) and the links that use it; None: plain TCP only.
    pub tls: Option<TlsConfig>,
    /// The links' MAC and PIN keys (`[switch.security]` and the links' key fields).
    pub security: SecurityConfig,
    /// What the file should change but that did not stop it loading (deprecated
    /// key names, a journal key this environment lacks): the commands print them.
    pub warnings: Vec<ConfigWarning>,
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

/// What the second stage reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Everything: the switch can run on the result.
    Everything,
    /// Neither the TLS certificate files (`switch gen-certs` creates them) nor
    /// any key.
    WithoutTlsFilesOrKeys,
}

impl Config {
    /// Read and validate `path`.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        Config::load_reading(path, Reading::Everything)
    }

    /// Read and validate `path` without opening the TLS certificate files it names
    /// (`switch gen-certs` creates them) or reading its keys; nothing may run on
    /// the result.
    pub fn load_without_tls_files(path: &Path) -> Result<Config, Vec<ConfigError>> {
        Config::load_reading(path, Reading::WithoutTlsFilesOrKeys)
    }

    fn load_reading(path: &Path, reading: Reading) -> Result<Config, Vec<ConfigError>> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![Problems::new(&file, "").error(format!("cannot read: {e}"))])?;
        Config::parse_with(&text, path, reading)
    }

    /// Validate configuration text; `path` locates relative paths and names errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, Vec<ConfigError>> {
        Config::parse_with(text, path, Reading::Everything)
    }

    /// The two stages: every section validated on its own, then what the
    /// sections name outside the file read. Stage 2 runs on whatever passed
    /// stage 1, so one load reports as many problems as it can.
    fn parse_with(text: &str, path: &Path, reading: Reading) -> Result<Config, Vec<ConfigError>> {
        let file = path.display().to_string();
        let raw = parse_toml(text, &file)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let sections = Sections::validate(&raw, &file, base, &mut errors, &mut warnings);
        let keys = KeyLoader::new(raw.switch.security.as_ref(), reading == Reading::Everything);
        sections.resolve(Resolver::new(&file, keys), reading, errors, warnings, path)
    }
}

/// What stage 1 gives: each section validated (None where it had problems),
/// the links and the journal still naming their spec files and keys.
struct Sections<'a> {
    switch: Option<SwitchSection>,
    tls: Option<TlsConfig>,
    links: Vec<LinkDraft<'a>>,
    token_apis: Vec<TokenApiConfig>,
    journal: Option<JournalDraft<'a>>,
    cluster: Option<ClusterConfig>,
    interchange: Option<Interchange>,
    stand_in: Option<StandInConfig>,
}

impl<'a> Sections<'a> {
    /// Stage 1: each section as written; problems go to `errors`.
    fn validate(
        raw: &'a RawConfig,
        file: &str,
        base: &Path,
        errors: &mut Vec<ConfigError>,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Sections<'a> {
        let switch = keep(raw.switch.validate(file, base, warnings), errors);
        let tls = raw.switch.tls.as_ref().and_then(|t| {
            TlsConfig::from_raw(t, base)
                .map_err(|e| errors.push(Problems::new(file, "switch.tls").error(e.to_string())))
                .ok()
        });
        let cx = LinkContext {
            file,
            base,
            tls: tls.as_ref(),
            every_link_tls: raw.switch.tls.as_ref().is_some_and(TlsConfig::every_link),
        };
        let links = keep(validate_links(&raw.links, &cx, warnings), errors).unwrap_or_default();
        let api_cx = TokenApiContext {
            file,
            has_tls: raw.switch.tls.is_some(),
            bank_domain: tls
                .as_ref()
                .map_or(crate::tls::settings::DEFAULT_DOMAIN, |t| t.domain.as_str()),
            link_addresses: links.iter().map(|l| l.address).collect(),
        };
        let token_apis = keep(
            validate_token_apis(&raw.token_apis, &api_cx, warnings),
            errors,
        )
        .unwrap_or_default();
        let journal = raw
            .journal
            .as_ref()
            .and_then(|j| keep(j.validate(file, base), errors));
        let cluster = raw.cluster.as_ref().and_then(|c| {
            let validated = c.validate(
                file,
                journal.as_ref().map(|j| &j.config),
                raw.journal.is_some(),
            );
            keep(validated, errors)
        });
        let interchange = match &raw.settlement {
            Some(s) => keep(s.validate(file), errors),
            None => Some(Interchange::default()),
        };
        let stand_in = match &raw.stand_in {
            Some(s) => keep(s.validate(file), errors),
            None => Some(StandInConfig::default()),
        };
        Sections {
            stand_in,
            switch,
            tls,
            links,
            token_apis,
            journal,
            cluster,
            interchange,
        }
    }

    /// Stage 2: the rules path, spec files, keys and, when everything else is
    /// right, the TLS files.
    fn resolve(
        mut self,
        mut resolver: Resolver<'_>,
        reading: Reading,
        mut errors: Vec<ConfigError>,
        mut warnings: Vec<ConfigWarning>,
        path: &Path,
    ) -> Result<Config, Vec<ConfigError>> {
        let mut security = resolver.security_config();
        if let Some(s) = &self.switch {
            errors.extend(resolver.rules(&s.rules));
        }
        let mut links = Vec::with_capacity(self.links.len());
        for draft in self.links {
            match resolver.link(draft, &mut security, self.tls.as_mut()) {
                Ok(link) => links.push(link),
                Err(e) => errors.extend(e),
            }
        }
        if let Some(stand_in) = &self.stand_in {
            errors.extend(stand_in.check_links(&links, resolver.file()));
        }
        let journal = self
            .journal
            .and_then(|j| keep(resolver.journal(j, &mut warnings), &mut errors));
        if let (Reading::Everything, true, Some(t)) = (reading, errors.is_empty(), &mut self.tls) {
            errors.extend(resolver.tls_material(t));
        }
        let (Some(s), Some(interchange), Some(stand_in), true) = (
            self.switch,
            self.interchange,
            self.stand_in,
            errors.is_empty(),
        ) else {
            return Err(errors);
        };
        Ok(Config {
            stand_in,
            journal,
            cluster: self.cluster,
            interchange,
            tls: self.tls,
            security,
            path: path.to_path_buf(),
            institution_id: s.institution_id,
            rules: s.rules,
            admin: s.admin,
            admin_token_env: s.admin_token_env,
            duplicate_window: s.duplicate_window,
            shutdown_grace: s.shutdown_grace,
            read_timeout: s.read_timeout,
            saf_retry: s.saf_retry,
            saf_expiry: s.saf_expiry,
            saf_window: s.saf_window,
            hsm_timeout: s.hsm_timeout,
            max_frame: s.max_frame,
            pending: s.pending,
            links,
            token_apis: self.token_apis,
            warnings,
        })
    }
}

/// The TOML parsed into sections; a syntax error names its line.
fn parse_toml(text: &str, file: &str) -> Result<RawConfig, Vec<ConfigError>> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        let entry = line.map(|l| format!("line {l}")).unwrap_or_default();
        vec![Problems::new(file, entry).error(e.message())]
    })
}

/// A section's value, its problems moved to `errors`.
fn keep<T>(section: Result<T, Vec<ConfigError>>, errors: &mut Vec<ConfigError>) -> Option<T> {
    section.map_err(|e| errors.extend(e)).ok()
}
