//! `--compare store` (issue 19): the switch's strict journal on SQLite against
//! the same on PostgreSQL, and two switch nodes sharing one PostgreSQL database.
//!
//! - `sqlite`: one node, strict journal on SQLite (a fresh file per run);
//! - `pg`: one node, strict journal on PostgreSQL (`[journal] url`, a fresh
//!   database per run on the run's throwaway server, [`start_server`]);
//! - `pg2`: two nodes (`[cluster]` node-1/slot 1, node-2/slot 2) on one fresh
//!   database, both dialing the same issuer simulator.
//!
//! Every node is this binary's `--serve-switch` child ([`crate::process`]), so
//! its CPU time is read apart from the simulators' (and the server's processes'
//! from `/proc`, [`crate::cpu`]). The acquirer reaches the nodes through a frame
//! relay that hands its connections to the nodes in turn
//! ([`benches::loopback::relay_spread`]), half to each with two: the
//! acquirer simulator's own failover list would put every link on the first
//! node, and two acquirers would send the same STANs, terminals and times (one
//! seed), which the cluster rightly refuses as duplicates (94). The relay is
//! in front of every setup, so that all three pay the same hop.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use benches::loopback::{
    acquirer_options, issuer_options, load_average, relay_spread, switch_config, Figures, Load,
    RunWatch, BENCH_PAN_KEY_ENV,
};
use benches::measure::stats;
use serde_json::{json, Map, Value};
use simulators::acquirer;
use simulators::demo::postgres::ThrowawayPostgres;
use simulators::issuer::{self, faults::Latency};

use crate::args::{Mode, Options};
use crate::cpu::{us_per_txn, MiddleCpu, MiddleUsage};
use crate::process::{spawn, MiddleProcess, Serve};
use crate::runs::SwitchRun;
use crate::setup::{bench_shape, SwitchSetup, TempJournal};
use crate::variants::{
    put_spread, rotate_variants, runs_json, settings, variant_fields, Rotation, Variant,
};

/// Issue 19: one node on PostgreSQL at least 0.5 × one node on SQLite in
/// `closed64` (PostgreSQL shares the machine's cores)...
const TARGET_PG_TPS_RATIO: f64 = 0.5;
/// ... and two nodes on PostgreSQL no worse than one.
const TARGET_PG2_TPS_RATIO: f64 = 1.0;

/// The run's PostgreSQL server, or why there is none (then the PostgreSQL
/// setups say so in the line, and the run fails).
pub type PgServer = Result<ThrowawayPostgres, String>;

/// Where a `--compare store` setup journals, and how many nodes it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreSetup {
    /// One node, a SQLite file.
    Sqlite,
    /// `nodes` nodes (with more than one, a `[cluster]`) on one database.
    Postgres { nodes: u8 },
}

impl StoreSetup {
    pub fn on_postgres(self) -> bool {
        matches!(self, StoreSetup::Postgres { .. })
    }

    fn nodes(self) -> u8 {
        match self {
            StoreSetup::Sqlite => 1,
            StoreSetup::Postgres { nodes } => nodes,
        }
    }
}

/// Start the run's throwaway server (once per process, for every mode).
pub fn start_server() -> PgServer {
    let server = ThrowawayPostgres::start().map_err(|e| {
        // The demo's hint names its own flag, which this benchmark has not.
        let e = e.replace("; or give --postgres URL", "");
        format!("no PostgreSQL server for the pg setups: {e}")
    })?;
    eprintln!(
        "switch-compare: throwaway PostgreSQL at {} (in {})",
        server.url(),
        server.dir().display()
    );
    Ok(server)
}

/// A database of its own for one run, on the run's server; dropped (its
/// connections ended) when the run is done.
struct FreshDatabase<'a> {
    server: &'a ThrowawayPostgres,
    name: String,
    url: String,
}

