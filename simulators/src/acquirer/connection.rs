//! One link to the switch (or an issuer): a task that owns everything about it —
//! the draws, the STAN and RRN sequences, the outstanding requests and reversals,
//! the counters — and drives the load on it.
//!
//! - Sends open loop (on the [`Schedule`], latency counted from the intended time)
//!   or closed loop (N outstanding), written by this task itself through the
//!   link's [`Outbound`] buffer (one write for what a turn of the loop queued).
//! - Matches every answer by STAN and MTI; times requests out with a periodic sweep
//!   of the deadline FIFO; reverses each timed-out request with a 0420, repeated as
//!   0421 with backoff until a 0430 arrives (bounded attempts and time).
//! - When the link drops, or the peer sends bad input (broken framing, a run of
//!   undecodable frames, half a frame and then silence, or stops reading), the
//!   requests in flight on it time out at once, and the link is dialed again with
//!   backoff; their reversals go out on the new link. With several addresses
//!   (a cluster's nodes) the new link goes to the next address at once, and
//!   silence for the echo interval also counts as a lost link (see
//!   [`super::failover`]).
//! - On a MAC link, a message whose MAC is missing or wrong is counted and
//!   ignored (its request times out and is reversed).
//! - Card data never reaches the log: lines name the connection, STANs and errors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bank_links::stream::{LinkStream, ReadHalf};
use bytes::Bytes;
use codecs::framing::{Frame, FrameCodec};
use codecs::{Message, Mti, ResponseCode};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::codec::FramedRead;

use crate::messages::{network_request, response_to, reversal_for};
use crate::wire::{LinkFormat, Outbound};
use bank_links::backoff::Backoff;
use bank_links::stall::StallWatch;

use super::failover::{Liveness, Peers};
use super::inflight::{InFlight, Matched, RetryPolicy, Sent};
use super::pacing::{share, Schedule};
use super::progress::Gauge;
use super::request::{ClockCache, RequestBuilder, RequestKeys, StanSequence};
use super::series::Series;
use super::stats::ConnStats;
use super::traffic::{TrafficGen, TrafficPlan};

/// How the load is driven on every link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Drive {
    /// Open loop: this many requests per second on each link.
    Open {
        /// Requests per second per link.
        rate_per_link: f64,
    },
    /// Closed loop: this many outstanding requests per link.
    Closed {
        /// Outstanding requests per link.
        concurrency: usize,
    },
}

/// What every link shares (read-only).
pub struct LinkConfig {
    /// Where to connect: one switch, or a cluster's nodes.
    pub peers: Peers,
    /// Spec and framing.
    pub format: LinkFormat,
    /// Mutual TLS towards the switch (None: plain TCP).
    pub tls: Option<Arc<crate::tls::HostTls>>,
    /// The draws.
    pub plan: Arc<TrafficPlan>,
    /// Field 32.
    pub acquirer: String,
    /// 0200 or 0100.
    pub mti: Mti,
    /// Request timeout.
    pub timeout: Duration,
    /// Open or closed loop.
    pub drive: Drive,
    /// When the load starts.
    pub start: Instant,
    /// When it ends (`--duration`).
    pub end: Option<Instant>,
    /// Requests in all (`--count`), split over the links.
    pub count: Option<u64>,
    /// Number of links.
    pub connections: usize,
    /// How long after the load ends (beyond one timeout) to wait for answers and
    /// reversal acknowledgements.
    pub drain_grace: Duration,
    /// Set on the first Ctrl-C: stop sending, drain.
    pub stop: Arc<AtomicBool>,
    /// Set on the second Ctrl-C: stop draining.
    pub abort: Arc<AtomicBool>,
    /// Template of every latency histogram.
    pub histogram: Histogram<u64>,
    /// Banks in the routing table (approved totals are kept per bank).
    pub banks: usize,
    /// Keep the counters of every second (for the HTML report).
    pub per_second: bool,
}

