//! 1,000 connections that never finish their TLS handshake, against the acquirer
//! listener of a switch serving real traffic over mutual TLS: the switch accepts
//! them all at once but holds at most `max_handshakes` of them at a time (a new
//! one evicts the oldest), closes each by its deadline (the first-byte deadline
//! for those that send nothing, the handshake deadline for those that send part
//! of a ClientHello: every flooder sees the close by the deadline and a margin),
//! and the established bank's p99 latency is measured without and with the flood
//! in the same run and must not double (a round that doubles is measured again,
//! up to three rounds: the machine's own scheduling outliers are not the flood's).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod tls_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use codecs::framing::Frame;
use futures_util::{SinkExt, StreamExt};
use tests::purchase;
use tls_support::{active_card, network, Pki, TlsPeer, BANK_A};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const FLOOD: usize = 1000;
const MAX_HANDSHAKES: usize = 64;
const HANDSHAKE_MS: u64 = 1000;
/// How late a flooder may see its close after the deadline (a debug build on a
/// shared machine, under the real traffic).
const CLOSE_MARGIN: Duration = Duration::from_millis(1500);
/// Requests per second of the real traffic (open loop, one established link).
const RATE: u64 = 400;
const PHASE: Duration = Duration::from_secs(4);

/// Latencies (µs) of requests sent at RATE for PHASE on the link, starting at
/// `stan`.
async fn load<S, R>(
    sink: &mut S,
    stream: &mut R,
    spec: &codecs::Spec,
    card: &str,
    stan: &mut u32,
) -> Vec<u64>
where
    S: futures_util::Sink<Frame> + Unpin,
    S::Error: std::fmt::Debug,
    R: futures_util::Stream<Item = Result<Frame, codecs::framing::FramingError>> + Unpin,
{
    let mut sent: HashMap<u32, Instant> = HashMap::new();
    let mut latencies = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + PHASE;
    let drain_until = end + Duration::from_secs(5);
    loop {
        let sending = Instant::now() < end;
        if !sending && sent.is_empty() {
            break;
        }
        tokio::select! {
            _ = tick.tick(), if sending => {
                *stan += 1;
                let body = spec.encode_to_bytes(&purchase(card, BANK_A, *stan, 100)).unwrap();
                sent.insert(*stan, Instant::now());
                sink.send(Frame::Message { tpdu: None, body }).await.unwrap();
            }
            next = stream.next() => match next {
                Some(Ok(Frame::Message { body, .. })) => {
                    let msg = spec.decode(body).unwrap();
                    if let Some(at) = msg.stan().and_then(|s| sent.remove(&s)) {
                        latencies.push(at.elapsed().as_micros() as u64);
                    }
                }
                Some(Ok(Frame::KeepAlive)) => {}
                other => panic!("the real traffic's link failed: {other:?}"),
            },
            _ = tokio::time::sleep_until(drain_until) => panic!("{} requests unanswered", sent.len()),
        }
    }
    latencies.sort_unstable();
    latencies
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// The soft limit on open files (None where /proc says nothing).
fn file_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_handshakes_do_not_hold_resources_or_slow_traffic() {
    tokio::time::timeout(Duration::from_secs(120), run())
        .await
        .unwrap_or_else(|_| panic!("the flood test did not finish within 120 s"));
}

async fn run() {
    let flood = match file_limit() {
        Some(limit) if limit < FLOOD + 500 => {
            println!(
                "open-file limit {limit}: flooding with {} connections",
                limit - 500
            );
            limit - 500
        }
        _ => FLOOD,
    };
    let pki = Pki::new("flood");
    let (issuer, sw, acq) = network(&pki, HANDSHAKE_MS, MAX_HANDSHAKES).await;
    let card = active_card();
    let peer = TlsPeer::connect(acq, pki.client(pki.bank(BANK_A)))
        .await
        .unwrap();
    let (mut sink, mut stream, spec) = peer.into_parts();
    let mut stan = 0;
    // Warm up.
    let _ = load(&mut sink, &mut stream, &spec, &card, &mut stan).await;

    // Timing on a shared 2-core machine (the switch, the issuer, the load and the
    // flood in one debug-built process) has outliers of its own: a round whose p99
    // doubles is measured again, baseline and flood both, up to ROUNDS times. A
    // switch that the flood really slows fails every round.
    const ROUNDS: usize = 3;
    for round in 1..=ROUNDS {
        let base = load(&mut sink, &mut stream, &spec, &card, &mut stan).await;

        // The flood, one connection after another as fast as they complete
        // (a simultaneous burst would overflow the listen queue, and a socket's
        // deadline would start when the switch accepts it, not when the test
        // connected it): half send nothing, half a TLS record header announcing
        // a ClientHello that never comes. Each waits for the switch to close it
        // and notes when, or holds its socket until the end of the round.
        let before = open_files();
        let (stop, _) = tokio::sync::watch::channel(false);
        let closes: Arc<Mutex<Vec<Duration>>> = Arc::default();
        let mut flooders = tokio::task::JoinSet::new();
        let mut reached = 0;
        for i in 0..flood {
            let attempt = tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(acq));
            let Ok(Ok(mut s)) = attempt.await else {
                println!(
                    "  flood connection {i} did not complete within 3 s; the flood stops there"
                );
                break;
            };
            let connected_at = Instant::now();
            reached += 1;
            let (mut stop, closes) = (stop.subscribe(), closes.clone());
            flooders.spawn(async move {
                if i % 2 == 1 {
                    let _ = s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await;
                }
                let mut buf = [0u8; 64];
                loop {
                    tokio::select! {
                        r = s.read(&mut buf) => match r {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {} // an alert, say: read on to the close
                        },
                        _ = stop.changed() => return,
                    }
                }
                closes.lock().unwrap().push(connected_at.elapsed());
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let during_flood = open_files().saturating_sub(before);
        let flooded = load(&mut sink, &mut stream, &spec, &card, &mut stan).await;
        let held = open_files().saturating_sub(before);

        let (b99, f99) = (quantile(&base, 0.99), quantile(&flooded, 0.99));
        println!(
            "round {round}: real traffic at {RATE} TPS over mutual TLS, {} + {} requests",
            base.len(),
            flooded.len()
        );
        println!(
            "  without flood: p50 {} µs, p99 {b99} µs, max {} µs",
            quantile(&base, 0.5),
            base.last().unwrap()
        );
        println!(
            "  with {flood} unfinished handshakes ({reached} TCP-connected by the end): p50 {} µs, p99 {f99} µs, max {} µs",
            quantile(&flooded, 0.5),
            flooded.last().unwrap()
        );
        println!(
            "  open files added by the flood: {during_flood} at its start, {held} after {PHASE:?} (client sockets {flood}, max_handshakes {MAX_HANDSHAKES})"
        );
        // The switch holds at most MAX_HANDSHAKES of them (the test's own client
        // sockets are the rest); a switch accepting them all would double the count.
        let slack = 32;
        assert!(
            during_flood <= flood + MAX_HANDSHAKES + slack
                && held <= flood + MAX_HANDSHAKES + slack,
            "the switch holds more than {MAX_HANDSHAKES} unfinished handshakes"
        );
        assert!(
            reached >= MAX_HANDSHAKES * 2,
            "only {reached} flood connections got through TCP: the flood did not reach the switch"
        );
        let _ = stop.send(true);
        while flooders.join_next().await.is_some() {}
        // Every flooder was closed by the switch, by its deadline and a margin
        // (the first-byte deadline is the default, 1 s, as the handshake's here).
        let closes = std::mem::take(&mut *closes.lock().unwrap());
        let slowest = closes.iter().max().copied().unwrap_or_default();
        println!(
            "  flood connections closed by the switch: {} of {reached}, the slowest {slowest:?} after connecting",
            closes.len()
        );
        assert_eq!(
            closes.len(),
            reached,
            "flood connections the switch left open to the end of the round"
        );
        let deadline = Duration::from_millis(HANDSHAKE_MS) + CLOSE_MARGIN;
        assert!(
            slowest <= deadline,
            "a flood connection was closed {slowest:?} after connecting, past the deadline and margin {deadline:?}"
        );
        // "Must not double", with 2 ms of slack for scheduling noise.
        if f99 <= 2 * b99 + 2_000 {
            break;
        }
        assert!(
            round < ROUNDS,
            "p99 with the flood {f99} µs is more than double the baseline {b99} µs, in {ROUNDS} rounds out of {ROUNDS}"
        );
        println!(
            "  p99 doubled in this round; measuring again once the switch has dropped the flood"
        );
        // The switch drops what it still holds at the handshake deadline.
        tokio::time::sleep(Duration::from_millis(2 * HANDSHAKE_MS)).await;
    }

    // Once the flood goes away, a new bank connection is served again.
    let started = Instant::now();
    let mut fresh = loop {
        match TlsPeer::connect(acq, pki.client(pki.bank(BANK_A))).await {
            Ok(p) => break p,
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                println!("reconnect after the flood: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no new connection after the flood: {e}"),
        }
    };
    stan += 1;
    fresh
        .send(&purchase(&card, BANK_A, stan, 100))
        .await
        .unwrap();
    let r = fresh.recv(Duration::from_secs(5)).await.unwrap();
    assert_eq!(r.stan(), Some(stan));
    println!(
        "  a new connection after the flood: served in {:?}",
        started.elapsed()
    );
    sw.shutdown().await;
    let _ = issuer.stop().await;
}
