//! What the console shows over a window of time, kept beside the metrics
//! publish: once a second the driver hands over the core's cumulative answer
//! counters and the issuer answer times it drained, and the windows are
//! differences between two of those snapshots (response codes over 5 minutes,
//! TPS over a minute) or the times of the last minute (latency percentiles).
//! Nothing here runs on the request path.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::core::counters::Decider;
use crate::core::CoreStats;

/// The response-code window.
pub const CODES_WINDOW: Duration = Duration::from_secs(300);
/// The TPS and latency window.
pub const RATE_WINDOW: Duration = Duration::from_secs(60);
/// Answer times kept per issuer over [`RATE_WINDOW`]; past it the oldest
/// second goes (a percentile of 100,000 answers is as good as of more).
pub const LATENCY_SAMPLES_KEPT: usize = 100_000;

/// Which side of an answer a bank was on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// Its request, as acquirer.
    Acquired,
    /// For its card, as issuer.
    Issued,
}

/// (bank, side, response code, who decided).
pub type AnswerKey = (String, Side, String, Decider);

/// The cumulative answer counters at one moment.
#[derive(Debug)]
struct Snapshot {
    at: Instant,
    answers: BTreeMap<AnswerKey, u64>,
}

/// Answer times (ms) of one issuer, a second's worth per entry.
#[derive(Debug, Default)]
struct Times {
    seconds: VecDeque<(Instant, Vec<u32>)>,
    count: usize,
}

/// The last five minutes of snapshots and the last minute of answer times.
#[derive(Debug)]
pub struct History {
    snapshots: VecDeque<Snapshot>,
    times: BTreeMap<String, Times>,
}

/// Latency percentiles over the last minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percentiles {
    /// Median, ms.
    pub p50: u32,
    /// 99th percentile, ms.
    pub p99: u32,
    /// Answers they are taken over.
    pub samples: usize,
}

impl History {
    /// A history that starts at `start` with every counter at zero (the core's
    /// counters start there too).
    pub fn new(start: Instant) -> History {
        History {
            snapshots: VecDeque::from([Snapshot {
                at: start,
                answers: BTreeMap::new(),
            }]),
            times: BTreeMap::new(),
        }
    }

    /// The core's counters at `at`, and the issuer answer times drained since
    /// the last call.
    pub fn record(&mut self, at: Instant, stats: &CoreStats, latencies: &[(String, Vec<u32>)]) {
        let mut answers = BTreeMap::new();
        for (bank, b) in &stats.banks {
            for (side, tally) in [
                (Side::Acquired, &b.answers_acquired),
                (Side::Issued, &b.answers_issued),
            ] {
                for ((rc, decider), n) in tally {
                    answers.insert((bank.clone(), side, rc.clone(), *decider), *n);
                }
            }
        }
        self.snapshots.push_back(Snapshot { at, answers });
        // Keep one snapshot at or before the window's start: the base of the
        // difference.
        while self.snapshots.len() > 2 && self.snapshots[1].at + CODES_WINDOW <= at {
            self.snapshots.pop_front();
        }
        for (issuer, samples) in latencies {
            let t = self.times.entry(issuer.clone()).or_default();
            t.count += samples.len();
            t.seconds.push_back((at, samples.clone()));
        }
        for t in self.times.values_mut() {
            while let Some((when, samples)) = t.seconds.front() {
                if *when + RATE_WINDOW <= at || t.count > LATENCY_SAMPLES_KEPT {
                    t.count -= samples.len();
                    t.seconds.pop_front();
                } else {
                    break;
                }
            }
        }
        self.times.retain(|_, t| !t.seconds.is_empty());
    }

