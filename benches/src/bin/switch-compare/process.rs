//! The middle in a child process: this binary with `--serve-switch CONFIG` or
//! `--serve-relay UPSTREAM` (see [`crate::serve`]), or `--switch-bin PATH run
//! --config CONFIG` for the memory mode. The parent talks to this binary's child
//! over its stdin and stdout: it waits for `ready ADDR`, asks `heap`, `added`
//! and `commits`, and ends it by closing stdin; the child's stderr goes to a log file
//! whose end is shown when it dies.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::stand_in::StandInCount;

use benches::loopback::{BENCH_KEK, BENCH_KEK_ENV, BENCH_PAN_KEY, BENCH_PAN_KEY_ENV};

/// How long a child may take to say it is ready (the switch signs on first).
const READY_PATIENCE: Duration = Duration::from_secs(20);

/// What the child serves.
pub enum Serve<'a> {
    /// The switch from a configuration text; with `switch_bin`, that binary's
    /// `run --config` instead of this binary (which then says nothing on stdout).
    Switch {
        config: &'a str,
        switch_bin: Option<&'a Path>,
    },
    /// The plain frame relay to `upstream`.
    Relay { upstream: SocketAddr },
}

/// A running child; killed (if still running) and its files removed when dropped.
pub struct MiddleProcess {
    child: Child,
    /// Its answers (this binary's child only).
    answers: Option<BufReader<ChildStdout>>,
    /// Where it listens, as its `ready` line said (this binary's child only).
    pub addr: Option<SocketAddr>,
    config: Option<PathBuf>,
    log: PathBuf,
}

/// Start a child and, for this binary's, wait until it says it is ready.
pub async fn spawn(serve: Serve<'_>) -> Result<MiddleProcess, String> {
    static CHILDREN: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    let n = CHILDREN.fetch_add(1, Ordering::Relaxed);
    let stem = format!("switch-compare-{}-{n}", std::process::id());
    let log = dir.join(format!("{stem}.log"));
    let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let me = || std::env::current_exe().map_err(|e| format!("current_exe: {e}"));
    let (mut command, config) = match serve {
        Serve::Switch { config, switch_bin } => {
            let path = dir.join(format!("{stem}.toml"));
            std::fs::write(&path, config).map_err(|e| format!("{}: {e}", path.display()))?;
            let command = match switch_bin {
                Some(bin) => {
                    let mut c = Command::new(bin);
                    c.arg("run").arg("--config").arg(&path);
                    c.stdout(Stdio::null());
                    c
                }
                None => {
                    let mut c = Command::new(me()?);
                    c.arg("--serve-switch").arg(&path);
                    c.stdout(Stdio::piped());
                    c
                }
            };
            (command, Some(path))
        }
        Serve::Relay { upstream } => {
            let mut c = Command::new(me()?);
            c.arg("--serve-relay").arg(upstream.to_string());
            c.stdout(Stdio::piped());
            (c, None)
        }
    };
    let mut child = command
        .env(BENCH_PAN_KEY_ENV, BENCH_PAN_KEY)
        // Read only by a configuration that names it (`--compare stand-in`).
        .env(BENCH_KEK_ENV, BENCH_KEK)
        .stdin(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("cannot start the middle's process: {e}"))?;
    let answers = child.stdout.take().map(BufReader::new);
    let mut process = MiddleProcess {
        child,
        answers: None,
        addr: None,
        config,
        log,
    };
    if let Some(mut answers) = answers {
        // The first line is `ready ADDR`, or nothing when the child fails.
        let read = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            let _ = answers.read_line(&mut line);
            (answers, line)
        });
        let (answers, line) = match tokio::time::timeout(READY_PATIENCE, read).await {
            Ok(Ok(read)) => read,
            _ => {
                process.check_alive()?;
                return Err(format!(
                    "the middle's process was not ready within {READY_PATIENCE:?}"
                ));
            }
        };
        let addr = line
            .strip_prefix("ready ")
            .and_then(|a| a.trim().parse().ok());
        if addr.is_none() {
            process.check_alive()?;
            return Err(format!("the middle's process said {line:?}, not ready"));
        }
        process.addr = addr;
        process.answers = Some(answers);
    }
    Ok(process)
}

impl MiddleProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ask this binary's child `question` and return the numbers of its answer
    /// line (`question N M ...`); None for another child or a broken pipe.
    fn ask(&mut self, question: &str) -> Option<Vec<i64>> {
        let answers = self.answers.as_mut()?;
        let stdin = self.child.stdin.as_mut()?;
        stdin.write_all(format!("{question}\n").as_bytes()).ok()?;
        stdin.flush().ok()?;
        let mut line = String::new();
        answers.read_line(&mut line).ok()?;
        let mut words = line.split_whitespace();
        (words.next()? == question).then_some(())?;
        words.map(|w| w.parse::<i64>().ok()).collect()
    }

    /// The live heap of the switch process, (bytes, blocks), from its tracking
    /// allocator (`--serve-switch` only; None for `--switch-bin`).
    pub fn heap(&mut self) -> Option<(i64, i64)> {
        match self.ask("heap")?[..] {
            [bytes, blocks] => Some((bytes, blocks)),
            _ => None,
        }
    }

    /// The time the switch added per hop so far, (p50, p99) in µs (`--serve-switch`).
    pub fn added(&mut self) -> Option<(u64, u64)> {
        match self.ask("added")?[..] {
            [p50, p99] => Some((u64::try_from(p50).ok()?, u64::try_from(p99).ok()?)),
            _ => None,
        }
    }

    /// The switch's journal commits so far (`--serve-switch` with a journal).
    pub fn commits(&mut self) -> Option<u64> {
        match self.ask("commits")?[..] {
            [commits] => u64::try_from(commits).ok(),
            _ => None,
        }
    }

    /// The switch's issuer links signed on and its stand-in decisions so far
    /// for the benchmark's issuer (`--serve-switch`).
    pub fn stand_in(&mut self) -> Option<StandInCount> {
        match self.ask("stand-in")?[..] {
            [links_up, approved, declined, saf_depth] => Some(StandInCount {
                issuer_links_up: u64::try_from(links_up).ok()?,
                approved: u64::try_from(approved).ok()?,
                declined: u64::try_from(declined).ok()?,
                saf_depth: u64::try_from(saf_depth).ok()?,
            }),
            _ => None,
        }
    }

    /// Fail if the process has exited, with the end of its log.
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(10).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                Err(format!(
                    "the middle's process exited ({status}):\n{}",
                    tail.join("\n")
                ))
            }
            Err(e) => Err(format!("cannot watch the middle's process: {e}")),
        }
    }

    /// Close its stdin (it exits) and wait up to 5 s; then it is killed on drop.
    pub async fn stop(mut self) {
        drop(self.child.stdin.take());
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for MiddleProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(config) = &self.config {
            let _ = std::fs::remove_file(config);
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
