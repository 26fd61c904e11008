//! The demo's journal and settlement: the switch journals to a database of its own
//! for the run (temporary unless `--journal PATH` keeps it), and after the run the
//! demo settles the run's business days and checks, per issuer host, that the
//! settled count and amount equal what the issuer simulator booked net of reversals.

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use switch::config::{Config, Durability, JournalConfig, SecretKey};
use switch::store::interchange::Interchange;
use switch::store::open_connection;
use switch::store::settlement::{settle_with, Settlement};

use super::check::Total;

/// Where the run's journal lives, and whether to delete it afterwards.
pub struct DemoJournal {
    /// The database file.
    pub path: PathBuf,
    /// A folder made for this run (deleted at the end).
    temporary: Option<PathBuf>,
}

/// How often one routing rule declined on a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleDeclines {
    /// The rule's id.
    pub rule: String,
    /// The code it answered.
    pub response_code: String,
    /// Declines.
    pub count: i64,
}

impl DemoJournal {
    /// Point `config`'s journal at `keep` or at a fresh temporary folder, keeping the
    /// configured durability (strict by default). Without a `[journal]` section the
    /// demo makes one with a random PAN-hash key: its database lives for one run.
    pub fn configure(config: &mut Config, keep: Option<&Path>) -> Result<DemoJournal, String> {
        let (path, temporary) = match keep {
            Some(p) => (p.to_path_buf(), None),
            None => {
                let dir = run_dir("sim-demo")?;
                (dir.join("journal.db"), Some(dir))
            }
        };
        let run_key = || {
            Some(SecretKey::new(
                (0..4).flat_map(|_| random_u64().to_le_bytes()).collect(),
            ))
        };
        let mut journal = config.journal.take().unwrap_or_else(|| JournalConfig {
            path: PathBuf::new(),
            postgres: None,
            durability: Durability::Strict,
            pan_key: run_key(),
            group_commit_max: 1024,
            group_commit_window: Duration::ZERO,
            cutover_secs: 0,
        });
        if journal.pan_key.is_none() {
            // The configured key's variable is unset: a key for this run only.
            tracing::info!("no PAN key in this environment: the demo uses one made for its run");
            journal.pan_key = run_key();
        }
        config.journal = Some(JournalConfig {
            path: path.clone(),
            ..journal
        });
        Ok(DemoJournal { path, temporary })
    }

    /// The switch's declines by routing rule on `channel` (`wallet-qr`: the
    /// region and app rules at work on the app channel), as (rule, response
    /// code, count), the most frequent first.
    pub fn declines_by_rule(&self, channel: &str) -> Result<Vec<RuleDeclines>, String> {
        let conn = open_connection(&self.path).map_err(|e| e.to_string())?;
        let mut stmt = conn
            .prepare(
                "SELECT rule, response_code, count(*) FROM journal
                 WHERE channel = ?1 AND state = 'declined' AND rule IS NOT NULL
                 GROUP BY 1, 2 ORDER BY 3 DESC, 1",
            )
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([channel], |r| {
                Ok(RuleDeclines {
                    rule: r.get(0)?,
                    response_code: r.get(1)?,
                    count: r.get(2)?,
                })
            })
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<_, _>>().map_err(|e| e.to_string())
    }

    /// Settle the business days `first..=last` of the run, with `interchange`.
    pub fn settle(
        &self,
        first: i64,
        last: i64,
        agent: Option<String>,
        interchange: &Interchange,
    ) -> Result<Vec<Settlement>, String> {
        let conn = open_connection(&self.path).map_err(|e| e.to_string())?;
        (first..=last)
            .map(|day| {
                settle_with(&conn, day, agent.clone(), interchange)
                    .map_err(|e| format!("settlement: {e}"))
            })
            .collect()
    }
}

/// The token vault's key-encryption key for the run: None when the
/// configuration's variable (`[switch.security] kek_env`) holds one, else a
/// random key made for this run (its vault lives as long as its journal).
pub fn run_kek(config: &Config) -> Option<card_security::KeyMaterial> {
    let var = config.security.kek_var();
    if std::env::var_os(var).is_some() {
        return None;
    }
    tracing::info!("no key-encryption key in this environment: the demo's token vault uses one made for its run");
    let mut key = vec![0u8; 32];
    if getrandom::fill(&mut key).is_err() {
        // No operating-system randomness: the demo's own (its data lives one run).
        key = (0..4).flat_map(|_| random_u64().to_le_bytes()).collect();
    }
    Some(card_security::KeyMaterial::new(key))
}

impl Drop for DemoJournal {
    fn drop(&mut self) {
        if let Some(dir) = &self.temporary {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A new folder `PREFIX-<pid>-<random>` in the temporary directory, for one
/// run's files (the caller removes it).
pub(crate) fn run_dir(prefix: &str) -> Result<PathBuf, String> {
    let dir =
        std::env::temp_dir().join(format!("{prefix}-{}-{}", std::process::id(), random_u64()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// A random number from the standard library's per-process hash keys.
pub(crate) fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}

/// One issuer host: what settlement says it owes, against its own books.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettledIssuer {
    /// The issuer host.
    pub issuer: String,
    /// Settled approvals net of reversals, all acquirers and currencies.
    pub settled: Total,
    /// The issuer simulator's approvals minus reversals.
    pub issuer_net: Total,
}

impl SettledIssuer {
    /// Whether both sides agree.
    pub fn agrees(&self) -> bool {
        self.settled == self.issuer_net
    }
}

/// Per issuer host, settled totals against the issuer simulators' net totals.
pub fn compare_settlement(
    settlements: &[Settlement],
    issuers: &BTreeMap<String, Total>,
) -> Vec<SettledIssuer> {
    let mut settled: BTreeMap<String, Total> = BTreeMap::new();
    for s in settlements {
        for p in &s.pairs {
            settled
                .entry(p.issuer.clone())
                .or_default()
                .add(p.count.max(0) as u64, p.amount);
        }
    }
    let mut hosts: Vec<&String> = issuers.keys().chain(settled.keys()).collect();
    hosts.sort();
    hosts.dedup();
    hosts
        .into_iter()
        .map(|h| SettledIssuer {
            issuer: h.clone(),
            settled: settled.get(h).copied().unwrap_or_default(),
            issuer_net: issuers.get(h).copied().unwrap_or_default(),
        })
        .collect()
}
