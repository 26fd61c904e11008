//! The acquirer bank host simulator and load generator, `sim acquirer`: many links
//! to the switch (or straight to an issuer), each sending realistic authorization or
//! financial requests for cards of the shared card base, open loop at a fixed rate
//! or closed loop with N outstanding, then a report of outcomes, latencies,
//! response codes and approved totals per issuer.
//!
//! - [`traffic`]: cards, kinds, amounts and bad messages (pure, seeded);
//! - [`request`]: building requests cheaply, STAN/RRN sequences, time fields;
//! - [`pacing`]: the open-loop schedule;
//! - [`inflight`]: outstanding requests and reversals of one link (pure);
//! - [`connection`]: one link's task (send, match, time out, reverse, reconnect);
//! - [`failover`]: several switch addresses (`--connect A,B`), failing over
//!   between them, and noticing a node that hangs;
//! - [`qr`]: app payments by QR with the tokens of wallets (`--wallet`);
//! - [`scripted`]: a certification script's cases run in order (`--script`);
//! - [`stats`], [`channels`], [`series`], [`report`], [`progress`]: counting
//!   (also by channel and app, and second by second), the final report, the
//!   live line;
//! - [`report_html`]: the report as one self-contained HTML page with charts
//!   (`--report-html`).

pub mod channels;
pub mod connection;
pub mod failover;
pub mod inflight;
pub mod pacing;
pub mod progress;
pub mod qr;
pub mod report;
pub mod report_html;
pub mod request;
pub mod scripted;
pub mod series;
pub mod stats;
pub mod traffic;

#[cfg(test)]
mod qr_tests;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bank_links::stream::LinkStream;
use codecs::Mti;
use routing_rules::RoutingTable;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cards::CardBase;
use crate::messages::TxnKind;
use crate::wire::LinkFormat;

use connection::{Drive, LinkConfig};
use report::{LoadShape, Report};
use request::{RequestBuilder, RequestKeys};
use stats::ConnStats;
use traffic::{Draw, Mix, PlanOptions, TrafficPlan};

/// Command-line options of `sim acquirer`, boxed so that the `sim` command enum
/// stays small (clippy's `large_enum_variant`), as `sim issuer` does.
#[derive(clap::Args, Debug, Clone)]
pub struct AcquirerArgs {
    /// The options.
    #[command(flatten)]
    pub options: Box<AcquirerOptions>,
    /// Mutual TLS towards the switch.
    #[command(flatten)]
    pub tls: crate::tls::TlsOptions,
    /// MACs and PIN blocks.
    #[command(flatten)]
    pub security: crate::security::SecurityOptions,
    /// App payments by QR (`--wallet`).
    #[command(flatten)]
    pub qr: qr::QrOptions,
    /// A certification script's cases instead of a load (`--script`).
    #[command(flatten)]
    pub script: scripted::ScriptOptions,
}

/// Parses one flattened options struct, for [`AcquirerOptions::defaults`] and
/// [`crate::issuer::IssuerOptions::defaults`].
#[derive(clap::Parser)]
pub(crate) struct Only<T: clap::Args> {
    #[command(flatten)]
    pub(crate) options: T,
}

impl AcquirerOptions {
    /// The command line's defaults, connecting to `connect` as bank `bank` (for
    /// programs that run the load generator in-process).
    pub fn defaults(connect: &str, bank: &str) -> Result<AcquirerOptions, String> {
        <Only<AcquirerOptions> as clap::Parser>::try_parse_from([
            "acquirer",
            "--connect",
            connect,
            "--bank",
            bank,
        ])
        .map(|p| p.options)
        .map_err(|e| e.to_string())
    }
}

