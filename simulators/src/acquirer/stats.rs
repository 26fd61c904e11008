//! What one connection counted: outcomes, response codes, approved totals per
//! issuer, latencies (an HdrHistogram per connection, merged at the end, so the
//! hot path touches nothing shared) and the same second by second ([`Series`]).

use hdrhistogram::Histogram;
use routing_rules::model::BankIdx;
use rust_decimal::Decimal;
use tokio::time::Instant;

use super::channels::ChannelStats;
use super::series::Series;

/// Highest latency the histograms track: one hour, in microseconds.
pub const MAX_TRACKED_US: u64 = 3_600_000_000;

/// An empty latency histogram (microseconds, 3 significant digits).
pub fn latency_histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, MAX_TRACKED_US, 3)
        .map_err(|e| format!("cannot create a latency histogram: {e}"))
}

/// A count and the sum of the amounts, in major units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// How many.
    pub count: u64,
    /// Their amounts added.
    pub amount: Decimal,
}

impl Tally {
    fn add(&mut self, amount: Decimal) {
        self.count += 1;
        self.amount += amount;
    }

    fn merge(&mut self, other: &Tally) {
        self.count += other.count;
        self.amount += other.amount;
    }
}

/// The counters of one connection (and, merged, of the run).
#[derive(Clone, Debug)]
pub struct ConnStats {
    /// Requests handed to the link (reversals not included).
    pub sent: u64,
    /// Requests answered in time.
    pub answered: u64,
    /// Requests not answered in time (or lost with their link).
    pub timed_out: u64,
    /// Answers that came after their request had timed out.
    pub late: u64,
    /// Answers whose STAN was not outstanding.
    pub unmatched: u64,
    /// Answers whose STAN was outstanding for another kind of message.
    pub wrong_type: u64,
    /// Frames that did not decode.
    pub undecodable: u64,
    /// Messages whose MAC was missing or wrong (on a MAC link); ignored.
    pub unauthenticated: u64,
    /// Links lost (closed by the peer, broken, or dropped for bad input).
    pub disconnects: u64,
    /// Requests that could not be encoded (a spec that rejects our fields).
    pub encode_failures: u64,
    /// Reversals started (first transmissions, 0420).
    pub reversals_sent: u64,
    /// Repeated transmissions (0421).
    pub reversal_repeats: u64,
    /// Reversals acknowledged (0430).
    pub reversals_acknowledged: u64,
    /// Further 0430s for a reversal already acknowledged (answers to its repeats).
    pub duplicate_acknowledgements: u64,
    /// Reversals given up (no 0430 within the bounds, or the run ended).
    pub reversals_unacknowledged: u64,
    /// Open loop: requests scheduled before the end but never sent.
    pub unsent: u64,
    /// Answers by response code (a response without field 39 counts as `??`).
    pub codes: Vec<([u8; 2], u64)>,
    /// Approvals received in time, by issuer (index in the routing table's banks).
    pub approved: Vec<Tally>,
    /// Approvals of cards of no known issuer (should stay empty).
    pub approved_unknown: Tally,
    /// Latency of answered requests, microseconds.
    pub latency: Histogram<u64>,
    /// Open loop: how late requests left after their intended time, microseconds
    /// (None in closed loop, where nothing is scheduled).
    pub send_lag: Option<Histogram<u64>>,
    /// When the last request was handed to the link.
    pub last_send: Option<Instant>,
    /// When the last answer arrived in time.
    pub last_answer: Option<Instant>,
    /// The longest time between two answers, µs: with steady traffic, how long
    /// the host went unanswered while it failed over to another switch node.
    pub longest_silence_us: u64,
    /// Requests, answers and approvals by channel (card, QR by app).
    pub channels: ChannelStats,
    /// Reconnections that landed on another address than the one lost
    /// (`--connect A,B`: failing over to another node).
    pub failovers: u64,
    /// Answers received in time, by address (index in the `--connect` list).
    pub answered_by_peer: Vec<u64>,
    /// Answers, time-outs, codes and latencies by second of the load.
    pub series: Series,
}

