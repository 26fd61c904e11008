//! End-to-end checks of `sim acquirer` against a tiny fake issuer on 127.0.0.1:0:
//! matching, timeouts, late answers, reversals and their repeats, reconnection
//! after bad input, and the totals the real issuer's report is compared with.
//! Every test is bounded in messages and in time.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use codecs::framing::Frame;
use codecs::mti::MessageClass;
use codecs::{Message, ResponseCode};
use futures_util::{SinkExt, StreamExt};
use routing_rules::RoutingTable;
use rust_decimal::Decimal;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::cards::CardBase;
use crate::messages::{response_to, OriginalKey};
use crate::wire::LinkFormat;

use super::report::Report;
use super::{execute, AcquirerArgs, AcquirerOptions};

fn rules_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../routing-rules/rules/national.toml"
    ))
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: AcquirerArgs,
}

fn args(addr: SocketAddr, extra: &[&str]) -> AcquirerOptions {
    let rules = rules_path();
    let mut argv: Vec<String> = [
        "sim",
        "--connect",
        &addr.to_string(),
        "--bank",
        "940857",
        "--rules",
        rules.to_str().unwrap(),
        "--cards-per-range",
        "50",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.extend(extra.iter().map(|s| s.to_string()));
    *Cli::parse_from(argv).args.options
}

/// What a fake link does wrong before behaving.
#[derive(Clone, Copy, Debug)]
enum BadInput {
    /// Answer the first request with a length header over the maximum frame.
    Oversized,
    /// Send half a frame, then nothing.
    HalfFrame,
    /// Answer with frames that do not decode.
    Garbage,
}

/// How the fake issuer misbehaves.
#[derive(Clone, Debug, Default)]
struct Behaviour {
    /// Process every n-th message but drop its answer (0: never).
    drop_every: u64,
    /// Answer every n-th message only after `late_by` (0: never).
    late_every: u64,
    late_by: Duration,
    /// The first links misbehave this way, one each.
    bad_links: Vec<BadInput>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    count: u64,
    amount: Decimal,
}

#[derive(Default)]
struct Books {
    /// Approved originals: issuer id and amount.
    approved_keys: std::collections::HashMap<OriginalKey, (String, Decimal)>,
    reversed_keys: HashSet<OriginalKey>,
    reversal_first: HashSet<OriginalKey>,
    approved: BTreeMap<String, Tally>,
    reversed: BTreeMap<String, Tally>,
}

impl Books {
    /// Approved minus reversed, per issuer (zero entries dropped).
    fn net(&self) -> BTreeMap<String, Tally> {
        let mut net = self.approved.clone();
        for (id, r) in &self.reversed {
            let t = net.entry(id.clone()).or_default();
            t.count -= r.count;
            t.amount -= r.amount;
        }
        net.retain(|_, t| t.count > 0);
        net
    }
}

/// A fake issuer: approves every valid request of a known card (RC 00, keys
/// echoed), declines unknown cards (14) and answers undecodable requests with 30;
/// applies each reversal once.
struct FakeIssuer {
    format: LinkFormat,
    cards: CardBase,
    bank_ids: Vec<String>,
    behaviour: Behaviour,
    books: Mutex<Books>,
    messages: AtomicU64,
    links: AtomicU64,
}

impl FakeIssuer {
    async fn start(behaviour: Behaviour) -> (SocketAddr, Arc<FakeIssuer>) {
        let table = RoutingTable::load(&rules_path()).unwrap().0;
        let fake = Arc::new(FakeIssuer {
            format: LinkFormat::from_names("iso87ascii", "binary2").unwrap(),
            cards: CardBase::generate(&table, 1, 50),
            bank_ids: table.banks().iter().map(|b| b.id.clone()).collect(),
            behaviour,
            books: Mutex::new(Books::default()),
            messages: AtomicU64::new(0),
            links: AtomicU64::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Arc::clone(&fake);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let link = server.links.fetch_add(1, Ordering::Relaxed) as usize;
                let bad = server.behaviour.bad_links.get(link).copied();
                tokio::spawn(Arc::clone(&server).serve(stream, bad));
            }
        });
        (addr, fake)
    }

    async fn serve(self: Arc<Self>, stream: tokio::net::TcpStream, bad: Option<BadInput>) {
        let (mut reader, writer) = self.format.split(stream);
        if let Some(bad) = bad {
            // Wait for the first request, then misbehave.
            let _ = reader.next().await;
            let mut raw = writer.into_inner();
            match bad {
                BadInput::Oversized => {
                    let _ = raw.write_all(&[0xFF, 0xFF, 1, 2, 3]).await;
                }
                BadInput::HalfFrame => {
                    let _ = raw.write_all(&[0x00, 0x64, b'0', b'2', b'1']).await;
                }
                BadInput::Garbage => {
                    let mut sink = tokio_util::codec::FramedWrite::new(
                        raw,
                        codecs::framing::FrameCodec::new(
                            codecs::framing::LengthHeader::Binary2,
                            false,
                            8192,
                        ),
                    );
                    for _ in 0..20 {
                        let frame = Frame::Message {
                            tpdu: None,
                            body: Bytes::from_static(b"this is not ISO 8583"),
                        };
                        if sink.send(frame).await.is_err() {
                            break;
                        }
                    }
                    raw = sink.into_inner();
                }
            }
            // Keep the socket open and silent until the acquirer gives up on it.
            while let Some(Ok(_)) = reader.next().await {}
            drop(raw);
            return;
        }
        let tx = spawn_writer(writer);
        while let Some(Ok(frame)) = reader.next().await {
            let Frame::Message { body, .. } = frame else {
                continue;
            };
            let n = self.messages.fetch_add(1, Ordering::Relaxed) + 1;
            let Some(answer) = self.answer(&body) else {
                continue;
            };
            let Ok(out) = self.format.encode(&answer) else {
                continue;
            };
            let b = &self.behaviour;
            if b.drop_every > 0 && n % b.drop_every == 0 {
                continue;
            }
            if b.late_every > 0 && n % b.late_every == 0 {
                let tx: mpsc::Sender<Bytes> = tx.clone();
                let delay = b.late_by;
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = tx.send(out).await;
                });
                continue;
            }
            if tx.send(out).await.is_err() {
                break;
            }
        }
    }

    fn answer(&self, body: &Bytes) -> Option<Message> {
        let spec = &self.format.spec;
        let req = match spec.decode(body.clone()) {
            Ok(m) => m,
            Err(_) => {
                let (mti, stan) = spec.peek_mti_and_stan(body)?;
                let mut m = Message::new(mti.response()?);
                m.set_stan(stan?);
                m.set_response_code(ResponseCode::FORMAT_ERROR.as_str());
                return Some(m);
            }
        };
        let key = OriginalKey::of_request(&req)?;
        let mut books = self.books.lock().unwrap();
        match req.mti().class() {
            MessageClass::Reversal => {
                let original = OriginalKey::from_field90(&req.get(90)?.bytes())?;
                match books.approved_keys.get(&original).cloned() {
                    Some((issuer, amount)) => {
                        if books.reversed_keys.insert(original) {
                            let t = books.reversed.entry(issuer).or_default();
                            t.count += 1;
                            t.amount += amount;
                        }
                    }
                    None => {
                        books.reversal_first.insert(original);
                    }
                }
                Some(response_to(&req, ResponseCode::APPROVED))
            }
            MessageClass::Financial | MessageClass::Authorization => {
                let card = req
                    .get(2)
                    .and_then(|pan| self.cards.find(&pan.bytes()).cloned());
                let Some(card) = card else {
                    return Some(response_to(&req, ResponseCode::INVALID_CARD_NUMBER));
                };
                if books.reversal_first.contains(&key) || books.approved_keys.contains_key(&key) {
                    return Some(response_to(&req, ResponseCode::DUPLICATE));
                }
                let amount = if req.text(3)?.starts_with("31") {
                    Decimal::ZERO
                } else {
                    req.amount().ok()??
                };
                let issuer = self.bank_ids[usize::from(card.issuer)].clone();
                books.approved_keys.insert(key, (issuer.clone(), amount));
                let t = books.approved.entry(issuer).or_default();
                t.count += 1;
                t.amount += amount;
                Some(response_to(&req, ResponseCode::APPROVED))
            }
            _ => Some(response_to(&req, ResponseCode::APPROVED)),
        }
    }
}

