//! The switch between the real simulators over loopback: two `sim acquirer` hosts
//! and two `sim issuer` hosts in-process, with and without issuer faults (dropped
//! and late answers, latency, disconnects). Every request gets exactly one final
//! answer from the switch, the switch's in-flight map and store-and-forward queue
//! drain to zero, and after the switch's reversals each issuer's approvals net of
//! reversals equal what the acquirers saw approved for its cards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::time::Duration;
use tokio::time::Instant;

use simulators::acquirer::execute;
use simulators::acquirer::report::Report;
use simulators::issuer::faults::Latency;
use simulators::issuer::report::{Snapshot, Tally};
use simulators::issuer::{self, IssuerOptions, RunningIssuer};
use switch::net::RunningSwitch;
use tests::{
    acquirer_options, acquirers_approved, assert_one_outcome_each, issuer_net, issuer_options,
    national_rules, national_table, start_switch, wait_for_sign_on, wait_until, LogCapture,
};

/// Morning Star Commercial Bank and Golden Valley Bank issue the cards.
const ISSUERS: [&str; 2] = ["940810", "940820"];
/// Harbour Trade Bank (capital) and Riverside Credit Union (a county town) acquire
/// (link names get the test's tag in front, to tell the tests' log lines apart).
const ACQUIRERS: [(&str, &str); 2] = [("harbour-trade", "940830"), ("riverside", "940870")];
/// The switch's issuer timeout with faults (without, twice as long: no timeout is
/// expected then, even on a busy machine). The acquirers wait much longer, so every
/// request's final answer comes from the switch (RC 91 when the issuer is silent).
const SWITCH_TIMEOUT_MS: u64 = 400;
const ACQUIRER_TIMEOUT_MS: u64 = 4000;
/// How each acquirer loads the switch: requests in all, over 2 links with this
/// many outstanding on each.
#[derive(Clone, Copy)]
struct Load {
    count: u64,
    concurrency: usize,
}

fn config(tag: &str, timeout_ms: u64, issuers: &[(&str, std::net::SocketAddr)]) -> String {
    let mut text = format!(
        r#"
[switch]
institution_id = "940000"
rules = "{rules}"
read_timeout_ms = 2000
saf_retry_ms = 150
shutdown_grace_ms = 1000
"#,
        rules = national_rules()
    );
    for (name, bank) in ACQUIRERS {
        text.push_str(&format!(
            r#"
[[link]]
name = "{tag}-{name}"
role = "acquirer"
bank = "{bank}"
direction = "listen"
address = "127.0.0.1:0"
"#
        ));
    }
    for (bank, addr) in issuers {
        text.push_str(&format!(
            r#"
[[link]]
name = "{tag}-issuer-{bank}"
role = "issuer"
bank = "{bank}"
direction = "dial"
address = "{addr}"
timeout_ms = {timeout_ms}
cash_timeout_ms = {timeout_ms}
echo_interval_ms = 60000
"#
        ));
    }
    text
}

