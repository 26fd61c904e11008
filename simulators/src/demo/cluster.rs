//! `sim demo --cluster N`: the demo network with N switch nodes (2 to 4) sharing
//! one PostgreSQL database instead of one switch on SQLite.
//!
//! - Each node is a child process ([`ClusterNodes`], `sim serve-node`). Its
//!   configuration file ([`node_file_toml`]) is the demo's file with `[journal]
//!   url` (the database; never a password), strict durability, `[cluster] node =
//!   "node-K"`, `slot = K` and its lease ([`node_toml`]), the links the demo
//!   prepared (the issuer hosts' ports, port 0 for acquirers), its metrics
//!   address, and its keys named by variable: the run's PAN-hash key and
//!   token-vault key, the same on every node (duplicates and tokens are
//!   recognised across nodes), given in the environment.
//! - Every node dials every issuer host (which serve every connection), and every
//!   acquirer host is given every node's address, starting at a different node
//!   for each acquirer ([`connect_list`]), so load is spread and each fails over.
//! - The database is `--postgres URL`, or a throwaway server the demo starts and
//!   stops itself ([`super::postgres`]).
//! - The report adds each node's answers (its metrics) and journal records
//!   ([`add_nodes`]), and the failures' section ([`super::cluster_report`]).
//!
//! What the cluster demo leaves out: mutual TLS, MACs, issuer outages (refused)
//! and app payments (turned off).

use std::net::SocketAddr;

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use switch::config::{Config, Role};
use switch::net::RunningSwitch;

pub use super::cluster_nodes::ClusterNodes;
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

/// What a node's file says beyond [`node_toml`]: what the demo prepared.
pub struct NodeFile<'a> {
    /// The demo's configuration: the issuer hosts' addresses, loopback port 0
    /// for the acquirer listeners, the rules file.
    pub prepared: &'a Config,
    /// The node's admin address: its console, `/api/status` and `/metrics`.
    pub admin: SocketAddr,
    /// The lease, ms.
    pub lease_ms: u64,
    /// Whether the vault's key-encryption key is given in [`KEK_VAR`].
    pub kek_in_env: bool,
}

/// The variable holding the run's PAN-hash key (hex) for the nodes.
pub const PAN_KEY_VAR: &str = "SIM_NODE_PAN_KEY";
/// The variable a node's admin token would be in; the demo starts the nodes
/// without it (their consoles are on loopback).
pub const ADMIN_TOKEN_VAR: &str = "SIM_NODE_ADMIN_TOKEN";
/// The variable holding the run's token-vault key-encryption key (hex).
pub const KEK_VAR: &str = "SIM_NODE_KEK";

/// Node `slot`'s configuration file: [`node_toml`] of `base`, with the
/// prepared links' addresses (issuers dialled, acquirers on port 0), the rules
/// at their absolute path, its admin address (console, status, metrics) on
/// `admin`, its lease, no token API, and its keys named by variable (their
/// values go in the environment, never in the file).
pub fn node_file_toml(
    base: &str,
    url: &str,
    slot: u8,
    file: &NodeFile<'_>,
) -> Result<String, String> {
    let text = node_toml(base, url, slot)?;
    let mut doc: toml::Table = text
        .parse()
        .map_err(|e| format!("node {slot}'s configuration: {e}"))?;
    let bad = |what: &str| format!("the demo's switch configuration: {what}");
    let switch = doc
        .entry("switch")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .ok_or_else(|| bad("[switch] is not a table"))?;
    switch.insert(
        "rules".into(),
        file.prepared.rules.display().to_string().into(),
    );
    switch.insert("admin".into(), file.admin.to_string().into());
    // The console on loopback needs no token, and the demo scrapes /metrics
    // without one: the nodes read theirs from a variable the demo clears.
    switch.insert("admin_token_env".into(), ADMIN_TOKEN_VAR.into());
    if file.kek_in_env {
        let security = switch
            .entry("security")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| bad("[switch.security] is not a table"))?;
        security.insert("kek_env".into(), KEK_VAR.into());
    }
    doc.remove("token_api");
    if let Some(links) = doc.get_mut("link").and_then(toml::Value::as_array_mut) {
        for link in links.iter_mut().filter_map(toml::Value::as_table_mut) {
            let name = link.get("name").and_then(toml::Value::as_str).unwrap_or("");
            let Some(prepared) = file.prepared.links.iter().find(|l| l.name == name) else {
                continue;
            };
            link.insert("address".into(), prepared.address.to_string().into());
            if prepared.role == Role::Issuer {
                link.insert("direction".into(), "dial".into());
            }
        }
    }
    if let Some(journal) = doc.get_mut("journal").and_then(toml::Value::as_table_mut) {
        let mut key = toml::Table::new();
        key.insert("env".into(), PAN_KEY_VAR.into());
        journal.insert("pan_key".into(), toml::Value::Table(key));
    }
    if let Some(cluster) = doc.get_mut("cluster").and_then(toml::Value::as_table_mut) {
        cluster.insert(
            "lease_ms".into(),
            i64::try_from(file.lease_ms).unwrap_or(i64::MAX).into(),
        );
    }
    toml::to_string(&doc).map_err(|e| format!("cannot write node {slot}'s configuration: {e}"))
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

