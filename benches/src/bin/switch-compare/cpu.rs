//! The CPU time of the middle's own process during a run: user + system time of
//! all its threads from `/proc/<pid>/stat`, and the machine's from `/proc/stat`,
//! read before and after the load; so the switch's cost per transaction is seen
//! apart from the load generator's and the issuer's (which share this process).
//! Likewise a PostgreSQL server's whole process tree (`--compare store`).

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
    /// A PostgreSQL server's process tree ([`MiddleCpu::server_now`]) rather
    /// than one process.
    server: bool,
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
            server: false,
        })
    }

    /// A PostgreSQL server's CPU time now: its postmaster (`pid`) and every
    /// process it started; None where `/proc` cannot be read.
    pub fn server_now(postmaster: u32) -> Option<MiddleCpu> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        Some(MiddleCpu {
            pid: postmaster,
            process: server_ticks(postmaster)?,
            machine: parse_proc_stat(&stat)?.0,
            server: true,
        })
    }

    /// What the process (or the server) used since this reading.
    pub fn since(&self) -> Option<MiddleUsage> {
        let now = match self.server {
            true => MiddleCpu::server_now(self.pid)?,
            false => MiddleCpu::now(self.pid)?,
        };
        Some(usage(self, &now))
    }
}

/// User + system ticks of a server's process tree: the postmaster's own and
/// those of its children it has reaped (`cutime`, `cstime`: a backend that ends
/// during the load still counts), plus every live child's. PostgreSQL starts
/// every process from the postmaster, so one level is the whole tree.
fn server_ticks(postmaster: u32) -> Option<u64> {
    let own = std::fs::read_to_string(format!("/proc/{postmaster}/stat")).ok()?;
    let mut ticks = parse_process_ticks(&own)? + reaped_children_ticks(&own)?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may end between the listing and the read: skip it (its
        // time is then in the postmaster's reaped children's).
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if parent_pid(&text) == Some(postmaster) {
            ticks += parse_process_ticks(&text).unwrap_or(0);
        }
    }
    Some(ticks)
}

/// The fields after the command name of a `/proc/<pid>/stat` text (which may
/// hold spaces and parentheses): the first is field 3, the state.
fn stat_fields(text: &str) -> Option<Vec<&str>> {
    Some(text[text.rfind(')')? + 1..].split_whitespace().collect())
}

/// Field 4, the parent's pid.
fn parent_pid(text: &str) -> Option<u32> {
    stat_fields(text)?.get(1)?.parse().ok()
}

/// Fields 16 and 17, `cutime` + `cstime`: the reaped children's time.
fn reaped_children_ticks(text: &str) -> Option<u64> {
    let fields = stat_fields(text)?;
    let cutime: u64 = fields.get(13)?.parse().ok()?;
    let cstime: u64 = fields.get(14)?.parse().ok()?;
    Some(cutime + cstime)
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
            server: false,
        };
        let after = MiddleCpu {
            pid: 1,
            process: 1_150,
            machine: 50_600,
            server: false,
        };
        let u = usage(&before, &after);
        assert!((u.secs - 1.5).abs() < 1e-9);
        assert!((u.share - 0.25).abs() < 1e-9);
        assert!((us_per_txn(u.secs, 100_000) - 15.0).abs() < 1e-9);
        assert!(us_per_txn(1.0, 0).is_nan());
    }

    /// The parent and the reaped children's time of a stat line whose command
    /// name holds a space and a parenthesis.
    #[test]
    fn stat_line_fields() {
        let line = "1234 (post (gres) S 99 1234 1234 0 -1 4194560 100 0 0 0 7 3 11 5 20 0 1 0 100";
        assert_eq!(parent_pid(line), Some(99));
        assert_eq!(parse_process_ticks(line), Some(10));
        assert_eq!(reaped_children_ticks(line), Some(16));
    }

    /// A server's reading counts a child that ended and was reaped: here this
    /// process stands for the postmaster, a shell loop for a backend.
    #[test]
    fn a_reaped_child_counts_in_the_server_tree() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        let reaped = || {
            let me = std::fs::read_to_string("/proc/self/stat").expect("own stat");
            reaped_children_ticks(&me).expect("cutime")
        };
        let (reaped_before, before) = (reaped(), MiddleCpu::server_now(std::process::id()));
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
            .status()
            .expect("sh runs");
        assert!(status.success());
        let child = reaped() - reaped_before;
        assert!(child > 0, "the loop took at least a tick");
        let used = before.and_then(|b| b.since()).expect("server reading");
        // Back to whole ticks: 29 / 100.0 * 100.0 is 28.999999999999996.
        let used_ticks = (used.secs * TICKS_PER_SEC).round() as u64;
        assert!(
            used_ticks >= child,
            "{used_ticks} ticks < the child's {child}"
        );
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
