//! The switch against a scripted issuer host that drops its link or answers too
//! late: the acquirer gets exactly one final answer (RC 91), the switch reverses
//! the original at the issuer once it can (naming it in field 90), and its
//! in-flight map and store-and-forward queue drain. And what the switch sends on a
//! new connection must not repeat the keys (field 11 with field 7) of what it sent
//! on the previous one, or the issuer takes fresh requests for duplicates and a
//! reversal of a lost request for one of a new request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::time::Duration;

use codecs::Message;
use tests::{accept, acquirer_and_issuer, answer, pan, purchase, start_switch, wait_until, Peer};
use tokio::net::TcpListener;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(5);

fn config(issuer: std::net::SocketAddr, timeout_ms: u64) -> String {
    acquirer_and_issuer(issuer, timeout_ms, "saf_retry_ms = 200")
}

/// Accept the switch's connection, answer its sign-on; the sign-on's (STAN, field 7).
async fn signed_on_issuer(listener: &TcpListener) -> (Peer, (u32, String)) {
    let mut issuer = accept(listener, WAIT).await;
    let signon = issuer.recv(WAIT).await.expect("sign-on");
    assert_eq!(signon.mti().as_str(), "0800");
    issuer.send(&answer(&signon, "00")).await;
    let key = (signon.stan().unwrap(), signon.text(7).unwrap().into_owned());
    (issuer, key)
}

/// Two purchases relayed; the forwarded requests' (STAN, field 7).
async fn relay_two(acq: &mut Peer, issuer: &mut Peer, first_stan: u32) -> Vec<(u32, String)> {
    let mut keys = Vec::new();
    for stan in [first_stan, first_stan + 1] {
        acq.send(&purchase(&pan("9408010000001"), "940810", stan, 100))
            .await;
        let fwd = issuer.recv(WAIT).await.expect("forwarded");
        keys.push((fwd.stan().unwrap(), fwd.text(7).unwrap().into_owned()));
        issuer.send(&answer(&fwd, "00")).await;
        let resp = acq.recv(WAIT).await.expect("relayed answer");
        assert_eq!(
            (resp.stan(), resp.text(39).as_deref()),
            (Some(stan), Some("00"))
        );
    }
    keys
}

/// Check that `rev` is the switch's reversal (0420) of the forwarded request `fwd`.
fn assert_reverses(rev: &Message, fwd: &Message) {
    assert_eq!(rev.mti().as_str(), "0420");
    let f90 = rev.text(90).expect("field 90").into_owned();
    assert_eq!(f90.len(), 42, "field 90 {f90:?}");
    assert_eq!(&f90[..4], "0200");
    assert_eq!(f90[4..10].parse::<u32>().unwrap(), fwd.stan().unwrap());
    assert_eq!(&f90[10..20], fwd.text(7).unwrap().as_ref());
    assert_eq!(f90[20..31].trim_start_matches('0'), "940810");
    assert_eq!(rev.text(4), fwd.text(4));
    assert_ne!(rev.stan(), None);
}

/// The link drops with a request in flight: RC 91 at once (not after the timeout),
/// and the reversal waits for the issuer to come back, then goes out once. On
/// tokio's paused clock, so "at once" is measured without the machine's noise.
#[tokio::test(start_paused = true)]
async fn an_issuer_link_drop_means_91_at_once_and_a_reversal_after_the_reconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    // A long timeout: the answer must come from the link drop, not from the clock.
    let sw = start_switch(&config(listener.local_addr().unwrap(), 5000)).await;
    let (mut first, _) = signed_on_issuer(&listener).await;
    assert!(wait_until(WAIT, || (1..10).any(|id| sw.core().link_usable(id))).await);
    let mut acq = Peer::connect(sw.listening["morning-star"]).await;
    acq.send(&purchase(&pan("9408010000001"), "940810", 42, 5_000))
        .await;
    let fwd = first.recv(WAIT).await.expect("forwarded");
    let dropped = Instant::now();
    drop(first);
    let resp = acq.recv(WAIT).await.expect("an answer");
    assert_eq!(
        (resp.mti().as_str(), resp.stan(), resp.text(39).as_deref()),
        ("0210", Some(42), Some("91"))
    );
    assert!(
        dropped.elapsed() < Duration::from_millis(50),
        "the 91 came {:?} after the drop, the timeout is 5 s",
        dropped.elapsed()
    );
    assert_eq!(sw.core().pending_requests(), 0);
    assert_eq!(sw.core().saf_depth(), 1, "the reversal waits in SAF");

    let (mut second, _) = signed_on_issuer(&listener).await;
    let rev = second.recv(WAIT).await.expect("the reversal");
    assert_reverses(&rev, &fwd);
    second.send(&answer(&rev, "00")).await;
    let core = sw.core();
    assert!(
        wait_until(WAIT, || core.saf_depth() == 0 && core.in_flight() == 0).await,
        "SAF depth {}, in flight {}",
        core.saf_depth(),
        core.in_flight()
    );
    // Nothing more for either side: one answer, one reversal.
    second
        .expect_silence(Duration::from_millis(500), "a second reversal")
        .await;
    acq.expect_silence(Duration::from_millis(100), "a second answer")
        .await;
    sw.shutdown().await;
}

