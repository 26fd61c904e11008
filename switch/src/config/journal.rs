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
    path: PathBuf,
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
    /// The SQLite database file (resolved against the config file's folder).
    pub path: PathBuf,
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
                path: base.join(&self.path),
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
