//! `[cluster]`: this switch as one node of several sharing one PostgreSQL
//! database (issue 19). Optional; without it the switch is a single node
//! (slot 0) exactly as before.
//!
//! ```toml
//! [cluster]
//! node = "node-a"     # this node's name, unique in the cluster: [A-Za-z0-9_-]{1,32}
//! slot = 1            # 1..=15, unique per live node: partitions ids and STANs
//! lease_ms = 3000     # heartbeat lease, 1000..=60000 (default 3000)
//! ```
//!
//! It requires `[journal]` on PostgreSQL with strict durability: a forward in a
//! cluster must not leave before its cross-node claim is durable.

use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, Problems};
use super::journal::{Durability, JournalConfig};
use crate::cluster::NodeIdentity;

/// The lease when `lease_ms` is not given.
pub const DEFAULT_LEASE: Duration = Duration::from_millis(3000);
/// Shortest lease: renewals every third of it must fit a database round trip
/// with room to spare.
const MIN_LEASE_MS: u64 = 1000;
/// Longest lease: a dead node's obligations wait up to two leases for a taker.
const MAX_LEASE_MS: u64 = 60_000;
/// Slots 1..=15: the STAN space 1..=999999 splits into 15 ranges of 66,666.
pub const MAX_SLOT: u8 = 15;
/// Longest node name (it is stored beside every journal row of the node).
const MAX_NODE_NAME: usize = 32;

/// `[cluster]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCluster {
    node: Option<String>,
    slot: Option<i64>,
    lease_ms: Option<u64>,
}

/// This node in the cluster (`[cluster]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Its name, unique in the cluster.
    pub node: String,
    /// 1..=15: partitions transaction and store-and-forward ids and STANs.
    pub slot: u8,
    /// How long its lease lasts without renewal.
    pub lease: Duration,
}

impl ClusterConfig {
    /// The identity the store registers and the lease loop renews.
    pub fn identity(&self) -> NodeIdentity {
        NodeIdentity {
            name: self.node.clone(),
            slot: self.slot,
            lease: self.lease,
        }
    }
}

impl RawCluster {
    /// Validate `[cluster]` against the validated `[journal]` (None: absent or
    /// itself in error, which is reported there).
    pub(crate) fn validate(
        &self,
        file: &str,
        journal: Option<&JournalConfig>,
        journal_written: bool,
    ) -> Result<ClusterConfig, Vec<ConfigError>> {
        let mut p = Problems::new(file, "cluster");
        let node = self.node.clone().unwrap_or_default();
        if !valid_node_name(&node) {
            p.push(format!(
                "node {node:?}: a name of 1 to {MAX_NODE_NAME} letters, digits, '-' or '_' is needed"
            ));
        }
        let slot = match self.slot {
            Some(s) if (1..=i64::from(MAX_SLOT)).contains(&s) => s as u8,
            Some(s) => {
                p.push(format!(
                    "slot {s} (expected 1..={MAX_SLOT}; 0 is a single node's)"
                ));
                0
            }
            None => {
                p.push(format!(
                    "slot is needed (1..={MAX_SLOT}, unique per live node)"
                ));
                0
            }
        };
        let lease_ms = self.lease_ms.unwrap_or(DEFAULT_LEASE.as_millis() as u64);
        if !(MIN_LEASE_MS..=MAX_LEASE_MS).contains(&lease_ms) {
            p.push(format!(
                "lease_ms {lease_ms} (expected {MIN_LEASE_MS}..={MAX_LEASE_MS})"
            ));
        }
        match journal {
            Some(j) => {
                if j.durability != Durability::Strict {
                    p.push(
                        "needs [journal] durability = \"strict\": a forward in a cluster must not \
                         leave before its cross-node claim is durable",
                    );
                }
                if j.postgres.is_none() {
                    p.push(
                        "needs [journal] url = \"postgres://...\": a cluster shares one \
                         PostgreSQL database",
                    );
                }
            }
            // A `[journal]` in error has its own problems reported.
            None if journal_written => {}
            None => p.push("needs [journal] with a PostgreSQL url and durability = \"strict\""),
        }
        p.finish(ClusterConfig {
            node,
            slot,
            lease: Duration::from_millis(lease_ms),
        })
    }
}