/// The issuer approves after the switch gave up: the acquirer still has exactly
/// one answer (91, at the timeout), the late approval goes nowhere (counted as
/// late, not as unmatched), and the original is reversed. On tokio's paused clock.
#[tokio::test(start_paused = true)]
async fn a_late_approval_is_not_relayed_and_the_original_is_reversed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sw = start_switch(&config(listener.local_addr().unwrap(), 10_000)).await;
    let (mut issuer, _) = signed_on_issuer(&listener).await;
    assert!(wait_until(WAIT, || (1..10).any(|id| sw.core().link_usable(id))).await);
    let mut acq = Peer::connect(sw.listening["morning-star"]).await;
    acq.send(&purchase(&pan("9408010000001"), "940810", 7, 12_345))
        .await;
    let sent = Instant::now();
    let fwd = issuer.recv(WAIT).await.expect("forwarded");
    let resp = acq
        .recv(Duration::from_secs(15))
        .await
        .expect("RC 91 after the timeout");
    let waited = sent.elapsed();
    assert_eq!(
        (resp.stan(), resp.text(39).as_deref()),
        (Some(7), Some("91"))
    );
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_millis(10_100),
        "the 91 after {waited:?}, the timeout is 10 s"
    );
    // Too late: approved after the timeout.
    let late_before = sw.core().stats().late_responses;
    issuer.send(&answer(&fwd, "00")).await;
    let rev = issuer.recv(WAIT).await.expect("the reversal");
    assert_reverses(&rev, &fwd);
    issuer.send(&answer(&rev, "00")).await;
    let core = sw.core();
    assert!(
        wait_until(WAIT, || core.saf_depth() == 0 && core.in_flight() == 0).await,
        "SAF depth {}, in flight {}",
        core.saf_depth(),
        core.in_flight()
    );
    acq.expect_silence(
        Duration::from_millis(300),
        "a second answer reached the acquirer",
    )
    .await;
    assert_eq!(
        sw.core().stats().late_responses - late_before,
        1,
        "the approval was dropped as late"
    );
    issuer
        .expect_silence(Duration::from_millis(300), "more than one reversal")
        .await;
    sw.shutdown().await;
}

/// The switch's STAN sequence belongs to the configured link, not to one
/// connection (`Core::on_link_up` keeps one counter per link name). Forwarded
/// requests keep the acquirer's field 7 (one-second resolution), so a sequence
/// restarted on reconnect would give requests the same (STAN, field 7, field 32)
/// as earlier ones: the issuer would answer them 94, and a queued reversal of a
/// request lost with the old connection could match a new approved request.
#[tokio::test]
async fn a_reconnected_issuer_link_does_not_repeat_the_switch_stans() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sw = start_switch(&config(listener.local_addr().unwrap(), 2000)).await;
    let (mut first, signon1) = signed_on_issuer(&listener).await;
    let usable = || (1..10).any(|id| sw.core().link_usable(id));
    assert!(wait_until(WAIT, usable).await, "not signed on");
    let mut acq = Peer::connect(sw.listening["morning-star"]).await;
    let mut sent = vec![signon1];
    sent.extend(relay_two(&mut acq, &mut first, 1).await);

    // The issuer drops the link; the switch dials again and signs on.
    drop(first);
    let (mut second, signon2) = signed_on_issuer(&listener).await;
    assert!(
        wait_until(WAIT, || (1..20).any(|id| sw.core().link_usable(id))).await,
        "not signed on again"
    );
    let mut again = vec![signon2];
    again.extend(relay_two(&mut acq, &mut second, 3).await);
    sw.shutdown().await;

    let stans = |keys: &[(u32, String)]| keys.iter().map(|k| k.0).collect::<Vec<_>>();
    let repeated: Vec<_> = again.iter().filter(|k| sent.contains(k)).collect();
    assert!(
        repeated.is_empty(),
        "(STAN, field 7) sent again after the reconnect: {repeated:?}; \
         STANs before {:?}, after {:?}",
        stans(&sent),
        stans(&again)
    );
    // Stricter, and independent of where the second boundary falls: no STAN repeats
    // at all within these few messages.
    let before = stans(&sent);
    assert!(
        stans(&again).iter().all(|s| !before.contains(s)),
        "STANs before {before:?}, after {:?}",
        stans(&again)
    );
}