impl LinkConfig {
    /// The second of the load `now` falls in (the per-second series' index).
    fn second_of(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs()
    }
}

/// Most requests sent in one go before reading again (open loop catching up).
const BURST: usize = 64;
/// tokio's timer fires on whole milliseconds, rounding deadlines up. The pacer is
/// armed this much early and sends what is due within it, so that requests leave
/// within a tick of their intended time on either side instead of up to a tick
/// late. Latency counts from the earlier of the intended and the actual send time:
/// an early request from when it left (its answer cannot come before that), a late
/// one from when it should have left (coordinated omission).
const PACING_SLACK: Duration = Duration::from_millis(1);
/// How long after `--duration` an open loop may still send requests due before it.
const END_GRACE: Duration = Duration::from_millis(20);
/// Most outstanding requests per link in open loop; beyond it sends wait.
const MAX_IN_FLIGHT: usize = 100_000;
/// How long a finished link may take to write what it still has queued.
const FINAL_WRITE: Duration = Duration::from_secs(1);
/// Undecodable frames in a row after which the stream is taken to be out of step.
const UNDECODABLE_RUN: u32 = 8;
/// Undecodable frames logged at warn level per link; the rest at debug.
const LOGGED_UNDECODABLE: u64 = 10;

/// Why a link's session ended.
enum Ended {
    /// The load is over and nothing is outstanding (or the drain ran out).
    Finished,
    /// The link failed; the reason is for the log.
    Lost(String),
}

/// One link's state (everything but the socket).
struct Link {
    cfg: Arc<LinkConfig>,
    index: usize,
    gen: TrafficGen,
    builder: RequestBuilder,
    response_mti: Mti,
    stans: StanSequence,
    rrn: u64,
    clock: ClockCache,
    inflight: InFlight,
    stats: ConnStats,
    gauge: Arc<Gauge>,
    schedule: Option<Schedule>,
    /// Closed loop: requests left to send (None: unbounded).
    quota: Option<u64>,
    load_over_at: Option<Instant>,
    frames: u64,
    undecodable_run: u32,
    congested_since: Option<Instant>,
    /// How long half a frame or a full write queue may last.
    stall_limit: Duration,
    /// The address (index in `cfg.peers`) of the current connection.
    peer: usize,
    /// Several addresses: whether the current connection's node is still there.
    liveness: Option<Liveness>,
}

/// How long to wait before dialing again. A link that is lost soon after it was
/// made (the switch refused the certificate after the handshake, or closes at
/// once) is dialed again after a pause that doubles with each such loss, up to
/// 5 s, instead of at once in a tight loop; a link that lasted starts afresh.
#[derive(Debug, Default)]
struct RedialPause {
    connected_at: Option<Instant>,
    quick_losses: u32,
}

impl RedialPause {
    /// A link shorter than this counts as lost at once.
    const QUICK: Duration = Duration::from_secs(1);

    fn connected(&mut self, now: Instant) {
        self.connected_at = Some(now);
    }

    fn lost(&mut self, now: Instant) {
        let lasted = self.connected_at.map(|t| now.saturating_duration_since(t));
        if lasted.is_some_and(|d| d < Self::QUICK) {
            self.quick_losses = self.quick_losses.saturating_add(1);
        } else {
            self.quick_losses = 0;
        }
    }

    fn pause(&self) -> Duration {
        Backoff::after_failures(self.quick_losses)
    }

    /// The pause among `peers` addresses: none until every one of them lost the
    /// link quickly in a row (failing over to the next node is at once).
    fn pause_among(&self, peers: usize) -> Duration {
        let beyond = self
            .quick_losses
            .saturating_sub(u32::try_from(peers).unwrap_or(u32::MAX).saturating_sub(1));
        Backoff::after_failures(beyond)
    }
}