/// `[A-Za-z0-9_-]{1,32}`.
fn valid_node_name(name: &str) -> bool {
    (1..=MAX_NODE_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    /// A configuration with a PostgreSQL `[journal]` and its lines `journal`
    /// (none: no section) and `[cluster]` lines `cluster`.
    fn parse(journal: Option<&str>, cluster: &str) -> Result<Config, Vec<ConfigError>> {
        parse_with(
            journal.map(|j| format!("url = \"postgres://switch@127.0.0.1:5432/switch\"\n{j}")),
            cluster,
        )
    }

    /// [`parse`] with the whole `[journal]` body but its key.
    fn parse_with(journal: Option<String>, cluster: &str) -> Result<Config, Vec<ConfigError>> {
        let mut text = String::from(
            "[switch]\ninstitution_id = \"940000\"\nrules = \"../../routing-rules/rules/national.toml\"\n",
        );
        if let Some(j) = journal {
            text.push_str(&format!(
                "[journal]\npan_key = {{ env = \"CLUSTER_TEST_PAN_KEY\" }}\n{j}\n"
            ));
        }
        text.push_str(&format!("[cluster]\n{cluster}\n"));
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/test.toml"));
        Config::parse(&text, path)
    }

    fn messages(errors: &[ConfigError]) -> String {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_valid_section_gives_the_node_identity_with_the_default_lease() {
        let c = parse(Some(""), "node = \"node-a\"\nslot = 3").expect("valid");
        let cluster = c.cluster.expect("cluster");
        assert_eq!(
            cluster.identity(),
            NodeIdentity {
                name: "node-a".into(),
                slot: 3,
                lease: Duration::from_millis(3000),
            }
        );
        let c = parse(Some(""), "node = \"n_2\"\nslot = 15\nlease_ms = 60000").expect("valid");
        assert_eq!(c.cluster.expect("cluster").lease, Duration::from_secs(60));
    }

    #[test]
    fn without_the_section_there_is_no_cluster() {
        let text = "[switch]\ninstitution_id = \"940000\"\nrules = \"../../routing-rules/rules/national.toml\"\n";
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/test.toml"));
        assert!(Config::parse(text, path).expect("valid").cluster.is_none());
    }

    #[test]
    fn slot_lease_and_name_out_of_bounds_are_each_named() {
        for (cluster, word) in [
            ("node = \"a\"\nslot = 0", "slot 0"),
            ("node = \"a\"\nslot = 16", "slot 16"),
            ("node = \"a\"", "slot is needed"),
            ("node = \"a\"\nslot = 1\nlease_ms = 999", "lease_ms 999"),
            ("node = \"a\"\nslot = 1\nlease_ms = 60001", "lease_ms 60001"),
            ("node = \"\"\nslot = 1", "node \"\""),
            ("slot = 1", "node \"\""),
            ("node = \"node a\"\nslot = 1", "node \"node a\""),
            (
                &format!("node = \"{}\"\nslot = 1", "n".repeat(33)),
                "node \"",
            ),
        ] {
            let errors = parse(Some(""), cluster).expect_err(cluster);
            assert_eq!(errors.len(), 1, "{cluster}: {}", messages(&errors));
            assert_eq!(errors[0].entry, "cluster");
            assert!(errors[0].message.contains(word), "{cluster}: {}", errors[0]);
        }
    }

    #[test]
    fn a_cluster_needs_a_strict_journal() {
        let errors = parse(None, "node = \"a\"\nslot = 1").expect_err("no journal");
        assert!(
            messages(&errors).contains("needs [journal]"),
            "{}",
            messages(&errors)
        );
        let errors =
            parse(Some("durability = \"relaxed\""), "node = \"a\"\nslot = 1").expect_err("relaxed");
        assert_eq!(errors.len(), 1, "{}", messages(&errors));
        assert!(errors[0].message.contains("strict"), "{}", errors[0]);
    }

    #[test]
    fn a_cluster_on_sqlite_is_refused() {
        let errors = parse_with(Some("path = \"j.db\"".into()), "node = \"a\"\nslot = 1")
            .expect_err("sqlite");
        assert_eq!(errors.len(), 1, "{}", messages(&errors));
        assert!(errors[0].message.contains("url"), "{}", errors[0]);
    }
}