impl ConnStats {
    /// Empty counters for a network of `banks` banks, with clones of `histogram`
    /// (the send lag only when `open_loop`).
    pub fn new(histogram: &Histogram<u64>, banks: usize, open_loop: bool) -> ConnStats {
        ConnStats {
            sent: 0,
            answered: 0,
            timed_out: 0,
            late: 0,
            unmatched: 0,
            wrong_type: 0,
            undecodable: 0,
            unauthenticated: 0,
            disconnects: 0,
            encode_failures: 0,
            reversals_sent: 0,
            reversal_repeats: 0,
            reversals_acknowledged: 0,
            duplicate_acknowledgements: 0,
            reversals_unacknowledged: 0,
            unsent: 0,
            codes: Vec::new(),
            approved: vec![Tally::default(); banks],
            approved_unknown: Tally::default(),
            latency: histogram.clone(),
            send_lag: open_loop.then(|| histogram.clone()),
            last_send: None,
            last_answer: None,
            longest_silence_us: 0,
            channels: ChannelStats::default(),
            failovers: 0,
            answered_by_peer: Vec::new(),
            series: Series::default(),
        }
    }

    /// Everything that went wrong on the links (not declines, not timeouts).
    pub fn errors(&self) -> u64 {
        self.unmatched
            + self.wrong_type
            + self.undecodable
            + self.unauthenticated
            + self.disconnects
            + self.encode_failures
    }

    /// Count an answer with response code `rc`.
    pub fn record_code(&mut self, rc: [u8; 2]) {
        // A handful of distinct codes: a linear scan beats hashing.
        match self.codes.iter_mut().find(|(c, _)| *c == rc) {
            Some((_, n)) => *n += 1,
            None => self.codes.push((rc, 1)),
        }
    }

    /// Count a latency of `micros`.
    pub fn record_latency(&mut self, micros: u64) {
        self.latency.saturating_record(micros.min(MAX_TRACKED_US));
    }

    /// Count how late a request left, `micros` after its intended time.
    pub fn record_send_lag(&mut self, micros: u64) {
        if let Some(h) = self.send_lag.as_mut() {
            h.saturating_record(micros.min(MAX_TRACKED_US));
        }
    }

    /// Count an approval of `amount_minor` (at `minor_units` decimals) for `issuer`.
    pub fn record_approval(
        &mut self,
        issuer: Option<BankIdx>,
        amount_minor: u64,
        minor_units: u32,
    ) {
        let amount = Decimal::new(i64::try_from(amount_minor).unwrap_or(i64::MAX), minor_units);
        match issuer.and_then(|i| self.approved.get_mut(usize::from(i))) {
            Some(t) => t.add(amount),
            None => self.approved_unknown.add(amount),
        }
    }

    /// Count an answer received through address `peer`.
    pub fn record_peer_answer(&mut self, peer: usize) {
        if self.answered_by_peer.len() <= peer {
            self.answered_by_peer.resize(peer + 1, 0);
        }
        self.answered_by_peer[peer] += 1;
    }