impl<'a> FreshDatabase<'a> {
    fn create(server: &'a ThrowawayPostgres) -> Result<FreshDatabase<'a>, String> {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "bench_{}_{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        server.psql(&format!("CREATE DATABASE {name}"))?;
        let url = server.url();
        let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        Ok(FreshDatabase { server, name, url })
    }

    /// The server's postmaster, from its pid file (for its processes' CPU).
    fn postmaster(&self) -> Option<u32> {
        let pid_file = self.server.dir().join("data").join("postmaster.pid");
        std::fs::read_to_string(pid_file)
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for FreshDatabase<'_> {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = self.server.psql(&drop) {
            eprintln!("switch-compare: database {} left behind: {e}", self.name);
        }
    }
}

/// One run's journal.
enum RunJournal<'a> {
    Sqlite(TempJournal),
    Postgres(FreshDatabase<'a>),
}

/// Node `slot`'s configuration: the benchmark's switch dialing `issuer`, its
/// strict journal on the run's SQLite file or database, and with several nodes
/// its `[cluster]` section.
fn node_config(
    issuer: SocketAddr,
    journal: &RunJournal<'_>,
    nodes: u8,
    slot: u8,
) -> Result<String, String> {
    let sqlite = match journal {
        RunJournal::Sqlite(file) => file.config(),
        RunJournal::Postgres(_) => None,
    };
    let mut text = switch_config(&bench_shape(issuer, sqlite)?);
    if let RunJournal::Postgres(db) = journal {
        text.push_str(&format!(
            "\n[journal]\nurl = \"{}\"\ndurability = \"strict\"\npan_key = {{ env = \"{BENCH_PAN_KEY_ENV}\" }}\n",
            db.url
        ));
        if nodes > 1 {
            text.push_str(&format!(
                "\n[cluster]\nnode = \"node-{slot}\"\nslot = {slot}\n"
            ));
        }
    }
    Ok(text)
}

/// One run of a `--compare store` setup: the issuer, the setup's nodes in
/// processes of their own on a fresh journal, the acquirer's load through the
/// spreading relay; everything stopped, the database dropped. The nodes' CPU
/// per answered transaction together, and the server's apart.
pub async fn run_nodes(
    setup: &SwitchSetup,
    store: StoreSetup,
    pg: Option<&PgServer>,
    load: Load,
    o: &Options,
    table: &routing_rules::RoutingTable,
) -> Result<SwitchRun, String> {
    let journal = match store {
        StoreSetup::Sqlite => RunJournal::Sqlite(TempJournal::new(setup.journal)),
        StoreSetup::Postgres { .. } => match pg {
            Some(Ok(server)) => RunJournal::Postgres(FreshDatabase::create(server)?),
            Some(Err(e)) => return Err(e.clone()),
            None => return Err("no PostgreSQL server was started for this run".into()),
        },
    };
    let running = issuer::start(issuer_options(Latency::None)?, table).await?;
    let result = async {
        let issuer_addr = running.addr.ok_or("the issuer has no address")?;
        let mut nodes: Vec<MiddleProcess> = Vec::new();
        for slot in 1..=store.nodes() {
            let text = node_config(issuer_addr, &journal, store.nodes(), slot)?;
            let node = spawn(Serve::Switch {
                config: &text,
                switch_bin: None,
            })
            .await
            .map_err(|e| format!("node {slot}: {e}"))?;
            nodes.push(node);
        }
        let addrs = nodes
            .iter()
            .map(|n| n.addr.ok_or("a node's process gave no address"))
            .collect::<Result<Vec<SocketAddr>, _>>()?;
        let relay = relay_spread(addrs).await?;
        let options = acquirer_options(relay.addr, load, o.secs)?;
        let watch = RunWatch::start();
        let node_cpu: Vec<Option<MiddleCpu>> =
            nodes.iter().map(|n| MiddleCpu::now(n.pid())).collect();
        let db_cpu = match &journal {
            RunJournal::Postgres(db) => db.postmaster().and_then(MiddleCpu::server_now),
            RunJournal::Sqlite(_) => None,
        };
        let commits_before = commits(&mut nodes);
        let report = acquirer::execute(&options, false).await;
        let commits_during = commits(&mut nodes)
            .zip(commits_before)
            .map(|(after, before)| after.saturating_sub(before));
        let used: Vec<MiddleUsage> = node_cpu
            .iter()
            .map(|c| c.and_then(|c| c.since()).unwrap_or_default())
            .collect();
        let db_used = db_cpu.and_then(|c| c.since());
        let seen = watch.finish();
        drop(relay);
        // The larger of the nodes' added times (one node: its own).
        let mut added = (0, 0);
        for (slot, node) in nodes.iter_mut().enumerate() {
            node.check_alive()
                .map_err(|e| format!("node {}: {e}", slot + 1))?;
            let (p50, p99) = node.added().ok_or("a node gave no added latency")?;
            added = (added.0.max(p50), added.1.max(p99));
        }
        for node in nodes {
            node.stop().await;
        }
        let mut figures = Figures::of_report(&report?).watched(seen);
        // This run's processes are this one, the nodes' and the server's.
        let share = used.iter().map(|u| u.share).sum::<f64>() + db_used.map_or(0.0, |u| u.share);
        figures.cpu_self += share;
        figures.cpu_others = (figures.cpu_others - share).max(0.0);
        let switch_cpu = us_per_txn(used.iter().map(|u| u.secs).sum(), figures.answered);
        let db = db_used.map(|u| us_per_txn(u.secs, figures.answered));
        let per_commit = commits_during
            .filter(|&c| c > 0)
            .map(|c| figures.answered as f64 / c as f64);
        Ok::<_, String>((figures, added, switch_cpu, db, per_commit))
    }
    .await;
    let totals = running.stop().await?;
    drop(journal);
    let (figures, added, switch_cpu, db_cpu, txn_per_commit) = result?;
    Ok(SwitchRun {
        figures,
        added,
        issuer_answered: totals.approved_total().count + totals.declined_total(),
        enrolment: None,
        switch_cpu_us_per_txn: Some(switch_cpu),
        db_cpu_us_per_txn: db_cpu,
        txn_per_commit,
        stand_in: None,
    })
}