/// The options of `sim acquirer`.
#[derive(clap::Args, Debug, Clone)]
pub struct AcquirerOptions {
    /// Address of the switch (or issuer) to connect to, HOST:PORT; or the
    /// addresses of a cluster's nodes, comma-separated: each link connects to the
    /// first that answers and, when that connection is lost, to the next
    /// (cycling), signing on and echoing to notice a node that hangs.
    #[arg(long, value_name = "ADDR[,ADDR...]")]
    pub connect: String,
    /// This acquirer's institution id (field 32).
    #[arg(long, value_name = "ID")]
    pub bank: String,
    /// Routing rules the card base is generated from.
    #[arg(long, default_value = "routing-rules/rules/national.toml")]
    pub rules: PathBuf,
    /// Seed of the card base and of every draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Cards per BIN range (must match the issuer simulator's).
    #[arg(long, default_value_t = 1000)]
    pub cards_per_range: usize,
    /// Only cards of these issuers (bank ids, comma-separated); default all.
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub issuers: Vec<String>,
    /// Message spec: a built-in name or a spec file.
    #[arg(long, default_value = "iso87ascii")]
    pub spec: String,
    /// Length header: binary2, ascii4 or bcd2.
    #[arg(long, default_value = "binary2")]
    pub framing: String,
    /// Links to open.
    #[arg(long, default_value_t = 1, value_name = "C")]
    pub connections: usize,
    /// Open loop: requests per second in all, paced precisely; latency counts from
    /// each request's intended send time.
    #[arg(long, value_name = "TPS", conflicts_with = "concurrency")]
    pub rate: Option<f64>,
    /// Closed loop: outstanding requests per link (default 1 without --rate).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Seconds of load (default 10 when --count is not given).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Requests to send in all.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Transaction mix by weight.
    #[arg(long, default_value = "purchase=70,cash=20,balance=10")]
    pub mix: Mix,
    /// Share of deliberately bad requests: bad Luhn, unknown BIN, malformed field.
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    pub invalid_rate: f64,
    /// Request timeout in milliseconds; a timed-out request is reversed.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    pub timeout_ms: u64,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as one self-contained HTML page with charts (TPS,
    /// latency and response codes per second, latency histogram, approvals).
    /// In-process callers: with it set, the run keeps its per-second counters
    /// (the report's `stats.series`), which [`write_html_report`] draws.
    #[arg(long, value_name = "FILE")]
    pub report_html: Option<PathBuf>,
    /// Request type: 0200 (financial) or 0100 (authorization).
    #[arg(long, default_value = "0200")]
    pub mti: RequestType,
    /// Charge every request in this currency (ISO numeric or alphabetic code)
    /// instead of KPW or the card product's first currency.
    #[arg(long, value_parser = parse_currency)]
    pub currency: Option<u16>,
}

/// `--mti`: the requests' message type.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestType {
    /// 0200 financial request (purchases and cash debit the account).
    #[value(name = "0200")]
    Financial,
    /// 0100 authorization request (checked, not debited).
    #[value(name = "0100")]
    Authorization,
}

impl RequestType {
    /// The MTI.
    pub fn mti(self) -> Mti {
        match self {
            RequestType::Financial => Mti::FINANCIAL_REQUEST,
            RequestType::Authorization => Mti::AUTH_REQUEST,
        }
    }
}

fn parse_currency(text: &str) -> Result<u16, String> {
    routing_rules::model::currency_code(text)
        .filter(|&n| codecs::currency::by_numeric(n).is_some())
        .ok_or_else(|| format!("unknown currency {text:?}"))
}

/// How long after the load (and one timeout) the run waits for answers and
/// reversal acknowledgements before reporting.
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// Most links.
const MAX_CONNECTIONS: usize = 4_096;
/// Dial attempts for the first connection before giving up (about 20 s of backoff).
const FIRST_DIAL_ATTEMPTS: u32 = 10;

