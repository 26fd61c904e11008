//! `[journal]`: the durable journal and store-and-forward queue. The first stage
//! checks what is written; the PAN-hash key is resolved in the second
//! ([`super::resolve`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, Problems};
use super::secret::SecretKey;
use crate::security::settings::RawKey;

/// How long, by default, a relaxed journal's writer lets records gather once it
/// has one (`group_commit_us`): fewer, larger commits cost the switch far less
/// CPU per record than one commit per record, for at most this much added
/// latency per commit, which relaxed answers do not wait for (measurements: the
/// README's journal section). A crash still loses at most one batch.
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

/// `[journal]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJournal {
    /// SQLite: the database file. Exactly one of `path` and `url`.
    path: Option<PathBuf>,
    /// PostgreSQL: `postgres://user@host:port/dbname`, never with a password.
    url: Option<String>,
    /// The environment variable holding the PostgreSQL password.
    password_env: Option<String>,
    durability: Option<String>,
    pan_key: Option<RawKey>,
    group_commit_max: Option<usize>,
    /// Microseconds, not milliseconds: see [`super::units`].
    group_commit_us: Option<u64>,
    cutover: Option<String>,
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

/// The durable journal and store-and-forward queue (`[journal]`).
#[derive(Clone, Debug)]
pub struct JournalConfig {
    /// The SQLite database file (resolved against the config file's folder);
    /// unused (empty) when `postgres` is set.
    pub path: PathBuf,
    /// The PostgreSQL database several switch nodes share (`url`); None: SQLite.
    pub postgres: Option<PostgresConfig>,
    /// Strict (default) or relaxed.
    pub durability: Durability,
    /// The key of the PAN's keyed hash (HMAC-SHA-256). None when this
    /// environment could not supply it (its variable unset: the load's
    /// warnings say which) or the configuration was read without its secrets:
    /// the switch does not start without it, `switch settle` and `switch
    /// cutover` do not need it.
    pub pan_key: Option<SecretKey>,
    /// Most records per commit.
    pub group_commit_max: usize,
    /// How long a commit waits for more records once it has one.
    pub group_commit_window: Duration,
    /// Business-day cutover, seconds after midnight UTC.
    pub cutover_secs: u32,
}

/// Where the PostgreSQL journal is: `[journal] url` and `password_env`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresConfig {
    /// `postgres://user@host:port/dbname` (checked to hold no password).
    pub url: String,
    /// The variable the password is read from when connecting (default
    /// `PGPASSWORD`); unset: no password (trust or certificate authentication).
    pub password_env: String,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
}

/// Default `password_env`: the variable libpq's own tools read.
pub const DEFAULT_PASSWORD_ENV: &str = "PGPASSWORD";

/// How long a connection to PostgreSQL may take to open.
pub const PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl PostgresConfig {
    /// The driver's configuration, with the password read from the environment
    /// now (so that a rotated password is used at the next reconnect).
    pub fn client_config(&self) -> Result<tokio_postgres::Config, String> {
        let mut config: tokio_postgres::Config = self
            .url
            .parse()
            .map_err(|e| format!("[journal] url is not a PostgreSQL URL: {e}"))?;
        if config.get_password().is_some() {
            return Err(PASSWORD_IN_URL.into());
        }
        if let Ok(password) = std::env::var(&self.password_env) {
            config.password(password);
        }
        config.connect_timeout(self.connect_timeout);
        Ok(config)
    }

    /// Where the database is, for logs and `check-config` (the URL holds no secret).
    pub fn describe(&self) -> String {
        format!("postgresql {}", self.url)
    }
}

const PASSWORD_IN_URL: &str =
    "url must not hold a password (password from the environment, never from the file): set password_env";

/// Check `[journal] url` as written: a PostgreSQL URL, without a password.
fn check_url(url: &str) -> Result<(), String> {
    let config: tokio_postgres::Config = url.parse().map_err(|e| {
        format!("url is not a PostgreSQL URL (postgres://user@host:port/dbname): {e}")
    })?;
    if config.get_password().is_some() {
        return Err(PASSWORD_IN_URL.into());
    }
    if config.get_hosts().is_empty() || config.get_dbname().is_none() {
        return Err(
            "url must name the host and the database (postgres://user@host:port/dbname)".into(),
        );
    }
    Ok(())
}

