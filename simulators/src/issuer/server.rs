//! The issuer's links: listening for connections (bounded in number) or dialing
//! the switch and redialing with backoff, and the per-connection task that reads
//! frames, asks [`Issuer`] for the answer and writes it itself through the link's
//! [`wire::Outbound`] buffer: the answers to what one read brought go out in one
//! write once nothing more is readable, with no writer task to wake per frame.
//!
//! Without latency or faults an answer is encoded and queued inline by the reading
//! task (no spawn, no timer). With latency, each answer waits in its own small task
//! and may overtake others, which ISO 8583 peers must accept; it comes back to the
//! connection's task through a channel to be written. Bad input (undecodable
//! frames, oversized or invalid length headers, a peer that stalls mid-frame or
//! stops reading) ends at most its own connection, with a log line saying why.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bank_links::backoff::Backoff;
use bank_links::read_batch::{gather_ready, AfterBatch};
use bank_links::stall::StallWatch;
use bank_links::stream::LinkStream;
use bytes::Bytes;
use codecs::framing::Frame;
use codecs::Message;
use futures_util::StreamExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;

use crate::cards::SplitMix;
use crate::wire::{self, LinkFormat};

use super::behaviour::{FrameOutcome, Issuer, Today};
use super::faults::{self, Fate, Faults};

/// How the links behave.
#[derive(Clone, Debug)]
pub struct LinkSettings {
    /// Spec, framing and maximum frame size.
    pub format: LinkFormat,
    /// Latency and faults (off by default).
    pub faults: Faults,
    /// Seed of the fault and latency draws (mixed with the connection number).
    pub fault_seed: u64,
    /// How long a peer may leave a frame half sent, or leave our answers unread.
    pub read_deadline: Duration,
    /// Most simultaneous connections (listen mode); more are refused.
    pub max_connections: usize,
    /// Send a sign-on (0800, 70 = 001) when a dialed link comes up.
    pub sign_on: bool,
    /// Mutual TLS (None: plain TCP).
    pub tls: Option<Arc<crate::tls::HostTls>>,
}

/// Counters for the exit summary (the report file holds only the totals).
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Connections set up.
    pub connections: AtomicU64,
    /// Frames received (keep-alives excluded), counted when a connection ends.
    pub frames: AtomicU64,
    /// Undecodable frames answered with RC 30.
    pub malformed_answered: AtomicU64,
    /// Undecodable frames dropped (MTI or STAN unreadable).
    pub malformed_dropped: AtomicU64,
    /// Messages with a missing or wrong MAC (requests answered with RC 63).
    pub unauthenticated: AtomicU64,
    /// Responses withheld by `--drop-rate`.
    pub faults_dropped: AtomicU64,
    /// Responses delayed by `--late-rate`.
    pub faults_late: AtomicU64,
    /// Responses replaced by a malformed frame (`--malformed-rate`).
    pub faults_malformed: AtomicU64,
    /// Connections closed by `--disconnect-every`.
    pub faults_disconnects: AtomicU64,
}

impl LinkStats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// One line for the log.
    pub fn summary(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "connections {}, frames {}, malformed answered {}, malformed dropped {}, \
             bad MAC {}, faults: dropped {}, late {}, mangled {}, disconnects {}",
            g(&self.connections),
            g(&self.frames),
            g(&self.malformed_answered),
            g(&self.malformed_dropped),
            g(&self.unauthenticated),
            g(&self.faults_dropped),
            g(&self.faults_late),
            g(&self.faults_malformed),
            g(&self.faults_disconnects),
        )
    }
}

/// Delayed answers one connection may have waiting at once (then reading pauses).
const MAX_DELAYED: usize = 16_384;

/// Malformed frames logged at warn level per connection; the rest at debug.
const MALFORMED_LOGGED: u64 = 10;

/// How long shutdown waits for connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The issuer's network side.
#[derive(Debug)]
pub struct Server {
    issuer: Arc<Issuer>,
    settings: LinkSettings,
    stats: LinkStats,
    next_connection: AtomicU64,
    /// STANs of the sign-ons we send.
    network_stan: AtomicU32,
}

/// Today's date for decisions, recomputed only when the day changes.
struct Calendar {
    day: u64,
    today: Today,
}

impl Calendar {
    fn new() -> Calendar {
        let secs = unix_now();
        Calendar {
            day: secs / 86_400,
            today: Today::at_unix(secs),
        }
    }