    /// Add another connection's counters to these.
    pub fn merge(&mut self, other: &ConnStats) {
        self.failovers += other.failovers;
        if self.answered_by_peer.len() < other.answered_by_peer.len() {
            self.answered_by_peer
                .resize(other.answered_by_peer.len(), 0);
        }
        for (mine, theirs) in self
            .answered_by_peer
            .iter_mut()
            .zip(&other.answered_by_peer)
        {
            *mine += theirs;
        }
        self.sent += other.sent;
        self.answered += other.answered;
        self.timed_out += other.timed_out;
        self.late += other.late;
        self.unmatched += other.unmatched;
        self.wrong_type += other.wrong_type;
        self.undecodable += other.undecodable;
        self.unauthenticated += other.unauthenticated;
        self.disconnects += other.disconnects;
        self.encode_failures += other.encode_failures;
        self.reversals_sent += other.reversals_sent;
        self.reversal_repeats += other.reversal_repeats;
        self.reversals_acknowledged += other.reversals_acknowledged;
        self.duplicate_acknowledgements += other.duplicate_acknowledgements;
        self.reversals_unacknowledged += other.reversals_unacknowledged;
        self.unsent += other.unsent;
        for &(rc, n) in &other.codes {
            match self.codes.iter_mut().find(|(c, _)| *c == rc) {
                Some((_, m)) => *m += n,
                None => self.codes.push((rc, n)),
            }
        }
        if self.approved.len() < other.approved.len() {
            self.approved.resize(other.approved.len(), Tally::default());
        }
        for (mine, theirs) in self.approved.iter_mut().zip(&other.approved) {
            mine.merge(theirs);
        }
        self.approved_unknown.merge(&other.approved_unknown);
        // Same bounds everywhere (clones of one template), so adding cannot fail.
        if let Err(e) = self.latency.add(&other.latency) {
            tracing::warn!(error = %e, "latency histograms do not merge");
        }
        match (self.send_lag.as_mut(), &other.send_lag) {
            (Some(mine), Some(theirs)) => {
                if let Err(e) = mine.add(theirs) {
                    tracing::warn!(error = %e, "send lag histograms do not merge");
                }
            }
            (None, Some(theirs)) => self.send_lag = Some(theirs.clone()),
            _ => {}
        }
        self.last_send = self.last_send.max(other.last_send);
        self.last_answer = self.last_answer.max(other.last_answer);
        self.longest_silence_us = self.longest_silence_us.max(other.longest_silence_us);
        self.channels.merge(&other.channels);
        self.series.merge(&other.series);
    }
}

/// Latency percentiles, microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

impl Percentiles {
    /// The percentiles of `h` (all zero when it is empty).
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_merged_connections() {
        let template = latency_histogram().unwrap();
        let mut a = ConnStats::new(&template, 3, false);
        let mut b = ConnStats::new(&template, 3, false);
        // 1..=1000 us spread over two connections.
        for v in 1..=1000u64 {
            if v % 2 == 0 {
                a.record_latency(v);
            } else {
                b.record_latency(v);
            }
        }
        b.record_latency(u64::MAX); // clamped, not lost
        a.merge(&b);
        let p = Percentiles::of(&a.latency);
        assert_eq!(a.latency.len(), 1001);
        assert!((499..=501).contains(&p.p50), "{p:?}");
        assert!((899..=901).contains(&p.p90), "{p:?}");
        assert!((989..=991).contains(&p.p99), "{p:?}");
        assert!((998..=1000).contains(&p.p999), "{p:?}");
        assert!(p.max >= MAX_TRACKED_US, "{p:?}");
        assert_eq!(Percentiles::of(&template), Percentiles::default());
    }

    #[test]
    fn codes_approvals_and_counters_merge() {
        let template = latency_histogram().unwrap();
        let mut a = ConnStats::new(&template, 2, true);
        let mut b = ConnStats::new(&template, 2, true);
        a.record_code(*b"00");
        a.record_code(*b"51");
        b.record_code(*b"00");
        a.record_approval(Some(1), 125_050, 2);
        b.record_approval(Some(1), 50, 2);
        b.record_approval(Some(0), 1_500, 0);
        b.record_approval(None, 1, 2);
        b.record_approval(Some(9), 1, 2); // out of range: unknown
        a.sent = 3;
        b.sent = 2;
        b.undecodable = 1;
        b.disconnects = 2;
        a.record_peer_answer(0);
        b.record_peer_answer(2);
        b.record_peer_answer(0);
        b.failovers = 1;
        a.merge(&b);
        assert_eq!((a.failovers, &a.answered_by_peer[..]), (1, &[2, 0, 1][..]));
        assert_eq!(a.sent, 5);
        assert_eq!(a.errors(), 3);
        assert!(a.codes.contains(&(*b"00", 2)) && a.codes.contains(&(*b"51", 1)));
        assert_eq!(a.approved[1].count, 2);
        assert_eq!(a.approved[1].amount.to_string(), "1251.00");
        assert_eq!(a.approved[0].amount.to_string(), "1500");
        assert_eq!(a.approved_unknown.count, 2);
    }
}
