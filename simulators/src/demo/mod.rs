//! `sim demo`: the whole national network on loopback in one command. It starts the
//! switch with its default configuration (`switch/config/national.toml`), an issuer
//! host per issuing bank, and an acquirer host per acquiring bank (the Central
//! Bank's provincial hosts, the commercial banks, the credit union); runs mixed
//! open-loop traffic (including cards, places and amounts the region rules decline);
//! then reports throughput, latencies, response codes and whether every request got
//! exactly one answer and the approved totals agree between acquirers and issuers;
//! then settles the run from the switch's journal and checks the settlement against
//! the issuers' books. It exits non-zero when anything disagrees. `sim soak`
//! ([`soak`]) runs the same network under issuer faults for a long time.
//!
//! With `--tls` every link runs over mutual TLS: `switch gen-certs` writes a test CA
//! and certificates for the switch and every bank into a temporary directory
//! (removed afterwards), and each host is given only its bank's bundle folder.
//!
//! With `--security` every link carries MACs (ISO 9797-1 algorithm 3) and every
//! request a PIN block (ISO 9564 format 0) that the switch translates from the
//! acquirer's zone PIN key to the issuer's, and the issuer checks against the
//! card's PIN: random keys are made for the run, held in memory only, and given
//! to the switch's software security module and to each host for its link.
//!
//! With `--issuer-outage BANK:FROM-TO` ([`outage`]) an issuer host is down for a
//! window of the run: the switch stands in for it, and the report's stand-in
//! section ([`stand_in`]) shows what it decided and what reached the issuer.
//!
//! With `--cluster N` ([`cluster`]) the switch is N nodes, each a child process,
//! on one PostgreSQL database (`--postgres URL`, or a throwaway server,
//! [`postgres`]), every acquirer host given every node's address; the report adds
//! each node's count. `--kill-node` and `--postgres-outage` ([`cluster_faults`])
//! break the cluster during the traffic, and the report's `cluster:` section
//! ([`cluster_report`]) says what that did and whether the books agree.

pub mod apps;
pub mod check;
pub mod cluster;
pub mod cluster_faults;
pub mod cluster_nodes;
pub mod cluster_report;
pub mod drain;
pub mod finals;
pub mod html;
pub mod ledger;
pub mod memory;
pub mod node_process;
pub mod node_serve;
pub mod outage;
pub mod postgres;
pub mod scrape;
pub mod settlement;
pub mod soak;
pub mod stand_in;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hdrhistogram::Histogram;
use routing_rules::RoutingTable;
use serde_json::{json, Map, Value};
use switch::config::{Config, Direction, Role};
use switch::net::{RunningSwitch, SwitchOptions};
use switch::store::business_day::scheduled_day;
use switch::store::settlement::Settlement;

use crate::acquirer::{self, AcquirerOptions};
use crate::issuer::{self, IssuerOptions};
use check::{compare, stand_ins, Total};

