//! `sim issuer`: an issuer bank host. It holds the accounts of every card its bank
//! issues (from the shared deterministic card base), answers authorizations,
//! financials, balance inquiries, reversals, advices and network management over
//! framed TCP links, and keeps totals that it writes as JSON every second and on exit.
//!
//! - [`accounts`]: accounts and the bounded transaction log (pure);
//! - [`behaviour`]: request → response decisions (pure);
//! - [`faults`]: latency distributions and fault injection (pure);
//! - [`server`]: listening or dialing, one task per connection;
//! - [`report`]: the totals and the JSON report file;
//! - [`wallet`]: account verifications and token payments (field 48);
//! - [`outage`]: taking the host down and bringing it back (the demo's outages);
//! - [`defects`]: known defects on purpose, for certification runs.

pub mod accounts;
pub mod behaviour;
pub mod defects;
pub mod faults;
pub mod outage;
pub mod report;
pub mod server;
pub mod wallet;

#[cfg(test)]
mod loopback_tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use routing_rules::model::BankIdx;
use routing_rules::RoutingTable;
use tokio::sync::watch;

use crate::wire::LinkFormat;

use self::accounts::Accounts;
use self::behaviour::{Issuer, StandInIndicator};
use self::faults::{parse_rate, Faults, Latency};
use self::server::{LinkSettings, Server};

/// Command-line options of `sim issuer`, boxed so that the `sim` command enum stays
/// small (clippy's `large_enum_variant`).
#[derive(clap::Args, Debug)]
pub struct IssuerArgs {
    /// The options.
    #[command(flatten)]
    pub options: Box<IssuerOptions>,
    /// Mutual TLS with the switch.
    #[command(flatten)]
    pub tls: crate::tls::TlsOptions,
    /// MACs and PIN checks.
    #[command(flatten)]
    pub security: crate::security::SecurityOptions,
    /// How the switch marks its stand-in advices.
    #[command(flatten)]
    pub stand_in: StandInOptions,
    /// A catalogue file instead of generated cards; defects on purpose.
    #[command(flatten)]
    pub onboarding: OnboardingOptions,
}

/// `sim issuer --cards FILE` and `--defect NAME` (apart from [`IssuerOptions`],
/// which programs build field by field).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct OnboardingOptions {
    /// Serve the cards of this catalogue file (the CSV `sim cards --format csv`
    /// prints) instead of generating them.
    #[arg(long, value_name = "FILE")]
    pub cards: Option<PathBuf>,
    /// Answer with a known defect, to see `sim certify issuer` fail the case
    /// that catches it (repeatable).
    #[arg(long, value_enum, value_name = "DEFECT")]
    pub defect: Vec<defects::IssuerDefect>,
}

/// How `sim issuer` recognises the switch's stand-in advices (apart from
/// [`IssuerOptions`], which programs build field by field).
#[derive(clap::Args, Debug, Clone)]
pub struct StandInOptions {
    /// The field that marks the switch's stand-in advices (the switch's
    /// `[stand_in] indicator_field`): those are keyed by their own 11/7/32 and an
    /// approval is posted whatever the balance.
    #[arg(long, value_name = "N", default_value_t = 60, value_parser = clap::value_parser!(u8).range(2..=128))]
    pub stand_in_field: u8,
    /// The value of that field in a stand-in advice (`[stand_in] indicator_value`).
    #[arg(long, value_name = "TEXT", default_value = "STANDIN")]
    pub stand_in_value: String,
}

impl StandInOptions {
    /// The indicator these options name.
    pub fn indicator(&self) -> StandInIndicator {
        StandInIndicator {
            field: self.stand_in_field,
            value: self.stand_in_value.clone(),
        }
    }
}

impl IssuerOptions {
    /// The command line's defaults for bank `bank` listening on a free loopback
    /// port (for programs that run issuer hosts in-process).
    pub fn defaults(bank: &str) -> Result<IssuerOptions, String> {
        <crate::acquirer::Only<IssuerOptions> as clap::Parser>::try_parse_from([
            "issuer",
            "--listen",
            "127.0.0.1:0",
            "--bank",
            bank,
        ])
        .map(|p| p.options)
        .map_err(|e| e.to_string())
    }
}

