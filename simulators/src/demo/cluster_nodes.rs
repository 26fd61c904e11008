//! The nodes of `sim demo --cluster N`, each a child process
//! ([`NodeProcess`]): their configuration files and logs in a folder made for
//! the run (removed afterwards), their keys in the environment, their metrics
//! read over HTTP ([`super::scrape`]). What the demo asks of them: their
//! acquirer addresses, sign-on, answers per node, a kill, the drain, a graceful
//! stop, and the cluster's settlement and journal read from PostgreSQL.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use switch::config::Config;
use switch::store::business_day::format_day;
use switch::store::commands;
use switch::store::settlement::Settlement;

use super::cluster::{
    node_file_toml, node_name, Database, NodeFile, KEK_VAR, MAX_NODES, PAN_KEY_VAR,
};
use super::node_process::NodeProcess;
use super::scrape::{scrape, status, Metrics};

/// How long a node may take to drain and stop on SIGTERM (its grace is 10 s).
const STOP_WITHIN: Duration = Duration::from_secs(15);

/// The running cluster.
pub struct ClusterNodes {
    nodes: Vec<NodeProcess>,
    /// Answers each node had given when last seen (a killed node keeps its last).
    answered: BTreeMap<String, u64>,
    database: Database,
    /// Node 1's configuration, parsed here: the settlement and the journal's
    /// queries read the shared database with it.
    settle_config: Config,
    /// The run's folder (configurations, logs).
    dir: PathBuf,
    /// Keep the folder (a failed start: its logs say why).
    keep_dir: bool,
}

/// How to start the nodes.
pub struct NodesPlan<'a> {
    /// How many (2..=4).
    pub count: u8,
    /// The switch configuration file the demo was given.
    pub base_path: &'a Path,
    /// The demo's prepared configuration (links, keys).
    pub prepared: &'a Config,
    /// The run's token-vault key (None: the environment's).
    pub vault_kek: Option<card_security::KeyMaterial>,
    /// The program whose `serve-node` runs a node (`sim`).
    pub program: PathBuf,
    /// Each node's lease, ms.
    pub lease_ms: u64,
}

impl ClusterNodes {
    /// Write each node's file and start it; Err (every started node killed)
    /// when one does not come up.
    pub async fn start(plan: NodesPlan<'_>, database: Database) -> Result<ClusterNodes, String> {
        if !(2..=MAX_NODES).contains(&plan.count) {
            return Err(format!("--cluster {}: 2 to {MAX_NODES} nodes", plan.count));
        }
        let dir = super::settlement::run_dir("sim-demo-cluster")?;
        let base = std::fs::read_to_string(plan.base_path)
            .map_err(|e| format!("cannot read {}: {e}", plan.base_path.display()))?;
        let pan_key = plan
            .prepared
            .journal
            .as_ref()
            .and_then(|j| j.pan_key.as_ref())
            .ok_or("the demo's journal has no PAN key")?;
        let mut env = vec![(
            PAN_KEY_VAR.to_owned(),
            card_security::KeyMaterial::new(pan_key.expose().to_vec())
                .to_hex()
                .to_string(),
        )];
        if let Some(kek) = &plan.vault_kek {
            env.push((KEK_VAR.to_owned(), kek.to_hex().to_string()));
        }
        let url = database.url();
        let mut cluster = ClusterNodes {
            nodes: Vec::new(),
            answered: BTreeMap::new(),
            database,
            settle_config: plan.prepared.clone(),
            dir,
            keep_dir: false,
        };
        for slot in 1..=plan.count {
            let name = node_name(slot);
            let file = NodeFile {
                prepared: plan.prepared,
                // Port 0: the node binds its own and reports it in its ready
                // line. A port picked here and let go could be taken first by
                // one of the node's own listeners (seen in CI: the admin
                // address already in use).
                admin: SocketAddr::from(([127, 0, 0, 1], 0)),
                lease_ms: plan.lease_ms,
                kek_in_env: plan.vault_kek.is_some(),
            };
            let text = node_file_toml(&base, &url, slot, &file)?;
            let config = cluster.dir.join(format!("{name}.toml"));
            std::fs::write(&config, text)
                .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
            if slot == 1 {
                cluster.settle_config = super::load_config(&config)?;
            }
            let log = cluster.dir.join(format!("{name}.log"));
            let (program, env) = (plan.program.clone(), env.clone());
            // Registering, recovering and dialling take a moment: off the workers.
            let started = tokio::task::spawn_blocking(move || {
                NodeProcess::spawn(&program, &config, &log, &env)
            })
            .await
            .map_err(|e| format!("{name}: {e}"))?;
            match started {
                Ok(node) => {
                    let admin = node.ready.admin;
                    cluster.nodes.push(node);
                    // Its console answers for it (every node serves one).
                    let answer = status(admin).await?;
                    if answer["node"]["name"].as_str() != Some(name.as_str()) {
                        return Err(format!("{name}: the console at {admin} is not its own"));
                    }
                    eprintln!("{name}: console at http://{admin}/");
                }
                // The error names the log, which stays.
                Err(e) => {
                    cluster.keep_dir = true;
                    return Err(format!("{name}: {e}"));
                }
            }
        }
        Ok(cluster)
    }

