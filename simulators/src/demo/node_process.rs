//! The demo's side of a node run as a child process ([`super::node_serve`]):
//! started with its configuration file and its keys in the environment, its log
//! appended to a file, its [`Ready`] line awaited (bounded); then killed with
//! SIGKILL (a machine that dies) or stopped with SIGTERM (a graceful drain,
//! bounded, SIGKILL after). A node still running when dropped is killed, so a
//! failed demo leaves no switch behind.
//!
//! Blocking calls (a child's wait, `kill`): the callers run them off the
//! runtime's workers where they can take long ([`NodeProcess::terminate`]).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::node_serve::Ready;

/// How long a node may take to open its store, dial, listen and say so.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A node's process.
pub struct NodeProcess {
    child: Child,
    /// What it said when it was ready.
    pub ready: Ready,
    /// Its log (stderr).
    pub log: PathBuf,
    /// Killed or stopped: no longer serving.
    gone: bool,
}

impl NodeProcess {
    /// Start `program serve-node --config config` with `env` set, its stderr
    /// appended to `log`, and wait until it prints its [`Ready`] line.
    pub fn spawn(
        program: &Path,
        config: &Path,
        log: &Path,
        env: &[(String, String)],
    ) -> Result<NodeProcess, String> {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let mut child = Command::new(program)
            .arg("serve-node")
            .arg("--config")
            .arg(config)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove(super::cluster::ADMIN_TOKEN_VAR)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start {} serve-node: {e}", program.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or("the node's stdout is not piped")?;
        // The first line, read on a thread of its own so that the wait is bounded;
        // the rest drained until the node exits (a closed pipe would fail its
        // next write).
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let read = reader.read_line(&mut line).map(|_| line);
            let _ = tx.send(read);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let failed = |mut child: Child, why: String| {
            let _ = child.kill();
            let _ = child.wait();
            let tail = log_tail(log);
            Err(format!("{why} (log {}):\n{tail}", log.display()))
        };
        let line = match rx.recv_timeout(READY_WITHIN) {
            Ok(Ok(line)) if !line.trim().is_empty() => line,
            Ok(Ok(_)) => return failed(child, "the node exited before it was ready".into()),
            Ok(Err(e)) => return failed(child, format!("cannot read the node's stdout: {e}")),
            Err(_) => {
                return failed(
                    child,
                    format!("the node was not ready within {READY_WITHIN:?}"),
                )
            }
        };
        let ready: Ready = match serde_json::from_str(line.trim()) {
            Ok(r) => r,
            Err(e) => {
                return failed(
                    child,
                    format!("the node's ready line is not understood: {e}"),
                )
            }
        };
        Ok(NodeProcess {
            child,
            ready,
            log: log.to_path_buf(),
            gone: false,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.ready.node
    }

    /// Still running (not killed or stopped by the demo, and not exited).
    pub fn running(&mut self) -> bool {
        !self.gone && matches!(self.child.try_wait(), Ok(None))
    }

    /// `kill -9`: the node stops at once, as a machine that dies.
    pub fn kill(&mut self) -> Result<(), String> {
        self.gone = true;
        self.child
            .kill()
            .map_err(|e| format!("kill -9 {}: {e}", self.ready.node))?;
        self.child
            .wait()
            .map(|_| ())
            .map_err(|e| format!("{} after kill -9: {e}", self.ready.node))
    }

    /// SIGTERM, then wait up to `within` for the node to drain and exit (SIGKILL
    /// after). Its exit status; None when it had to be killed.
    pub fn terminate(&mut self, within: Duration) -> Result<Option<ExitStatus>, String> {
        if self.gone {
            return Ok(None);
        }
        self.gone = true;
        if let Ok(Some(status)) = self.child.try_wait() {
            return Ok(Some(status));
        }
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .map_err(|e| format!("kill -TERM {}: {e}", self.ready.node))?;
        if sent.success() {
            // Counted in polls (a blocking wait on a thread: no runtime clock).
            const POLL: Duration = Duration::from_millis(50);
            for _ in 0..within.as_millis().div_ceil(POLL.as_millis()) {
                match self.child.try_wait() {
                    Ok(Some(status)) => return Ok(Some(status)),
                    Ok(None) => std::thread::sleep(POLL),
                    Err(e) => return Err(format!("{}: {e}", self.ready.node)),
                }
            }
        }
        tracing::warn!(node = %self.ready.node, ?within, "node did not stop in time: killed");
        let _ = self.child.kill();
        let _ = self.child.wait();
        Ok(None)
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last lines of a node's log, for an error message (the switch's log
/// masks card data).
pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