/// The nodes' journal commits so far, together (None if one cannot say).
fn commits(nodes: &mut [MiddleProcess]) -> Option<u64> {
    nodes.iter_mut().map(MiddleProcess::commits).sum()
}

/// The three setups: ratios of `pg` over `sqlite`, of `pg2` over `pg`.
fn store_variants() -> [Variant; 3] {
    let setup = |store: StoreSetup| SwitchSetup {
        store: Some(store),
        ..SwitchSetup::plain("strict")
    };
    [
        Variant::new("sqlite", setup(StoreSetup::Sqlite)),
        Variant::new("pg", setup(StoreSetup::Postgres { nodes: 1 })),
        Variant {
            against: 1,
            ..Variant::new("pg2", setup(StoreSetup::Postgres { nodes: 2 }))
        },
    ]
}

/// `--compare store`: the three setups rotated; the mode's JSON line and
/// whether every run was clean (and every setup ran).
pub async fn compare_store(
    mode: Mode,
    o: &Options,
    table: &routing_rules::RoutingTable,
    pg: &PgServer,
) -> Result<(Value, bool), String> {
    let variants = store_variants();
    let load_before = load_average();
    let rotation = rotate_variants(mode, &variants, o, table, None, None, Some(pg)).await?;
    let (mut m, clean) = store_line(mode, &variants, &rotation);
    m.insert(
        "postgres".into(),
        match pg {
            Ok(server) => json!({
                "version": server.psql("show server_version").ok(),
                "synchronous_commit": server.psql("show synchronous_commit").ok(),
                "fsync": server.psql("show fsync").ok(),
            }),
            Err(e) => json!({ "error": e }),
        },
    );
    settings(&mut m, mode, o, load_before);
    let mut runs = runs_json(&variants, &rotation.runs);
    if let Some(list) = runs.as_array_mut() {
        for (json, r) in list.iter_mut().zip(&rotation.runs) {
            if let Some(obj) = json.as_object_mut() {
                obj.insert(
                    "switch_cpu_us_per_txn".into(),
                    json!(r.run.switch_cpu_us_per_txn.map(round2)),
                );
                obj.insert(
                    "db_cpu_us_per_txn".into(),
                    json!(r.run.db_cpu_us_per_txn.map(round2)),
                );
                obj.insert(
                    "txn_per_commit".into(),
                    json!(r.run.txn_per_commit.map(round2)),
                );
            }
        }
    }
    m.insert("runs".into(), runs);
    Ok((Value::Object(m), clean))
}

