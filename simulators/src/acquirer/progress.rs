//! The live progress line on stderr (only when stderr is a terminal): TPS, in
//! flight, outcomes, p99 latency and errors, redrawn at most every half second.
//!
//! The p99 is that of the last complete second of the worst link: percentiles
//! of several links do not add up, and a link's last second is known without
//! touching its histogram on the hot path (its series computes it once a second).
//!
//! Each connection publishes its own counters into its own [`Gauge`] on its sweep
//! tick (one writer per gauge, relaxed stores: nothing shared on the hot path); the
//! progress task only reads and adds them.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::stats::ConnStats;

/// How often the line is redrawn.
pub const REDRAW: Duration = Duration::from_millis(500);

/// One connection's published counters.
#[derive(Debug, Default)]
pub struct Gauge {
    sent: AtomicU64,
    answered: AtomicU64,
    timed_out: AtomicU64,
    errors: AtomicU64,
    in_flight: AtomicU64,
    p99_us: AtomicU64,
}

impl Gauge {
    /// Publish the connection's counters and its requests in flight.
    pub fn publish(&self, stats: &ConnStats, in_flight: usize) {
        self.sent.store(stats.sent, Ordering::Relaxed);
        self.answered.store(stats.answered, Ordering::Relaxed);
        self.timed_out.store(stats.timed_out, Ordering::Relaxed);
        self.errors.store(stats.errors(), Ordering::Relaxed);
        self.in_flight.store(in_flight as u64, Ordering::Relaxed);
        self.p99_us
            .store(stats.series.last_p99(), Ordering::Relaxed);
    }
}

/// The sums over all gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Requests sent.
    pub sent: u64,
    /// Answered in time.
    pub answered: u64,
    /// Timed out.
    pub timed_out: u64,
    /// Link and protocol errors.
    pub errors: u64,
    /// Outstanding requests.
    pub in_flight: u64,
    /// The worst link's p99 latency over its last complete second, µs.
    pub p99_us: u64,
}

/// Add up the gauges.
pub fn totals(gauges: &[Arc<Gauge>]) -> Totals {
    let mut t = Totals::default();
    for g in gauges {
        t.sent += g.sent.load(Ordering::Relaxed);
        t.answered += g.answered.load(Ordering::Relaxed);
        t.timed_out += g.timed_out.load(Ordering::Relaxed);
        t.errors += g.errors.load(Ordering::Relaxed);
        t.in_flight += g.in_flight.load(Ordering::Relaxed);
        t.p99_us = t.p99_us.max(g.p99_us.load(Ordering::Relaxed));
    }
    t
}

/// The progress line for `now` totals, `elapsed` into the run, answering at `tps`.
pub fn line(elapsed: Duration, now: &Totals, tps: f64) -> String {
    format!(
        "[{:7.1}s] tps {:9.0}  in flight {:6}  sent {:10}  answered {:10}  p99 {:7} µs  timed out {:7}  errors {:5}",
        elapsed.as_secs_f64(),
        tps,
        now.in_flight,
        now.sent,
        now.answered,
        now.p99_us,
        now.timed_out,
        now.errors
    )
}

/// Start redrawing the line if stderr is a terminal, until `done` turns true; the
/// line is cleared at the end. None when stderr is not a terminal.
pub fn spawn(gauges: Vec<Arc<Gauge>>, mut done: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(tokio::spawn(async move {
        let start = Instant::now();
        let mut tick = tokio::time::interval(REDRAW);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = (start, Totals::default());
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                r = done.changed() => if r.is_err() || *done.borrow() { break },
            }
            let now = Instant::now();
            let t = totals(&gauges);
            let dt = now.saturating_duration_since(last.0).as_secs_f64();
            let tps = if dt > 0.0 {
                t.answered.saturating_sub(last.1.answered) as f64 / dt
            } else {
                0.0
            };
            last = (now, t);
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{}\x1b[K", line(now - start, &t, tps));
            let _ = err.flush();
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K");
        let _ = err.flush();
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquirer::stats::latency_histogram;

    #[test]
    fn gauges_add_up_into_one_line() {
        let h = latency_histogram().unwrap();
        let gauges: Vec<Arc<Gauge>> = (0..3).map(|_| Arc::new(Gauge::default())).collect();
        for (i, g) in gauges.iter().enumerate() {
            let mut s = ConnStats::new(&h, 1, false);
            s.sent = 10 * (i as u64 + 1);
            s.answered = 9;
            s.undecodable = 1;
            // Link i's last complete second: p99 (i + 1) × 50 µs.
            s.series.record_answer(0, (i as u64 + 1) * 50, *b"00");
            s.series.record_answer(1, 1, *b"00");
            g.publish(&s, 2);
        }
        let t = totals(&gauges);
        assert_eq!(
            t,
            Totals {
                sent: 60,
                answered: 27,
                timed_out: 0,
                errors: 3,
                in_flight: 6,
                p99_us: 150,
            }
        );
        let l = line(Duration::from_millis(2500), &t, 1234.4);
        assert!(l.contains("2.5s") && l.contains("1234") && l.contains("in flight      6"));
        assert!(l.contains("p99     150 µs"), "{l}");
        assert!(!l.contains('\n'));
    }
}
