//! The switch over real loopback sockets with scripted bank hosts: relay, declines,
//! timeouts with reversals, bad input, and isolation between peers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::time::Duration;

use tests::{accept, acquirer_and_issuer, answer, pan, purchase, start_switch, wait_until, Peer};
use tokio::net::TcpListener;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(5);
/// The switch's default shutdown grace period.
const GRACE: Duration = Duration::from_secs(10);

/// Acquirer 940810 listens on port 0; the switch dials issuer 940800 at `issuer`.
fn config(issuer: std::net::SocketAddr, timeout_ms: u64) -> String {
    acquirer_and_issuer(issuer, timeout_ms, "read_timeout_ms = 1000")
}

/// A switch with one acquirer and one signed-on issuer (played by the test).
async fn network(timeout_ms: u64) -> (switch::net::RunningSwitch, Peer, Peer) {
    let issuer_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sw = start_switch(&config(issuer_listener.local_addr().unwrap(), timeout_ms)).await;
    let mut issuer = accept(&issuer_listener, WAIT).await;
    let signon = issuer.recv(WAIT).await.expect("sign-on");
    assert_eq!(signon.mti().as_str(), "0800");
    assert_eq!(signon.text(70).unwrap(), "001");
    issuer.send(&answer(&signon, "00")).await;
    let acquirer = Peer::connect(sw.listening["morning-star"]).await;
    // Wait until the sign-on is processed.
    for _ in 0..100 {
        if sw.core().pending_requests() == 0 && signed_on(&sw) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (sw, acquirer, issuer)
}

fn signed_on(sw: &switch::net::RunningSwitch) -> bool {
    (1..10).any(|id| sw.core().link_usable(id))
}

#[tokio::test]
async fn a_purchase_is_relayed_both_ways() {
    let (sw, mut acq, mut iss) = network(5000).await;
    let card = pan("9408010000001");
    acq.send(&purchase(&card, "940810", 4711, 150_000)).await;
    let fwd = iss.recv(WAIT).await.expect("forwarded");
    assert_eq!(fwd.text(2).unwrap(), card);
    assert_eq!(fwd.text(100).unwrap(), "940800");
    iss.send(&answer(&fwd, "00")).await;
    let resp = acq.recv(WAIT).await.expect("response");
    assert_eq!(resp.mti().as_str(), "0210");
    assert_eq!(resp.stan(), Some(4711));
    assert_eq!(resp.text(39).unwrap(), "00");
    assert_eq!(resp.text(38).unwrap(), "AUTH01");
    assert_eq!(sw.core().in_flight(), 0);
    sw.shutdown().await;
}

#[tokio::test]
async fn routing_declines_are_answered_by_the_switch() {
    let (sw, mut acq, mut iss) = network(5000).await;
    // Capital resident card: routed (Morning Star is in the capital).
    acq.send(&purchase(&pan("9408020000001"), "940810", 1, 100))
        .await;
    assert!(iss.recv(WAIT).await.is_some());
    // Unknown BIN: 15, nothing reaches the issuer.
    acq.send(&purchase(&pan("9408980000001"), "940810", 2, 100))
        .await;
    assert_eq!(acq.recv(WAIT).await.unwrap().text(39).unwrap(), "15");
    // Another bank's id in field 32 on this link: 31.
    acq.send(&purchase(&pan("9408010000001"), "940830", 3, 100))
        .await;
    assert_eq!(acq.recv(WAIT).await.unwrap().text(39).unwrap(), "31");
    // Harbour Trade has no link: 91.
    acq.send(&purchase(&pan("9408300000001"), "940810", 4, 100))
        .await;
    assert_eq!(acq.recv(WAIT).await.unwrap().text(39).unwrap(), "91");
    iss.expect_silence(
        Duration::from_millis(200),
        "declined requests never reach the issuer",
    )
    .await;
    sw.shutdown().await;
}

/// On tokio's paused clock: the 91 comes exactly at the issuer timeout.
#[tokio::test(start_paused = true)]
async fn a_silent_issuer_means_91_and_a_reversal() {
    let (sw, mut acq, mut iss) = network(10_000).await;
    acq.send(&purchase(&pan("9408010000001"), "940810", 99, 5_000))
        .await;
    let sent = Instant::now();
    let fwd = iss.recv(WAIT).await.unwrap();
    let resp = acq.recv(Duration::from_secs(15)).await.unwrap();
    let waited = sent.elapsed();
    assert_eq!(
        (resp.text(39).unwrap().as_ref(), resp.stan()),
        ("91", Some(99))
    );
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_millis(10_100),
        "the 91 after {waited:?}, the timeout is 10 s"
    );
    let rev = iss.recv(WAIT).await.unwrap();
    assert_eq!(rev.mti().as_str(), "0420");
    assert_eq!(
        rev.text(90).unwrap()[4..10].parse::<u32>().unwrap(),
        fwd.stan().unwrap()
    );
    iss.send(&answer(&rev, "00")).await;
    let core = sw.core();
    assert!(wait_until(WAIT, || core.saf_depth() == 0).await);
    sw.shutdown().await;
}

