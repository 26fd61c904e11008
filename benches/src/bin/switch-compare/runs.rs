//! One run: the issuer simulator of 940810 started afresh (same accounts, same
//! draws), a middle in front of it, and the acquirer simulator's load through the
//! middle for `--secs`; everything stopped at the end.
//!
//! Relay vs switch ([`run_one`]) puts the middle in a child process
//! (`--middle process`, the default: [`crate::process`]) and reads that process's
//! own CPU time over the load ([`crate::cpu`]), or runs it in this process beside
//! the simulators (`--middle in-process`). The switch against itself
//! ([`run_switch`], `--compare`) runs in this process: its TLS certificates,
//! MAC keys, token API, vault key and rules are set on the parsed configuration;
//! `--compare channel` and `--compare stand-in` put it in a child process unless
//! `--middle in-process` ([`run_in_child_on_rules`]). For stand-in the issuer
//! host is taken down once the switch has signed on, and the load starts when
//! the switch has seen its link drop.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use benches::loopback::{
    acquirer_options, bench_kek, issuer_options, kek_config, parse_config, relay,
    start_switch_with_kek, switch_config, Figures, Load, RunWatch,
};
use simulators::acquirer;
use simulators::issuer::{self, faults::Latency};
use simulators::security::HostSecurity;
use simulators::wallet::EnrolSummary;
use switch::security::apply::use_random_keys;
use switch::tls::apply::use_generated;

use crate::args::{Options, Placement};
use crate::channel::{channel_load, on_rules, token_api_config, ChannelLoad, API_NAME};
use crate::cpu::{process_cpu_us_per_txn, us_per_txn, MiddleCpu};
use crate::process::{spawn, Serve};
use crate::setup::{
    bench_shape, free_port, loopback_any, Certs, Payments, SwitchSetup, TempJournal,
};
use crate::stand_in::{wait_issuer_down, StandInCount};

/// What carries the load in relay vs switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Middle {
    Relay,
    Switch,
}

impl Middle {
    pub fn name(self) -> &'static str {
        match self {
            Middle::Relay => "relay",
            Middle::Switch => "switch",
        }
    }
}

/// One run's figures, and for the switch the time it added per hop (p50, p99).
pub struct Run {
    pub middle: Middle,
    pub figures: Figures,
    pub added: Option<(u64, u64)>,
    /// Requests the issuer answered (approved and declined).
    pub issuer_answered: u64,
    /// CPU time per answered transaction, µs: the middle's own process's
    /// (`--middle process`), or this whole process's (`in-process`: middle and
    /// simulators together).
    pub cpu_us_per_txn: f64,
}

/// One switch run's figures: the acquirer's, the time the switch added per hop
/// (p50, p99), how many requests the issuer answered and, for QR payments,
/// what became of the wallet's enrolments.
pub struct SwitchRun {
    pub figures: Figures,
    pub added: (u64, u64),
    pub issuer_answered: u64,
    pub enrolment: Option<EnrolSummary>,
    /// With the switch in a child process: its own CPU per answered
    /// transaction, µs (with several nodes, theirs together).
    pub switch_cpu_us_per_txn: Option<f64>,
    /// On PostgreSQL (`--compare store`): the server's processes' CPU per
    /// answered transaction, µs.
    pub db_cpu_us_per_txn: Option<f64>,
    /// `--compare store`: answered transactions per journal commit (the
    /// nodes' commits during the load, together).
    pub txn_per_commit: Option<f64>,
    /// The switch's issuer links and stand-in decisions at the end of the load.
    pub stand_in: Option<StandInCount>,
}

/// The relay or the switch (plain TCP, `--journal`) under `load`.
pub async fn run_one(
    middle: Middle,
    load: Load,
    o: &Options,
    table: &routing_rules::RoutingTable,
) -> Result<Run, String> {
    match (o.middle, middle) {
        (Placement::Process, _) => run_in_child(middle, load, o, table).await,
        (Placement::InProcess, Middle::Switch) => {
            let setup = SwitchSetup::plain(o.journal);
            let run = run_switch(&setup, load, o, table, None, None).await?;
            Ok(Run {
                middle,
                cpu_us_per_txn: process_cpu_us_per_txn(&run.figures),
                figures: run.figures,
                added: Some(run.added),
                issuer_answered: run.issuer_answered,
            })
        }
        (Placement::InProcess, Middle::Relay) => {
            let running = issuer::start(issuer_options(Latency::None)?, table).await?;
            let issuer_addr = running.addr.ok_or("the issuer has no address")?;
            let result: Result<Figures, String> = async {
                let relay = relay(issuer_addr).await?;
                let watch = RunWatch::start();
                let report =
                    acquirer::execute(&acquirer_options(relay.addr, load, o.secs)?, false).await;
                let seen = watch.finish();
                drop(relay);
                report.map(|r| Figures::of_report(&r).watched(seen))
            }
            .await;
            let totals = running.stop().await?;
            let figures = result?;
            Ok(Run {
                middle,
                cpu_us_per_txn: process_cpu_us_per_txn(&figures),
                figures,
                added: None,
                issuer_answered: totals.approved_total().count + totals.declined_total(),
            })
        }
    }
}

