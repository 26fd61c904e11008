//! `sim demo --cluster N`: the demo network with N switch nodes (2 to 4) sharing
//! one PostgreSQL database instead of one switch on SQLite.
//!
//! - Each node's configuration is the demo's file with `[journal] url` (the
//!   database; never a password), strict durability, and `[cluster] node =
//!   "node-K"`, `slot = K` ([`node_toml`]), parsed by the switch as any file, then
//!   given the links the demo prepared (the issuer hosts' ports, free acquirer
//!   ports), the run's PAN-hash key and token-vault key (the same on every node:
//!   duplicates and tokens are recognised across nodes).
//! - Every node dials every issuer host (which serve every connection), and every
//!   acquirer host is given every node's address, starting at a different node
//!   for each acquirer ([`connect_list`]), so load is spread and each fails over.
//! - The database is `--postgres URL`, or a throwaway server the demo starts and
//!   stops itself ([`super::postgres`]).
//! - The report adds the requests each node answered (the nodes' own counters);
//!   the settlement is read as `switch settle` reads it, from a node's
//!   configuration ([`DemoSwitches::settle`]), so it comes from the cluster's
//!   shared journal.
//!
//! What the cluster demo leaves out: mutual TLS, MACs, issuer outages (refused)
//! and app payments (turned off).

use std::net::SocketAddr;
use std::path::Path;

use hdrhistogram::Histogram;
use routing_rules::RoutingTable;
use serde_json::{json, Value};
use switch::config::Config;
use switch::net::{RunningSwitch, SwitchOptions};
use switch::store::business_day::format_day;
use switch::store::commands;
use switch::store::settlement::Settlement;

use super::postgres::ThrowawayPostgres;
use super::Summary;

/// Most nodes of a demo cluster.
pub const MAX_NODES: u8 = 4;

/// The nodes' database: given, or the demo's own throwaway server.
pub enum Database {
    /// `--postgres URL`.
    Given(String),
    /// Started for the run; stopped when dropped.
    Throwaway(ThrowawayPostgres),
}

impl Database {
    /// `url`, or a throwaway server started now.
    pub fn open(url: Option<&str>) -> Result<Database, String> {
        match url {
            Some(u) => Ok(Database::Given(u.to_owned())),
            None => ThrowawayPostgres::start().map(Database::Throwaway),
        }
    }

    /// Where the nodes connect.
    pub fn url(&self) -> String {
        match self {
            Database::Given(u) => u.clone(),
            Database::Throwaway(s) => s.url(),
        }
    }
}

/// Node `slot`'s name.
pub fn node_name(slot: u8) -> String {
    format!("node-{slot}")
}

/// Node `slot`'s configuration text: `base` (a switch configuration file) with
/// its journal on the database at `url` (`path` removed, durability strict, as
/// a cluster requires) and a `[cluster]` section naming the node and its slot.
pub fn node_toml(base: &str, url: &str, slot: u8) -> Result<String, String> {
    let mut doc: toml::Table = base
        .parse()
        .map_err(|e| format!("the demo's switch configuration: {e}"))?;
    let journal = doc
        .entry("journal")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .ok_or("the demo's switch configuration: [journal] is not a table")?;
    journal.remove("path");
    journal.insert("url".into(), url.into());
    journal.insert("durability".into(), "strict".into());
    let mut cluster = toml::Table::new();
    cluster.insert("node".into(), node_name(slot).into());
    cluster.insert("slot".into(), i64::from(slot).into());
    doc.insert("cluster".into(), toml::Value::Table(cluster));
    toml::to_string(&doc).map_err(|e| format!("cannot write node {slot}'s configuration: {e}"))
}

/// Node `slot`'s configuration: [`node_toml`] of the file at `base_path`, parsed
/// by the switch (relative paths against that file's folder), with `prepared`'s
/// links, its PAN-hash key, no admin endpoint and no token API.
pub fn node_config(
    base_path: &Path,
    prepared: &Config,
    url: &str,
    slot: u8,
) -> Result<Config, String> {
    let base = std::fs::read_to_string(base_path)
        .map_err(|e| format!("cannot read {}: {e}", base_path.display()))?;
    let text = node_toml(&base, url, slot)?;
    let mut node = Config::parse(&text, base_path).map_err(|errors| {
        let problems: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!(
            "node {slot}'s configuration is refused (does this switch have [cluster]?): {}",
            problems.join("; ")
        )
    })?;
    node.links = prepared.links.clone();
    node.admin = None;
    node.token_apis.clear();
    if let (Some(mine), Some(theirs)) = (node.journal.as_mut(), prepared.journal.as_ref()) {
        mine.pan_key = theirs.pan_key.clone();
    }
    Ok(node)
}

