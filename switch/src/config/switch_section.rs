//! `[switch]`: the switch's own identity, its timers and bounds. Its
//! `[switch.tls]` and `[switch.security]` tables are validated by
//! [`crate::tls::settings`] and [`crate::security::settings`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, ConfigWarning, Problems};
use super::units::Millis;
use super::PendingLimits;
use crate::security::settings::RawSecurity;
use crate::tls::settings::RawTls;

/// Store-and-forward messages outstanding per issuer connection by default
/// (`saf_window`): an issuer answering in 20 ms then takes 1,600 owed messages a
/// second on one connection instead of one per answer, and live requests keep at
/// least half of the connection's `max_in_flight` (see `core::saf_delivery`).
pub const DEFAULT_SAF_WINDOW: usize = 32;

/// `[switch]` as written. The `_secs` fields are the deprecated spellings of
/// the `_ms` ones (see [`super::units`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSwitch {
    institution_id: String,
    rules: PathBuf,
    admin: Option<String>,
    admin_token_env: Option<String>,
    duplicate_window_ms: Option<u64>,
    duplicate_window_secs: Option<u64>,
    shutdown_grace_ms: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    read_timeout_ms: Option<u64>,
    read_timeout_secs: Option<u64>,
    saf_retry_ms: Option<u64>,
    saf_expiry_ms: Option<u64>,
    saf_expiry_secs: Option<u64>,
    saf_window: Option<usize>,
    hsm_timeout_ms: Option<u64>,
    max_frame: Option<usize>,
    first_byte_timeout_ms: Option<u64>,
    first_frame_timeout_ms: Option<u64>,
    max_pending: Option<usize>,
    pub(crate) tls: Option<RawTls>,
    pub(crate) security: Option<RawSecurity>,
}

/// `[switch]` validated; the rules path is joined to the file's folder but not
/// yet looked for (the second stage does).
pub(crate) struct SwitchSection {
    pub(crate) institution_id: String,
    pub(crate) rules: PathBuf,
    pub(crate) admin: Option<SocketAddr>,
    pub(crate) admin_token_env: String,
    pub(crate) duplicate_window: Duration,
    pub(crate) shutdown_grace: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) saf_retry: Duration,
    pub(crate) saf_expiry: Duration,
    pub(crate) saf_window: usize,
    pub(crate) hsm_timeout: Duration,
    pub(crate) max_frame: usize,
    pub(crate) pending: PendingLimits,
}

/// 1 to 11 decimal digits: an institution id (fields 32, 33, 100).
pub(crate) fn is_institution_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 11 && v.bytes().all(|b| b.is_ascii_digit())
}

impl RawSwitch {
    /// Validate `[switch]` (without its tables); `base` is the file's folder.
    pub(crate) fn validate(
        &self,
        file: &str,
        base: &std::path::Path,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<SwitchSection, Vec<ConfigError>> {
        let mut p = Problems::new(file, "switch");
        if !is_institution_id(&self.institution_id) {
            p.push("institution_id must be 1-11 digits");
        }
        let saf_window = self.saf_window.unwrap_or(DEFAULT_SAF_WINDOW);
        if saf_window == 0 {
            p.push("saf_window must be at least 1");
        }
        let admin = self.admin.as_ref().and_then(|a| match a.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                p.push(format!("admin {a:?} is not an address (host:port)"));
                None
            }
        });
        let mut millis =
            |name, ms, secs, default| Millis { name, ms, secs }.resolve(default, &mut p, warnings);
        let duplicate_window = millis(
            "duplicate_window_ms",
            self.duplicate_window_ms,
            self.duplicate_window_secs,
            Duration::from_secs(300),
        );
        let shutdown_grace = millis(
            "shutdown_grace_ms",
            self.shutdown_grace_ms,
            self.shutdown_grace_secs,
            Duration::from_secs(10),
        );
        let read_timeout = millis(
            "read_timeout_ms",
            self.read_timeout_ms,
            self.read_timeout_secs,
            Duration::from_secs(30),
        );
        let saf_expiry = millis(
            "saf_expiry_ms",
            self.saf_expiry_ms,
            self.saf_expiry_secs,
            Duration::from_secs(24 * 3600),
        );
        let hsm_timeout = Duration::from_millis(self.hsm_timeout_ms.unwrap_or(2_000));
        if hsm_timeout.is_zero() {
            p.push("hsm_timeout_ms must be at least 1");
        }
        let pending = self.pending_limits(&mut p);
        let section = SwitchSection {
            institution_id: self.institution_id.clone(),
            rules: base.join(&self.rules),
            admin,
            admin_token_env: self
                .admin_token_env
                .clone()
                .unwrap_or_else(|| crate::admin::DEFAULT_TOKEN_ENV.to_string()),
            duplicate_window,
            shutdown_grace,
            read_timeout,
            saf_retry: Duration::from_millis(self.saf_retry_ms.unwrap_or(2_000)),
            saf_expiry,
            saf_window,
            hsm_timeout,
            max_frame: self.max_frame.unwrap_or(codecs::framing::DEFAULT_MAX_FRAME),
            pending,
        };
        p.finish(section)
    }

    /// What a listener allows a socket before it proves itself; a zero deadline
    /// or bound is a problem.
    fn pending_limits(&self, p: &mut Problems<'_>) -> PendingLimits {
        let d = PendingLimits::default();
        let limits = PendingLimits {
            first_byte_timeout: self
                .first_byte_timeout_ms
                .map_or(d.first_byte_timeout, Duration::from_millis),
            first_frame_timeout: self
                .first_frame_timeout_ms
                .map_or(d.first_frame_timeout, Duration::from_millis),
            max_pending: self.max_pending.unwrap_or(d.max_pending),
        };
        if limits.first_byte_timeout.is_zero()
            || limits.first_frame_timeout.is_zero()
            || limits.max_pending == 0
        {
            p.push(
                "first_byte_timeout_ms, first_frame_timeout_ms and max_pending must be at least 1",
            );
        }
        limits
    }
}