    /// Answers counted within `window` before the last snapshot, and the time
    /// that actually covers (shorter while the switch is younger than it).
    pub fn answers_within(&self, window: Duration) -> (BTreeMap<AnswerKey, u64>, Duration) {
        let Some(last) = self.snapshots.back() else {
            return (BTreeMap::new(), Duration::ZERO);
        };
        let base = self
            .snapshots
            .iter()
            .rev()
            .find(|s| s.at + window <= last.at)
            .or(self.snapshots.front())
            .unwrap_or(last);
        let counts = last
            .answers
            .iter()
            .map(|(k, n)| {
                (
                    k.clone(),
                    n - base.answers.get(k).copied().unwrap_or(0).min(*n),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        (counts, last.at.saturating_duration_since(base.at))
    }

    /// `issuer`'s answer-time percentiles over the last minute.
    pub fn latency(&self, issuer: &str) -> Option<Percentiles> {
        let t = self.times.get(issuer)?;
        let mut all: Vec<u32> = t
            .seconds
            .iter()
            .flat_map(|(_, s)| s.iter().copied())
            .collect();
        if all.is_empty() {
            return None;
        }
        all.sort_unstable();
        let at = |q: usize| all[((all.len() * q).div_ceil(100)).max(1) - 1];
        Some(Percentiles {
            p50: at(50),
            p99: at(99),
            samples: all.len(),
        })
    }
}

/// The answers of `bank` on `side` per second over a window: `counts` from
/// [`History::answers_within`] over `covered`; `only` keeps one decider (an
/// issuer's own answers).
pub fn per_second(
    counts: &BTreeMap<AnswerKey, u64>,
    covered: Duration,
    bank: &str,
    side: Side,
    only: Option<Decider>,
) -> f64 {
    if covered.is_zero() {
        return 0.0;
    }
    let n: u64 = counts
        .iter()
        .filter(|((b, s, _, d), _)| b == bank && *s == side && only.is_none_or(|o| o == *d))
        .map(|(_, n)| n)
        .sum();
    n as f64 / covered.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::stats::BankStats;

    fn stats(acquirer_00: u64, region_57: u64) -> CoreStats {
        let mut bank = BankStats::default();
        bank.answers_acquired
            .insert(("00".into(), Decider::Issuer), acquirer_00);
        bank.answers_acquired
            .insert(("57".into(), Decider::RegionRule), region_57);
        let mut s = CoreStats::default();
        s.banks.insert("940810".into(), bank);
        s
    }

    #[test]
    fn codes_are_counted_within_the_window_only() {
        let start = Instant::now();
        let mut h = History::new(start);
        // 100 approvals in the first minute, then 10 a minute for ten minutes.
        h.record(start + Duration::from_secs(60), &stats(100, 1), &[]);
        for minute in 2..=11u64 {
            h.record(
                start + Duration::from_secs(60 * minute),
                &stats(100 + 10 * (minute - 1), 1),
                &[],
            );
        }
        let (counts, covered) = h.answers_within(CODES_WINDOW);
        assert_eq!(covered, CODES_WINDOW);
        let key = (
            "940810".to_string(),
            Side::Acquired,
            "00".to_string(),
            Decider::Issuer,
        );
        assert_eq!(counts.get(&key), Some(&50));
        // The region-rule decline was long ago: not in the window.
        assert!(counts.keys().all(|k| k.3 != Decider::RegionRule));
        let tps = per_second(&counts, covered, "940810", Side::Acquired, None);
        assert!((tps - 50.0 / 300.0).abs() < 1e-9);
        // At most one snapshot older than the window is kept.
        assert!(h.snapshots.len() <= 7, "{}", h.snapshots.len());
    }

    #[test]
    fn a_young_switch_counts_from_its_start() {
        let start = Instant::now();
        let mut h = History::new(start);
        h.record(start + Duration::from_secs(2), &stats(4, 2), &[]);
        let (counts, covered) = h.answers_within(RATE_WINDOW);
        assert_eq!(covered, Duration::from_secs(2));
        let key = (
            "940810".to_string(),
            Side::Acquired,
            "57".to_string(),
            Decider::RegionRule,
        );
        assert_eq!(counts.get(&key), Some(&2));
    }

    #[test]
    fn latency_of_the_last_minute() {
        let start = Instant::now();
        let mut h = History::new(start);
        let slow = vec![("940810".to_string(), vec![1000; 50])];
        h.record(start + Duration::from_secs(1), &CoreStats::default(), &slow);
        let fast = vec![("940810".to_string(), (1..=100).collect::<Vec<u32>>())];
        h.record(
            start + Duration::from_secs(70),
            &CoreStats::default(),
            &fast,
        );
        let p = h.latency("940810").expect("samples");
        assert_eq!((p.p50, p.p99, p.samples), (50, 99, 100));
        assert_eq!(h.latency("940820"), None);
    }
}