#[tokio::test]
async fn bad_input_is_answered_or_closed_without_touching_other_peers() {
    let (sw, mut acq, mut iss) = network(5000).await;
    // A request with a letter in field 4: RC 30 with the STAN.
    let mut body = b"0200".to_vec();
    body.extend_from_slice(b"1020000000000000"); // fields 4 and 11
    body.extend_from_slice(b"00000000012A");
    body.extend_from_slice(b"000123");
    acq.send_raw(body.into()).await;
    let resp = acq.recv(WAIT).await.unwrap();
    assert_eq!(
        (resp.text(39).unwrap().as_ref(), resp.stan()),
        ("30", Some(123))
    );
    // Garbage that does not decode at all is dropped; the link stays up.
    acq.send_raw(bytes::Bytes::from_static(b"\xff\xfe garbage"))
        .await;
    // An oversized length header closes that connection only.
    let mut bad = Peer::connect(sw.listening["morning-star"]).await;
    bad.write_bytes(&[0xFF, 0xFF]).await;
    assert!(bad.closed_within(WAIT).await);
    // A peer that stops mid-frame is closed after the read deadline (timed on
    // the paused clock in `a_peer_stalled_mid_frame_is_closed_at_the_read_deadline`).
    let mut stall = Peer::connect(sw.listening["morning-star"]).await;
    stall.write_bytes(&[0x00, 0x40, b'0', b'2']).await;
    assert!(stall.closed_within(Duration::from_secs(4)).await);
    // The first acquirer still works.
    acq.send(&purchase(&pan("9408010000001"), "940810", 124, 100))
        .await;
    let fwd = iss.recv(WAIT).await.unwrap();
    iss.send(&answer(&fwd, "00")).await;
    assert_eq!(acq.recv(WAIT).await.unwrap().text(39).unwrap(), "00");
    sw.shutdown().await;
}

/// On tokio's paused clock: a peer that stops mid-frame is closed at the read
/// deadline (1 s here), not before and not much later; an idle peer is not.
#[tokio::test(start_paused = true)]
async fn a_peer_stalled_mid_frame_is_closed_at_the_read_deadline() {
    let (sw, mut acq, _iss) = network(5000).await;
    // A plain-TCP host proves itself with a first frame (here an echo); one
    // that never sends anything is closed at the first-byte deadline instead.
    let mut echo = codecs::Message::new(codecs::Mti::NETWORK_REQUEST);
    echo.set(7, "1206101500");
    echo.set_stan(1);
    echo.set(70, "301");
    acq.send(&echo).await;
    assert_eq!(acq.recv(WAIT).await.expect("0810").mti().as_str(), "0810");
    let mut stall = Peer::connect(sw.listening["morning-star"]).await;
    stall.write_bytes(&[0x00, 0x40, b'0', b'2']).await;
    let stalled = Instant::now();
    assert!(stall.closed_within(Duration::from_secs(4)).await);
    let waited = stalled.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_millis(1_100),
        "closed {waited:?} after the stall, the read deadline is 1 s"
    );
    acq.expect_silence(
        Duration::from_secs(3),
        "an idle acquirer (established by its echo) is left alone",
    )
    .await;
    sw.shutdown().await;
}

/// On tokio's paused clock: the 91 comes at the end of the shutdown's grace
/// period, long before the issuer timeout.
#[tokio::test(start_paused = true)]
async fn shutdown_drains_in_flight_requests() {
    let (sw, mut acq, mut iss) = network(30_000).await;
    acq.send(&purchase(&pan("9408010000001"), "940810", 500, 100))
        .await;
    let _fwd = iss.recv(WAIT).await.unwrap();
    let start = Instant::now();
    // The issuer never answers: after the grace period the acquirer gets 91.
    let shutdown = tokio::spawn(sw.shutdown());
    let resp = acq.recv(Duration::from_secs(40)).await.unwrap();
    let waited = start.elapsed();
    assert_eq!(resp.text(39).unwrap(), "91");
    shutdown.await.unwrap();
    assert!(
        waited >= GRACE && waited < GRACE + Duration::from_millis(100),
        "the 91 after {waited:?}, the grace period is {GRACE:?}"
    );
}