/// Run the load and print the report.
pub async fn run(args: AcquirerArgs) -> Result<(), String> {
    // The command reports its failure as text (main prints it).
    let tls = args
        .tls
        .load(&args.options.bank)
        .map_err(|e| e.to_string())?;
    let security = args.security.load().map_err(|e| e.to_string())?;
    if args.script.script.is_some() {
        for line in scripted::run_script(&args.options, security, &args.script).await? {
            println!("{line}");
        }
        return Ok(());
    }
    let wallets = args.qr.load()?;
    let qr_run = args.qr.run(&wallets);
    let options = *args.options;
    let report = execute_with_wallets(&options, tls, security, qr_run, true).await;
    // The counters advanced: saved back, unless this acquirer had only a part.
    args.qr.save(&wallets)?;
    let report = report?;
    let json = report.to_json();
    if options.json {
        println!("{json}");
    } else {
        print!("{}", report.to_text());
    }
    // After the report on stdout: a page that cannot be written loses nothing else.
    match &options.report_html {
        Some(path) => write_html_report(&options, &report, &json, path),
        None => Ok(()),
    }
}

/// Write `report` (whose `--json` object is `json`) of a run with `options` as
/// an HTML page at `path`.
pub fn write_html_report(
    options: &AcquirerOptions,
    report: &Report,
    json: &serde_json::Value,
    path: &std::path::Path,
) -> Result<(), String> {
    report_html::HtmlReport {
        title: format!("sim acquirer {} to {}", options.bank, options.connect),
        parameters: options.parameters(),
        report: json,
        series: &report.stats.series,
        latency: &report.stats.latency,
    }
    .write(path)
}

