//! A throwaway PostgreSQL server for the tests of the PostgreSQL store and the
//! cluster (issue 19), started with `scripts/postgres.sh` in a temporary folder and
//! stopped when dropped. Without PostgreSQL installed, [`ThrowawayPostgres::start`]
//! prints that the test skipped and returns None, unless `POSTGRES_REQUIRED=1`
//! (CI), when it fails the test instead (the script then installs the package
//! when it runs as root).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

/// How long starting or stopping the server may take (the script's own waits
/// are 30 s each; an install from the network is allowed longer).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// A running server in a temporary folder; stopped (and the folder removed) on drop.
pub struct ThrowawayPostgres {
    dir: PathBuf,
    url: String,
    running: bool,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres.sh")
}

fn required() -> bool {
    std::env::var("POSTGRES_REQUIRED").is_ok_and(|v| v == "1")
}

fn installed() -> bool {
    std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|versions| {
        versions
            .flatten()
            .any(|v| v.path().join("bin/initdb").is_file())
    })
}

/// Run the script with `command` on `dir`, bounded in time; its stdout.
fn run_script(command: &str, dir: &Path) -> Result<String, String> {
    let mut child = Command::new("bash")
        .arg(script())
        .arg(command)
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run scripts/postgres.sh: {e}"))?;
    let started = SystemTime::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed().is_ok_and(|e| e < SCRIPT_TIMEOUT) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            _ => {
                let _ = child.kill();
                return Err(format!(
                    "scripts/postgres.sh {command} took over {SCRIPT_TIMEOUT:?}"
                ));
            }
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("scripts/postgres.sh {command}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/postgres.sh {command} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl ThrowawayPostgres {
    /// Start a server, or None (printed: skipped) when PostgreSQL is not installed
    /// and `POSTGRES_REQUIRED` is not `1`.
    pub fn start() -> Option<ThrowawayPostgres> {
        if !installed() && !required() {
            println!("skipped: no PostgreSQL (set POSTGRES_REQUIRED=1 to make this a failure)");
            return None;
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "switch-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let url = match run_script("start", &dir) {
            Ok(url) => url,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                if required() {
                    panic!("POSTGRES_REQUIRED=1 and no server: {e}");
                }
                println!("skipped: no PostgreSQL server ({e})");
                return None;
            }
        };
        Some(ThrowawayPostgres {
            dir,
            url,
            running: true,
        })
    }

    /// The `switch` database's URL (`postgres://switch@127.0.0.1:PORT/switch`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new, empty database `name` on this server; its URL.
    pub fn new_database(&self, name: &str) -> String {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("postgresql")
            .flatten()
            .map(|v| v.path().join("bin"))
            .filter(|b| b.join("psql").is_file())
            .max()
            .expect("psql");
        let port = self.port();
        let status = Command::new(bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "switch"])
            .args([
                "-d",
                "switch",
                "-qc",
                &format!("CREATE DATABASE \"{name}\""),
            ])
            .status()
            .expect("psql runs");
        assert!(status.success(), "CREATE DATABASE {name}");
        format!("postgres://switch@127.0.0.1:{port}/{name}")
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .expect("port in the URL")
    }

    /// Stop the server (a database outage), keeping its data.
    pub fn stop(&mut self) {
        run_script("stop", &self.dir).expect("stop");
        self.running = false;
    }

    /// Start it again on the same port, with the same data.
    pub fn restart(&mut self) {
        run_script("start", &self.dir).expect("restart");
        self.running = true;
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        if self.running {
            if let Err(e) = run_script("stop", &self.dir) {
                eprintln!("throwaway PostgreSQL not stopped: {e}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
