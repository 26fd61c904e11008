//! `--compare journal`'s measure of the machine: how long an append of 4 KiB
//! and its `fdatasync` take in the journal's directory (what a strict journal's
//! commit waits for), timed just before each mode's runs.

use std::io::Write as _;
use std::path::Path;

use benches::measure::Stopwatch;

/// Latency of `fdatasync` after appending 4 KiB, as a journal commit pays it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsyncLatency {
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// `n` appends of 4 KiB to a new file in `dir`, each followed by `fdatasync`
/// (the write and the sync timed together); the file is removed afterwards.
pub fn fsync_latency(dir: &Path, n: usize) -> Result<FsyncLatency, String> {
    let path = dir.join(format!("switch-compare-fsync-{}.tmp", std::process::id()));
    let timed = (|| -> std::io::Result<Vec<u64>> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        let block = [0x5a_u8; 4096];
        let mut us = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Stopwatch::start();
            file.write_all(&block)?;
            file.sync_data()?;
            us.push((t.elapsed_ns() / 1000.0) as u64);
        }
        Ok(us)
    })();
    let _ = std::fs::remove_file(&path);
    let mut us = timed.map_err(|e| format!("fsync in {}: {e}", dir.display()))?;
    Ok(percentiles(&mut us))
}

/// Nearest-rank percentiles of `us` (sorted in place).
fn percentiles(us: &mut [u64]) -> FsyncLatency {
    us.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * us.len() as f64).ceil() as usize).clamp(1, us.len().max(1));
        us.get(rank - 1).copied().unwrap_or(0)
    };
    FsyncLatency {
        p50_us: at(0.5),
        p99_us: at(0.99),
        max_us: us.last().copied().unwrap_or(0),
    }
}
