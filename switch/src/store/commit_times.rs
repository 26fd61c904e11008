//! How long the journal's last commits took, for the operator console's
//! "commit latency p99". The writer records each commit (one per group of
//! records, not per record); the console asks once a second or so. The
//! Prometheus histogram `switch_journal_commit_seconds` is the long view. It
//! also counts every commit since the start (`switch-compare --compare
//! store` divides the transactions of a run by the commits it made).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Commits remembered: enough for a p99 that moves with the load, small enough
/// to sort on each question.
pub const KEPT: usize = 1024;

/// The durations of the last [`KEPT`] commits, and how many there were in all.
#[derive(Debug, Default)]
pub struct CommitTimes {
    last: Mutex<VecDeque<Duration>>,
    count: AtomicU64,
}

impl CommitTimes {
    /// One commit took `took`.
    pub fn record(&self, took: Duration) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut g = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() == KEPT {
            g.pop_front();
        }
        g.push_back(took);
    }

    /// The 99th percentile of the commits remembered (None before the first),
    /// and how many there were.
    pub fn p99(&self) -> Option<(Duration, usize)> {
        let mut all: Vec<Duration> = self
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        if all.is_empty() {
            return None;
        }
        all.sort_unstable();
        // Nearest rank: the smallest value at or above 99% of the commits.
        let rank = (all.len() * 99).div_ceil(100).max(1);
        Some((all[rank - 1], all.len()))
    }

    /// Commits since the start, including those past the [`KEPT`] remembered.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_of_the_last_commits_only() {
        let t = CommitTimes::default();
        assert_eq!(t.p99(), None);
        for ms in 1..=100 {
            t.record(Duration::from_millis(ms));
        }
        assert_eq!(t.p99(), Some((Duration::from_millis(99), 100)));
        // A slow past falls out of the window once KEPT newer commits came.
        t.record(Duration::from_secs(9));
        for _ in 0..KEPT {
            t.record(Duration::from_millis(2));
        }
        assert_eq!(t.p99(), Some((Duration::from_millis(2), KEPT)));
        // The count keeps every commit, the window only the last.
        assert_eq!(t.count(), 100 + 1 + KEPT as u64);
    }
}
