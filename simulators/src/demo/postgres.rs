//! A throwaway PostgreSQL server for `sim demo --cluster N` when no `--postgres
//! URL` is given: the logic of `scripts/postgres.sh`, in Rust. It uses Debian's
//! `postgresql` package (the newest `/usr/lib/postgresql/*/bin`), makes a
//! temporary folder, runs `initdb` there with trust authentication, starts the
//! server on a free port of 127.0.0.1 (its socket in that folder too), creates
//! the database `switch`, and stops the server and removes the folder when
//! dropped (with `SIM_DEMO_KEEP_POSTGRES` set the folder stays, to inspect the
//! run's journal). As root it runs every PostgreSQL command as an unprivileged
//! user (`postgres`, else `nobody`): the server refuses to run as root.
//!
//! It does not install PostgreSQL: `scripts/test.sh` does when it is missing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The database the switch nodes use, and its owner (no password: trust on loopback).
const DATABASE: &str = "switch";
const USER: &str = "switch";
/// Where Debian's `postgresql` package puts each major version.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";
/// Set (to anything), the server's folder (its data and log) is kept after the
/// run rather than removed: a run's journal to inspect.
pub const KEEP_VAR: &str = "SIM_DEMO_KEEP_POSTGRES";
/// How long `pg_ctl` waits for the server to start or stop, seconds.
const PG_CTL_WAIT_SECS: &str = "30";

/// A running throwaway server; stopped and removed on drop.
#[derive(Debug)]
pub struct ThrowawayPostgres {
    server: ServerControl,
    running: bool,
}

/// How to run the server's tools: its folder, binaries, user and port. A clone
/// can halt and restart the server from a blocking task (`--postgres-outage`).
#[derive(Clone, Debug)]
pub struct ServerControl {
    dir: PathBuf,
    bin: PathBuf,
    /// Who runs the PostgreSQL commands (None: this process's user).
    run_as: Option<String>,
    port: u16,
}

impl ThrowawayPostgres {
    /// Start one. Err when PostgreSQL is not installed or does not start (the
    /// message says which, with the server's log when it has one).
    pub fn start() -> Result<ThrowawayPostgres, String> {
        let bin = find_bin(Path::new(DEBIAN_ROOT))?;
        let run_as = unprivileged_user()?;
        let dir = super::settlement::run_dir("sim-demo-postgres")?;
        let mut server = ServerControl {
            dir,
            bin,
            run_as,
            port: 0,
        };
        if let Some(user) = &server.run_as {
            let owner = server.dir.display().to_string();
            check("chown", Command::new("chown").args([user.as_str(), &owner]))?;
        }
        let data = server.data_dir();
        server.pg(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
        )?;
        server.port = free_port()?;
        // From here on, dropping it stops the server and removes the folder.
        let mut throwaway = ThrowawayPostgres {
            server,
            running: false,
        };
        throwaway.server.launch()?;
        throwaway.running = true;
        let port = throwaway.server.port.to_string();
        throwaway.server.pg(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", USER, DATABASE],
        )?;
        tracing::info!(url = %throwaway.url(), "throwaway PostgreSQL started");
        Ok(throwaway)
    }

    /// What halts and restarts it (for a blocking task).
    pub fn control(&self) -> ServerControl {
        self.server.clone()
    }

    /// `postgres://switch@127.0.0.1:PORT/switch` (no password: trust on loopback).
    pub fn url(&self) -> String {
        format!(
            "postgres://{USER}@127.0.0.1:{}/{DATABASE}",
            self.server.port
        )
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// Its folder (data, socket and log).
    pub fn dir(&self) -> &Path {
        &self.server.dir
    }

    /// Run `psql -tAc sql` against the database; its output trimmed.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let port = self.server.port.to_string();
        let out = self.server.pg(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                USER,
                "-d",
                DATABASE,
                "-tAc",
                sql,
            ],
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Stop the server (fast shutdown) and remove the folder.
    pub fn stop(mut self) -> Result<(), String> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), String> {
        let stopped = if self.running {
            self.running = false;
            // A server halted by an outage that was not restarted is not running:
            // pg_ctl's failure then says so, and the folder goes anyway.
            self.server.stop("fast")
        } else {
            Ok(())
        };
        if std::env::var_os(KEEP_VAR).is_some() {
            // Kept for inspection: `pg_ctl -D DIR/data start` serves it again.
            eprintln!(
                "{KEEP_VAR}: the throwaway PostgreSQL's folder is kept in {}",
                self.server.dir.display()
            );
            return stopped;
        }
        let removed = std::fs::remove_dir_all(&self.server.dir)
            .map_err(|e| format!("cannot remove {}: {e}", self.server.dir.display()));
        stopped.and(removed)
    }
}

