//! The CPU time of the middle's own process during a run: user + system time of
//! all its threads from `/proc/<pid>/stat`, and the machine's from `/proc/stat`,
//! read before and after the load; so the switch's cost per transaction is seen
//! apart from the load generator's and the issuer's (which share this process).

use benches::loopback::{parse_proc_stat, parse_process_ticks, Figures};

/// Clock ticks per second of `/proc` times (`USER_HZ`: 100 on every Linux ABI).
const TICKS_PER_SEC: f64 = 100.0;

/// A reading of the middle's CPU time and the machine's.
#[derive(Clone, Copy, Debug)]
pub struct MiddleCpu {
    pid: u32,
    /// The process's user + system ticks.
    process: u64,
    /// The machine's ticks, every CPU and state.
    machine: u64,
}

/// What the middle used between two readings.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MiddleUsage {
    /// CPU seconds (user + system, all threads).
    pub secs: f64,
    /// Share of the machine's CPU time (1.0 = every core busy with it).
    pub share: f64,
}

impl MiddleCpu {
    /// Now; None where `/proc` cannot be read (not Linux, or the process is gone).
    pub fn now(pid: u32) -> Option<MiddleCpu> {
        let own = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        Some(MiddleCpu {
            pid,
            process: parse_process_ticks(&own)?,
            machine: parse_proc_stat(&stat)?.0,
        })
    }

    /// What the process used since this reading.
    pub fn since(&self) -> Option<MiddleUsage> {
        let now = MiddleCpu::now(self.pid)?;
        Some(usage(self, &now))
    }
}

fn usage(before: &MiddleCpu, after: &MiddleCpu) -> MiddleUsage {
    let ticks = after.process.saturating_sub(before.process) as f64;
    let machine = after.machine.saturating_sub(before.machine).max(1) as f64;
    MiddleUsage {
        secs: ticks / TICKS_PER_SEC,
        share: ticks / machine,
    }
}

/// Microseconds of CPU per transaction (NaN without transactions).
pub fn us_per_txn(cpu_secs: f64, transactions: u64) -> f64 {
    if transactions == 0 {
        return f64::NAN;
    }
    cpu_secs * 1e6 / transactions as f64
}

/// This whole process's CPU time per answered transaction, µs, from a run's
/// share of the machine (middle and simulators together when the middle runs
/// here): every core counted.
pub fn process_cpu_us_per_txn(f: &Figures) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    f.cpu_self * cores * 1e6 / f.tps.max(f64::MIN_POSITIVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_between_readings() {
        let before = MiddleCpu {
            pid: 1,
            process: 1_000,
            machine: 50_000,
        };
        let after = MiddleCpu {
            pid: 1,
            process: 1_150,
            machine: 50_600,
        };
        let u = usage(&before, &after);
        assert!((u.secs - 1.5).abs() < 1e-9);
        assert!((u.share - 0.25).abs() < 1e-9);
        assert!((us_per_txn(u.secs, 100_000) - 15.0).abs() < 1e-9);
        assert!(us_per_txn(1.0, 0).is_nan());
    }

    /// This process's own reading works where /proc exists.
    #[test]
    fn reads_a_live_process() {
        if std::path::Path::new("/proc/self/stat").exists() {
            let me = MiddleCpu::now(std::process::id()).expect("own /proc reading");
            assert!(me.since().is_some());
        }
    }
}