/// The switch side of the demo: one switch in this process, or the nodes of a
/// cluster, each a child process ([`ClusterNodes`]).
pub enum DemoSwitches {
    /// One switch on its own journal.
    Single(RunningSwitch),
    /// N nodes on PostgreSQL.
    Cluster(Box<ClusterNodes>),
}

impl DemoSwitches {
    /// Whether this is a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self, DemoSwitches::Cluster(_))
    }

    /// The switch in this process (None: a cluster).
    pub fn single(&self) -> Option<&RunningSwitch> {
        match self {
            DemoSwitches::Single(sw) => Some(sw),
            DemoSwitches::Cluster(_) => None,
        }
    }

    /// Wait until every switch has signed on to `issuers` issuer hosts.
    pub async fn wait_for_sign_on(&self, issuers: usize) -> Result<(), String> {
        match self {
            DemoSwitches::Single(sw) => super::wait_for_sign_on(sw, issuers).await,
            DemoSwitches::Cluster(nodes) => nodes.wait_for_sign_on(issuers).await,
        }
    }

    /// The `--connect` value for acquirer `index` on acquirer link `link`.
    pub fn connect_for(&self, link: &str, index: usize) -> Result<String, String> {
        let addrs = match self {
            DemoSwitches::Single(sw) => vec![sw
                .listening
                .get(link)
                .copied()
                .ok_or_else(|| format!("link {link} is not listening"))?],
            DemoSwitches::Cluster(nodes) => nodes.addresses(link)?,
        };
        Ok(connect_list(&addrs, index))
    }

    /// The time the switch added per hop (an empty histogram for a cluster: its
    /// nodes' histograms stay in their processes).
    pub fn added_latency(&self) -> Result<Histogram<u64>, String> {
        match self {
            DemoSwitches::Single(sw) => Ok(sw.added_latency()),
            DemoSwitches::Cluster(_) => crate::acquirer::stats::latency_histogram(),
        }
    }
}

/// One node's counts: its answers as its metrics last showed them (a killed
/// node's: up to a second before its death), its records in the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeCount {
    /// `node-K`.
    pub node: String,
    /// `switch_responses_total`, summed.
    pub answered: u64,
    /// Its admin address (console at `/`), while it ran.
    pub admin: SocketAddr,
    /// Journal rows with its name (None: not read).
    pub journal_records: Option<u64>,
}

/// Add the cluster's part to the demo's report: each node's counts, and how
/// often the acquirers' links failed over to another node.
pub fn add_nodes(summary: &mut Summary, nodes: &[NodeCount], failovers: u64) {
    use std::fmt::Write as _;
    let _ = writeln!(summary.text, "\nnodes:");
    for n in nodes {
        let records = n
            .journal_records
            .map_or(String::new(), |r| format!(", journal records {r}"));
        let _ = writeln!(
            summary.text,
            "  {}: answered {}{records}, console http://{}/",
            n.node, n.answered, n.admin
        );
    }
    let _ = writeln!(summary.text, "  acquirer links failed over: {failovers}");
    if let Value::Object(m) = &mut summary.json {
        m.insert(
            "nodes".into(),
            nodes
                .iter()
                .map(|n| {
                    json!({"node": n.node, "answered": n.answered, "journal_records": n.journal_records, "admin": n.admin.to_string()})
                })
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
        let count = |node: &str, answered, journal_records, port: u16| NodeCount {
            node: node.into(),
            answered,
            journal_records,
            admin: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let nodes = [
            count("node-1", 6, Some(7), 9101),
            count("node-2", 4, None, 9102),
        ];
        add_nodes(&mut summary, &nodes, 2);
        assert!(summary.text.ends_with(
            "nodes:\n  node-1: answered 6, journal records 7, console http://127.0.0.1:9101/\n  node-2: answered 4, console http://127.0.0.1:9102/\n  acquirer links failed over: 2\n"
        ), "{}", summary.text);
        assert_eq!(
            summary.json["nodes"].to_string(),
            r#"[{"node":"node-1","answered":6,"journal_records":7,"admin":"127.0.0.1:9101"},{"node":"node-2","answered":4,"journal_records":null,"admin":"127.0.0.1:9102"}]"#
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