/// Options of `sim demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Seconds of traffic.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub duration: f64,
    /// Requests per second over the whole network (open loop, split over acquirers).
    #[arg(long, default_value_t = DEMO_RATE, value_name = "TPS")]
    pub rate: f64,
    /// Output, seeds, bad requests and configuration.
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Cards per BIN range.
    #[arg(long, default_value_t = 1000)]
    pub cards_per_range: usize,
    /// Keep the switch's journal database here (default: a temporary one, removed).
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Run every link over mutual TLS, with certificates generated for the run.
    #[arg(long)]
    pub tls: bool,
    /// MACs on every link and PIN blocks translated by the switch, with random
    /// keys made for the run.
    #[arg(long)]
    pub security: bool,
    /// Share of purchases paid by QR with app tokens (0 turns app payments off).
    #[arg(long, default_value_t = 0.3, value_name = "F")]
    pub qr_share: f64,
    /// Cards each app enrols before the traffic (drawn from the whole catalogue:
    /// some of banks the app did not join).
    #[arg(long, default_value_t = 300, value_name = "N")]
    pub app_cards: usize,
    /// Take issuer host BANK down from FROM to TO seconds into the traffic (its
    /// listener closed, its connections dropped), then bring it back with its
    /// books (repeatable; e.g. 940810:2-5).
    #[arg(long, value_name = "BANK:FROM-TO")]
    pub issuer_outage: Vec<outage::IssuerOutage>,
    /// Run N switch nodes (2 to 4) sharing one PostgreSQL database instead of one
    /// switch on SQLite; every acquirer host is given every node's address.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(2..=4))]
    pub cluster: Option<u8>,
    /// The cluster's database, postgres://USER@HOST:PORT/DB (a password comes from
    /// PGPASSWORD, never the URL); default: a throwaway server started for the run.
    #[arg(long, value_name = "URL", requires = "cluster")]
    pub postgres: Option<String>,
    /// `kill -9` cluster node NAME at SECS into the traffic (e.g. node-1:3); the
    /// report's `cluster:` section says when another took it over and what.
    #[arg(long, value_name = "NAME:SECS", requires = "cluster")]
    pub kill_node: Option<cluster_faults::KillNode>,
    /// Stop the cluster's throwaway PostgreSQL at once at FROM seconds into the
    /// traffic and start it again at TO (e.g. 2-5; not with --postgres URL).
    #[arg(long, value_name = "FROM-TO", requires = "cluster")]
    pub postgres_outage: Option<cluster_faults::PostgresOutage>,
    /// Each cluster node's lease, ms (1000 to 60000): a dead node is taken over
    /// after it expires.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    pub lease_ms: u64,
    /// The program whose hidden `serve-node` command runs a cluster node
    /// (default: this program; the tests give theirs).
    #[arg(skip)]
    pub node_program: Option<PathBuf>,
    /// Also write the acquirers' load report as one self-contained HTML page
    /// with charts (as `sim acquirer --report-html`, all acquirers together).
    #[arg(long, value_name = "FILE")]
    pub report_html: Option<PathBuf>,
}

impl DemoArgs {
    /// Card traffic alone on `network`, `duration` seconds at `rate` TPS: one
    /// switch on a temporary journal, plain links, no app payments, no outages.
    pub fn card_traffic(network: NetworkArgs, duration: f64, rate: f64) -> DemoArgs {
        DemoArgs {
            duration,
            rate,
            network,
            cards_per_range: 1000,
            journal: None,
            tls: false,
            security: false,
            qr_share: 0.0,
            app_cards: 0,
            issuer_outage: Vec::new(),
            cluster: None,
            postgres: None,
            kill_node: None,
            postgres_outage: None,
            lease_ms: 3000,
            node_program: None,
            report_html: None,
        }
    }
}

/// Options of the network that `sim demo` and `sim soak` share.
#[derive(clap::Args, Debug, Clone)]
pub struct NetworkArgs {
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// Seed of the card base, the traffic and any faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of deliberately bad requests.
    #[arg(long, default_value_t = 0.01, value_name = "F")]
    pub invalid_rate: f64,
    /// Switch configuration (addresses are replaced by free loopback ports).
    #[arg(long, default_value = default_config())]
    pub config: PathBuf,
}

/// The demo's rate, requests per second over the whole network (its peak: the
/// open loop holds it for the whole run).
pub const DEMO_RATE: f64 = 2000.0;

/// `switch/config/national.toml` in this source tree.
pub fn default_config() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../switch/config/national.toml"
    )
}

/// One acquirer host's result.
pub struct AcquirerResult {
    /// The switch link it used.
    pub name: String,
    /// Its institution id.
    pub bank: String,
    /// What it counted.
    pub report: acquirer::report::Report,
}

/// What the soak changes in the demo network; the demo itself runs the default
/// (no faults, the acquirers' default timeout, no drain wait).
#[derive(Clone, Debug, Default)]
pub struct Variation {
    /// Share of answers every issuer host never sends (`sim issuer --drop-rate`).
    pub issuer_drop_rate: f64,
    /// Every issuer host closes its link this long after it came up.
    pub issuer_disconnect_every: Option<Duration>,
    /// Originals each issuer host remembers for reversals (default: `sim issuer`'s).
    pub issuer_txn_log: Option<usize>,
    /// The switch's response timeout on every issuer link, cash included
    /// (default: the configuration's).
    pub issuer_timeout: Option<Duration>,
    /// The acquirers' request timeout (default: `sim acquirer`'s).
    pub acquirer_timeout_ms: Option<u64>,
    /// After the traffic, wait up to this long for the switch to drain before it
    /// is shut down, and report what it still held.
    pub drain_grace: Option<Duration>,
    /// Sample the resident memory this often while the acquirers run.
    pub sample_every: Option<Duration>,
}