/// Acquirer `index`'s `--connect` list: every node's address, starting at node
/// `index` (mod the count), so the acquirers start spread over the nodes.
pub fn connect_list(nodes: &[SocketAddr], index: usize) -> String {
    let n = nodes.len().max(1);
    (0..nodes.len())
        .map(|k| nodes[(index + k) % n].to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The switch side of the demo: one switch, or the nodes of a cluster.
pub struct DemoSwitches {
    /// By name ("switch", or "node-K").
    nodes: Vec<(String, RunningSwitch)>,
    /// The cluster's database (kept until the nodes are shut down).
    database: Option<Database>,
    /// A node's configuration, to read the cluster's settlement with.
    node_config: Option<Config>,
}

impl DemoSwitches {
    /// One switch on its own journal.
    pub fn single(sw: RunningSwitch) -> DemoSwitches {
        DemoSwitches {
            nodes: vec![("switch".into(), sw)],
            database: None,
            node_config: None,
        }
    }

    /// `count` nodes on `database`, configured from the file at `base_path` and
    /// the demo's `prepared` configuration.
    pub async fn start_cluster(
        count: u8,
        database: Database,
        (base_path, prepared): (&Path, &Config),
        routing: &RoutingTable,
        vault_kek: Option<card_security::KeyMaterial>,
    ) -> Result<DemoSwitches, String> {
        if !(2..=MAX_NODES).contains(&count) {
            return Err(format!("--cluster {count}: 2 to {MAX_NODES} nodes"));
        }
        let url = database.url();
        let mut nodes = Vec::new();
        let mut first_config = None;
        for slot in 1..=count {
            let config = node_config(base_path, prepared, &url, slot)?;
            first_config.get_or_insert_with(|| config.clone());
            let sw = RunningSwitch::start(SwitchOptions {
                config,
                routing: routing.clone(),
                saf: None,
                journal: None,
                vault_kek: vault_kek.clone(),
            })
            .await
            .map_err(|e| format!("{}: {e}", node_name(slot)))?;
            nodes.push((node_name(slot), sw));
        }
        Ok(DemoSwitches {
            nodes,
            database: Some(database),
            node_config: first_config,
        })
    }

    /// Whether this is a cluster.
    pub fn is_cluster(&self) -> bool {
        self.database.is_some()
    }

    /// The first (or only) switch.
    pub fn first(&self) -> Option<&RunningSwitch> {
        self.nodes.first().map(|(_, sw)| sw)
    }

    /// Every switch.
    pub fn all(&self) -> impl Iterator<Item = &RunningSwitch> {
        self.nodes.iter().map(|(_, sw)| sw)
    }

    /// The `--connect` value for acquirer `index` on acquirer link `link`.
    pub fn connect_for(&self, link: &str, index: usize) -> Result<String, String> {
        let addrs = self
            .nodes
            .iter()
            .map(|(name, sw)| {
                sw.listening
                    .get(link)
                    .copied()
                    .ok_or_else(|| format!("link {link} is not listening on {name}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(connect_list(&addrs, index))
    }

    /// The time the switches added per hop, all nodes together (None: no switch).
    pub fn added_latency(&self) -> Option<Histogram<u64>> {
        let mut nodes = self.all().map(RunningSwitch::added_latency);
        let mut total = nodes.next()?;
        for h in nodes {
            // Same bounds on every node (one template), so adding cannot fail.
            let _ = total.add(&h);
        }
        Some(total)
    }

    /// Requests each node answered (its answers to acquirers, every code).
    pub fn answered_by_node(&self) -> Vec<(String, u64)> {
        self.nodes
            .iter()
            .map(|(name, sw)| (name.clone(), sw.core().stats().responses.values().sum()))
            .collect()
    }

    /// Shut every switch down. What stays is the cluster's database (a
    /// throwaway one stops when this is dropped, after the settlement is read).
    pub async fn shutdown(self) -> ClusterJournal {
        for (_, sw) in self.nodes {
            sw.shutdown().await;
        }
        ClusterJournal {
            database: self.database,
            node_config: self.node_config,
        }
    }
}

/// The cluster's journal after its nodes stopped (nothing for one switch).
pub struct ClusterJournal {
    /// Held, not read: a throwaway server must outlive the settlement's reading.
    #[allow(dead_code)]
    database: Option<Database>,
    node_config: Option<Config>,
}

impl ClusterJournal {
    /// The settlement of business days `first..=last` as `switch settle` reads
    /// it from a node's configuration (the cluster's shared journal); None for
    /// one switch, whose journal the demo reads itself.
    pub async fn settle(&self, first: i64, last: i64) -> Option<Result<Vec<Settlement>, String>> {
        let config = self.node_config.clone()?;
        // The command's reader may block (and run its own client): off the runtime.
        let read = tokio::task::spawn_blocking(move || {
            (first..=last)
                .map(|day| {
                    let date = format_day(day);
                    commands::settlement(&config, Some(&date))
                        .map(|report| report.settlement)
                        .map_err(|e| {
                            format!("settlement of {date} from the cluster's journal: {e}")
                        })
                })
                .collect::<Result<Vec<_>, String>>()
        })
        .await
        .map_err(|e| format!("settlement task: {e}"));
        Some(read.and_then(|r| r))
    }
}

/// Add the cluster's part to the demo's report: the requests each node
/// answered, and how often the acquirers' links failed over to another node.
pub fn add_nodes(summary: &mut Summary, nodes: &[(String, u64)], failovers: u64) {
    use std::fmt::Write as _;
    let _ = writeln!(summary.text, "\nnodes:");
    for (name, answered) in nodes {
        let _ = writeln!(summary.text, "  {name}: answered {answered}");
    }
    let _ = writeln!(summary.text, "  acquirer links failed over: {failovers}");
    if let Value::Object(m) = &mut summary.json {
        m.insert(
            "nodes".into(),
            nodes
                .iter()
                .map(|(name, answered)| json!({"node": name, "answered": answered}))
                .collect(),
        );
        m.insert("failovers".into(), failovers.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const URL: &str = "postgres://switch@127.0.0.1:5432/switch";

    #[test]
    fn a_node_s_configuration_is_the_file_on_postgres_with_its_cluster_section() {
        let path = PathBuf::from(super::super::default_config());
        let base = std::fs::read_to_string(&path).unwrap();
        let text = node_toml(&base, URL, 2).unwrap();
        let doc: toml::Table = text.parse().unwrap();
        let journal = doc["journal"].as_table().unwrap();
        assert_eq!(journal["url"].as_str(), Some(URL));
        assert_eq!(journal["durability"].as_str(), Some("strict"));
        assert!(journal.get("path").is_none(), "no SQLite file: {journal:?}");
        assert_eq!(doc["cluster"]["node"].as_str(), Some("node-2"));
        assert_eq!(doc["cluster"]["slot"].as_integer(), Some(2));
        assert!(!text.contains(":5432@") && !text.contains("password"));

        // Everything else survives as written: the same text on SQLite, without
        // [cluster], is a configuration this switch accepts, with every link.
        let mut sqlite = doc.clone();
        sqlite.remove("cluster");
        let j = sqlite["journal"].as_table_mut().unwrap();
        j.remove("url");
        j.insert("path".into(), "journal.db".into());
        let config = Config::parse(&toml::to_string(&sqlite).unwrap(), &path)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let original = Config::parse(&base, &path).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(config.links.len(), original.links.len());
        assert_eq!(config.institution_id, original.institution_id);
        assert_eq!(config.rules, original.rules);
    }

    #[test]
    fn a_configuration_without_a_journal_gets_one() {
        let text = node_toml("[switch]\ninstitution_id = \"1\"\n", URL, 1).unwrap();
        let doc: toml::Table = text.parse().unwrap();
        assert_eq!(doc["journal"]["url"].as_str(), Some(URL));
        assert_eq!(doc["cluster"]["node"].as_str(), Some("node-1"));
        assert!(node_toml("journal = 3", URL, 1).is_err());
        assert!(node_toml("not toml [", URL, 1).is_err());
    }

    #[test]
    fn the_report_gains_each_node_s_answers() {
        let mut summary = Summary {
            text: "demo\n".into(),
            json: json!({"sent": 10}),
            consistent: true,
        };
        let nodes = [("node-1".to_owned(), 6), ("node-2".to_owned(), 4)];
        add_nodes(&mut summary, &nodes, 2);
        assert!(summary.text.ends_with(
            "nodes:\n  node-1: answered 6\n  node-2: answered 4\n  acquirer links failed over: 2\n"
        ));
        assert_eq!(
            summary.json["nodes"].to_string(),
            r#"[{"node":"node-1","answered":6},{"node":"node-2","answered":4}]"#
        );
        assert_eq!(summary.json["failovers"], 2);
        assert_eq!(summary.json["sent"], 10);
    }

    #[test]
    fn each_acquirer_starts_on_another_node_and_has_them_all() {
        let nodes: Vec<SocketAddr> = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(
            connect_list(&nodes, 0),
            "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"
        );
        assert_eq!(
            connect_list(&nodes, 1),
            "127.0.0.1:2,127.0.0.1:3,127.0.0.1:1"
        );
        assert_eq!(connect_list(&nodes, 5), connect_list(&nodes, 2));
        assert_eq!(connect_list(&[], 3), "");
    }
}
