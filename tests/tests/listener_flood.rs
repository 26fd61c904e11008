//! Idle and trickling sockets never lock a bank out of its listener: with 1,000
//! of them open on a bank's TLS or plain-TCP listener, the bank connects (and on
//! TLS completes mutual TLS), sends an echo and gets its 0810 in under a second,
//! every time; the idle ones are closed at the first-byte deadline and the
//! switch's count of pending sockets returns to zero.
//!
//! The scenarios run one at a time (each floods the same process's switch).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod tls_support;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use codecs::framing::{Frame, FrameCodec, LengthHeader, DEFAULT_MAX_FRAME};
use codecs::{Message, Mti, Spec};
use futures_util::{SinkExt, StreamExt};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tls_support::{network_with, Limits, Pki, TlsPeer, BANK_A};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::codec::Framed;

/// Sockets in each flood.
const FLOOD: usize = 1000;
/// What a bank's connection, handshake and echo may take, flood or not.
const BANK_WITHIN: Duration = Duration::from_secs(1);
/// Bank connections per scenario, each behind a fresh flood.
const ROUNDS: usize = 3;
/// Late a close may come after its deadline (a debug build on a shared machine).
const MARGIN: Duration = Duration::from_millis(1500);

/// One scenario at a time: their floods and timings must not overlap.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The process's metrics, read as the Prometheus exporter renders them.
fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("a metrics recorder")
    })
}

/// The switch's `switch_pending_connections` of listening link `link`.
fn pending_on(link: &str) -> Option<f64> {
    let prefix = format!("switch_pending_connections{{link=\"{link}\"}} ");
    metrics()
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str())?.trim().parse().ok())
}

/// The soft limit on open files (None where /proc says nothing).
fn file_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Whether this process may hold a flood's sockets on both ends (the switch runs
/// in it too), with room for the rest; says why not when it may not.
fn room_for_flood() -> bool {
    let needed = 2 * FLOOD + 500;
    match file_limit() {
        Some(limit) if limit < needed => {
            println!(
                "SKIPPED: the open-file limit is {limit} even after the switch raised it to its \
                 hard limit; this test needs {needed} (ulimit -n)"
            );
            false
        }
        _ => true,
    }
}

/// An echo test (0800, field 70 = 301).
fn echo(stan: u32) -> Message {
    let mut m = Message::new(Mti::NETWORK_REQUEST);
    m.set(7, "1125103000");
    m.set_stan(stan);
    m.set(70, "301");
    m
}

fn assert_echoed(reply: &Message, stan: u32) {
    assert_eq!(reply.mti(), Mti::NETWORK_RESPONSE);
    assert_eq!(reply.stan(), Some(stan));
    assert_eq!(reply.text(39).as_deref(), Some("00"));
}

/// Up to `n` sockets connected to `addr` that send nothing, each with when it
/// connected. One after the other, as fast as the kernel completes them: a burst
/// of simultaneous connections would overflow the listen queue of even a switch
/// that accepts at once, and the test could not tell when each was accepted. The
/// flood stops at the first connection that takes over 3 s (a listener that
/// stopped accepting: its queue is full).
async fn idle_sockets(addr: SocketAddr, n: usize) -> Vec<(TcpStream, Instant)> {
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        match tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => sockets.push((s, Instant::now())),
            _ => {
                println!("only {} of {n} idle sockets connected", sockets.len());
                break;
            }
        }
    }
    sockets
}

/// Wait until each socket is closed by the other side (EOF or reset), each within
/// `within` of when it connected; the slowest close after connecting.
async fn all_closed(sockets: Vec<(TcpStream, Instant)>, within: Duration) -> Duration {
    let mut waiting = JoinSet::new();
    for (mut s, connected) in sockets {
        waiting.spawn(async move {
            let mut buf = [0u8; 64];
            let until = connected + within;
            loop {
                match tokio::time::timeout_at(until, s.read(&mut buf)).await {
                    Err(_) => return None,
                    Ok(Ok(0)) | Ok(Err(_)) => return Some(connected.elapsed()),
                    // A TLS alert, say: read on to the close.
                    Ok(Ok(_)) => {}
                }
            }
        });
    }
    let (mut slowest, mut open) = (Duration::ZERO, 0);
    while let Some(closed) = waiting.join_next().await {
        match closed.unwrap() {
            Some(after) => slowest = slowest.max(after),
            None => open += 1,
        }
    }
    assert_eq!(
        open, 0,
        "{open} sockets still open {within:?} after connecting"
    );
    slowest
}

/// The start of a TLS record carrying a ClientHello that announces 512 bytes: the
/// switch's TLS reads on, waiting for the rest.
const CLIENT_HELLO_START: [u8; 11] = [
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
];