/// The options of `sim issuer`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("link").required(true).args(["listen", "connect"])))]
pub struct IssuerOptions {
    /// Listen for connections on ADDR (port 0: any free port; the log says which).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Dial the switch at ADDR and redial with backoff whenever the link drops.
    #[arg(long, value_name = "ADDR")]
    pub connect: Option<String>,
    /// The issuing bank's institution id (as in the routing rules).
    #[arg(long, value_name = "ID")]
    pub bank: String,
    /// Also hold the cards of this bank, authorizing on its behalf (repeatable;
    /// e.g. the Central Bank for Pine Ridge cards in the national network).
    #[arg(long, value_name = "ID")]
    pub on_behalf_of: Vec<String>,
    /// Routing rules (file or directory) the card base is generated from.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "routing-rules/rules/national.toml"
    )]
    pub rules: PathBuf,
    /// Message spec: iso87ascii, iso87binary, iso87bcd, or a spec file.
    #[arg(long, value_name = "NAME", default_value = "iso87ascii")]
    pub spec: String,
    /// Length header: binary2, ascii4 or bcd2.
    #[arg(long, value_name = "FRAMING", default_value = "binary2")]
    pub framing: String,
    /// Largest accepted frame in bytes (capped by what the header can express).
    #[arg(long, value_name = "BYTES", default_value_t = codecs::framing::DEFAULT_MAX_FRAME)]
    pub max_frame: usize,
    /// Seed of the card base (the same seed gives every simulator the same cards).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Cards generated per BIN range.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub cards_per_range: usize,
    /// Response latency: none, fixed:MS, uniform:MIN-MAX or lognormal:MEDIAN,SIGMA (ms).
    #[arg(long, value_name = "DIST", default_value = "none")]
    pub latency: Latency,
    /// Fraction of responses never sent.
    #[arg(long, value_name = "F", default_value = "0", value_parser = parse_rate)]
    pub drop_rate: f64,
    /// Fraction of responses sent late (after --late-ms more).
    #[arg(long, value_name = "F", default_value = "0", value_parser = parse_rate)]
    pub late_rate: f64,
    /// Extra delay of a late response, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub late_ms: u64,
    /// Close every connection this many seconds after it was set up.
    #[arg(long, value_name = "SECS", value_parser = parse_positive_secs)]
    pub disconnect_every: Option<Duration>,
    /// Fraction of responses replaced by a malformed frame.
    #[arg(long, value_name = "F", default_value = "0", value_parser = parse_rate)]
    pub malformed_rate: f64,
    /// Seed of the latency and fault draws.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub fault_seed: u64,
    /// Close a connection whose peer leaves a frame half sent (or our answers
    /// unread) for this many seconds.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_positive_secs)]
    pub read_deadline: Duration,
    /// Most simultaneous connections in --listen mode; more are refused.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_connections: usize,
    /// Originals remembered for reversals (the oldest are forgotten first).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub txn_log: usize,
    /// In --connect mode, send a sign-on (0800, field 70 = 001) on every new link.
    #[arg(long)]
    pub sign_on: bool,
    /// Write the totals as JSON here every second and on exit.
    #[arg(long, value_name = "PATH")]
    pub report_json: Option<PathBuf>,
}

fn parse_positive_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if secs.is_finite() && secs > 0.0 && secs < 1e9 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(format!("{text} is not a positive number of seconds"))
    }
}

/// The banks whose cards this issuer holds: `bank` and any `on_behalf_of`.
fn card_holders(table: &RoutingTable, args: &IssuerOptions) -> Result<Vec<BankIdx>, String> {
    crate::catalogue::holders(table, &args.bank, &args.on_behalf_of)
        .map_err(|e| format!("{e} ({})", args.rules.display()))
}

/// A started issuer: its address, its totals, and how to stop it.
pub struct RunningIssuer {
    /// The bound address in listen mode.
    pub addr: Option<SocketAddr>,
    issuer: Arc<Issuer>,
    server: Arc<Server>,
    /// Stops the reporter (and, in [`RunningIssuer::stop`], the link).
    stop: watch::Sender<bool>,
    /// Where the link listens or dials, to bring it back after an outage.
    endpoint: outage::Endpoint,
    /// Stops the current link task alone.
    link_stop: watch::Sender<bool>,
    /// The link task (None while the host is down).
    link: Option<tokio::task::JoinHandle<()>>,
    reporter: Option<tokio::task::JoinHandle<()>>,
    report_json: Option<PathBuf>,
}

/// Build the card base and accounts, bind or dial, and start serving (also used
/// in-process by the demo network and the benchmarks).
pub async fn start(args: IssuerOptions, table: &RoutingTable) -> Result<RunningIssuer, String> {
    start_with_tls(args, table, None).await
}