/// [`run_one`] with the middle in a child process.
async fn run_in_child(
    middle: Middle,
    load: Load,
    o: &Options,
    table: &routing_rules::RoutingTable,
) -> Result<Run, String> {
    let journal = TempJournal::new(match middle {
        Middle::Relay => "none",
        Middle::Switch => o.journal,
    });
    let running = issuer::start(issuer_options(Latency::None)?, table).await?;
    let result: Result<Run, String> = async {
        let issuer_addr = running.addr.ok_or("the issuer has no address")?;
        let text;
        let serve = match middle {
            Middle::Relay => Serve::Relay {
                upstream: issuer_addr,
            },
            Middle::Switch => {
                text = switch_config(&bench_shape(issuer_addr, journal.config())?);
                Serve::Switch {
                    config: &text,
                    switch_bin: None,
                }
            }
        };
        let mut child = spawn(serve).await?;
        let addr: SocketAddr = child.addr.ok_or("the middle's process gave no address")?;
        let options = acquirer_options(addr, load, o.secs)?;
        let watch = RunWatch::start();
        let cpu = MiddleCpu::now(child.pid());
        let report = acquirer::execute(&options, false).await;
        let used = cpu.and_then(|c| c.since()).unwrap_or_default();
        let seen = watch.finish();
        child.check_alive()?;
        let added = child.added();
        child.stop().await;
        let mut figures = Figures::of_report(&report?).watched(seen);
        // This run's processes are this one and the middle's; the rest is others'.
        figures.cpu_self += used.share;
        figures.cpu_others = (figures.cpu_others - used.share).max(0.0);
        Ok(Run {
            middle,
            cpu_us_per_txn: us_per_txn(used.secs, figures.answered),
            figures,
            added: match middle {
                Middle::Relay => None,
                Middle::Switch => Some(added.ok_or("the switch process gave no added latency")?),
            },
            issuer_answered: 0,
        })
    }
    .await;
    let totals = running.stop().await?;
    drop(journal);
    let mut run = result?;
    run.issuer_answered = totals.approved_total().count + totals.declined_total();
    Ok(run)
}

/// The issuer, the switch set up as `setup` says, and the acquirer's load through
/// it; everything started afresh (same accounts, same draws) and stopped. With
/// QR payments the app's wallet is enrolled through the switch's token API
/// before the load (not timed). `rules`: the routing rules of the switch when
/// not the national ones (`--compare channel`).
pub async fn run_switch(
    setup: &SwitchSetup,
    load: Load,
    o: &Options,
    table: &routing_rules::RoutingTable,
    certs: Option<&Certs>,
    rules: Option<&Path>,
) -> Result<SwitchRun, String> {
    let journal = TempJournal::new(setup.journal);
    // The issuer's address is filled in once it listens.
    let placeholder: SocketAddr = "127.0.0.1:9".parse().map_err(|e| format!("{e}"))?;
    let mut text = switch_config(&bench_shape(placeholder, journal.config())?);
    if setup.payments == Payments::QrPurchases {
        text.push_str(&token_api_config(loopback_any()?));
    }
    if setup.kek {
        text.push_str(&kek_config());
    }
    let mut config = parse_config(&text)?;
    if let Some(rules) = rules {
        config.rules = rules.to_path_buf();
    }
    let (mut issuer_tls, mut acquirer_tls) = (None, None);
    if setup.tls {
        let certs = certs.ok_or("TLS runs need the run's certificates")?;
        use_generated(&mut config, &certs.dir).map_err(|e| e.to_string())?;
        (issuer_tls, acquirer_tls) = (certs.issuer.clone(), certs.acquirer.clone());
    }
    let keys = if setup.mac {
        use_random_keys(&mut config, false).map_err(|e| e.to_string())?
    } else {
        BTreeMap::new()
    };
    let host_security = |link: &str| -> Result<Option<Arc<HostSecurity>>, String> {
        keys.get(link)
            .map(|k| HostSecurity::from_zone(k).map(Arc::new))
            .transpose()
            .map_err(|e| e.to_string())
    };
    let mut running = issuer::start_secured(
        issuer_options(Latency::None)?,
        table,
        issuer_tls,
        host_security("issuer")?,
    )
    .await?;
    type Outcome = (Figures, (u64, u64), Option<EnrolSummary>, StandInCount);
    let result: Result<Outcome, String> = async {
        let issuer_addr = running.addr.ok_or("the issuer has no address")?;
        for link in config.links.iter_mut().filter(|l| l.name == "issuer") {
            link.address = issuer_addr;
        }
        let sw = start_switch_with_kek(config, setup.kek.then(bench_kek).transpose()?).await?;
        if setup.issuer_down {
            running.take_down().await;
            wait_issuer_down(|| Some(StandInCount::of(sw.core()))).await?;
        }
        let addr = *sw
            .listening
            .get("acquirer")
            .ok_or("the switch has no acquirer listener")?;
        let api = sw.listening.get(API_NAME).copied();
        let ChannelLoad {
            options,
            qr,
            enrolment,
        } = channel_load(setup, addr, api, load, o, table).await?;
        let security = host_security("acquirer")?;
        let watch = RunWatch::start();
        let report =
            acquirer::execute_with_wallets(&options, acquirer_tls, security, qr, false).await;
        let seen = watch.finish();
        let figures = report.map(|r| Figures::of_report(&r).watched(seen));
        let added = sw.added_latency();
        let stand_in = StandInCount::of(sw.core());
        sw.shutdown().await;
        figures.map(|f| {
            (
                f,
                (added.value_at_quantile(0.5), added.value_at_quantile(0.99)),
                enrolment,
                stand_in,
            )
        })
    }
    .await;
    let totals = running.stop().await?;
    drop(journal);
    let (figures, added, enrolment, stand_in) = result?;
    Ok(SwitchRun {
        figures,
        added,
        issuer_answered: totals.approved_total().count + totals.declined_total(),
        enrolment,
        switch_cpu_us_per_txn: None,
        db_cpu_us_per_txn: None,
        txn_per_commit: None,
        stand_in: Some(stand_in),
    })
}