impl AcquirerOptions {
    /// The options that shape the load, as the HTML report lists them.
    pub fn parameters(&self) -> Vec<(String, String)> {
        let load = match (self.rate, self.concurrency) {
            (Some(rate), _) => format!("open loop, {rate} TPS in all"),
            (None, c) => format!("closed loop, {} outstanding per link", c.unwrap_or(1)),
        };
        let length = match (self.duration, self.count) {
            (Some(d), _) => format!("{d} s"),
            (None, Some(n)) => format!("{n} requests"),
            (None, None) => "10 s".into(),
        };
        let issuers = if self.issuers.is_empty() {
            "all".into()
        } else {
            self.issuers.join(",")
        };
        [
            ("connect", self.connect.clone()),
            ("acquirer (field 32)", self.bank.clone()),
            ("load", load),
            ("length", length),
            ("connections", self.connections.to_string()),
            ("request type", self.mti.mti().to_string()),
            ("mix", self.mix.to_string()),
            ("invalid share", self.invalid_rate.to_string()),
            ("timeout", format!("{} ms", self.timeout_ms)),
            ("issuers", issuers),
            (
                "spec / framing",
                format!("{} / {}", self.spec, self.framing),
            ),
            ("rules", self.rules.display().to_string()),
            ("seed", self.seed.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// Everything decided before the first connection.
struct Setup {
    table: RoutingTable,
    plan: Arc<TrafficPlan>,
    format: LinkFormat,
    mti: Mti,
    drive: Drive,
    shape: LoadShape,
    timeout: Duration,
    duration: Option<Duration>,
}

fn prepare(args: &AcquirerOptions, qr_run: Option<qr::QrRun>) -> Result<Setup, String> {
    if args.bank.is_empty()
        || args.bank.len() > 11
        || !args.bank.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!(
            "--bank {:?} is not an institution id (1-11 digits)",
            args.bank
        ));
    }
    if args.connections == 0 || args.connections > MAX_CONNECTIONS {
        return Err(format!("--connections must be 1 to {MAX_CONNECTIONS}"));
    }
    if args.timeout_ms == 0 {
        return Err("--timeout-ms must be positive".into());
    }
    let (drive, shape) = match (args.rate, args.concurrency) {
        (Some(rate), _) if !(rate.is_finite() && rate > 0.0) => {
            return Err(format!("--rate {rate} is not a positive number"));
        }
        (Some(rate), _) => (
            Drive::Open {
                rate_per_link: rate / args.connections as f64,
            },
            LoadShape::Open(rate),
        ),
        (None, Some(0)) => return Err("--concurrency must be positive".into()),
        (None, c) => {
            let concurrency = c.unwrap_or(1);
            (
                Drive::Closed { concurrency },
                LoadShape::Closed(concurrency),
            )
        }
    };
    let duration = match (args.duration, args.count) {
        (Some(d), _) if !(d.is_finite() && d > 0.0) => {
            return Err(format!(
                "--duration {d} is not a positive number of seconds"
            ));
        }
        (Some(d), _) => Some(Duration::from_secs_f64(d)),
        (None, Some(0)) => return Err("--count must be positive".into()),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    let mti = args.mti.mti();

    let (table, problems) = RoutingTable::load(&args.rules)
        .map_err(|e| format!("cannot load rules {}: {e}", args.rules.display()))?;
    for p in &problems {
        tracing::debug!("rules: {p}");
    }
    if table.bank_index(args.bank.as_bytes()).is_none() {
        tracing::warn!(bank = %args.bank, "--bank is not a bank of these rules");
    }
    let mut issuers = Vec::new();
    for id in args
        .issuers
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        let idx = table
            .bank_index(id.as_bytes())
            .ok_or_else(|| format!("--issuers: no bank {id:?} in {}", args.rules.display()))?;
        issuers.push(idx);
    }
    let cards = Arc::new(CardBase::generate(&table, args.seed, args.cards_per_range));
    let mut plan = TrafficPlan::new(
        &table,
        cards,
        &PlanOptions {
            issuers,
            mix: args.mix,
            invalid_rate: args.invalid_rate,
            currency: args.currency,
            // Same card base for every acquirer, but each bank its own traffic.
            seed: args.seed ^ bank_salt(&args.bank),
        },
    )?;
    if let Some(run) = qr_run.filter(|r| !r.wallets.is_empty()) {
        plan.set_qr(qr::QrPlan::new(&table, run.wallets, run.part, run.share)?);
    }
    let format = LinkFormat::from_names(&args.spec, &args.framing)?;
    check_encodable(&plan, &format, mti, &args.bank)?;
    Ok(Setup {
        table,
        plan: Arc::new(plan),
        format,
        mti,
        drive,
        shape,
        timeout: Duration::from_millis(args.timeout_ms),
        duration,
    })
}

/// Fail before connecting if the spec cannot carry our requests.
fn check_encodable(
    plan: &TrafficPlan,
    format: &LinkFormat,
    mti: Mti,
    bank: &str,
) -> Result<(), String> {
    let mut builder = RequestBuilder::new(mti, bank, 0, &format.spec);
    let keys = RequestKeys {
        stan: 1,
        rrn: 1,
        when: codecs::datetime::fields_at_unix(0),
    };
    for kind in Mix::KINDS {
        let draw = Draw {
            eligible: 0,
            kind,
            amount_minor: if kind == TxnKind::Balance { 0 } else { 100 },
            defect: None,
            unknown_pan: 0,
            terminal: 0,
            qr: None,
        };
        let msg = builder
            .build(plan, &draw, &keys)
            .ok_or("cannot build a request")?;
        format
            .encode(&msg)
            .map_err(|e| format!("spec {} cannot carry our requests: {e}", format.spec.name))?;
    }
    Ok(())
}

/// A per-bank salt for the traffic draws (FNV-1a of the bank id).
fn bank_salt(bank: &str) -> u64 {
    bank.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

async fn resolve(addr: &str) -> Result<SocketAddr, String> {
    tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr} resolves to no address"))
}

/// Connect, run the load, drain and return the report (without printing it).
/// `signals`: stop on Ctrl-C (first: stop sending and drain; second: stop now).
pub async fn execute(args: &AcquirerOptions, signals: bool) -> Result<Report, String> {
    execute_with_tls(args, None, signals).await
}

/// [`execute`] over mutual TLS when `tls` is given.
pub async fn execute_with_tls(
    args: &AcquirerOptions,
    tls: Option<Arc<crate::tls::HostTls>>,
    signals: bool,
) -> Result<Report, String> {
    execute_secured(args, tls, None, signals).await
}

/// [`execute_with_tls`] with MACs and PIN blocks when `security` is given.
pub async fn execute_secured(
    args: &AcquirerOptions,
    tls: Option<Arc<crate::tls::HostTls>>,
    security: Option<Arc<crate::security::HostSecurity>>,
    signals: bool,
) -> Result<Report, String> {
    execute_with_wallets(args, tls, security, None, signals).await
}

/// [`execute_secured`] paying a share of purchases by QR with the wallets of
/// `qr_run` (held in memory, possibly shared with other acquirers of the
/// process: their counters are atomic).
pub async fn execute_with_wallets(
    args: &AcquirerOptions,
    tls: Option<Arc<crate::tls::HostTls>>,
    security: Option<Arc<crate::security::HostSecurity>>,
    qr_run: Option<qr::QrRun>,
    signals: bool,
) -> Result<Report, String> {
    let mut setup = prepare(args, qr_run)?;
    let apps = setup.plan.qr().map(qr::QrPlan::apps).unwrap_or_default();
    setup.format.security = security;
    let peers = failover::Peers::resolve(&args.connect).await?;
    let histogram = stats::latency_histogram()?;

    let mut streams: Vec<(usize, LinkStream)> = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let attempts = if i == 0 { FIRST_DIAL_ATTEMPTS } else { 3 };
        let dialed = peers
            .dial_first(tls.as_deref(), attempts)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", args.connect))?;
        streams.push(dialed);
    }
    tracing::info!(
        addr = %args.connect,
        connections = args.connections,
        cards = setup.plan.eligible().len(),
        "connected; load starts"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let abort = Arc::new(AtomicBool::new(false));
    if signals {
        spawn_signal_watch(Arc::clone(&stop), Arc::clone(&abort));
    }
    let start = Instant::now();
    let peer_names = peers.names().to_vec();
    let cfg = Arc::new(LinkConfig {
        peers,
        format: setup.format,
        tls,
        plan: Arc::clone(&setup.plan),
        acquirer: args.bank.clone(),
        mti: setup.mti,
        timeout: setup.timeout,
        drive: setup.drive,
        start,
        end: setup.duration.map(|d| start + d),
        count: args.count,
        connections: args.connections,
        drain_grace: DRAIN_GRACE,
        stop,
        abort,
        histogram: histogram.clone(),
        banks: setup.table.banks().len(),
        per_second: args.report_html.is_some(),
    });

    let gauges: Vec<Arc<progress::Gauge>> = (0..args.connections)
        .map(|_| Arc::new(progress::Gauge::default()))
        .collect();
    let (done_tx, done_rx) = watch::channel(false);
    let progress = progress::spawn(gauges.clone(), done_rx);
    let tasks: Vec<_> = streams
        .into_iter()
        .zip(&gauges)
        .enumerate()
        .map(|(i, ((peer, stream), gauge))| {
            tokio::spawn(connection::run_link(
                Arc::clone(&cfg),
                i,
                (peer, stream),
                Arc::clone(gauge),
            ))
        })
        .collect();

    let mut total = ConnStats::new(&histogram, setup.table.banks().len(), false);
    let mut failed = None;
    for task in tasks {
        match task.await {
            Ok(s) => total.merge(&s),
            Err(e) => failed = Some(format!("a connection task failed: {e}")),
        }
    }
    let _ = done_tx.send(true);
    if let Some(p) = progress {
        let _ = p.await;
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let last = [total.last_send, total.last_answer]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(start);
    Ok(Report {
        stats: total,
        bank_ids: setup.table.banks().iter().map(|b| b.id.clone()).collect(),
        window: last.saturating_duration_since(start),
        connections: args.connections,
        shape: setup.shape,
        apps,
        peers: peer_names,
    })
}

/// First Ctrl-C: stop sending and drain; second: stop draining.
fn spawn_signal_watch(stop: Arc<AtomicBool>, abort: Arc<AtomicBool>) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        tracing::info!(
            "stopping the load; waiting for answers and reversals (Ctrl-C again to stop now)"
        );
        stop.store(true, Ordering::Relaxed);
        if tokio::signal::ctrl_c().await.is_ok() {
            abort.store(true, Ordering::Relaxed);
        }
    });
}