/// `n` sockets to `addr` (connected as [`idle_sockets`] does) that each send a
/// partial ClientHello, a byte every 100 ms, until the switch closes them or
/// `stop`.
async fn trickling_sockets(
    addr: SocketAddr,
    n: usize,
    stop: &tokio::sync::watch::Sender<bool>,
) -> JoinSet<()> {
    let sockets = idle_sockets(addr, n).await;
    assert_eq!(sockets.len(), n, "not every trickler connected");
    let mut tricklers = JoinSet::new();
    for (mut s, _) in sockets {
        let mut stop = stop.subscribe();
        tricklers.spawn(async move {
            let bytes = CLIENT_HELLO_START
                .iter()
                .copied()
                .chain(std::iter::repeat(0));
            // Bounded: the switch closes it at its handshake deadline at the latest.
            for b in bytes.take(600) {
                if s.write_all(&[b]).await.is_err() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }
    tricklers
}

/// A bank connects over mutual TLS and has its echo answered; how long it took.
async fn tls_bank_echo(pki: &Pki, acq: SocketAddr, stan: u32) -> Duration {
    bounded(async {
        let started = Instant::now();
        let mut bank = TlsPeer::connect(acq, pki.client(pki.bank(BANK_A)))
            .await
            .unwrap_or_else(|e| panic!("the bank's connection: {e}"));
        bank.send(&echo(stan)).await.unwrap();
        let reply = bank
            .recv(Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("the bank's echo: {e}"));
        assert_echoed(&reply, stan);
        started.elapsed()
    })
    .await
}

/// A bank's attempt, failed when it takes ten times what it may.
async fn bounded(attempt: impl std::future::Future<Output = Duration>) -> Duration {
    let limit = 10 * BANK_WITHIN;
    tokio::time::timeout(limit, attempt)
        .await
        .unwrap_or_else(|_| panic!("the bank did not get its 0810 within {limit:?}"))
}

/// A bank connects over plain TCP and has its echo answered; how long it took.
async fn plain_bank_echo(acq: SocketAddr, stan: u32) -> Duration {
    bounded(async {
        let started = Instant::now();
        let tcp = TcpStream::connect(acq).await.unwrap();
        let mut bank = Framed::new(
            tcp,
            FrameCodec::new(LengthHeader::Binary2, false, DEFAULT_MAX_FRAME),
        );
        let spec = Spec::builtin("iso87ascii").unwrap();
        let body = spec.encode_to_bytes(&echo(stan)).unwrap();
        bank.send(Frame::Message { tpdu: None, body })
            .await
            .unwrap();
        let reply = loop {
            match tokio::time::timeout(Duration::from_secs(10), bank.next()).await {
                Ok(Some(Ok(Frame::Message { body, .. }))) => break spec.decode(body).unwrap(),
                Ok(Some(Ok(Frame::KeepAlive))) => {}
                other => panic!("the bank's echo: {other:?}"),
            }
        };
        assert_echoed(&reply, stan);
        started.elapsed()
    })
    .await
}

/// A TLS network whose acquirer listener uses the default bound on handshakes
/// (256) and the deadlines given.
async fn tls_network(
    pki: &Pki,
    first_byte_ms: u64,
    handshake_ms: u64,
) -> (
    simulators::issuer::RunningIssuer,
    switch::net::RunningSwitch,
    SocketAddr,
) {
    let limits = Limits {
        handshake_ms,
        max_handshakes: switch::tls::settings::DEFAULT_MAX_HANDSHAKES,
        first_byte_ms: Some(first_byte_ms),
    };
    network_with(pki, &limits).await
}

fn assert_in_time(took: Duration, what: &str, round: usize) {
    println!("round {round}: {what}: the bank's connection + echo in {took:?}");
    assert!(
        took < BANK_WITHIN,
        "round {round}: {what}: the bank took {took:?} (more than {BANK_WITHIN:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_gets_through_a_tls_listener_held_by_idle_sockets() {
    let _one = SERIAL.lock().await;
    let pki = Pki::new("idle-flood");
    // The idle sockets outlive the bank's attempts: the first-byte deadline is
    // longer than a round.
    let first_byte = Duration::from_millis(3000);
    let (issuer, sw, acq) = tls_network(&pki, first_byte.as_millis() as u64, 5000).await;
    if !room_for_flood() {
        return;
    }
    let mut last = Vec::new();
    for round in 1..=ROUNDS {
        last.clear(); // the previous round's flood goes first
        let idle = idle_sockets(acq, FLOOD).await;
        let took = tls_bank_echo(&pki, acq, round as u32).await;
        assert_in_time(took, &format!("{FLOOD} idle sockets on TLS"), round);
        last = idle;
    }
    // The last flood's sockets: closed by the first-byte deadline (the oldest of
    // them by eviction, sooner).
    let slowest = all_closed(last, first_byte + MARGIN).await;
    println!("the last flood's sockets were all closed, the last {slowest:?} after connecting");
    sw.shutdown().await;
    let _ = issuer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_gets_through_a_tls_listener_held_by_trickling_sockets() {
    let _one = SERIAL.lock().await;
    let pki = Pki::new("trickle-flood");
    let handshake = Duration::from_millis(4000);
    let (issuer, sw, acq) = tls_network(&pki, 1000, handshake.as_millis() as u64).await;
    if !room_for_flood() {
        return;
    }
    for round in 1..=ROUNDS {
        let (stop, _) = tokio::sync::watch::channel(false);
        let mut tricklers = trickling_sockets(acq, FLOOD, &stop).await;
        let took = tls_bank_echo(&pki, acq, round as u32).await;
        assert_in_time(took, &format!("{FLOOD} trickling sockets on TLS"), round);
        let _ = stop.send(true);
        while tricklers.join_next().await.is_some() {}
    }
    sw.shutdown().await;
    let _ = issuer.stop().await;
}

/// A switch with one plain acquirer listener, `link`.
async fn plain_switch(link: &str, first_byte_ms: u64) -> (switch::net::RunningSwitch, SocketAddr) {
    let config = format!(
        r#"
[switch]
institution_id = "940000"
rules = "{rules}"
first_byte_timeout_ms = {first_byte_ms}
first_frame_timeout_ms = 5000

[[link]]
name = "{link}"
role = "acquirer"
bank = "940810"
direction = "listen"
address = "127.0.0.1:0"
"#,
        rules = tests::national_rules()
    );
    let sw = tests::start_switch(&config).await;
    let addr = sw.listening[link];
    (sw, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_gets_through_a_plain_listener_held_by_idle_sockets() {
    let _one = SERIAL.lock().await;
    let (sw, acq) = plain_switch("plain-acq", 3000).await;
    if !room_for_flood() {
        return;
    }
    for round in 1..=ROUNDS {
        let mut flood = idle_sockets(acq, FLOOD).await;
        // A tenth send the first byte of a length header and stop.
        for (s, _) in flood.iter_mut().step_by(10) {
            s.write_all(&[0x00]).await.unwrap();
        }
        let took = plain_bank_echo(acq, round as u32).await;
        assert_in_time(took, &format!("{FLOOD} idle sockets on plain TCP"), round);
        drop(flood);
    }
    sw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_are_closed_at_the_first_byte_deadline() {
    let _one = SERIAL.lock().await;
    let _ = metrics();
    let link = "idle-acq";
    let first_byte = Duration::from_millis(500);
    let (sw, acq) = plain_switch(link, first_byte.as_millis() as u64).await;
    if !room_for_flood() {
        return;
    }
    let before = open_files();
    // Fewer than the bound (256): none is evicted, each waits for its deadline.
    let idle = idle_sockets(acq, 200).await;
    let counted =
        tests::wait_until(Duration::from_secs(5), || pending_on(link) == Some(200.0)).await;
    let connected = Instant::now();
    let slowest = all_closed(idle, first_byte + MARGIN).await;
    println!(
        "200 idle sockets closed by the switch {:?} after the last connected, the slowest {slowest:?} after connecting",
        connected.elapsed()
    );
    assert!(
        slowest >= first_byte,
        "closed after {slowest:?}, before the first-byte deadline"
    );
    assert!(counted, "the switch did not count 200 pending sockets");
    assert!(
        tests::wait_until(Duration::from_secs(2), || pending_on(link) == Some(0.0)).await,
        "pending sockets left: {:?}",
        pending_on(link)
    );
    // And their descriptors are given back (the test's ends were dropped above).
    assert!(
        tests::wait_until(Duration::from_secs(2), || open_files() <= before + 8).await,
        "{} descriptors more than before the flood",
        open_files().saturating_sub(before)
    );
    sw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_plain_bank_sends_with_its_first_frame_is_all_answered_in_order() {
    let _one = SERIAL.lock().await;
    let (sw, acq) = plain_switch("pipelined-acq", 1000).await;
    let spec = Spec::builtin("iso87ascii").unwrap();
    let mut bytes = bytes::BytesMut::new();
    let mut codec = FrameCodec::new(LengthHeader::Binary2, false, DEFAULT_MAX_FRAME);
    for stan in 1..=3 {
        let body = spec.encode_to_bytes(&echo(stan)).unwrap();
        tokio_util::codec::Encoder::encode(
            &mut codec,
            Frame::Message { tpdu: None, body },
            &mut bytes,
        )
        .unwrap();
    }
    // Two echoes and the length header and start of a third in one write (all
    // read while the socket is pending), the rest of the third a moment later.
    let split = bytes.len() - 10;
    let mut bank = TcpStream::connect(acq).await.unwrap();
    bank.write_all(&bytes[..split]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    bank.write_all(&bytes[split..]).await.unwrap();
    let mut bank = Framed::new(bank, codec);
    for stan in 1..=3 {
        let reply = match tokio::time::timeout(Duration::from_secs(5), bank.next()).await {
            Ok(Some(Ok(Frame::Message { body, .. }))) => spec.decode(body).unwrap(),
            other => panic!("echo {stan}: {other:?}"),
        };
        assert_echoed(&reply, stan);
    }
    sw.shutdown().await;
}