/// `[journal]` validated, its key still a reference to where it comes from.
pub(crate) struct JournalDraft<'a> {
    pub(crate) config: JournalConfig,
    pub(crate) pan_key: &'a RawKey,
}

impl RawJournal {
    /// Validate `[journal]`; `base` is the file's folder.
    pub(crate) fn validate<'a>(
        &'a self,
        file: &str,
        base: &Path,
    ) -> Result<JournalDraft<'a>, Vec<ConfigError>> {
        let mut p = Problems::new(file, "journal");
        let durability = match self.durability.as_deref().unwrap_or("strict") {
            "strict" => Durability::Strict,
            "relaxed" => Durability::Relaxed,
            other => {
                p.push(format!("durability {other:?} (expected strict or relaxed)"));
                Durability::Strict
            }
        };
        match &self.pan_key {
            None => p.push(
                "pan_key is needed: { env = \"VARIABLE\" } or { wrapped = \"...\" } (switch wrap-key)",
            ),
            Some(raw) => {
                if let Err(e) = raw.check_source("pan_key") {
                    p.push(e.to_string());
                }
            }
        }
        let postgres = match (&self.path, &self.url) {
            (Some(_), Some(_)) => {
                p.push("set path (SQLite) or url (PostgreSQL), not both");
                None
            }
            (None, None) => {
                p.push("path (SQLite) or url (PostgreSQL) is needed");
                None
            }
            (None, Some(url)) => match check_url(url) {
                Ok(()) => Some(PostgresConfig {
                    url: url.clone(),
                    password_env: self
                        .password_env
                        .clone()
                        .unwrap_or_else(|| DEFAULT_PASSWORD_ENV.into()),
                    connect_timeout: PG_CONNECT_TIMEOUT,
                }),
                Err(e) => {
                    p.push(e);
                    None
                }
            },
            (Some(_), None) => {
                if self.password_env.is_some() {
                    p.push("password_env is for url (PostgreSQL), not path");
                }
                None
            }
        };
        let cutover_secs = parse_cutover(self.cutover.as_deref().unwrap_or("00:00"));
        if cutover_secs.is_none() {
            p.push("cutover must be HH:MM (UTC)");
        }
        let (Some(pan_key), Some(cutover_secs), true) = (&self.pan_key, cutover_secs, p.is_empty())
        else {
            return Err(p.into_errors());
        };
        let window_us = self.group_commit_us.unwrap_or(match durability {
            Durability::Strict => DEFAULT_STRICT_GROUP_COMMIT_US,
            Durability::Relaxed => DEFAULT_RELAXED_GROUP_COMMIT_US,
        });
        p.finish(JournalDraft {
            config: JournalConfig {
                path: self
                    .path
                    .as_ref()
                    .map(|path| base.join(path))
                    .unwrap_or_default(),
                postgres,
                durability,
                pan_key: None,
                group_commit_max: self
                    .group_commit_max
                    .unwrap_or(DEFAULT_GROUP_COMMIT_MAX)
                    .max(1),
                group_commit_window: Duration::from_micros(window_us),
                cutover_secs,
            },
            pan_key,
        })
    }
}

impl JournalConfig {
    /// The backend and where it is, for logs and `check-config`.
    pub fn backend(&self) -> String {
        match &self.postgres {
            Some(pg) => pg.describe(),
            None => format!("sqlite {}", self.path.display()),
        }
    }
}

/// `HH:MM` as seconds after midnight.
fn parse_cutover(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    match (h.parse::<u32>(), m.parse::<u32>()) {
        (Ok(h), Ok(m)) if h < 24 && m < 60 => Some(h * 3600 + m * 60),
        _ => None,
    }
}

/// The PAN key must be long enough for a keyed hash worth the name.
pub(crate) const MIN_PAN_KEY_LEN: usize = 16;