fn acquirer_net(report: &Report) -> BTreeMap<String, Tally> {
    report
        .approved()
        .into_iter()
        .map(|(id, t)| {
            (
                id,
                Tally {
                    count: t.count,
                    amount: t.amount,
                },
            )
        })
        .collect()
}

/// The invariants the end-to-end test checks against the real issuer.
fn check_invariants(report: &Report, fake: &FakeIssuer) {
    let s = &report.stats;
    assert_eq!(
        s.sent,
        s.answered + s.timed_out,
        "every request one outcome"
    );
    assert_eq!(s.reversals_sent, s.timed_out, "one reversal per timeout");
    assert_eq!(s.reversals_acknowledged, s.reversals_sent);
    assert_eq!(s.reversals_unacknowledged, 0);
    assert_eq!(
        s.codes.iter().map(|(_, n)| n).sum::<u64>(),
        s.answered,
        "response codes add up to the answers"
    );
    assert_eq!(s.latency.len(), s.answered);
    let books = fake.books.lock().unwrap();
    assert_eq!(
        acquirer_net(report),
        books.net(),
        "approved = issuer approved - reversed"
    );
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("test took too long")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_matches_times_out_and_reverses() {
    let (addr, fake) = FakeIssuer::start(Behaviour {
        drop_every: 10,
        ..Behaviour::default()
    })
    .await;
    let a = args(
        addr,
        &[
            "--connections",
            "4",
            "--concurrency",
            "4",
            "--count",
            "1200",
            "--timeout-ms",
            "200",
            "--invalid-rate",
            "0.05",
        ],
    );
    let report = bounded(execute(&a, false)).await.unwrap();
    eprintln!("{}", report.to_text());
    let s = &report.stats;
    assert_eq!(s.sent, 1200);
    assert!(s.timed_out > 50, "{}", report.to_text());
    assert!(s.reversal_repeats > 0, "some 0430s were dropped too");
    assert!(s.latency.min() > 0, "{}", report.to_text());
    assert_eq!(s.errors(), 0, "{}", report.to_text());
    check_invariants(&report, &fake);
    let codes = report.response_codes();
    assert!(codes.contains_key("00") && codes.contains_key("14") && codes.contains_key("30"));
    assert!(!codes.contains_key("94"), "keys are unique across links");
    let json = report.to_json();
    assert_eq!(json["sent"], 1200);
    assert!(json["approved"].as_object().unwrap().len() > 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_counts_late_answers_and_keeps_the_books() {
    let (addr, fake) = FakeIssuer::start(Behaviour {
        late_every: 25,
        late_by: Duration::from_millis(400),
        ..Behaviour::default()
    })
    .await;
    let a = args(
        addr,
        &[
            "--connections",
            "2",
            "--rate",
            "400",
            "--duration",
            "1.5",
            "--timeout-ms",
            "150",
            "--mti",
            "0100",
        ],
    );
    let report = bounded(execute(&a, false)).await.unwrap();
    eprintln!("{}", report.to_text());
    let s = &report.stats;
    assert_eq!(s.sent + s.unsent, 600, "{}", report.to_text());
    assert!(s.unsent < 30, "{}", report.to_text());
    assert!(s.late > 0, "{}", report.to_text());
    assert!(s.timed_out >= s.late);
    check_invariants(&report, &fake);
    assert_eq!(s.send_lag.as_ref().unwrap().len(), s.sent);
    // Every answer takes time: none may count as instantaneous.
    assert!(s.latency.min() > 0, "{}", report.to_text());
    let tps = report.tps();
    assert!((300.0..500.0).contains(&tps), "{tps}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_from_the_peer_reconnects_and_reverses_on_the_new_link() {
    let (addr, fake) = FakeIssuer::start(Behaviour {
        bad_links: vec![BadInput::Oversized, BadInput::Garbage, BadInput::HalfFrame],
        ..Behaviour::default()
    })
    .await;
    let a = args(
        addr,
        &[
            "--connections",
            "1",
            "--concurrency",
            "2",
            "--count",
            "300",
            "--timeout-ms",
            "300",
        ],
    );
    let report = bounded(execute(&a, false)).await.unwrap();
    eprintln!("{}", report.to_text());
    let s = &report.stats;
    assert_eq!(s.disconnects, 3, "{}", report.to_text());
    assert!(s.undecodable >= 8);
    assert!(s.timed_out >= 3, "{}", report.to_text());
    check_invariants(&report, &fake);
    assert_eq!(fake.links.load(Ordering::Relaxed), 4);
}

/// Queue depth of a test peer's writer; senders wait when it is full.
const WRITE_QUEUE: usize = 4096;

/// The test issuer's writer: start a task that writes queued frame bodies, flushing only when the queue is
/// momentarily empty (so bursts go out in few syscalls). Ends when every sender is
/// dropped or the peer stops reading.
fn spawn_writer(
    mut sink: tokio_util::codec::FramedWrite<
        bank_links::stream::WriteHalf,
        codecs::framing::FrameCodec,
    >,
) -> mpsc::Sender<Bytes> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    tokio::spawn(async move {
        while let Some(body) = rx.recv().await {
            if sink
                .feed(Frame::Message { tpdu: None, body })
                .await
                .is_err()
            {
                return;
            }
            while let Ok(body) = rx.try_recv() {
                if sink
                    .feed(Frame::Message { tpdu: None, body })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    tx
}