/// [`start`] over mutual TLS when `tls` is given (the TLS server when listening,
/// the client when dialing).
pub async fn start_with_tls(
    args: IssuerOptions,
    table: &RoutingTable,
    tls: Option<Arc<crate::tls::HostTls>>,
) -> Result<RunningIssuer, String> {
    start_secured(args, table, tls, None).await
}

/// [`start_with_tls`] with MACs on the link and PIN checks when `security` is
/// given (its MAC key seals and checks every message; its PIN key checks field 52).
pub async fn start_secured(
    args: IssuerOptions,
    table: &RoutingTable,
    tls: Option<Arc<crate::tls::HostTls>>,
    security: Option<Arc<crate::security::HostSecurity>>,
) -> Result<RunningIssuer, String> {
    start_marked(args, table, tls, security, StandInIndicator::default()).await
}

/// [`start_secured`] recognising the switch's stand-in advices by `stand_in`.
pub async fn start_marked(
    args: IssuerOptions,
    table: &RoutingTable,
    tls: Option<Arc<crate::tls::HostTls>>,
    security: Option<Arc<crate::security::HostSecurity>>,
    stand_in: StandInIndicator,
) -> Result<RunningIssuer, String> {
    start_onboarding(
        args,
        table,
        tls,
        security,
        stand_in,
        &OnboardingOptions::default(),
    )
    .await
}

/// [`start_marked`] serving `onboarding`'s catalogue file (if any) with its
/// defects (if any).
pub async fn start_onboarding(
    args: IssuerOptions,
    table: &RoutingTable,
    tls: Option<Arc<crate::tls::HostTls>>,
    security: Option<Arc<crate::security::HostSecurity>>,
    stand_in: StandInIndicator,
    onboarding: &OnboardingOptions,
) -> Result<RunningIssuer, String> {
    let holders = card_holders(table, &args)?;
    let cards = match &onboarding.cards {
        Some(path) => crate::catalogue::file::read_path(table, &holders, path)?,
        None => crate::catalogue::generated(table, &holders, args.seed, args.cards_per_range),
    };
    let accounts = Accounts::open(cards);
    if accounts.is_empty() {
        tracing::warn!(bank = %args.bank, "the bank has no BIN ranges: every card will be declined 14");
    }
    tracing::info!(bank = %args.bank, cards = accounts.len(), seed = args.seed, "card base ready");
    let mut issuer = Issuer::new(accounts, args.txn_log.max(1))
        .with_stand_in_indicator(stand_in)
        .with_defects(defects::Defects::new(onboarding.defect.clone()));
    if !onboarding.defect.is_empty() {
        tracing::warn!(defects = ?onboarding.defect, "answering with defects on purpose");
    }
    if let Some(s) = &security {
        issuer = issuer.with_pin_checks(s.clone());
        tracing::info!(
            macs = s.macs(),
            pins = s.pins(),
            "message authentication and PIN checks"
        );
    }
    let issuer = Arc::new(issuer);

    let mut format = LinkFormat::from_names(&args.spec, &args.framing)?;
    format.max_frame = args.max_frame;
    format.security = security;
    let faults = Faults {
        latency: args.latency,
        drop_rate: args.drop_rate,
        late_rate: args.late_rate,
        late: Duration::from_millis(args.late_ms).min(faults::MAX_DELAY),
        malformed_rate: args.malformed_rate,
        disconnect_every: args.disconnect_every,
    };
    if !faults.is_off() || faults.disconnect_every.is_some() {
        tracing::info!(
            ?faults,
            fault_seed = args.fault_seed,
            "latency and faults enabled"
        );
    }
    let server = Arc::new(Server::new(
        issuer.clone(),
        LinkSettings {
            format,
            faults,
            fault_seed: args.fault_seed,
            read_deadline: args.read_deadline,
            max_connections: args.max_connections,
            sign_on: args.sign_on,
            tls,
        },
    ));

    // A first report at once: readers find a file, and a bad path fails early.
    if let Some(path) = &args.report_json {
        write_report(path.clone(), issuer.clone()).await?;
    }

    let (stop, stop_rx) = watch::channel(false);
    let side = match (&args.listen, &args.connect) {
        (Some(addr), _) => outage::LinkSide::Listening(outage::listen(addr).await?),
        (None, Some(addr)) => outage::LinkSide::Dialing(resolve(addr).await?),
        (None, None) => return Err("give --listen ADDR or --connect ADDR".into()),
    };
    let endpoint = side.endpoint()?;
    let addr = endpoint.listening();
    let (link_stop, link) = side.spawn(&server);
    let reporter = args
        .report_json
        .clone()
        .map(|path| tokio::spawn(report_every_second(path, issuer.clone(), stop_rx.clone())));
    Ok(RunningIssuer {
        addr,
        issuer,
        server,
        stop,
        endpoint,
        link_stop,
        link: Some(link),
        reporter,
        report_json: args.report_json,
    })
}