/// A finished run of the network.
pub struct Outcome {
    /// The demo's report and consistency verdict.
    pub summary: Summary,
    /// Every acquirer host's counters.
    pub results: Vec<AcquirerResult>,
    /// The switch after the traffic, when [`Variation::drain_grace`] was set.
    pub drain: Option<drain::SwitchDrain>,
    /// The run's journal (its temporary folder goes when this is dropped).
    pub journal: settlement::DemoJournal,
    /// Resident memory while the acquirers ran, when [`Variation::sample_every`] was set.
    pub memory: Vec<memory::Sample>,
}

/// Run the demo network; Err when the network is inconsistent or fails to start.
pub async fn run(args: DemoArgs) -> Result<(), String> {
    let outcome = run_network(&args, &Variation::default()).await?;
    let summary = &outcome.summary;
    if args.network.json {
        println!("{}", summary.json);
    } else {
        print!("{}", summary.text);
    }
    if let Some(path) = &args.report_html {
        html::write(&args, &outcome, path)?;
    }
    if summary.consistent {
        Ok(())
    } else {
        Err("the network is not consistent (see the report)".into())
    }
}

/// The switch configuration at `path`, its problems joined into one message.
pub fn load_config(path: &Path) -> Result<Config, String> {
    Config::load(path).map_err(|errors| {
        errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Start the network as `args` and `variation` say, run the traffic, stop
/// everything and check it; Err only when it fails to start or run.
pub async fn run_network(args: &DemoArgs, variation: &Variation) -> Result<Outcome, String> {
    check_cluster_args(args)?;
    let mut config = load_config(&args.network.config)?;
    let (table, _) = RoutingTable::load(&config.rules).map_err(|e| e.to_string())?;
    let stand_ins = stand_ins(&table);
    let issuer_banks: Vec<String> = config
        .links
        .iter()
        .filter(|l| l.role == Role::Issuer)
        .map(|l| l.bank.clone())
        .collect();
    outage::validate(&args.issuer_outage, &issuer_banks, args.duration)?;
    let certs = if args.tls {
        Some(DemoCerts::generate(&mut config)?)
    } else {
        None
    };
    let host_tls = |bank: &str| match &certs {
        Some(c) => c.host(bank),
        None => Ok(None),
    };
    let keys = if args.security {
        switch::security::apply::use_random_keys(&mut config, true).map_err(|e| e.to_string())?
    } else {
        Default::default()
    };
    let host_security = |link: &str| -> Result<_, String> {
        match keys.get(link) {
            Some(k) => Ok(Some(std::sync::Arc::new(
                crate::security::HostSecurity::from_zone(k).map_err(|e| e.to_string())?,
            ))),
            None => Ok(None),
        }
    };

    let app_apis = apps::free_token_api_ports(&mut config)?;
    if !(0.0..=1.0).contains(&args.qr_share) {
        return Err(format!(
            "--qr-share {} is not between 0 and 1",
            args.qr_share
        ));
    }

    // Issuer hosts on free ports; the switch dials them.
    let mut issuers = Vec::new();
    for link in config.links.iter_mut().filter(|l| l.role == Role::Issuer) {
        if let Some(t) = variation.issuer_timeout {
            (link.timeout, link.cash_timeout) = (t, t);
        }
        let on_behalf_of: Vec<String> = stand_ins
            .iter()
            .filter(|(_, host)| **host == link.bank)
            .map(|(b, _)| b.clone())
            .collect();
        let opts = issuer_options(args, variation, &config.rules, &link.bank, on_behalf_of)?;
        let running = issuer::start_marked(
            opts,
            &table,
            host_tls(&link.bank)?,
            host_security(&link.name)?,
            // The issuer hosts know the switch's stand-in advices as it marks them.
            issuer::behaviour::StandInIndicator {
                field: config.stand_in.indicator_field,
                value: config.stand_in.indicator_value.clone(),
            },
        )
        .await?;
        link.address = running.addr.ok_or("issuer has no address")?;
        link.direction = Direction::Dial;
        issuers.push((link.bank.clone(), running));
    }
    for link in config.links.iter_mut().filter(|l| l.role == Role::Acquirer) {
        link.address = "127.0.0.1:0".parse().map_err(|_| "address")?;
    }
    config.admin = None;
    let journal = settlement::DemoJournal::configure(&mut config, args.journal.as_deref())?;
    let cutover_secs = config.journal.as_ref().map_or(0, |j| j.cutover_secs);
    let interchange = config.interchange.clone();
    let first_day = business_day_now(cutover_secs);
    let acquirer_links: Vec<(String, String)> = config
        .links
        .iter()
        .filter(|l| l.role == Role::Acquirer)
        .map(|l| (l.name.clone(), l.bank.clone()))
        .collect();
    let rules_path = config.rules.clone();
    let vault_kek = settlement::run_kek(&config);
    let mut switches = match args.cluster {
        Some(count) => {
            let database = cluster::Database::open(args.postgres.as_deref())?;
            let program = match &args.node_program {
                Some(p) => p.clone(),
                None => std::env::current_exe()
                    .map_err(|e| format!("cannot find this program to run the nodes: {e}"))?,
            };
            let plan = cluster_nodes::NodesPlan {
                count,
                base_path: &args.network.config,
                prepared: &config,
                vault_kek,
                program,
                lease_ms: args.lease_ms,
            };
            cluster::DemoSwitches::Cluster(Box::new(
                cluster::ClusterNodes::start(plan, database).await?,
            ))
        }
        None => cluster::DemoSwitches::Single(
            RunningSwitch::start(SwitchOptions {
                config,
                routing: table.clone(),
                saf: None,
                journal: None,
                vault_kek,
            })
            .await
            .map_err(|e| e.to_string())?,
        ),
    };
    switches.wait_for_sign_on(issuers.len()).await?;
    let demo_apps = if switches.is_cluster() {
        apps::DemoApps::off("--cluster (app payments are not part of the cluster demo)".into())
    } else if args.qr_share > 0.0 {
        let base =
            crate::cards::CardBase::generate(&table, args.network.seed, args.cards_per_range);
        let app_tls = |app: &str| match &certs {
            Some(c) => c.app(app),
            None => Ok(None),
        };
        apps::enrol_apps(
            &table,
            &app_apis,
            app_tls,
            &base,
            args.network.seed,
            args.app_cards,
        )
        .await
    } else {
        apps::DemoApps::off("--qr-share 0".into())
    };
    let wallets = demo_apps.usable_wallets();

    // Acquirer hosts: the rate split evenly, all at once.
    let per_acquirer = args.rate / acquirer_links.len().max(1) as f64;
    let sampler = variation.sample_every.map(memory::Sampler::spawn);
    let traffic_start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for (index, (name, bank)) in acquirer_links.iter().enumerate() {
        let connect = switches.connect_for(name, index)?;
        let opts = AcquirerOptions {
            rules: rules_path.clone(),
            seed: args.network.seed,
            cards_per_range: args.cards_per_range,
            rate: Some(per_acquirer),
            duration: Some(args.duration),
            invalid_rate: args.network.invalid_rate,
            json: true,
            // Keeps the per-second counters for the demo's page (written once, below).
            report_html: args.report_html.clone(),
            ..AcquirerOptions::defaults(&connect, bank)?
        };
        let opts = AcquirerOptions {
            timeout_ms: variation.acquirer_timeout_ms.unwrap_or(opts.timeout_ms),
            ..opts
        };
        let (name, bank) = (name.clone(), bank.clone());
        let tls = host_tls(&bank)?;
        let security = host_security(&name)?;
        let qr_run = (!wallets.is_empty()).then(|| acquirer::qr::QrRun {
            wallets: wallets.clone(),
            share: args.qr_share,
            part: Default::default(),
        });
        tasks.push(tokio::spawn(async move {
            acquirer::execute_with_wallets(&opts, tls, security, qr_run, false)
                .await
                .map(|report| AcquirerResult { name, bank, report })
        }));
    }
    // The cluster's failures and their watch run until the acquirers are done
    // (told by `traffic_done`; dropped on an error, which ends the watch too).
    let (traffic_done, traffic_seen) = tokio::sync::watch::channel(false);
    let acquirers_done = async move {
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.map_err(|e| format!("acquirer task: {e}"))??);
        }
        let _ = traffic_done.send(true);
        Ok::<_, String>(results)
    };
    let faults = fault_plan(args);
    let cluster_watch = async {
        match &mut switches {
            cluster::DemoSwitches::Cluster(nodes) => {
                Some(cluster_faults::watch(nodes, &faults, traffic_start, traffic_seen).await)
            }
            cluster::DemoSwitches::Single(_) => None,
        }
    };
    let (results, outages, fault_log) = tokio::join!(
        acquirers_done,
        outage::run_schedule(&mut issuers, &args.issuer_outage, traffic_start),
        cluster_watch
    );
    let (results, outages) = (results?, outages?);
    let memory = match sampler {
        Some(s) => s.stop().await,
        None => Vec::new(),
    };
    // After an outage the switch owes the issuer its advices and reversals: the
    // books can only agree once its store-and-forward queue is empty.
    let grace = match variation.drain_grace {
        None if !outages.is_empty() => Some(outage::DRAIN_AFTER_OUTAGE),
        other => other,
    };
    // A cluster's drain was awaited by its watch (from the nodes' metrics).
    let drain = match (grace, switches.single()) {
        (Some(grace), Some(sw)) => Some(drain::wait(sw, grace).await),
        _ => None,
    };
    let added = switches.added_latency()?;
    let (cluster_journal, by_node) = match switches {
        cluster::DemoSwitches::Single(sw) => {
            sw.shutdown().await;
            (None, Vec::new())
        }
        cluster::DemoSwitches::Cluster(nodes) => {
            let by_node = nodes.answered_by_node();
            (Some(nodes.shutdown().await), by_node)
        }
    };
    let cluster_run = cluster_journal.is_some();
    let agent = table.settlement_agent().map(|b| b.id.clone());
    let last_day = business_day_now(cutover_secs);
    // A cluster's journal is in PostgreSQL: read as `switch settle` reads it.
    let settlements = match &cluster_journal {
        Some(cj) => cj.settle(first_day, last_day).await?,
        None => journal.settle(first_day, last_day, agent, &interchange)?,
    };
    let mut issuer_totals = BTreeMap::new();
    let mut issuer_books = BTreeMap::new();
    let mut token_payments_booked = 0;
    let mut issuer_stand_in = BTreeMap::new();
    for (bank, running) in issuers {
        let snap = running.stop().await?;
        token_payments_booked += snap.token_payments.count;
        issuer_stand_in.insert(bank.clone(), snap.stand_in.clone());
        let approved = snap.approved_total();
        let net = Total {
            count: approved.count - snap.reversed.count.min(approved.count),
            amount: approved.amount - snap.reversed.amount,
        };
        issuer_totals.insert(bank.clone(), net);
        issuer_books.insert(bank, snap);
    }
    let settled = settlement::compare_settlement(&settlements, &issuer_totals);
    let journal_stand_in = if cluster_run {
        Default::default()
    } else {
        stand_in::read_journal(&journal.path)?
    };
    let stand_in_run = stand_in::StandInRun {
        journal: &journal_stand_in,
        issuers: &issuer_stand_in,
        outages: &outages,
        // The soak waits for the drain too, and judges it itself.
        drain: drain.filter(|_| !outages.is_empty()),
    };
    drop(certs);
    drop(keys);
    let declines_by_rule = if cluster_run {
        Vec::new()
    } else {
        journal.declines_by_rule("wallet-qr")?
    };
    let mut summary = summarize(
        args,
        &results,
        (&issuer_totals, &stand_ins),
        &added,
        (&settlements, &settled),
        apps::channel_report(
            &results,
            &demo_apps,
            token_payments_booked,
            &declines_by_rule,
        ),
        &stand_in_run,
    )?;
    let mut cluster_journal = cluster_journal;
    if let (Some(cj), Some(log)) = (&cluster_journal, &fault_log) {
        let failovers = results.iter().map(|r| r.report.stats.failovers).sum();
        let records = cj.records_by_node(first_day, last_day).await;
        let counts: Vec<cluster::NodeCount> = by_node
            .iter()
            .map(|(node, answered, admin)| cluster::NodeCount {
                node: node.clone(),
                answered: *answered,
                admin: *admin,
                journal_records: records
                    .as_ref()
                    .ok()
                    .map(|r| r.get(node).copied().unwrap_or(0)),
            })
            .collect();
        cluster::add_nodes(&mut summary, &counts, failovers);
        let pairs = cluster_report::pair_books(&settlements, &issuer_books, &stand_ins);
        let run = cluster_report::ClusterRun {
            log,
            results: &results,
            pairs: &pairs,
            reversal_repeats: issuer_books.values().map(|s| s.reversal_repeats).sum(),
            cross_node_duplicates: cj.cross_node_duplicates(first_day, last_day).await,
        };
        cluster_report::add_section(&mut summary, &run);
    }
    if let (Some(cj), false) = (cluster_journal.as_mut(), summary.consistent) {
        cj.keep_logs();
    }
    Ok(Outcome {
        summary,
        results,
        drain,
        journal,
        memory,
    })
}

fn issuer_options(
    args: &DemoArgs,
    variation: &Variation,
    rules: &Path,
    bank: &str,
    on_behalf_of: Vec<String>,
) -> Result<IssuerOptions, String> {
    let defaults = IssuerOptions::defaults(bank)?;
    Ok(IssuerOptions {
        on_behalf_of,
        rules: rules.to_path_buf(),
        seed: args.network.seed,
        cards_per_range: args.cards_per_range,
        drop_rate: variation.issuer_drop_rate,
        disconnect_every: variation.issuer_disconnect_every,
        // Each host its own fault draws: with one seed for all, the nth connection
        // of every issuer would drop the same answers (all sign-ons at once).
        fault_seed: args.network.seed
            ^ bank
                .bytes()
                .fold(0, |h: u64, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
        txn_log: variation.issuer_txn_log.unwrap_or(defaults.txn_log),
        ..defaults
    })
}

/// `--cluster` runs the network plainly: the options a cluster demo does not
/// support yet are refused rather than ignored.
fn check_cluster_args(args: &DemoArgs) -> Result<(), String> {
    let Some(nodes) = args.cluster else {
        if args.kill_node.is_some() || args.postgres_outage.is_some() {
            return Err("--kill-node and --postgres-outage need --cluster".into());
        }
        return Ok(());
    };
    fault_plan(args).validate(nodes, args.duration, args.postgres.is_some())?;
    let unsupported = [
        (args.tls, "--tls"),
        (args.security, "--security"),
        (!args.issuer_outage.is_empty(), "--issuer-outage"),
        (
            args.journal.is_some(),
            "--journal (the cluster's journal is in PostgreSQL)",
        ),
    ];
    match unsupported.iter().find(|(given, _)| *given) {
        Some((_, option)) => Err(format!("--cluster does not run with {option}")),
        None => Ok(()),
    }
}

/// The cluster failures `args` ask for.
fn fault_plan(args: &DemoArgs) -> cluster_faults::FaultPlan {
    cluster_faults::FaultPlan {
        kill: args.kill_node.clone(),
        outage: args.postgres_outage,
    }
}

/// Wait until the switch has signed on to every issuer host (bounded).
async fn wait_for_sign_on(sw: &RunningSwitch, issuers: usize) -> Result<(), String> {
    for _ in 0..500 {
        let usable = (1..=256).filter(|&id| sw.core().link_usable(id)).count();
        if usable >= issuers {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err("the switch did not sign on to every issuer within 5 s".into())
}

/// The demo's report.
pub struct Summary {
    /// For people.
    pub text: String,
    /// One JSON object.
    pub json: Value,
    /// Exactly one answer per request, and the approved and settled totals agree.
    pub consistent: bool,
}

fn percentiles(h: &Histogram<u64>) -> Value {
    json!({
        "p50": h.value_at_quantile(0.50),
        "p90": h.value_at_quantile(0.90),
        "p99": h.value_at_quantile(0.99),
        "p999": h.value_at_quantile(0.999),
        "max": h.max(),
    })
}

fn summarize(
    args: &DemoArgs,
    results: &[AcquirerResult],
    (issuer_totals, stand_ins): (&BTreeMap<String, Total>, &BTreeMap<String, String>),
    added: &Histogram<u64>,
    (settlements, settled): (&[Settlement], &[settlement::SettledIssuer]),
    (channel_text, channel_json, no_pan_in_qr_answers): (String, Value, bool),
    stand_in: &stand_in::StandInRun<'_>,
) -> Result<Summary, String> {
    let mut latency = acquirer::stats::latency_histogram()?;
    let (mut sent, mut answered, mut timed_out, mut late) = (0u64, 0u64, 0u64, 0u64);
    // Answers matching nothing outstanding, or of the wrong type.
    let mut stray = 0u64;
    let mut codes: BTreeMap<String, u64> = BTreeMap::new();
    let mut approved: BTreeMap<String, Total> = BTreeMap::new();
    let mut per_bank = Vec::new();
    let mut one_answer_each = true;
    let mut tps = 0.0;
    for r in results {
        let s = &r.report.stats;
        let _ = latency.add(&s.latency);
        sent += s.sent;
        answered += s.answered;
        timed_out += s.timed_out;
        late += s.late;
        stray += s.unmatched + s.wrong_type;
        one_answer_each &=
            s.answered + s.timed_out == s.sent && s.unmatched == 0 && s.wrong_type == 0;
        for (code, n) in r.report.response_codes() {
            *codes.entry(code).or_default() += n;
        }
        for (issuer, t) in r.report.approved() {
            approved.entry(issuer).or_default().add(t.count, t.amount);
        }
        tps += r.report.tps();
        per_bank.push(json!({
            "name": r.name, "bank": r.bank, "sent": s.sent, "answered": s.answered,
            "timed_out": s.timed_out, "tps": round1(r.report.tps()),
            "latency_us": percentiles(&s.latency),
        }));
    }
    let comparisons = compare(&approved, issuer_totals, stand_ins);
    let totals_agree = comparisons.iter().all(|c| c.agrees());
    let settlement_agrees = settled.iter().all(|s| s.agrees());
    let saf_drained = stand_in.drained();
    let consistent = one_answer_each
        && totals_agree
        && settlement_agrees
        && no_pan_in_qr_answers
        && saf_drained
        && sent > 0;
    let (stand_in_text, stand_in_json) = stand_in.report();

    let mut text = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        text,
        "Demo network on 127.0.0.1{}{}: switch, {} issuer hosts, {} acquirer hosts; {} s at {} TPS",
        if args.tls { " over mutual TLS" } else { "" },
        if args.security {
            " with MACs and PIN translation"
        } else {
            ""
        },
        issuer_totals.len(),
        results.len(),
        args.duration,
        args.rate
    );
    let _ = writeln!(
        text,
        "\n{:<34} {:>8} {:>8} {:>6} {:>8} {:>9} {:>9}",
        "acquirer", "sent", "answered", "t/o", "TPS", "p50 µs", "p99 µs"
    );
    for r in results {
        let s = &r.report.stats;
        let _ = writeln!(
            text,
            "{:<34} {:>8} {:>8} {:>6} {:>8.1} {:>9} {:>9}",
            format!("{} ({})", r.name, r.bank),
            s.sent,
            s.answered,
            s.timed_out,
            r.report.tps(),
            s.latency.value_at_quantile(0.5),
            s.latency.value_at_quantile(0.99)
        );
    }
    let _ = writeln!(text, "\ntotal: sent {sent}, answered {answered}, timed out {timed_out}, late {late}, {tps:.1} TPS");
    let q = |h: &Histogram<u64>| {
        format!(
            "p50 {} p90 {} p99 {} p99.9 {} max {}",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        )
    };
    let _ = writeln!(text, "latency seen by acquirers (µs): {}", q(&latency));
    let _ = writeln!(text, "time added by the switch per hop (µs): {}", q(added));
    let codes_text: Vec<String> = codes.iter().map(|(c, n)| format!("{c}: {n}")).collect();
    let _ = writeln!(text, "response codes: {}", codes_text.join(", "));
    let _ = writeln!(
        text,
        "\n{:<10} {:>24} {:>24}",
        "issuer", "acquirers saw approved", "issuer approved - reversed"
    );
    for c in &comparisons {
        let _ = writeln!(
            text,
            "{:<10} {:>24} {:>24} {}",
            c.issuer,
            format!(
                "{} / {}",
                c.acquirers_approved.count,
                acquirer::report::amount_text(c.acquirers_approved.amount)
            ),
            format!(
                "{} / {}",
                c.issuer_net.count,
                acquirer::report::amount_text(c.issuer_net.amount)
            ),
            if c.agrees() { "ok" } else { "MISMATCH" }
        );
    }
    for s in settlements {
        let _ = write!(text, "\n{}", s.to_table());
    }
    let _ = writeln!(
        text,
        "\n{:<10} {:>24} {:>24}",
        "issuer", "settled (journal)", "issuer approved - reversed"
    );
    for s in settled {
        let _ = writeln!(
            text,
            "{:<10} {:>24} {:>24} {}",
            s.issuer,
            format!(
                "{} / {}",
                s.settled.count,
                acquirer::report::amount_text(s.settled.amount)
            ),
            format!(
                "{} / {}",
                s.issuer_net.count,
                acquirer::report::amount_text(s.issuer_net.amount)
            ),
            if s.agrees() { "ok" } else { "MISMATCH" }
        );
    }
    text.push_str(&channel_text);
    text.push_str(&stand_in_text);
    let _ = writeln!(
        text,
        "\nexactly one answer per request: {}; approved totals agree: {}; settlement agrees: {}; \
         no PAN in answers to QR payments: {}; {}consistent: {}",
        yes(one_answer_each),
        yes(totals_agree),
        yes(settlement_agrees),
        yes(no_pan_in_qr_answers),
        if stand_in.drain.is_some() {
            format!("store-and-forward drained: {}; ", yes(saf_drained))
        } else {
            String::new()
        },
        yes(consistent)
    );

    let codes_json: Map<String, Value> = codes.into_iter().map(|(c, n)| (c, n.into())).collect();
    let issuers_json: Vec<Value> = comparisons
        .iter()
        .map(|c| {
            json!({
                "issuer": c.issuer,
                "acquirers_approved": {"count": c.acquirers_approved.count, "amount": acquirer::report::amount_text(c.acquirers_approved.amount)},
                "issuer_net": {"count": c.issuer_net.count, "amount": acquirer::report::amount_text(c.issuer_net.amount)},
                "agrees": c.agrees(),
            })
        })
        .collect();
    let json = json!({
        "tls": args.tls,
        "security": args.security,
        "sent": sent,
        "answered": answered,
        "timed_out": timed_out,
        "late": late,
        "stray_answers": stray,
        "tps": round1(tps),
        "latency_us": percentiles(&latency),
        "switch_added_us": percentiles(added),
        "response_codes": codes_json,
        "per_bank": per_bank,
        "issuers": issuers_json,
        "exactly_one_answer": one_answer_each,
        "totals_agree": totals_agree,
        "settlement": settlements.iter().map(Settlement::to_json).collect::<Vec<_>>(),
        "settlement_agrees": settlement_agrees,
        "app_channel": channel_json,
        "no_pan_in_qr_answers": no_pan_in_qr_answers,
        "stand_in": stand_in_json,
        "saf_drained": saf_drained,
        "consistent": consistent,
    });
    Ok(Summary {
        text,
        json,
        consistent,
    })
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "NO"
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The scheduled business day now, for a cutover `cutover_secs` after midnight UTC.
fn business_day_now(cutover_secs: u32) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    scheduled_day(now, cutover_secs)
}

/// The run's certificates, in a temporary directory removed on drop.
struct DemoCerts {
    dir: PathBuf,
}

impl DemoCerts {
    /// `switch gen-certs` for the configuration's banks, and the switch put on TLS.
    fn generate(config: &mut Config) -> Result<DemoCerts, String> {
        use std::time::{SystemTime, UNIX_EPOCH};
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("sim-demo-certs-{}-{nanos}", std::process::id()));
        let certs = DemoCerts { dir };
        let plan = switch::tls::generate::CertPlan::from_config(config);
        switch::tls::generate::generate(&certs.dir, &plan).map_err(|e| e.to_string())?;
        switch::tls::apply::use_generated(config, &certs.dir).map_err(|e| e.to_string())?;
        Ok(certs)
    }

    /// Bank `bank`'s side of its links, from its bundle folder alone (as a bank's
    /// operator is handed it).
    fn host(&self, bank: &str) -> Result<Option<std::sync::Arc<crate::tls::HostTls>>, String> {
        crate::tls::TlsOptions {
            tls_dir: Some(switch::tls::layout::Layout::new(&self.dir).bank(bank).dir),
            ..Default::default()
        }
        .load(bank)
        .map_err(|e| e.to_string())
    }
}

impl DemoCerts {
    /// Payment app `app`'s side of its token API, from its bundle folder alone.
    fn app(&self, app: &str) -> Result<Option<std::sync::Arc<crate::tls::HostTls>>, String> {
        crate::tls::TlsOptions {
            tls_dir: Some(switch::tls::layout::Layout::new(&self.dir).app(app).dir),
            ..Default::default()
        }
        .load_app(app)
        .map_err(|e| e.to_string())
    }
}

impl Drop for DemoCerts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