    fn today(&mut self) -> Today {
        let secs = unix_now();
        if secs / 86_400 != self.day {
            self.day = secs / 86_400;
            self.today = Today::at_unix(secs);
        }
        self.today
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a connection ended (for the log line).
#[derive(Debug)]
enum Ended {
    /// The peer closed the connection between frames.
    PeerClosed,
    /// The issuer is stopping.
    Shutdown,
    /// `--disconnect-every`.
    FaultDisconnect,
    /// Bad input, a stalled peer or a failed write.
    Problem(String),
}

impl Ended {
    fn log(&self, id: u64, peer: SocketAddr) {
        match self {
            Ended::Problem(reason) => {
                tracing::warn!(conn = id, %peer, %reason, "connection closed")
            }
            other => tracing::info!(conn = id, %peer, reason = %other, "connection closed"),
        }
    }
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::PeerClosed => f.write_str("peer closed"),
            Ended::Shutdown => f.write_str("shutting down"),
            Ended::FaultDisconnect => f.write_str("fault injection: disconnect"),
            Ended::Problem(reason) => f.write_str(reason),
        }
    }
}

/// One connection's sending side: the write buffer, the channel delayed answers
/// come back through, and the fault draws.
struct Outbox {
    out: wire::Outbound,
    /// Delayed answers' way back (the waiting tasks hold weak handles).
    tx: mpsc::Sender<Bytes>,
    rx: mpsc::Receiver<Bytes>,
    rng: SplitMix,
    delayed: Arc<Semaphore>,
    /// Since when the write buffer has been full (the peer not reading).
    full_since: Option<Instant>,
}

/// Delayed answers queued for the connection's task.
const DELAYED_QUEUE: usize = 4096;

/// How long a closing connection may take to write what it still has queued.
const FINAL_WRITE: Duration = Duration::from_secs(1);

impl Server {
    /// A server answering for `issuer`.
    pub fn new(issuer: Arc<Issuer>, settings: LinkSettings) -> Server {
        Server {
            issuer,
            settings,
            stats: LinkStats::default(),
            next_connection: AtomicU64::new(1),
            network_stan: AtomicU32::new(0),
        }
    }

