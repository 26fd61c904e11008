//! The simulators alone over loopback: `sim acquirer` against `sim issuer`, both
//! in-process, with and without faults (dropped, late answers, disconnects): every
//! request gets exactly one outcome and, after reversals, the issuer's books equal
//! what the acquirer saw approved. And a `sim issuer` keeps serving a good
//! connection while others send garbage, an oversized length header, or half a
//! frame and then silence, each of which gets a clear log line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::time::Duration;
use tokio::time::Instant;

use simulators::acquirer::execute;
use simulators::cards::{CardBase, CardStatus};
use simulators::issuer::faults::Latency;
use simulators::issuer::report::Tally;
use simulators::issuer::{self, RunningIssuer};
use tests::{
    acquirer_options, acquirers_approved, assert_one_outcome_each, issuer_net, issuer_options,
    national_table, purchase, wait_until, LogCapture, Peer, CARDS_PER_RANGE,
};

const ISSUER: &str = "940810"; // Morning Star Commercial Bank
const ACQUIRER: &str = "940830"; // Harbour Trade Bank's host
const WAIT: Duration = Duration::from_secs(5);

async fn start_issuer(opts: issuer::IssuerOptions) -> RunningIssuer {
    issuer::start(opts, &national_table())
        .await
        .unwrap_or_else(|e| panic!("issuer: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_faults_every_request_is_answered_once_and_the_books_agree() {
    let started = Instant::now();
    let iss = start_issuer(issuer_options(ISSUER)).await;
    let opts = acquirer_options(iss.addr.unwrap(), ACQUIRER, &[ISSUER], 1500, 2, 16, 5000);
    let report = execute(&opts, false).await.unwrap();
    let totals = iss.stop().await.unwrap();
    let summary = report.to_json();
    eprintln!("no faults, {:?}: {summary}", started.elapsed());

    let s = &report.stats;
    assert_eq!(s.sent, 1500, "{summary}");
    assert_eq!((s.answered, s.timed_out, s.late), (1500, 0, 0), "{summary}");
    assert_eq!((s.errors(), s.reversals_sent), (0, 0), "{summary}");
    assert_one_outcome_each(&report, "no faults");

    // Only the issuer's cards were used, and some were approved.
    let approved = report.approved();
    assert_eq!(approved.keys().collect::<Vec<_>>(), [ISSUER], "{summary}");
    let seen = acquirers_approved(&[&report], ISSUER);
    assert!(seen.count > 1000, "most requests approved: {summary}");

    // The issuer booked exactly what the acquirer saw: approvals by acquirer, no
    // reversals, and each decline under the code the acquirer received.
    assert_eq!(totals.approved.keys().collect::<Vec<_>>(), [ACQUIRER]);
    assert_eq!(totals.approved[ACQUIRER], seen);
    assert_eq!(totals.reversed, Tally::default());
    assert_eq!(issuer_net(&totals), seen);
    let mut declined_seen = report.response_codes();
    declined_seen.remove("00");
    assert_eq!(totals.declined, declined_seen, "{summary}");
    assert_eq!(
        totals.approved_total().count + totals.declined_total(),
        1500
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_drops_late_answers_and_disconnects_reversals_balance_the_books() {
    let started = Instant::now();
    let mut opts = issuer_options(ISSUER);
    opts.latency = Latency::Uniform(Duration::ZERO, Duration::from_millis(15));
    opts.drop_rate = 0.04;
    opts.late_rate = 0.04;
    opts.late_ms = 700; // well after the acquirer's 250 ms timeout
    opts.disconnect_every = Some(Duration::from_millis(1200));
    opts.fault_seed = 7;
    let iss = start_issuer(opts).await;
    let opts = acquirer_options(iss.addr.unwrap(), ACQUIRER, &[ISSUER], 800, 2, 8, 250);
    let report = execute(&opts, false).await.unwrap();
    // The acquirer returns once every reversal is acknowledged (checked below), so
    // the issuer has applied them all; answers still delayed change no totals.
    let totals = iss.stop().await.unwrap();
    let summary = report.to_json();
    eprintln!("faults, {:?}: {summary}", started.elapsed());

    let s = &report.stats;
    assert_eq!(s.sent, 800, "{summary}");
    assert_one_outcome_each(&report, "faults");
    // The faults happened and were seen as such.
    assert!(
        s.timed_out >= 20,
        "drops and late answers time out: {summary}"
    );
    assert!(
        s.late >= 1,
        "late answers arrive after the timeout: {summary}"
    );
    assert!(s.late <= s.timed_out, "{summary}");
    assert!(s.disconnects >= 1, "the issuer disconnected: {summary}");
    assert_eq!(s.undecodable, 0, "{summary}");

    // After reversals, the issuer's approvals net of reversals equal exactly what
    // the acquirer saw approved (in time).
    let seen = acquirers_approved(&[&report], ISSUER);
    assert!(seen.count > 400, "{summary}");
    let net = issuer_net(&totals);
    assert_eq!(net, seen, "issuer net vs acquirer approved: {summary}");
    assert!(
        totals.reversed.count >= 1,
        "some approvals were reversed: {totals:?}"
    );
    // The issuer decided at most once per request (some never reached it).
    assert!(totals.approved_total().count + totals.declined_total() <= s.sent);
}

/// A Luhn-valid, active card of `bank` with a KPW account (the full PAN is used
/// on the wire only, never in messages).
fn active_card(bank: &str) -> String {
    let table = national_table();
    let idx = table.bank_index(bank.as_bytes()).unwrap();
    let base = CardBase::generate(&table, 1, CARDS_PER_RANGE);
    base.cards()
        .iter()
        .find(|c| {
            c.issuer == idx
                && c.status == CardStatus::Active
                && c.balances
                    .iter()
                    .any(|&(cur, bal)| cur == 408 && !bal.is_zero())
        })
        .map(|c| c.pan_str().to_string())
        .expect("an active KPW card")
}

/// An approved purchase on the good connection, proving it is still served.
async fn good_purchase(good: &mut Peer, card: &str, stan: u32) {
    good.send(&purchase(card, ACQUIRER, stan, 100)).await;
    let resp = good
        .recv(WAIT)
        .await
        .expect("the good connection is answered");
    assert_eq!(resp.mti().as_str(), "0210");
    assert_eq!(resp.stan(), Some(stan));
    assert_eq!(resp.text(39).as_deref(), Some("00"));
}

#[tokio::test]
async fn bad_input_is_logged_and_never_disturbs_other_connections() {
    let log = LogCapture::default();
    let _guard = log.install();
    let started = Instant::now();
    let mut opts = issuer_options(ISSUER);
    opts.read_deadline = Duration::from_millis(400);
    let iss = start_issuer(opts).await;
    let addr = iss.addr.unwrap();
    let card = active_card(ISSUER);
    let mut good = Peer::connect(addr).await;
    good_purchase(&mut good, &card, 1).await;

    // Garbage that names no request is dropped with a log line; the connection stays.
    let mut garbage = Peer::connect(addr).await;
    garbage
        .send_raw(bytes::Bytes::from_static(b"\xff\xfe not ISO 8583"))
        .await;
    // A request with a letter in field 4: answered RC 30 with its STAN.
    let mut body = b"0200".to_vec();
    body.extend_from_slice(b"1020000000000000"); // fields 4 and 11
    body.extend_from_slice(b"00000000012A");
    body.extend_from_slice(b"000777");
    garbage.send_raw(body.into()).await;
    let resp = garbage.recv(WAIT).await.expect("RC 30");
    assert_eq!(
        (resp.mti().as_str(), resp.text(39).as_deref(), resp.stan()),
        ("0210", Some("30"), Some(777))
    );
    good_purchase(&mut good, &card, 2).await;
    // The garbage sender's own connection still works too.
    good_purchase(&mut garbage, &card, 3).await;
    assert_eq!(
        log.lines_with(&["WARN", "malformed frame"]).len(),
        2,
        "{}",
        log.text()
    );

    // An oversized length header (65535 > the 8 KiB limit) closes that connection.
    let mut oversized = Peer::connect(addr).await;
    oversized.write_bytes(&[0xFF, 0xFF, b'0', b'2']).await;
    assert!(oversized.closed_within(WAIT).await, "oversized: not closed");
    good_purchase(&mut good, &card, 4).await;

    // Half a frame then silence: closed after the read deadline.
    let mut stalled = Peer::connect(addr).await;
    stalled.write_bytes(&[0x00, 0x40, b'0', b'2', b'0']).await;
    let t = Instant::now();
    // Meanwhile the good connection is served without waiting for the stall.
    good_purchase(&mut good, &card, 5).await;
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert!(stalled.closed_within(WAIT).await, "stalled: not closed");
    assert!(
        t.elapsed() >= Duration::from_millis(350),
        "closed before the deadline"
    );

    // Half a frame then a close.
    let mut half = Peer::connect(addr).await;
    half.write_bytes(&[0x00, 0x40, b'0', b'2']).await;
    drop(half);

    good_purchase(&mut good, &card, 6).await;
    // Every problem is named in one warning; the issuer kept running throughout.
    let closed = |what: &str| log.lines_with(&["WARN", "connection closed", what]).len();
    assert!(
        wait_until(WAIT, || log
            .lines_with(&["WARN", "connection closed"])
            .len()
            == 3)
        .await,
        "three connections closed for bad input:\n{}",
        log.text()
    );
    assert_eq!(closed("exceeds the maximum of 8192"), 1, "{}", log.text());
    assert_eq!(closed("peer stalled mid-frame"), 1, "{}", log.text());
    // Half a frame then a close. The issuer means to say "peer closed in the middle
    // of a frame"; what it says is tokio-util's default (see the ignored test below).
    assert_eq!(
        closed("peer closed in the middle of a frame") + closed("bytes remaining on stream"),
        1,
        "{}",
        log.text()
    );

    let totals = iss.stop().await.unwrap();
    assert_eq!(totals.approved[ACQUIRER].count, 6);
    assert_eq!(totals.declined.get("30"), Some(&1));
    // Card data stays out of the log (captured down to trace level).
    assert!(!log.text().contains(&card), "a full PAN was logged");
    eprintln!("bad input: {:?}", started.elapsed());
}

/// A peer that sends half a frame and closes is named as such in the issuer
/// simulator's log: `codecs::framing::FrameCodec::decode_eof` reports the leftover
/// bytes as `FramingError::Truncated` ("peer closed in the middle of a frame")
/// rather than tokio-util's generic "bytes remaining on stream".
#[tokio::test]
async fn half_a_frame_then_close_is_named_in_the_log() {
    let log = LogCapture::default();
    let _guard = log.install();
    let iss = start_issuer(issuer_options(ISSUER)).await;
    let mut half = Peer::connect(iss.addr.unwrap()).await;
    half.write_bytes(&[0x00, 0x40, b'0', b'2']).await;
    drop(half);
    let named = || {
        !log.lines_with(&["WARN", "connection closed", "middle of a frame"])
            .is_empty()
    };
    let logged = wait_until(WAIT, named).await;
    iss.stop().await.unwrap();
    assert!(logged, "{}", log.text());
}