/// Run link `index` until its load is over and its business done; `first` is
/// its first connection and the index of the address it went to. Returns its
/// counters.
pub async fn run_link(
    cfg: Arc<LinkConfig>,
    index: usize,
    first: (usize, LinkStream),
    gauge: Arc<Gauge>,
) -> ConnStats {
    let mut link = Link::new(cfg, index, gauge);
    link.peer = first.0;
    let mut next = Some(first.1);
    let mut redial = RedialPause::default();
    loop {
        let stream = match next.take() {
            Some(s) => s,
            None => {
                let pause = if link.cfg.peers.several() {
                    redial.pause_among(link.cfg.peers.len())
                } else {
                    redial.pause()
                };
                match link.reconnect(pause).await {
                    Some((peer, s)) => {
                        if peer != link.peer {
                            link.stats.failovers += 1;
                            tracing::info!(
                                connection = index,
                                from = %link.cfg.peers.addr(link.peer),
                                to = %link.cfg.peers.addr(peer),
                                "failed over to another node"
                            );
                        }
                        link.peer = peer;
                        s
                    }
                    None => break,
                }
            }
        };
        redial.connected(Instant::now());
        let (mut reader, mut out) = link.cfg.format.split_outbound(stream);
        match link.serve(&mut reader, &mut out).await {
            Ended::Finished => {
                // What is still queued (e.g. an 0810) goes out if the peer takes it.
                let _ = tokio::time::timeout(FINAL_WRITE, out.write_all()).await;
                break;
            }
            Ended::Lost(reason) => {
                tracing::warn!(connection = index, "link lost: {reason}; reconnecting");
                link.on_link_lost(Instant::now());
                redial.lost(Instant::now());
            }
        }
    }
    link.finish(Instant::now());
    link.stats
}

impl Link {
    fn new(cfg: Arc<LinkConfig>, index: usize, gauge: Arc<Gauge>) -> Link {
        let timeout = cfg.timeout;
        let count = cfg.count.map(|c| share(c, cfg.connections, index));
        let schedule = match cfg.drive {
            Drive::Open { rate_per_link } => Some(Schedule::new(
                cfg.start,
                rate_per_link,
                index as f64 / cfg.connections.max(1) as f64,
                cfg.end,
                count,
            )),
            Drive::Closed { .. } => None,
        };
        Link {
            gen: cfg.plan.generator(index),
            builder: RequestBuilder::new(cfg.mti, &cfg.acquirer, index, &cfg.format.spec),
            response_mti: cfg.mti.response().unwrap_or(cfg.mti),
            stans: StanSequence::for_connection(index, cfg.connections),
            rrn: 1,
            clock: ClockCache::default(),
            inflight: InFlight::new(
                timeout,
                timeout.clamp(Duration::from_secs(5), Duration::from_secs(60)),
                RetryPolicy::for_timeout(timeout),
            ),
            stats: ConnStats {
                series: if cfg.per_second {
                    Series::keeping()
                } else {
                    Series::default()
                },
                ..ConnStats::new(
                    &cfg.histogram,
                    cfg.banks,
                    matches!(cfg.drive, Drive::Open { .. }),
                )
            },
            gauge,
            schedule,
            quota: count,
            load_over_at: None,
            frames: 0,
            undecodable_run: 0,
            congested_since: None,
            stall_limit: timeout.clamp(Duration::from_secs(1), Duration::from_secs(10)),
            peer: 0,
            liveness: None,
            index,
            cfg,
        }
    }

    fn sweep_period(&self) -> Duration {
        (self.cfg.timeout / 10).clamp(Duration::from_millis(5), Duration::from_millis(50))
    }

