//! Resident memory over a soak: `VmRSS` of this process (switch, issuers and
//! acquirers all run in it) sampled at a fixed period while the traffic runs, and
//! the verdict on the series.
//!
//! The rule: the first third is warm-up (bounded caches such as the duplicate
//! index and the issuers' transaction logs fill there) and is left out; the series
//! is flat when the median of the last third is at most the median of the second
//! third plus the larger of 10 % of it and 8 MiB (allocator jitter at this size).
//! Anything above that grows, which fails the soak. Fewer than six samples cannot
//! say (two per third at least), which does not fail but is reported. Each sample
//! is also printed on stderr as it is taken.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// Allowed growth of the last third over the second, percent of the second.
pub const TOLERANCE_PERCENT: u64 = 10;
/// Allowed growth in bytes, whichever of the two is larger.
pub const TOLERANCE_BYTES: u64 = 8 << 20;
/// Fewest samples a verdict takes.
pub const MIN_SAMPLES: usize = 6;

/// Resident memory of this process in bytes (None where `/proc` is missing).
pub fn rss_now() -> Option<u64> {
    status_kib(None, "VmRSS:").map(|kib| kib * 1024)
}

/// The value in kB of line `key` (`VmRSS:`, `VmHWM:`) of `/proc/<pid>/status`
/// (None: this process).
pub fn status_kib(pid: Option<u32>, key: &str) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    parse_status_kib(&text, key)
}

/// The value in kB of line `key` of a `/proc/<pid>/status` text.
pub fn parse_status_kib(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Bytes in MiB, for reports.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 20)
}

/// One sample: seconds since sampling started, and the resident bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// When, since the first sample.
    pub at: Duration,
    /// `VmRSS`, bytes.
    pub rss: u64,
}

/// A task taking a sample every period until stopped.
pub struct Sampler {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    /// Start sampling now (a first sample at once), then every `every`.
    pub fn spawn(every: Duration) -> Sampler {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut samples = Vec::new();
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stopped.changed() => return samples,
                }
                if let Some(rss) = rss_now() {
                    let at = start.elapsed();
                    // A long run shows it is alive (stderr: not in the report).
                    eprintln!(
                        "soak: {:>6.0} s  resident {:.1} MiB",
                        at.as_secs_f64(),
                        mib(rss)
                    );
                    samples.push(Sample { at, rss });
                }
            }
        });
        Sampler { stop, task }
    }

    /// Stop and return the series.
    pub async fn stop(self) -> Vec<Sample> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// What the series says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The last third stays within the tolerance of the second.
    Flat,
    /// The last third is above it.
    Growing,
    /// Too few samples, or a run too short for the caches to fill, to tell.
    TooShort,
}

impl Verdict {
    /// The word in the report.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Flat => "flat",
            Verdict::Growing => "growing",
            Verdict::TooShort => "too short to tell",
        }
    }
}

/// The figures of a series and its verdict (bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// Smallest sample.
    pub min: u64,
    /// Median of all samples.
    pub median: u64,
    /// Largest sample.
    pub max: u64,
    /// Median of the second third.
    pub second_third: u64,
    /// Median of the last third.
    pub last_third: u64,
    /// The verdict.
    pub verdict: Verdict,
}

/// The median of `values` (the upper one of an even count); 0 when empty.
fn median(values: &[u64]) -> u64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Judge a series of resident sizes by the rule of this module.
pub fn judge(series: &[u64]) -> Judgement {
    let n = series.len();
    let (second, last) = (&series[n / 3..2 * n / 3], &series[2 * n / 3..]);
    let (second_third, last_third) = (median(second), median(last));
    let allowed = (second_third / 100 * TOLERANCE_PERCENT).max(TOLERANCE_BYTES);
    let verdict = if n < MIN_SAMPLES {
        Verdict::TooShort
    } else if last_third > second_third + allowed {
        Verdict::Growing
    } else {
        Verdict::Flat
    };
    Judgement {
        min: series.iter().copied().min().unwrap_or(0),
        median: median(series),
        max: series.iter().copied().max().unwrap_or(0),
        second_third,
        last_third,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn series(mib: &[u64]) -> Vec<u64> {
        mib.iter().map(|m| m * MIB).collect()
    }

    #[test]
    fn warm_up_then_plateau_is_flat() {
        // Caches fill in the first third, then jitter of a few MiB.
        let j = judge(&series(&[40, 120, 200, 300, 302, 298, 305, 301, 299]));
        assert_eq!(j.verdict, Verdict::Flat);
        assert_eq!((j.min, j.max), (40 * MIB, 305 * MIB));
        assert_eq!((j.second_third, j.last_third), (300 * MIB, 301 * MIB));
        // Shrinking is not growth.
        assert_eq!(
            judge(&series(&[300, 300, 300, 300, 300, 300, 250, 250, 250])).verdict,
            Verdict::Flat
        );
    }

    #[test]
    fn steady_growth_fails_and_small_jitter_does_not() {
        // 4 % a sample: the last third's median is 12 % above the second's.
        let growing: Vec<u64> = (0..12).map(|i| (200 + 8 * i) * MIB).collect();
        assert_eq!(judge(&growing).verdict, Verdict::Growing);
        // Small sizes: up to 8 MiB is allowed even above 10 %.
        assert_eq!(
            judge(&series(&[10, 20, 20, 20, 27, 28])).verdict,
            Verdict::Flat
        );
        assert_eq!(
            judge(&series(&[10, 20, 20, 20, 29, 29])).verdict,
            Verdict::Growing
        );
    }

    #[test]
    fn short_series_cannot_tell() {
        assert_eq!(judge(&[]).verdict, Verdict::TooShort);
        assert_eq!(
            judge(&series(&[1, 2, 300, 400, 500])).verdict,
            Verdict::TooShort
        );
    }

    #[test]
    fn this_process_has_a_resident_size() {
        if cfg!(target_os = "linux") {
            assert!(rss_now().is_some_and(|b| b > MIB));
        }
    }
}