impl ServerControl {
    /// Start the server in its folder on its port (the data made by `initdb`).
    fn launch(&self) -> Result<(), String> {
        let data = self.data_dir();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {}",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").display().to_string();
        let started = self.pg(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-l",
                &log,
                "-w",
                "-t",
                PG_CTL_WAIT_SECS,
                "-o",
                &options,
                "start",
            ],
        );
        started.map(|_| ()).map_err(|e| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            format!("{e}\nserver log:\n{log}")
        })
    }

    /// `pg_ctl stop` with shutdown `mode` (fast, immediate).
    fn stop(&self, mode: &str) -> Result<(), String> {
        let data = self.data_dir();
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-m",
                mode,
                "-w",
                "-t",
                PG_CTL_WAIT_SECS,
                "stop",
            ],
        )
        .map(|_| ())
    }

    /// Stop the server at once (`pg_ctl stop -m immediate`: no checkpoint, every
    /// connection cut), keeping its data: a database outage.
    pub fn halt(&self) -> Result<(), String> {
        self.stop("immediate")
    }

    /// Start it again after [`ServerControl::halt`], same port, same data.
    pub fn resume(&self) -> Result<(), String> {
        self.launch()
    }

    fn data_dir(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Run PostgreSQL's `tool` with `args`, as the unprivileged user when root.
    fn pg(&self, tool: &str, args: &[&str]) -> Result<Output, String> {
        let program = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        // The folder is the working directory: the unprivileged user may not be
        // able to read this process's.
        cmd.args(args).current_dir(&self.dir);
        check(tool, &mut cmd)
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        if self.server.dir.exists() {
            if let Err(e) = self.stop_inner() {
                tracing::warn!("throwaway PostgreSQL: {e}");
            }
        }
    }
}

/// Run `cmd`; Err with its output when it fails.
fn check(what: &str, cmd: &mut Command) -> Result<Output, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        return Ok(out);
    }
    Err(format!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// The `bin` folder of the newest PostgreSQL under `root` (Debian's layout:
/// `/usr/lib/postgresql/<major>/bin`).
pub fn find_bin(root: &Path) -> Result<PathBuf, String> {
    let missing = || {
        format!(
            "no PostgreSQL under {} (Debian: apt-get install postgresql; or give --postgres URL)",
            root.display()
        )
    };
    let entries = std::fs::read_dir(root).map_err(|_| missing())?;
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major)
        .map(|(_, bin)| bin)
        .ok_or_else(missing)
}

/// Whether PostgreSQL is installed, for a test that needs it: when it is not,
/// prints that the test skipped, or panics under `POSTGRES_REQUIRED=1` (CI).
pub fn installed_or_skip() -> bool {
    if find_bin(Path::new(DEBIAN_ROOT)).is_ok() {
        return true;
    }
    assert!(
        std::env::var("POSTGRES_REQUIRED").as_deref() != Ok("1"),
        "POSTGRES_REQUIRED=1 and no PostgreSQL under {DEBIAN_ROOT}"
    );
    eprintln!("skipped: no PostgreSQL");
    false
}

/// As root, the user PostgreSQL runs as: `postgres` when it exists, else `nobody`.
fn unprivileged_user() -> Result<Option<String>, String> {
    let uid = check("id -u", Command::new("id").arg("-u"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Ok(None);
    }
    let has_postgres = Command::new("id")
        .arg("-u")
        .arg("postgres")
        .output()
        .is_ok_and(|o| o.status.success());
    Ok(Some(
        if has_postgres { "postgres" } else { "nobody" }.to_owned(),
    ))
}

/// A port of 127.0.0.1 free a moment ago (the server binds it right after).
fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_installed_major_is_used() {
        let root = std::env::temp_dir().join(format!("sim-pg-bin-{}", std::process::id()));
        for (major, with_initdb) in [("13", true), ("15", true), ("16", false), ("x", true)] {
            let bin = root.join(major).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            if with_initdb {
                std::fs::write(bin.join("initdb"), "").unwrap();
            }
        }
        assert_eq!(find_bin(&root).unwrap(), root.join("15").join("bin"));
        let _ = std::fs::remove_dir_all(&root);
        assert!(find_bin(&root).unwrap_err().contains("no PostgreSQL"));
    }

    /// Against the local PostgreSQL: it starts, serves the `switch` database on
    /// loopback, and stops, its folder gone. Skipped (printed) without
    /// PostgreSQL unless `POSTGRES_REQUIRED=1`.
    #[test]
    fn a_throwaway_server_starts_serves_and_stops() {
        if !installed_or_skip() {
            return;
        }
        let server = ThrowawayPostgres::start().unwrap();
        assert!(server.url().starts_with("postgres://switch@127.0.0.1:"));
        assert_ne!(server.port(), 0);
        assert_eq!(server.psql("select current_database()").unwrap(), "switch");
        assert_eq!(server.psql("show synchronous_commit").unwrap(), "on");
        let (dir, port) = (server.dir().to_path_buf(), server.port());
        server.stop().unwrap();
        assert!(!dir.exists(), "folder removed");
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "nothing listens any more"
        );
    }
}