fn round2(x: f64) -> f64 {
    benches::measure::round(x, 2)
}

/// The line's figures (before the settings and the runs): every setup's, the
/// database server's CPU, each failed setup's error, the targets.
fn store_line(mode: Mode, variants: &[Variant], rotation: &Rotation) -> (Map<String, Value>, bool) {
    let (fields, mut clean) = variant_fields(variants, &rotation.runs);
    let mut m = Map::new();
    m.insert("mode".into(), json!(mode.name()));
    m.insert("compare".into(), json!("store"));
    m.extend(fields);
    // The server's processes' CPU per transaction, and with the nodes' (the
    // PostgreSQL setups' whole cost; SQLite's is inside the node's process).
    for (i, v) in variants.iter().enumerate() {
        let of = |f: &dyn Fn(&SwitchRun) -> Option<f64>| {
            let values: Vec<f64> = rotation
                .runs
                .iter()
                .filter(|r| r.variant == i)
                .filter_map(|r| f(&r.run))
                .collect();
            stats(&values)
        };
        let db = of(&|r| r.db_cpu_us_per_txn);
        put_spread(&mut m, &format!("{}_db_cpu_us_per_txn", v.label), db, 2);
        let both = of(&|r| Some(r.switch_cpu_us_per_txn? + r.db_cpu_us_per_txn.unwrap_or(0.0)));
        put_spread(
            &mut m,
            &format!("{}_switch_and_db_cpu_us_per_txn", v.label),
            both,
            2,
        );
        let per_commit = of(&|r| r.txn_per_commit);
        put_spread(
            &mut m,
            &format!("{}_txn_per_commit", v.label),
            per_commit,
            2,
        );
    }
    m.insert(
        "db_cpu".into(),
        json!(
            "*_switch_cpu_us_per_txn: the nodes' processes (SQLite inside them); \
               *_db_cpu_us_per_txn: the PostgreSQL server's processes (postmaster, \
               backends, writers; /proc), not in *_switch_cpu_us_per_txn; \
               *_switch_and_db_cpu_us_per_txn: both"
        ),
    );
    m.insert(
        "txn_per_commit".into(),
        json!(
            "*_txn_per_commit: transactions answered per journal commit during the \
               load (the nodes' commits together; a strict transaction waits for two)"
        ),
    );
    for (v, failed) in variants.iter().zip(&rotation.failed) {
        if let Some(e) = failed {
            m.insert(format!("{}_error", v.label), json!(e));
            clean = false;
        }
    }
    let get = |k: &str| m.get(k).and_then(Value::as_f64);
    let met = |k: &str, at_least: f64| get(k).is_some_and(|r| r >= at_least);
    match mode {
        Mode::Closed64 => {
            let (pg, pg2) = (
                met("pg_tps_ratio", TARGET_PG_TPS_RATIO),
                met("pg2_tps_ratio", TARGET_PG2_TPS_RATIO),
            );
            m.insert(
                "target".into(),
                json!({
                    "pg_tps_ratio_at_least": TARGET_PG_TPS_RATIO,
                    "pg2_tps_ratio_at_least": TARGET_PG2_TPS_RATIO,
                }),
            );
            m.insert("pg_met".into(), json!(pg));
            m.insert("pg2_met".into(), json!(pg2));
            m.insert("met".into(), json!(pg && pg2));
        }
        _ => {
            m.insert("target".into(), Value::Null);
            m.insert("met".into(), Value::Null);
        }
    }
    m.insert("middle".into(), json!("process"));
    m.insert("journal".into(), json!("strict"));
    m.insert(
        "acquirer_path".into(),
        json!("through a frame relay spreading its connections over the nodes, every setup"),
    );
    (m, clean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::SwitchRun;
    use crate::variants::VariantRun;

    /// A run of `tps` for 5 s whose nodes committed `commits` times.
    fn run(tps: f64, switch_cpu: f64, db_cpu: Option<f64>, commits: f64) -> SwitchRun {
        SwitchRun {
            figures: Figures {
                tps,
                p50_us: 1000,
                p99_us: 3000,
                answered: (tps * 5.0) as u64,
                sent: (tps * 5.0) as u64,
                ..Figures::default()
            },
            added: (50, 200),
            issuer_answered: (tps * 5.0) as u64,
            enrolment: None,
            switch_cpu_us_per_txn: Some(switch_cpu),
            db_cpu_us_per_txn: db_cpu,
            txn_per_commit: Some(tps * 5.0 / commits),
            stand_in: None,
        }
    }

    /// The ratios are pg over sqlite and pg2 over pg; the database's CPU is
    /// apart and summed.
    #[test]
    fn ratios_and_cpu() {
        let variants = store_variants();
        let runs = vec![
            VariantRun {
                rep: 0,
                variant: 0,
                run: run(4000.0, 100.0, None, 1000.0),
            },
            VariantRun {
                rep: 0,
                variant: 1,
                run: run(2000.0, 120.0, Some(80.0), 625.0),
            },
            VariantRun {
                rep: 0,
                variant: 2,
                run: run(2400.0, 130.0, Some(90.0), 1500.0),
            },
        ];
        let rotation = Rotation {
            runs,
            failed: vec![None; 3],
        };
        let (m, clean) = store_line(Mode::Closed64, &variants, &rotation);
        assert!(clean);
        assert_eq!(m["pg_tps_ratio"], json!(0.5));
        assert_eq!(m["pg2_tps_ratio"], json!(1.2));
        assert_eq!(m["pg_db_cpu_us_per_txn"], json!(80.0));
        assert_eq!(m["sqlite_db_cpu_us_per_txn"], Value::Null);
        assert_eq!(m["pg2_switch_and_db_cpu_us_per_txn"], json!(220.0));
        assert_eq!(m["sqlite_switch_and_db_cpu_us_per_txn"], json!(100.0));
        // Two nodes with half the transactions each commit more often.
        assert_eq!(m["sqlite_txn_per_commit"], json!(20.0));
        assert_eq!(m["pg_txn_per_commit"], json!(16.0));
        assert_eq!(m["pg2_txn_per_commit"], json!(8.0));
        assert_eq!(
            (m["pg_met"].clone(), m["pg2_met"].clone()),
            (json!(true), json!(true))
        );
        assert_eq!(m["met"], json!(true));
    }

    /// Without PostgreSQL the pg setups say why, their figures are null (not
    /// zeros), the targets are not met and the run is not clean.
    #[test]
    fn a_failed_setup_says_so() {
        let variants = store_variants();
        let missing =
            "no PostgreSQL server for the pg setups: no PostgreSQL under /usr/lib/postgresql";
        let rotation = Rotation {
            runs: vec![VariantRun {
                rep: 0,
                variant: 0,
                run: run(4000.0, 100.0, None, 1000.0),
            }],
            failed: vec![None, Some(missing.into()), Some(missing.into())],
        };
        let (m, clean) = store_line(Mode::Closed64, &variants, &rotation);
        assert!(!clean);
        assert_eq!(m["sqlite_tps"], json!(4000.0));
        for key in [
            "pg_tps",
            "pg2_tps",
            "pg_tps_ratio",
            "pg2_tps_ratio",
            "pg_p99_us",
            "pg_txn_per_commit",
        ] {
            assert_eq!(m[key], Value::Null, "{key}");
        }
        assert_eq!(m["pg_error"], json!(missing));
        assert_eq!(m["pg2_error"], json!(missing));
        assert!(m.get("sqlite_error").is_none());
        assert_eq!(m["met"], json!(false));
    }
}