    /// Whether the load is over at `now` (and note when it became so).
    fn load_over(&mut self, now: Instant) -> bool {
        if self.load_over_at.is_some() {
            return true;
        }
        let stopped = self.cfg.stop.load(Ordering::Relaxed);
        // Open loop: requests due just before the end still go (the schedule itself
        // stops at the end); only a schedule fallen behind is cut off.
        let grace = match self.schedule {
            Some(_) => END_GRACE,
            None => Duration::ZERO,
        };
        let past_end = self.cfg.end.is_some_and(|end| now >= end + grace);
        let exhausted = match &self.schedule {
            Some(s) => s.next_due().is_none(),
            None => self.quota == Some(0),
        };
        if stopped || past_end || exhausted {
            self.load_over_at = Some(now);
            if let Some(s) = &self.schedule {
                if !stopped {
                    self.stats.unsent = s.total().map_or(0, |t| t.saturating_sub(s.issued()));
                }
            }
            return true;
        }
        false
    }

    fn drain_over(&self, now: Instant) -> bool {
        self.cfg.abort.load(Ordering::Relaxed)
            || self.load_over_at.is_some_and(|at| {
                now.saturating_duration_since(at) >= self.cfg.timeout + self.cfg.drain_grace
            })
    }

    fn finished(&mut self, now: Instant) -> bool {
        self.load_over(now)
            && ((self.inflight.requests() == 0 && self.inflight.reversals() == 0)
                || self.drain_over(now))
    }