/// [`run_switch`] for a compare on rules of its own (`--compare channel`,
/// `--compare stand-in`) with the switch in a child process (`--middle
/// process`): plain TCP, on `rules`, the setup's journal and vault key; a
/// token API on a free loopback port chosen here (the child reports only its
/// acquirer listener). The run's figures with the child's own CPU per
/// transaction.
pub async fn run_in_child_on_rules(
    setup: &SwitchSetup,
    load: Load,
    o: &Options,
    table: &routing_rules::RoutingTable,
    rules: &Path,
) -> Result<SwitchRun, String> {
    let journal = TempJournal::new(setup.journal);
    let mut running = issuer::start(issuer_options(Latency::None)?, table).await?;
    type Outcome = (
        Figures,
        (u64, u64),
        Option<EnrolSummary>,
        f64,
        Option<StandInCount>,
    );
    let result: Result<Outcome, String> = async {
        let issuer_addr = running.addr.ok_or("the issuer has no address")?;
        let shape = bench_shape(issuer_addr, journal.config())?;
        let mut text = on_rules(&switch_config(&shape), rules)?;
        let api = (setup.payments == Payments::QrPurchases)
            .then(free_port)
            .transpose()?;
        if let Some(api) = api {
            text.push_str(&token_api_config(api));
        }
        if setup.kek {
            text.push_str(&kek_config());
        }
        let mut child = spawn(Serve::Switch {
            config: &text,
            switch_bin: None,
        })
        .await?;
        if setup.issuer_down {
            running.take_down().await;
            wait_issuer_down(|| child.stand_in()).await?;
        }
        let addr: SocketAddr = child.addr.ok_or("the switch's process gave no address")?;
        let ChannelLoad {
            options,
            qr,
            enrolment,
        } = channel_load(setup, addr, api, load, o, table).await?;
        let watch = RunWatch::start();
        let cpu = MiddleCpu::now(child.pid());
        let report = acquirer::execute_with_wallets(&options, None, None, qr, false).await;
        let used = cpu.and_then(|c| c.since()).unwrap_or_default();
        let seen = watch.finish();
        child.check_alive()?;
        let added = child
            .added()
            .ok_or("the switch process gave no added latency")?;
        let stand_in = child.stand_in();
        child.stop().await;
        let mut figures = Figures::of_report(&report?).watched(seen);
        // This run's processes are this one and the switch's; the rest is others'.
        figures.cpu_self += used.share;
        figures.cpu_others = (figures.cpu_others - used.share).max(0.0);
        let switch_cpu = us_per_txn(used.secs, figures.answered);
        Ok((figures, added, enrolment, switch_cpu, stand_in))
    }
    .await;
    let totals = running.stop().await?;
    drop(journal);
    let (figures, added, enrolment, switch_cpu, stand_in) = result?;
    Ok(SwitchRun {
        figures,
        added,
        issuer_answered: totals.approved_total().count + totals.declined_total(),
        enrolment,
        switch_cpu_us_per_txn: Some(switch_cpu),
        db_cpu_us_per_txn: None,
        txn_per_commit: None,
        stand_in,
    })
}