    /// The issuer behind the links.
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// The counters.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Accept connections on `listener` until `shutdown` turns true, then give the
    /// open connections a short grace period to finish.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let max = self
            .settings
            .max_connections
            .clamp(1, Semaphore::MAX_PERMITS);
        let slots = Arc::new(Semaphore::new(max));
        loop {
            let accepted = tokio::select! {
                r = listener.accept() => r,
                _ = shutdown.changed() => break,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // E.g. out of file descriptors: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                tracing::warn!(%peer, max, "connection refused: connection limit reached");
                drop(stream);
                continue;
            };
            let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
            tracing::info!(conn = id, %peer, "connection accepted");
            let server = self.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let stream = match &server.settings.tls {
                    None => LinkStream::Plain(stream),
                    Some(tls) => match tls.accept(stream).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(conn = id, %peer, error = %e, "connection refused");
                            return;
                        }
                    },
                };
                server.run_connection(stream, id, stop).await.log(id, peer);
                drop(permit);
            });
        }
        let all = u32::try_from(max).unwrap_or(u32::MAX);
        if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the shutdown grace period");
        }
    }

    /// Dial `addr` and keep the link up: redial with backoff whenever it drops,
    /// until `shutdown` turns true.
    pub async fn dial(self: Arc<Self>, addr: SocketAddr, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::new();
        loop {
            tracing::info!(%addr, "connecting");
            let stream = tokio::select! {
                s = wire::connect_with_backoff(addr, None) => s,
                _ = shutdown.changed() => return,
            };
            let secured = match stream {
                Ok(tcp) => crate::tls::secure_client(self.settings.tls.as_deref(), tcp).await,
                Err(e) => Err(e),
            };
            let stream = match secured {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "connect failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.next_pause()) => {}
                        _ = shutdown.changed() => return,
                    }
                    continue;
                }
            };
            let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
            tracing::info!(conn = id, %addr, "connected");
            let started = Instant::now();
            self.run_connection(stream, id, shutdown.clone())
                .await
                .log(id, addr);
            if *shutdown.borrow() {
                return;
            }
            // A link that keeps dropping at once is redialed ever more slowly.
            if started.elapsed() < Duration::from_secs(5) {
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_pause()) => {}
                    _ = shutdown.changed() => return,
                }
            } else {
                backoff.reset();
            }
        }
    }

    /// Serve one connection until the peer closes, an error, a fault or shutdown.
    async fn run_connection(
        &self,
        stream: LinkStream,
        id: u64,
        mut shutdown: watch::Receiver<bool>,
    ) -> Ended {
        LinkStats::bump(&self.stats.connections);
        let settings = &self.settings;
        let (mut reader, writer) = settings.format.split_outbound(stream);
        let (tx, rx) = mpsc::channel(DELAYED_QUEUE);
        let mut out = Outbox {
            out: writer,
            tx,
            rx,
            rng: SplitMix::new(settings.fault_seed ^ id.wrapping_mul(0xA24B_AED4_963E_E407)),
            delayed: Arc::new(Semaphore::new(MAX_DELAYED)),
            full_since: None,
        };
        if settings.sign_on {
            let stan = self.network_stan.fetch_add(1, Ordering::Relaxed) % 999_999 + 1;
            let sign_on =
                crate::messages::network_request("001", stan, &crate::clock::now_fields());
            // Sent as is: faults apply to answers, not to our own requests.
            if let Ok(body) = settings.format.encode(&sign_on) {
                if let Err(ended) = self.send(&mut out, body) {
                    return ended;
                }
            }
        }
        let deadline = settings.read_deadline;
        let mut ticker = tokio::time::interval(
            (deadline / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)),
        );
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stall = StallWatch::default();
        let disconnect = async {
            match settings.faults.disconnect_every {
                Some(every) => tokio::time::sleep(every).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(disconnect);
        let mut calendar = Calendar::new();
        let (mut frames, mut malformed) = (0u64, 0u64);
        // What the reader gave after a batch of frames: handled next.
        let mut after_batch = None;
        let ended = loop {
            let room = out.out.has_room();
            if room {
                out.full_since = None;
            }
            tokio::select! {
                biased;
                _ = shutdown.changed() => break Ended::Shutdown,
                _ = &mut disconnect => {
                    LinkStats::bump(&self.stats.faults_disconnects);
                    break Ended::FaultDisconnect;
                }
                frame = next_frame(&mut after_batch, &mut reader), if room => {
                    let body = match frame {
                        None if reader.read_buffer().is_empty() => break Ended::PeerClosed,
                        None => break Ended::Problem(format!(
                            "peer closed in the middle of a frame ({} bytes unread)",
                            reader.read_buffer().len()
                        )),
                        Some(Err(e)) => break Ended::Problem(format!("framing error: {e}")),
                        Some(Ok(Frame::KeepAlive)) => continue,
                        Some(Ok(Frame::Message { body, .. })) => body,
                    };
                    let format = &settings.format;
                    if !format.macs() {
                        frames += 1;
                        let outcome = self.issuer.on_frame(&format.spec, body, calendar.today());
                        if let Some(answer) = self.answer_of(outcome, id, &mut malformed) {
                            let encoded = format.encode(&answer);
                            if let Err(ended) = self.respond_encoded(&mut out, &answer, encoded, id).await {
                                break ended;
                            }
                        }
                        continue;
                    }
                    // On a MAC link the frames already read come along (the
                    // switch's link carries many transactions): their MACs are
                    // checked, and their answers sealed, together.
                    let (bodies, after) = gather_ready(&mut reader, body);
                    after_batch = after;
                    frames += bodies.len() as u64;
                    let expected = format.expected_macs(&bodies);
                    let mut answers = Vec::with_capacity(bodies.len());
                    for (body, expected) in bodies.into_iter().zip(expected) {
                        let outcome = self.issuer.on_frame_checked(&format.spec, body, calendar.today(), |body, msg| {
                            format.check_with(body, msg, expected).map_err(|e| e.to_string())
                        });
                        answers.extend(self.answer_of(outcome, id, &mut malformed));
                    }
                    let mut result = Ok(());
                    for (answer, body) in answers.iter().zip(format.encode_all(&answers)) {
                        result = self.respond_encoded(&mut out, answer, body, id).await;
                        if result.is_err() {
                            break;
                        }
                    }
                    if let Err(ended) = result {
                        break ended;
                    }
                }
                written = out.out.write_some(), if out.out.busy() => {
                    if let Err(e) = written {
                        break Ended::Problem(format!("write failed: {e}"));
                    }
                }
                Some(body) = out.rx.recv(), if room => {
                    if let Err(ended) = self.send(&mut out, body) {
                        break ended;
                    }
                }
                _ = ticker.tick() => {
                    if !room {
                        let since = *out.full_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= deadline {
                            break Ended::Problem(format!(
                                "peer has not read our answers for {deadline:?}"
                            ));
                        }
                    }
                    if stall.stalled(reader.read_buffer().len(), frames, Instant::now(), deadline) {
                        break Ended::Problem(format!(
                            "peer stalled mid-frame: {} bytes of an incomplete frame for {:?}",
                            reader.read_buffer().len(),
                            deadline
                        ));
                    }
                }
            }
        };
        if !matches!(&ended, Ended::Problem(_)) {
            // What is still queued goes out if the peer takes it.
            let _ = tokio::time::timeout(FINAL_WRITE, out.out.write_all()).await;
        }
        // Added once per connection: no shared counter on the per-frame path.
        self.stats.frames.fetch_add(frames, Ordering::Relaxed);
        if malformed > MALFORMED_LOGGED {
            tracing::warn!(conn = id, malformed, "malformed frames on this connection");
        }
        ended
    }

    /// What a frame's outcome asks to answer, if anything, with its log line and
    /// counters.
    fn answer_of(&self, outcome: FrameOutcome, id: u64, malformed: &mut u64) -> Option<Message> {
        match outcome {
            FrameOutcome::Reply(reply) => Some(reply),
            FrameOutcome::NoReply(mti) => {
                tracing::debug!(conn = id, %mti, "received; no answer needed");
                None
            }
            FrameOutcome::Unauthenticated { reason, reply } => {
                LinkStats::bump(&self.stats.unauthenticated);
                tracing::warn!(conn = id, %reason, answered_rc_63 = reply.is_some(), "message authentication failed");
                reply
            }
            FrameOutcome::Malformed { error, reply } => {
                *malformed += 1;
                let answered = reply.is_some();
                if *malformed <= MALFORMED_LOGGED {
                    tracing::warn!(conn = id, %error, answered_rc_30 = answered, "malformed frame");
                } else {
                    tracing::debug!(conn = id, %error, answered_rc_30 = answered, "malformed frame");
                }
                LinkStats::bump(if answered {
                    &self.stats.malformed_answered
                } else {
                    &self.stats.malformed_dropped
                });
                reply
            }
        }
    }

    /// Send an answer encoded by [`LinkFormat::encode_all`], applying latency and
    /// faults.
    async fn respond_encoded(
        &self,
        out: &mut Outbox,
        msg: &Message,
        encoded: Result<Bytes, crate::security::SendError>,
        id: u64,
    ) -> Result<(), Ended> {
        let body = match encoded {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(conn = id, mti = %msg.mti(), error = %e, "answer does not encode; not sent");
                return Ok(());
            }
        };
        tracing::trace!(conn = id, %msg, "answer");
        let faults = &self.settings.faults;
        if faults.is_off() {
            return self.send(out, body);
        }
        let plan = faults.plan(&mut out.rng);
        let body = match plan.fate {
            Fate::Send => body,
            Fate::Drop => {
                LinkStats::bump(&self.stats.faults_dropped);
                tracing::debug!(conn = id, mti = %msg.mti(), stan = ?msg.stan(), "fault injection: answer dropped");
                return Ok(());
            }
            Fate::Malformed => {
                LinkStats::bump(&self.stats.faults_malformed);
                tracing::debug!(conn = id, mti = %msg.mti(), stan = ?msg.stan(), "fault injection: malformed answer");
                faults::mangle(&body, &mut out.rng)
            }
        };
        if plan.late {
            LinkStats::bump(&self.stats.faults_late);
        }
        if plan.delay.is_zero() {
            return self.send(out, body);
        }
        // Bounded: at most MAX_DELAYED answers wait per connection.
        let Ok(permit) = out.delayed.clone().acquire_owned().await else {
            return Ok(());
        };
        // A weak handle: when the connection ends, waiting answers are discarded
        // and the writer can close the socket at once.
        let weak = out.tx.downgrade();
        let patience = self.settings.read_deadline;
        tokio::spawn(async move {
            tokio::time::sleep(plan.delay).await;
            if let Some(tx) = weak.upgrade() {
                let _ = tx.send_timeout(body, patience).await;
            }
            drop(permit);
        });
        Ok(())
    }

    /// Queue a frame for the connection's task to write. The reading pauses
    /// while the buffer is full, and a peer that leaves our answers unread for the
    /// read deadline is disconnected (see `run_connection`).
    fn send(&self, out: &mut Outbox, body: Bytes) -> Result<(), Ended> {
        out.out
            .push(body)
            .map_err(|e| Ended::Problem(format!("cannot frame an answer: {e}")))
    }
}

/// What a batch left to handle ([`AfterBatch`]), else the reader's next item.
async fn next_frame<S, E>(
    after_batch: &mut AfterBatch<E>,
    reader: &mut S,
) -> Option<Result<Frame, E>>
where
    S: futures_util::Stream<Item = Result<Frame, E>> + Unpin,
{
    match after_batch.take() {
        Some(item) => item,
        None => reader.next().await,
    }
}