impl RunningIssuer {
    /// Wait until the link task ends by itself (it should not, before `stop`).
    pub async fn link_ended(&mut self) {
        if let Some(link) = self.link.as_mut() {
            let _ = link.await;
            self.link = None;
        }
    }

    /// The totals so far.
    pub fn totals(&self) -> report::Snapshot {
        self.issuer.totals().snapshot()
    }

    /// The approvals standing (approved, not reversed) in the transaction log.
    pub fn standing_approvals(&self) -> Vec<(accounts::TxnKey, rust_decimal::Decimal)> {
        self.issuer.log().standing_approvals()
    }

    /// Stop serving, write the final report, log the totals; returns them.
    pub async fn stop(self) -> Result<report::Snapshot, String> {
        let _ = self.stop.send(true);
        let _ = self.link_stop.send(true);
        if let Some(link) = self.link {
            let _ = link.await;
        }
        if let Some(r) = self.reporter {
            let _ = r.await;
        }
        if let Some(path) = &self.report_json {
            write_report(path.clone(), self.issuer.clone()).await?;
        }
        let totals = self.issuer.totals().snapshot();
        let approved = totals.approved_total();
        tracing::info!(
            "totals: approved {} ({}), reversed {} ({}), declined {}; {}",
            approved.count,
            report::amount_text(approved.amount),
            totals.reversed.count,
            report::amount_text(totals.reversed.amount),
            totals.declined_total(),
            self.server.stats().summary()
        );
        tracing::info!("{}", totals.stand_in.summary());
        Ok(totals)
    }
}

/// Run the issuer until SIGINT/SIGTERM.
pub async fn run(args: IssuerArgs) -> Result<(), String> {
    // The command reports its failure as text (main prints it).
    let tls = args
        .tls
        .load(&args.options.bank)
        .map_err(|e| e.to_string())?;
    let security = args.security.load().map_err(|e| e.to_string())?;
    let stand_in = args.stand_in.indicator();
    let onboarding = args.onboarding;
    let args = *args.options;
    let (table, warnings) =
        RoutingTable::load(&args.rules).map_err(|e| format!("{}: {e}", args.rules.display()))?;
    for w in &warnings {
        tracing::warn!("routing rules: {w}");
    }
    let mut running = start_onboarding(args, &table, tls, security, stand_in, &onboarding).await?;
    tokio::select! {
        signal = shutdown_signal() => tracing::info!("shutting down ({})", signal?),
        _ = running.link_ended() => tracing::warn!("the link task ended; shutting down"),
    }
    running.stop().await.map(|_| ())
}

async fn resolve(addr: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = addr.parse() {
        return Ok(a);
    }
    tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr} resolves to no address"))
}

/// Write the report off the async workers.
async fn write_report(path: PathBuf, issuer: Arc<Issuer>) -> Result<(), String> {
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || report::write_report(&path, issuer.totals()))
        .await
        .map_err(|e| format!("report writer failed: {e}"))?
        .map_err(|e| format!("cannot write {shown}: {e}"))
}

