//! The switch binary as a child process, for the tests that kill it (`crash`,
//! `vault_crash`): a free loopback port to configure, the switch started on a
//! configuration file with its log appended to a file, and a wait until it
//! listens.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The national routing rules.
pub const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../routing-rules/rules/national.toml"
);

/// A loopback port free a moment ago (the switch's configuration names ports).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `switch run --config CONFIG` logging at `level` to `log` (appended: a
/// restart adds to the same file), with `env` set (its keys' variables).
pub fn start_switch(config: &Path, log: &Path, level: &str, env: &[(&str, &str)]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_switch"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", level)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Wait until something listens on loopback `port` (at most 10 s).
pub async fn wait_for_port(port: u16) {
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the switch did not listen on {port}");
}
