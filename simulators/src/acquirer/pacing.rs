//! The open-loop schedule of one connection: the intended send time of every
//! request, fixed in advance from the rate, independent of how fast the peer
//! answers. Latency is measured from these times, so a stalled peer shows up in the
//! percentiles instead of silently slowing the load (coordinated omission).
//!
//! Pure: instants come in, nothing here sleeps or reads a clock.

use std::time::Duration;

use tokio::time::Instant;

/// When a connection's requests are due.
#[derive(Clone, Debug)]
pub struct Schedule {
    start: Instant,
    /// Nanoseconds between two requests of this connection.
    interval_ns: f64,
    /// Where in the first interval this connection starts, so that connections
    /// interleave instead of sending in lockstep.
    offset_ns: f64,
    /// Index of the next request.
    next: u64,
    /// Nothing is due at or after this instant (`--duration`).
    end: Option<Instant>,
    /// At most this many requests (this connection's share of `--count`).
    limit: Option<u64>,
}

impl Schedule {
    /// `rate` requests per second on this connection, starting at `start` plus the
    /// connection's `phase` (0 to 1) of one interval.
    pub fn new(
        start: Instant,
        rate: f64,
        phase: f64,
        end: Option<Instant>,
        limit: Option<u64>,
    ) -> Schedule {
        let interval_ns = if rate > 0.0 && rate.is_finite() {
            1e9 / rate
        } else {
            f64::INFINITY
        };
        Schedule {
            start,
            interval_ns,
            offset_ns: phase.clamp(0.0, 1.0) * interval_ns,
            next: 0,
            end,
            limit,
        }
    }

    /// The intended time of request `k`. Computed from the start each time, so
    /// rounding never accumulates into drift.
    fn at(&self, k: u64) -> Option<Instant> {
        let ns = self.offset_ns + k as f64 * self.interval_ns;
        if !ns.is_finite() || ns >= u64::MAX as f64 {
            return None;
        }
        self.start.checked_add(Duration::from_nanos(ns as u64))
    }

    /// When the next request is due; None once the schedule is over.
    pub fn next_due(&self) -> Option<Instant> {
        if self.limit.is_some_and(|l| self.next >= l) {
            return None;
        }
        let at = self.at(self.next)?;
        match self.end {
            Some(end) if at >= end => None,
            _ => Some(at),
        }
    }

    /// The next request is sent (or given up): move on.
    pub fn advance(&mut self) {
        self.next += 1;
    }

    /// Requests handed out so far.
    pub fn issued(&self) -> u64 {
        self.next
    }

    /// How many requests the whole schedule holds (None: unbounded).
    pub fn total(&self) -> Option<u64> {
        let by_time = self.end.map(|end| {
            let span = end.saturating_duration_since(self.start).as_nanos() as f64;
            // Requests k with offset + k * interval < span.
            let n = ((span - self.offset_ns) / self.interval_ns).ceil();
            if n.is_finite() && n > 0.0 {
                n as u64
            } else {
                0
            }
        });
        match (by_time, self.limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// This connection's share of `total` when it is split over `connections`: the
/// first `total % connections` connections take one more.
pub fn share(total: u64, connections: usize, index: usize) -> u64 {
    let c = connections.max(1) as u64;
    total / c + u64::from((index as u64) < total % c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_times_follow_the_rate_without_drift() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, 3.0, 0.0, None, None);
        let mut times = Vec::new();
        for _ in 0..3_000_001 {
            times.push(s.next_due().unwrap());
            s.advance();
        }
        assert_eq!(times[0], t0);
        assert_eq!(times[1] - t0, Duration::from_nanos(333_333_333));
        assert_eq!(times[3] - t0, Duration::from_secs(1));
        // A million seconds later, still on the second.
        assert_eq!(times[3_000_000] - t0, Duration::from_secs(1_000_000));
        assert_eq!(s.issued(), 3_000_001);
    }

    #[test]
    fn phases_interleave_connections() {
        let t0 = Instant::now();
        // 4 connections at 100/s each: 400/s in all, one every 2.5 ms.
        let firsts: Vec<Duration> = (0..4)
            .map(|i| {
                Schedule::new(t0, 100.0, i as f64 / 4.0, None, None)
                    .next_due()
                    .unwrap()
                    - t0
            })
            .collect();
        assert_eq!(
            firsts,
            [0, 2_500_000, 5_000_000, 7_500_000].map(Duration::from_nanos)
        );
    }

    #[test]
    fn end_and_limit_stop_the_schedule() {
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(1);
        let mut s = Schedule::new(t0, 10.0, 0.5, Some(end), None);
        let mut n = 0;
        while s.next_due().is_some() {
            s.advance();
            n += 1;
        }
        assert_eq!(n, 10); // 0.05 s, 0.15 s, ... 0.95 s
        let mut s = Schedule::new(t0, 1_000.0, 0.0, Some(end), Some(3));
        for _ in 0..3 {
            assert!(s.next_due().is_some());
            s.advance();
        }
        assert_eq!(s.next_due(), None);
        assert_eq!(Schedule::new(t0, 0.0, 0.0, None, None).next_due(), None);
    }

    #[test]
    fn totals_match_what_is_handed_out() {
        let t0 = Instant::now();
        for (rate, phase, secs, limit) in [
            (10.0, 0.5, 1, None),
            (1_000.0, 0.0, 1, Some(3)),
            (7.0, 0.3, 3, None),
            (333.0, 0.9, 2, Some(10_000)),
        ] {
            let mut s = Schedule::new(t0, rate, phase, Some(t0 + Duration::from_secs(secs)), limit);
            let total = s.total().unwrap();
            let mut n = 0;
            while s.next_due().is_some() {
                s.advance();
                n += 1;
            }
            assert_eq!(total, n, "{rate} {phase} {secs} {limit:?}");
        }
        assert_eq!(Schedule::new(t0, 5.0, 0.0, None, None).total(), None);
    }

    #[test]
    fn shares_add_up() {
        for (total, c) in [(10u64, 3usize), (2, 64), (1_000_000, 7), (0, 4)] {
            let parts: Vec<u64> = (0..c).map(|i| share(total, c, i)).collect();
            assert_eq!(parts.iter().sum::<u64>(), total);
            assert!(parts.iter().max().unwrap() - parts.iter().min().unwrap() <= 1);
        }
    }
}