/// Rewrite the report every second until shutdown (the final one is written after
/// the links have stopped).
async fn report_every_second(path: PathBuf, issuer: Arc<Issuer>, mut stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => return,
        }
        match write_report(path.clone(), issuer.clone()).await {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                tracing::warn!("{e}");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// Wait for SIGINT or SIGTERM; names the one that came.
async fn shutdown_signal() -> Result<&'static str, String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term =
            signal(SignalKind::terminate()).map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map(|()| "SIGINT").map_err(|e| format!("cannot watch SIGINT: {e}")),
            _ = term.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| format!("cannot watch Ctrl-C: {e}"))?;
        Ok("Ctrl-C")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: IssuerArgs,
    }

    fn parse(argv: &[&str]) -> Result<IssuerOptions, clap::Error> {
        Cli::try_parse_from(std::iter::once("issuer").chain(argv.iter().copied()))
            .map(|c| *c.args.options)
    }

    #[test]
    fn flags_and_defaults() {
        let a = parse(&["--listen", "127.0.0.1:0", "--bank", "940800"]).unwrap();
        assert_eq!(a.rules, PathBuf::from("routing-rules/rules/national.toml"));
        assert_eq!(
            (a.spec.as_str(), a.framing.as_str()),
            ("iso87ascii", "binary2")
        );
        assert_eq!((a.seed, a.cards_per_range), (1, 1000));
        assert_eq!(a.latency, Latency::None);
        assert_eq!(
            (a.drop_rate, a.late_rate, a.malformed_rate),
            (0.0, 0.0, 0.0)
        );
        assert_eq!(a.read_deadline, Duration::from_secs(30));
        assert!(a.disconnect_every.is_none() && a.report_json.is_none());
        let marked = |argv: &[&str]| {
            Cli::try_parse_from(std::iter::once("issuer").chain(argv.iter().copied()))
                .map(|c| c.args.stand_in.indicator())
        };
        assert_eq!(
            marked(&["--listen", "x", "--bank", "1"]).unwrap(),
            StandInIndicator::default()
        );
        let other = marked(&["--listen", "x", "--bank", "1", "--stand-in-field", "48"]).unwrap();
        assert_eq!((other.field, other.value.as_str()), (48, "STANDIN"));
        assert!(marked(&["--listen", "x", "--bank", "1", "--stand-in-field", "129"]).is_err());

        let a = parse(&[
            "--connect",
            "127.0.0.1:9000",
            "--bank",
            "940810",
            "--latency",
            "lognormal:20,0.5",
            "--drop-rate",
            "0.01",
            "--late-rate",
            "0.02",
            "--late-ms",
            "9000",
            "--disconnect-every",
            "60",
            "--malformed-rate",
            "0.001",
            "--fault-seed",
            "7",
            "--framing",
            "ascii4",
            "--spec",
            "iso87bcd",
            "--seed",
            "3",
            "--cards-per-range",
            "10",
            "--report-json",
            "/tmp/x.json",
        ])
        .unwrap();
        assert_eq!(a.disconnect_every, Some(Duration::from_secs(60)));
        assert_eq!(a.late_ms, 9000);
        assert!(matches!(a.latency, Latency::LogNormal { .. }));

        assert!(parse(&["--bank", "940800"]).is_err(), "needs a link");
        assert!(parse(&["--listen", "a", "--connect", "b", "--bank", "1"]).is_err());
        assert!(parse(&["--listen", "a", "--bank", "1", "--drop-rate", "2"]).is_err());
        assert!(parse(&["--listen", "a", "--bank", "1", "--latency", "fixed"]).is_err());
        assert!(parse(&["--listen", "a", "--bank", "1", "--disconnect-every", "0"]).is_err());
    }

    fn national() -> (RoutingTable, PathBuf) {
        let path = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../routing-rules/rules/national.toml"
        ));
        (RoutingTable::load(&path).unwrap().0, path)
    }

    #[test]
    fn the_bank_must_be_an_issuer() {
        let (table, rules) = national();
        let args = |bank: &str, extra: &[&str]| {
            let mut a = parse(&[&["--listen", "x", "--bank", bank], extra].concat()).unwrap();
            a.rules = rules.clone();
            a
        };
        assert_eq!(card_holders(&table, &args("940800", &[])).unwrap().len(), 1);
        let both = card_holders(&table, &args("940800", &["--on-behalf-of", "940840"])).unwrap();
        assert_eq!(both.len(), 2);
        assert!(card_holders(&table, &args("940851", &[]))
            .unwrap_err()
            .contains("does not issue"));
        assert!(card_holders(&table, &args("999999", &[]))
            .unwrap_err()
            .contains("not in"));
    }

    #[test]
    fn the_issuer_holds_exactly_its_banks_cards_and_knows_them_all() {
        let (table, _) = national();
        let bank = table.bank_index(b"940810").unwrap();
        let base = crate::cards::CardBase::generate(&table, 1, 20);
        let mine: Vec<_> = base
            .cards()
            .iter()
            .filter(|c| c.issuer == bank)
            .cloned()
            .collect();
        assert!(!mine.is_empty());
        let accounts = Accounts::open(mine.clone());
        assert_eq!(accounts.len(), mine.len());
        for c in base.cards() {
            assert_eq!(accounts.find(&c.pan).is_some(), c.issuer == bank, "{c:?}");
        }
    }
}