struct Network {
    tag: &'static str,
    sw: RunningSwitch,
    issuers: Vec<(&'static str, RunningIssuer)>,
}

/// Start the issuers (with `faults` applied to each one's options), then the switch
/// dialing them with an issuer timeout of `timeout_ms`; wait until it has signed
/// on to both.
async fn network(
    tag: &'static str,
    timeout_ms: u64,
    faults: impl Fn(&str, &mut IssuerOptions),
) -> Network {
    let table = national_table();
    let mut issuers = Vec::new();
    for bank in ISSUERS {
        let mut opts = issuer_options(bank);
        faults(bank, &mut opts);
        let running = issuer::start(opts, &table)
            .await
            .unwrap_or_else(|e| panic!("issuer {bank}: {e}"));
        issuers.push((bank, running));
    }
    let addrs: Vec<_> = issuers
        .iter()
        .map(|(bank, r)| (*bank, r.addr.unwrap()))
        .collect();
    let sw = start_switch(&config(tag, timeout_ms, &addrs)).await;
    wait_for_sign_on(&sw, ISSUERS.len(), Duration::from_secs(5)).await;
    Network { tag, sw, issuers }
}

/// Run both acquirers at once; their reports in `ACQUIRERS` order.
async fn run_acquirers(net: &Network, load: Load) -> Vec<Report> {
    let tasks: Vec<_> = ACQUIRERS
        .iter()
        .map(|(name, bank)| {
            let opts = acquirer_options(
                net.sw.listening[&format!("{}-{name}", net.tag)],
                bank,
                &ISSUERS,
                load.count,
                2,
                load.concurrency,
                ACQUIRER_TIMEOUT_MS,
            );
            tokio::spawn(async move { execute(&opts, false).await })
        })
        .collect();
    let mut reports = Vec::new();
    for t in tasks {
        reports.push(t.await.unwrap().unwrap_or_else(|e| panic!("acquirer: {e}")));
    }
    reports
}

/// Checks common to every run: one final answer from the switch per request (no
/// acquirer timeout, hence no acquirer reversal), the in-flight map and the SAF
/// queue drained; then the issuers' totals, stopped.
async fn settle(net: Network, load: Load, reports: &[Report]) -> Vec<(&'static str, Snapshot)> {
    for (r, (name, _)) in reports.iter().zip(ACQUIRERS) {
        let summary = r.to_json();
        eprintln!("{name}: {summary}");
        assert_eq!(r.stats.sent, load.count, "{name}: {summary}");
        assert_one_outcome_each(r, name);
        assert_eq!(
            (r.stats.answered, r.stats.timed_out, r.stats.late),
            (load.count, 0, 0),
            "{name}: every request answered by the switch in time: {summary}"
        );
        assert_eq!(r.stats.errors(), 0, "{name}: {summary}");
    }
    let core = net.sw.core();
    let drained = wait_until(Duration::from_secs(10), || {
        core.in_flight() == 0 && core.pending_requests() == 0 && core.saf_depth() == 0
    })
    .await;
    assert!(
        drained,
        "switch not drained: in flight {}, pending requests {}, SAF depth {}",
        core.in_flight(),
        core.pending_requests(),
        core.saf_depth()
    );
    net.sw.shutdown().await;
    let mut totals = Vec::new();
    for (bank, running) in net.issuers {
        totals.push((bank, running.stop().await.unwrap()));
    }
    totals
}

/// Per issuer: approvals net of reversals equal what the acquirers saw approved.
fn assert_books_agree(reports: &[Report], totals: &[(&str, Snapshot)]) {
    let all: Vec<&Report> = reports.iter().collect();
    for (bank, snap) in totals {
        let seen = acquirers_approved(&all, bank);
        eprintln!("issuer {bank}: acquirers saw {seen:?}; issuer booked {snap:?}");
        assert!(seen.count > 0, "{bank}: no approvals at all");
        assert_eq!(
            issuer_net(snap),
            seen,
            "{bank}: issuer approved - reversed vs acquirers' approved"
        );
        // Gross approvals per acquirer cover what each acquirer saw.
        for (r, (name, acq)) in reports.iter().zip(ACQUIRERS) {
            let saw = acquirers_approved(&[r], bank);
            let gross = snap.approved.get(acq).copied().unwrap_or_default();
            assert!(
                gross.count >= saw.count && gross.amount >= saw.amount,
                "{bank} booked {gross:?} for {name}, which saw {saw:?}"
            );
        }
    }
    // Nothing approved for cards of other issuers.
    for r in reports {
        assert!(
            r.approved().keys().all(|k| ISSUERS.contains(&k.as_str())),
            "{:?}",
            r.approved()
        );
    }
}

/// The log lines of the test tagged `tag` (from the shared capture).
fn log_of(tag: &str) -> String {
    LogCapture::global().lines_with(&[tag]).join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_faults_the_switch_relays_everything_and_the_books_agree() {
    let started = Instant::now();
    LogCapture::global();
    let load = Load {
        count: 600,
        concurrency: 8,
    };
    let net = network("calm", 2 * SWITCH_TIMEOUT_MS, |_, _| {}).await;
    let reports = run_acquirers(&net, load).await;
    let totals = settle(net, load, &reports).await;
    assert_books_agree(&reports, &totals);
    for (r, (name, _)) in reports.iter().zip(ACQUIRERS) {
        let c = r.response_codes();
        // Golden Valley's legacy cards are declined by the switch's rules (62).
        assert!(c.get("62").copied().unwrap_or(0) > 0, "{name}: {c:?}");
        assert!(
            !c.contains_key("91") && !c.contains_key("94"),
            "{name}: {c:?}\n{}",
            log_of("calm")
        );
    }
    // Without faults nothing is reversed, and each issuer's approvals per acquirer
    // are exactly what that acquirer saw.
    for (bank, snap) in &totals {
        assert_eq!(
            snap.reversed,
            Tally::default(),
            "{bank}\n{}",
            log_of("calm")
        );
        for (r, (name, acq)) in reports.iter().zip(ACQUIRERS) {
            let saw = r.approved().get(*bank).map(|t| (t.count, t.amount));
            let booked = snap.approved.get(acq).map(|t| (t.count, t.amount));
            assert_eq!(booked, saw, "{bank} for {name}");
        }
    }
    eprintln!("no faults: {:?}", started.elapsed());
}

/// Answers with response code `rc`, over all acquirers.
fn answers(reports: &[Report], rc: &str) -> u64 {
    reports
        .iter()
        .map(|r| r.response_codes().get(rc).copied().unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_issuer_faults_every_request_gets_one_answer_and_reversals_balance_the_books() {
    let started = Instant::now();
    let log = LogCapture::global();
    let net = network("faults", SWITCH_TIMEOUT_MS, |bank, o| {
        o.fault_seed = 11;
        if bank == ISSUERS[0] {
            // Slow, sometimes silent, sometimes answering after the switch gave up.
            o.latency = Latency::Uniform(Duration::ZERO, Duration::from_millis(20));
            o.drop_rate = 0.04;
            o.late_rate = 0.04;
            o.late_ms = 600;
        } else {
            // Drops the switch's link (what is in flight on it is lost) every
            // 1.5 s, and some answers (reconnects every 400 ms:
            // `frequent_issuer_reconnects_keep_the_books` below).
            o.disconnect_every = Some(Duration::from_millis(1500));
            o.drop_rate = 0.02;
        }
    })
    .await;
    // About 3-4 s of load: one to three disconnects.
    let load = Load {
        count: 2200,
        concurrency: 4,
    };
    let reports = run_acquirers(&net, load).await;
    let disconnects = log
        .lines_with(&["simulators::issuer", "fault injection: disconnect"])
        .len();
    let totals = settle(net, load, &reports).await;
    assert_books_agree(&reports, &totals);
    // The faults had effect: requests timed out, answered 91 or decided by the
    // switch in stand-in (each decision advised to its issuer, which the books
    // above include), and approvals were reversed.
    let timeouts = answers(&reports, "91");
    let stand_in: u64 = totals.iter().map(|(_, s)| s.stand_in.advices).sum();
    let not_posted: u64 = totals.iter().map(|(_, s)| s.stand_in.not_posted).sum();
    assert!(
        timeouts + stand_in >= 20,
        "RC 91 answers: {timeouts}, stand-in decisions advised: {stand_in}"
    );
    assert_eq!(
        not_posted, 0,
        "every stand-in approval posted at its issuer"
    );
    for (bank, snap) in &totals {
        assert!(
            snap.reversed.count > 0,
            "{bank}: nothing reversed: {snap:?}"
        );
    }
    assert!(
        disconnects >= 1,
        "issuer disconnects under load: {disconnects}"
    );
    eprintln!(
        "faults: {:?}, {timeouts} answers RC 91, {stand_in} stand-in decisions, {} RC 94, {disconnects} issuer disconnects",
        started.elapsed(),
        answers(&reports, "94")
    );
}

/// An issuer that drops the switch's link every 400 ms, several times within one
/// second of field 7: the books must still balance and fresh requests must not be
/// declined 94. Forwarded requests keep the acquirer's field 7 (one-second
/// resolution), so only a STAN sequence that survives the reconnect (it belongs
/// to the link, not the connection) keeps a request on the new connection from
/// carrying the same (STAN, field 7, field 32) as one lost with the old: the
/// issuer would answer it 94, or apply the switch's reversal of the lost request
/// to it. See also `switch_faults_e2e.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frequent_issuer_reconnects_keep_the_books() {
    let net = network("reconnects", SWITCH_TIMEOUT_MS, |bank, o| {
        if bank == ISSUERS[1] {
            o.disconnect_every = Some(Duration::from_millis(400));
            o.drop_rate = 0.02;
        }
    })
    .await;
    let load = Load {
        count: 1500,
        concurrency: 4,
    };
    let reports = run_acquirers(&net, load).await;
    let totals = settle(net, load, &reports).await;
    // No acquirer request was a duplicate.
    assert_eq!(answers(&reports, "94"), 0, "fresh requests answered 94");
    assert_books_agree(&reports, &totals);
}