    /// The nodes' names, in slot order.
    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name().to_owned()).collect()
    }

    /// Every node's address of acquirer link `link`, in slot order.
    pub fn addresses(&self, link: &str) -> Result<Vec<SocketAddr>, String> {
        self.nodes
            .iter()
            .map(|n| {
                n.ready
                    .listening
                    .get(link)
                    .copied()
                    .ok_or_else(|| format!("link {link} is not listening on {}", n.name()))
            })
            .collect()
    }

    /// Scrape every running node: (name, its metrics or why not).
    pub async fn scrape_running(&mut self) -> Vec<(String, Result<Metrics, String>)> {
        let mut pages = Vec::new();
        for node in &mut self.nodes {
            if !node.running() {
                continue;
            }
            let page = scrape(node.ready.admin).await;
            if let Ok(m) = &page {
                self.answered.insert(
                    node.name().to_owned(),
                    m.sum("switch_responses_total") as u64,
                );
            }
            pages.push((node.name().to_owned(), page));
        }
        pages
    }

    /// Wait (at most 10 s) until every node has `issuers` issuer links up.
    pub async fn wait_for_sign_on(&self, issuers: usize) -> Result<(), String> {
        for _ in 0..100 {
            let mut all = true;
            for node in &self.nodes {
                let up = scrape(node.ready.admin)
                    .await
                    .map(|m| m.sum_where("switch_links_up", "role=\"issuer\""))
                    .unwrap_or(0.0);
                all &= up as usize >= issuers;
            }
            if all {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("the nodes did not sign on to every issuer within 10 s".into())
    }

    /// `kill -9` node `name` (its answers counted just before).
    pub async fn kill(&mut self, name: &str) -> Result<(), String> {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.name() == name)
            .ok_or_else(|| format!("no node {name}"))?;
        if let Ok(m) = scrape(node.ready.admin).await {
            self.answered
                .insert(name.to_owned(), m.sum("switch_responses_total") as u64);
        }
        node.kill()
    }

    /// Answers each node gave (the last scrape of it) and its admin address,
    /// in slot order.
    pub fn answered_by_node(&self) -> Vec<(String, u64, SocketAddr)> {
        self.nodes
            .iter()
            .map(|n| {
                let answered = self.answered.get(n.name()).copied().unwrap_or(0);
                (n.name().to_owned(), answered, n.ready.admin)
            })
            .collect()
    }

    /// The database (an outage halts and resumes a throwaway one).
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// SIGTERM every running node (each drains and leaves the cluster), bounded;
    /// what stays is the shared journal.
    pub async fn shutdown(mut self) -> ClusterJournal {
        let mut nodes = std::mem::take(&mut self.nodes);
        let stopped = tokio::task::spawn_blocking(move || {
            for node in &mut nodes {
                if let Err(e) = node.terminate(STOP_WITHIN) {
                    tracing::warn!("{e}");
                }
            }
            nodes
        })
        .await;
        if let Err(e) = stopped {
            tracing::warn!("stopping the nodes: {e}");
        }
        let database = std::mem::replace(&mut self.database, Database::Given(String::new()));
        // The logs now belong to the journal's holder, who keeps them when the
        // run went wrong.
        self.keep_dir = true;
        ClusterJournal {
            database,
            config: self.settle_config.clone(),
            logs: self.dir.clone(),
            keep_logs: false,
        }
    }

    /// The run's folder (node configurations and logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ClusterNodes {
    fn drop(&mut self) {
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The cluster's journal after its nodes stopped, and their logs (removed
/// when this is dropped, unless [`ClusterJournal::keep_logs`]).
pub struct ClusterJournal {
    /// Held: a throwaway server must outlive the settlement's reading.
    database: Database,
    config: Config,
    logs: PathBuf,
    keep_logs: bool,
}

impl Drop for ClusterJournal {
    fn drop(&mut self) {
        keep_for_the_suite_scan(&self.logs);
        if self.keep_logs {
            eprintln!(
                "the cluster's node logs are kept in {}",
                self.logs.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.logs);
        }
    }
}

impl ClusterJournal {
    /// Keep the nodes' configurations and logs (a run that went wrong).
    pub fn keep_logs(&mut self) {
        self.keep_logs = true;
    }

    /// The settlement of business days `first..=last` as `switch settle` reads
    /// it from a node's configuration (the cluster's shared journal).
    pub async fn settle(&self, first: i64, last: i64) -> Result<Vec<Settlement>, String> {
        let config = self.config.clone();
        // The command's reader may block (and run its own client): off the runtime.
        tokio::task::spawn_blocking(move || {
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
        .map_err(|e| format!("settlement task: {e}"))?
    }

    /// Where the cluster's journal is.
    pub fn url(&self) -> String {
        self.database.url()
    }

    /// Transactions of business days `first..=last` approved in the journal by
    /// more than one node (same acquirer, field 7, field 11, terminal): what the
    /// cross-node claims exist to prevent.
    pub async fn cross_node_duplicates(&self, first: i64, last: i64) -> Result<u64, String> {
        const SQL: &str = "SELECT '', count(*) FROM (
                SELECT acquirer, transmission, stan, terminal FROM journal
                WHERE state = 'approved' AND reverses_stan IS NULL
                  AND business_day BETWEEN $1 AND $2
                GROUP BY 1, 2, 3, 4 HAVING count(DISTINCT node) > 1) twice";
        let rows = self.counts(SQL, first, last).await?;
        Ok(rows.first().map_or(0, |(_, n)| *n))
    }

    /// The journal's records of business days `first..=last` by node: what
    /// each node recorded, a killed one included (its metrics died with it).
    pub async fn records_by_node(
        &self,
        first: i64,
        last: i64,
    ) -> Result<BTreeMap<String, u64>, String> {
        const SQL: &str = "SELECT node, count(*) FROM journal
                WHERE business_day BETWEEN $1 AND $2 GROUP BY node";
        Ok(self.counts(SQL, first, last).await?.into_iter().collect())
    }

    /// Run `sql` (parameters: the first and last business day; rows: a text
    /// and a count) on a connection of its own, bounded in time.
    async fn counts(&self, sql: &str, first: i64, last: i64) -> Result<Vec<(String, u64)>, String> {
        let pg = self
            .config
            .journal
            .as_ref()
            .and_then(|j| j.postgres.as_ref())
            .ok_or("the cluster's journal is not on PostgreSQL")?;
        let client_config = pg.client_config()?;
        let query = async {
            let (client, connection) = client_config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            let rows = client
                .query(sql, &[&first, &last])
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(
                rows.iter()
                    .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1).max(0) as u64))
                    .collect(),
            )
        };
        tokio::time::timeout(Duration::from_secs(10), query)
            .await
            .map_err(|_| "the journal's query took over 10 s".to_owned())?
    }
}

/// With `SUITE_LOG_DIR` set (`scripts/test.sh`), the nodes' logs are copied
/// there, so that the suite's scan for card data reads them too.
fn keep_for_the_suite_scan(logs: &Path) {
    let Some(suite) = std::env::var_os("SUITE_LOG_DIR").map(PathBuf::from) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(logs) else {
        return;
    };
    let _ = std::fs::create_dir_all(&suite);
    let run = logs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for log in entries.flatten().map(|e| e.path()) {
        if log.extension().is_some_and(|x| x == "log") {
            if let Some(name) = log.file_name() {
                let target = suite.join(format!("{run}-{}", name.to_string_lossy()));
                if let Err(e) = std::fs::copy(&log, &target) {
                    tracing::warn!("cannot copy {} for the log scan: {e}", log.display());
                }
            }
        }
    }
}