/// The reversal a timeout owes is durable before the acquirer hears RC 91: with a
/// journal that gathers records for 300 ms before each commit, the 91 is held
/// until the commit that holds the queued 0420, so the moment the acquirer has
/// its 91 the store already has the reversal (were the 91 sent first, the
/// acquirer would have it about 300 ms before the commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_reversal_is_durable_before_the_91_leaves() {
    let dir = std::env::temp_dir().join(format!("switch-order-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("journal.db");
    std::env::set_var("ORDER_TEST_PAN_KEY", "00112233445566778899aabbccddeeff");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let text = format!(
        "{}\n[journal]\npath = \"{}\"\ndurability = \"relaxed\"\ngroup_commit_us = 300000\n\
         pan_key = {{ env = \"ORDER_TEST_PAN_KEY\" }}\n",
        config(listener.local_addr().unwrap(), 300),
        db.display()
    );
    let sw = start_switch(&text).await;
    let (mut issuer, _) = signed_on_issuer(&listener).await;
    assert!(wait_until(WAIT, || (1..10).any(|id| sw.core().link_usable(id))).await);
    let mut acq = Peer::connect(sw.listening["morning-star"]).await;
    acq.send(&purchase(&pan("9408010000001"), "940810", 21, 2_500))
        .await;
    let fwd = issuer.recv(WAIT).await.expect("forwarded");
    let resp = acq.recv(WAIT).await.expect("RC 91 after the timeout");
    let heard = Instant::now();
    assert_eq!(
        (resp.stan(), resp.text(39).as_deref()),
        (Some(21), Some("91"))
    );
    let conn = switch::store::open_connection(&db).unwrap();
    let owed: Vec<Vec<u8>> = conn
        .prepare("SELECT message FROM saf")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        heard.elapsed() < Duration::from_millis(250),
        "the store was read too long after the 91 to tell the order: {:?}",
        heard.elapsed()
    );
    assert_eq!(owed.len(), 1, "the reversal is durable when the 91 arrives");
    let stored = codecs::Spec::builtin("iso87ascii")
        .unwrap()
        .decode(owed[0].clone().into())
        .unwrap();
    assert_eq!(stored.mti().as_str(), "0420");
    assert_eq!(
        stored.text(90).unwrap()[4..10].parse::<u32>().unwrap(),
        fwd.stan().unwrap(),
        "the stored reversal names the forwarded request"
    );
    drop(conn);
    sw.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Review (issue 17): an acquirer repeats an advice (0221) when its
/// acknowledgement is late, which is when the store is slow. The repeat's 0230
/// must not leave before the first one's queued advice is durable either: with
/// a journal that gathers records for 300 ms, the moment the acquirer has any
/// 0230 the store already holds the advice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_advice_is_acknowledged_only_once_the_advice_is_durable() {
    let dir = std::env::temp_dir().join(format!("switch-advice-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("journal.db");
    std::env::set_var("ADVICE_TEST_PAN_KEY", "00112233445566778899aabbccddeeff");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let text = format!(
        "{}\n[journal]\npath = \"{}\"\ndurability = \"relaxed\"\ngroup_commit_us = 300000\n\
         pan_key = {{ env = \"ADVICE_TEST_PAN_KEY\" }}\n",
        config(listener.local_addr().unwrap(), 2000),
        db.display()
    );
    let sw = start_switch(&text).await;
    let (mut issuer, _) = signed_on_issuer(&listener).await;
    assert!(wait_until(WAIT, || (1..10).any(|id| sw.core().link_usable(id))).await);
    let mut acq = Peer::connect(sw.listening["morning-star"]).await;
    let original = purchase(&pan("9408010000001"), "940810", 31, 2_500);
    acq.send(&original).await;
    let fwd = issuer.recv(WAIT).await.expect("forwarded");
    issuer.send(&answer(&fwd, "00")).await;
    acq.recv(WAIT).await.expect("the approval");
    // Let the approval's records commit, so the advice starts a window of its own.
    tokio::time::sleep(Duration::from_millis(400)).await;

    let mut advice = original.clone();
    advice.set_mti(codecs::Mti::new(b"0220").unwrap());
    let mut repeat = advice.clone();
    repeat.set_mti(codecs::Mti::new(b"0221").unwrap());
    acq.send(&advice).await;
    acq.send(&repeat).await;
    let ack = acq.recv(WAIT).await.expect("an acknowledgement");
    let heard = Instant::now();
    assert_eq!(ack.text(39).as_deref(), Some("00"), "{ack:?}");
    let conn = switch::store::open_connection(&db).unwrap();
    let owed: i64 = conn
        .query_row("SELECT count(*) FROM saf", [], |r| r.get(0))
        .unwrap();
    assert!(
        heard.elapsed() < Duration::from_millis(250),
        "the store was read too long after the 0230 to tell the order"
    );
    assert_eq!(
        owed,
        1,
        "the advice is durable when the acquirer hears {} acknowledged",
        ack.mti()
    );
    drop(conn);
    sw.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