    /// Dial again, after `pause`, until connected (to the next address that
    /// answers, with several), or until there is no reason to any more. Returns
    /// the address's index and the connection.
    async fn reconnect(&mut self, pause: Duration) -> Option<(usize, LinkStream)> {
        let started = Instant::now();
        let cfg = Arc::clone(&self.cfg);
        let lost = self.peer;
        let dial = async move {
            tokio::time::sleep(pause).await;
            cfg.peers.dial_after(lost, cfg.tls.as_deref()).await
        };
        tokio::pin!(dial);
        let mut check = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                dialed = &mut dial => match dialed {
                    Ok(stream) => {
                        tracing::info!(
                            connection = self.index,
                            after_ms = started.elapsed().as_millis() as u64,
                            "reconnected"
                        );
                        return Some(stream);
                    }
                    Err(e) => {
                        tracing::warn!(connection = self.index, error = %e, "cannot reconnect");
                        return None;
                    }
                },
                _ = check.tick() => {
                    let now = Instant::now();
                    self.sweep(now);
                    if self.finished(now) {
                        return None;
                    }
                }
            }
        }
    }

    /// Run the load on one connection until it is over or the link fails.
    async fn serve(
        &mut self,
        reader: &mut FramedRead<ReadHalf, FrameCodec>,
        out: &mut Outbound,
    ) -> Ended {
        let mut sweep = tokio::time::interval(self.sweep_period());
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let pacer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(pacer);
        let mut armed: Option<Instant> = None;
        let mut stall = StallWatch::default();
        self.undecodable_run = 0;
        self.congested_since = None;
        let mut now = Instant::now();
        if self.cfg.peers.several() {
            // A node of a cluster: sign on to it, and watch that it answers.
            self.liveness = Some(Liveness::new(now));
            self.send_network(out, "001");
        }
        loop {
            if let Err(lost) = self.pump(out, now) {
                return lost;
            }
            if self.finished(now) {
                return Ended::Finished;
            }
            // Arm the pacer only when a send could follow, or it would spin.
            let due = match &self.schedule {
                Some(s) if self.load_over_at.is_none() && self.can_send(out) => s.next_due(),
                _ => None,
            };
            if due != armed {
                if let Some(at) = due {
                    pacer
                        .as_mut()
                        .reset(at.checked_sub(PACING_SLACK).unwrap_or(at));
                }
                armed = due;
            }
            tokio::select! {
                biased;
                frame = reader.next() => {
                    now = Instant::now();
                    if let Some(l) = self.liveness.as_mut() {
                        l.heard(now);
                    }
                    match frame {
                        Some(Ok(Frame::Message { body, .. })) => {
                            self.frames += 1;
                            if let Err(lost) = self.on_frame(body, out, now) {
                                return lost;
                            }
                        }
                        Some(Ok(Frame::KeepAlive)) => self.frames += 1,
                        Some(Err(e)) => return Ended::Lost(format!("bad framing from the peer: {e}")),
                        None => return Ended::Lost("the peer closed the connection".into()),
                    }
                }
                _ = &mut pacer, if armed.is_some() => now = Instant::now(),
                written = out.write_some(), if out.busy() => {
                    now = Instant::now();
                    if let Err(e) = written {
                        return Ended::Lost(format!("cannot write to the peer: {e}"));
                    }
                }
                _ = sweep.tick() => {
                    now = Instant::now();
                    self.sweep(now);
                    if let Some(lost) = self.watch_liveness(out, now) {
                        return lost;
                    }
                    let buffered = reader.read_buffer().len();
                    if stall.stalled(buffered, self.frames, now, self.stall_limit) {
                        return Ended::Lost(format!(
                            "the peer left {buffered} bytes of a frame unfinished for {} ms",
                            self.stall_limit.as_millis()
                        ));
                    }
                    if !out.has_room() {
                        let since = *self.congested_since.get_or_insert(now);
                        if now.saturating_duration_since(since) >= self.stall_limit {
                            return Ended::Lost(format!(
                                "the peer has not read for {} ms",
                                self.stall_limit.as_millis()
                            ));
                        }
                    } else {
                        self.congested_since = None;
                    }
                }
            }
        }
    }

    /// Several addresses: an echo after a short silence, and the connection
    /// given up after a silence of the echo interval.
    fn watch_liveness(&mut self, out: &mut Outbound, now: Instant) -> Option<Ended> {
        let liveness = self.liveness.as_mut()?;
        if liveness.silent(now) {
            return Some(Ended::Lost(format!(
                "no answer to anything for {} ms",
                Liveness::INTERVAL.as_millis()
            )));
        }
        if liveness.echo_due(now) {
            self.send_network(out, "301");
        }
        None
    }

    /// Queue an 0800 with field 70 = `code` (its 0810 is taken in `on_frame`).
    fn send_network(&mut self, out: &mut Outbound, code: &str) {
        let Some(stan) = self.free_stan() else {
            return;
        };
        let msg = network_request(code, stan, &self.clock.now());
        match self.cfg.format.encode(&msg) {
            Ok(body) if out.has_room() => {
                let _ = out.push(body);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(connection = self.index, error = %e, "cannot encode a network request");
            }
        }
    }

    fn can_send(&self, out: &Outbound) -> bool {
        out.has_room() && self.inflight.requests() < MAX_IN_FLIGHT
    }

    /// Send what is due: reversals first (they are obligations), then load.
    fn pump(&mut self, out: &mut Outbound, now: Instant) -> Result<(), Ended> {
        while self.inflight.has_reversals_to_send() {
            if !out.has_room() {
                return Ok(());
            }
            let Some((stan, msg)) = self.inflight.next_reversal_to_send(now) else {
                break;
            };
            let repeat = msg.mti() == Mti::REVERSAL_ADVICE_REPEAT;
            match self.cfg.format.encode(msg) {
                Ok(body) => {
                    if let Err(e) = out.push(body) {
                        return Err(Ended::Lost(format!("cannot frame a reversal: {e}")));
                    }
                    if repeat {
                        self.stats.reversal_repeats += 1;
                        tracing::debug!(connection = self.index, stan, "reversal repeated (0421)");
                    } else {
                        self.stats.reversals_sent += 1;
                    }
                }
                Err(e) => {
                    self.stats.encode_failures += 1;
                    tracing::warn!(connection = self.index, stan, error = %e, "cannot encode a reversal");
                }
            }
        }
        if self.load_over(now) {
            return Ok(());
        }
        match self.cfg.drive {
            Drive::Open { .. } => {
                for _ in 0..BURST {
                    let Some(due) = self.schedule.as_ref().and_then(Schedule::next_due) else {
                        break;
                    };
                    if due > now + PACING_SLACK || self.inflight.requests() >= MAX_IN_FLIGHT {
                        break;
                    }
                    if !self.send_request(out, due.min(now), now)? {
                        break;
                    }
                    if let Some(s) = self.schedule.as_mut() {
                        s.advance();
                    }
                    self.stats
                        .record_send_lag(now.saturating_duration_since(due).as_micros() as u64);
                }
            }
            Drive::Closed { concurrency } => {
                while self.inflight.requests() < concurrency && self.quota != Some(0) {
                    if !self.send_request(out, now, now)? {
                        break;
                    }
                    if let Some(q) = self.quota.as_mut() {
                        *q -= 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// A STAN not in use on this link (None if all are: the link is saturated).
    fn free_stan(&mut self) -> Option<u32> {
        for _ in 0..10_000 {
            let stan = self.stans.next_stan();
            if self.inflight.is_free(stan) {
                return Some(stan);
            }
        }
        None
    }

    /// Draw, build and send one request whose latency counts from `origin`.
    /// Ok(false) when it cannot go now (queue full, STANs exhausted, unencodable).
    fn send_request(
        &mut self,
        out: &mut Outbound,
        origin: Instant,
        now: Instant,
    ) -> Result<bool, Ended> {
        if !out.has_room() {
            return Ok(false);
        }
        let Some(stan) = self.free_stan() else {
            return Ok(false);
        };
        let draw = self.gen.next(&self.cfg.plan);
        let keys = RequestKeys {
            stan,
            rrn: self.rrn,
            when: self.clock.now(),
        };
        self.rrn = self.rrn % 99_999_999 + 1;
        match self
            .builder
            .frame(&self.cfg.format, &self.cfg.plan, &draw, &keys)
        {
            Ok(body) => {
                if let Err(e) = out.push(body) {
                    return Err(Ended::Lost(format!("cannot frame a request: {e}")));
                }
            }
            Err(e) => {
                self.stats.encode_failures += 1;
                if self.stats.encode_failures == 1 {
                    tracing::error!(connection = self.index, error = %e, "cannot encode a request");
                }
                return Ok(false);
            }
        }
        self.inflight
            .insert_request(draw, keys, origin, now, self.response_mti);
        self.stats.sent += 1;
        self.stats
            .channels
            .record_sent(self.cfg.plan.channel_of(&draw));
        self.stats.last_send = Some(now);
        Ok(true)
    }

    /// A frame from the peer.
    fn on_frame(&mut self, body: Bytes, out: &mut Outbound, now: Instant) -> Result<(), Ended> {
        let msg = match self.cfg.format.spec.decode(body.clone()) {
            Ok(m) => m,
            Err(e) => {
                self.stats.undecodable += 1;
                self.undecodable_run += 1;
                if self.stats.undecodable <= LOGGED_UNDECODABLE {
                    tracing::warn!(connection = self.index, error = %e, "undecodable frame from the peer");
                } else {
                    tracing::debug!(connection = self.index, error = %e, "undecodable frame from the peer");
                }
                if self.undecodable_run >= UNDECODABLE_RUN {
                    return Err(Ended::Lost(format!(
                        "{UNDECODABLE_RUN} undecodable frames in a row"
                    )));
                }
                return Ok(());
            }
        };
        self.undecodable_run = 0;
        let mti = msg.mti();
        if let Err(failure) = self.cfg.format.check(&body, &msg) {
            self.stats.unauthenticated += 1;
            tracing::warn!(connection = self.index, %mti, stan = ?msg.stan(), reason = %failure, "message with a bad MAC ignored");
            return Ok(());
        }
        if !mti.is_response() {
            self.on_peer_request(&msg, out);
            return Ok(());
        }
        if mti == Mti::NETWORK_RESPONSE && self.liveness.is_some() {
            // The answer to our sign-on or echo: that it came is all that counts.
            return Ok(());
        }
        let Some(stan) = msg.stan() else {
            self.stats.unmatched += 1;
            tracing::debug!(connection = self.index, %mti, "answer without a STAN");
            return Ok(());
        };
        match self.inflight.on_response(stan, mti, now) {
            Matched::Answered(sent) => self.on_answer(&msg, &sent, now),
            Matched::ReversalAcknowledged(attempts) => {
                self.stats.reversals_acknowledged += 1;
                tracing::debug!(
                    connection = self.index,
                    stan,
                    attempts,
                    "reversal acknowledged"
                );
            }
            Matched::Late => self.stats.late += 1,
            Matched::DuplicateAcknowledgement => self.stats.duplicate_acknowledgements += 1,
            Matched::Unmatched => {
                self.stats.unmatched += 1;
                tracing::debug!(connection = self.index, stan, %mti, "answer to nothing outstanding");
            }
            Matched::WrongType => {
                self.stats.wrong_type += 1;
                tracing::debug!(connection = self.index, stan, %mti, "answer of the wrong type");
            }
        }
        Ok(())
    }

    fn on_answer(&mut self, msg: &Message, sent: &Sent, now: Instant) {
        let stats = &mut self.stats;
        stats.answered += 1;
        stats.record_peer_answer(self.peer);
        if let Some(last) = stats.last_answer {
            let silence = now.saturating_duration_since(last).as_micros() as u64;
            stats.longest_silence_us = stats.longest_silence_us.max(silence);
        }
        stats.last_answer = Some(now);
        let micros = now.saturating_duration_since(sent.origin).as_micros() as u64;
        stats.record_latency(micros);
        let rc = match msg.get(39).map(|f| f.bytes()) {
            Some(v) if v.len() == 2 => [v[0], v[1]],
            _ => *b"??",
        };
        stats.record_code(rc);
        stats
            .series
            .record_answer(self.cfg.second_of(now), micros, rc);
        let plan = &self.cfg.plan;
        stats.channels.record_answer(
            plan.channel_of(&sent.draw),
            rc,
            token_kept(plan, &sent.draw, msg),
        );
        if rc == *b"00" {
            let minor_units = plan.minor_units_of(&sent.draw);
            stats.record_approval(
                plan.issuer_of(&sent.draw),
                sent.draw.amount_minor,
                minor_units,
            );
        }
    }

    /// A request from the peer: echo tests and sign-ons get their 0810; anything
    /// else is not for an acquirer.
    fn on_peer_request(&mut self, msg: &Message, out: &mut Outbound) {
        if msg.mti() == Mti::NETWORK_REQUEST {
            let answer = response_to(msg, ResponseCode::APPROVED);
            if let Ok(body) = self.cfg.format.encode(&answer) {
                if out.has_room() {
                    let _ = out.push(body);
                }
            }
        } else {
            self.stats.unmatched += 1;
            tracing::debug!(connection = self.index, mti = %msg.mti(), "unexpected request from the peer");
        }
    }

    /// Time-outs, reversal repeats and late markers due at `now`; publish the counters.
    fn sweep(&mut self, now: Instant) {
        while let Some(sent) = self.inflight.pop_expired(now) {
            self.time_out(&sent, now);
        }
        for gave_up in self.inflight.due_repeats(now) {
            self.stats.reversals_unacknowledged += 1;
            tracing::warn!(
                connection = self.index,
                stan = gave_up.stan,
                attempts = gave_up.attempts,
                "reversal never acknowledged; giving up"
            );
        }
        self.inflight.forget_late(now);
        self.load_over(now);
        self.gauge.publish(&self.stats, self.inflight.requests());
    }

    /// A request got no answer in time: count it and reverse it.
    fn time_out(&mut self, sent: &Sent, now: Instant) {
        self.stats.timed_out += 1;
        self.stats
            .series
            .record_timeouts(self.cfg.second_of(now), 1);
        tracing::debug!(
            connection = self.index,
            stan = sent.keys.stan,
            "request timed out; reversing"
        );
        let original = self.builder.build(&self.cfg.plan, &sent.draw, &sent.keys);
        let stan = self.free_stan();
        let when = self.clock.now();
        match (original, stan) {
            (Some(original), Some(stan)) => match reversal_for(&original, stan, &when) {
                Some(reversal) => self.inflight.add_reversal(stan, reversal, now),
                None => {
                    self.stats.reversals_unacknowledged += 1;
                    tracing::warn!(
                        connection = self.index,
                        stan = sent.keys.stan,
                        "cannot build a reversal"
                    );
                }
            },
            _ => {
                self.stats.reversals_unacknowledged += 1;
                tracing::warn!(
                    connection = self.index,
                    stan = sent.keys.stan,
                    "no STAN free for a reversal"
                );
            }
        }
    }

    /// The link failed: what was in flight on it times out now; reversals not yet
    /// acknowledged go out again on the next link.
    fn on_link_lost(&mut self, now: Instant) {
        self.stats.disconnects += 1;
        for sent in self.inflight.expire_all(now) {
            self.time_out(&sent, now);
        }
        self.inflight.requeue_reversals();
        self.gauge.publish(&self.stats, self.inflight.requests());
    }

    /// The run is over for this link: whatever is still outstanding is abandoned.
    fn finish(&mut self, now: Instant) {
        self.load_over(now);
        let abandoned = self.inflight.expire_all(now).len() as u64;
        self.stats.timed_out += abandoned;
        self.stats
            .series
            .record_timeouts(self.cfg.second_of(now), abandoned);
        let gave_up = self.inflight.abandon_reversals();
        self.stats.reversals_unacknowledged += gave_up.len() as u64;
        if abandoned > 0 || !gave_up.is_empty() {
            tracing::warn!(
                connection = self.index,
                requests = abandoned,
                reversals = gave_up.len(),
                "stopped with business outstanding"
            );
        }
        self.gauge.publish(&self.stats, 0);
    }
}

/// Whether the answer to a QR payment carries nothing but its token in field 2
/// (the switch swaps the PAN back out; a PAN here would be a leak). True for
/// card payments and for answers without field 2.
fn token_kept(plan: &TrafficPlan, draw: &super::traffic::Draw, answer: &Message) -> bool {
    let (Some(token), Some(field)) = (draw.qr, answer.get(2)) else {
        return true;
    };
    let expected = plan.qr().and_then(|qr| qr.token(token)).map(|(t, _)| t);
    expected.is_some_and(|t| *field.bytes() == *t.as_bytes())
}

#[cfg(test)]
mod redial_tests {
    use super::*;

    #[test]
    fn quick_losses_back_off_and_a_lasting_link_starts_afresh() {
        let mut redial = RedialPause::default();
        let t0 = Instant::now();
        assert_eq!(redial.pause(), Duration::ZERO, "the first dial is at once");
        let mut at = t0;
        let mut pauses = Vec::new();
        for _ in 0..8 {
            redial.connected(at);
            at += Duration::from_millis(10);
            redial.lost(at);
            pauses.push(redial.pause().as_millis());
        }
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        redial.connected(at);
        redial.lost(at + Duration::from_secs(30));
        assert_eq!(redial.pause(), Duration::ZERO);
    }

    #[test]
    fn among_several_addresses_the_next_is_dialed_at_once_until_all_failed_quickly() {
        let mut redial = RedialPause::default();
        let mut at = Instant::now();
        let mut pauses = Vec::new();
        for _ in 0..4 {
            redial.connected(at);
            at += Duration::from_millis(10);
            redial.lost(at);
            pauses.push(redial.pause_among(3).as_millis());
        }
        assert_eq!(pauses, [0, 0, 100, 200]);
    }
}
