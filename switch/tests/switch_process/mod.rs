//! The switch binary as a child process, for the tests that kill it (`crash`,
//! `vault_crash`, `stand_in_crash`): a free loopback port to configure, their
//! common configuration ([`CrashConfig`]), the switch started on a
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

/// The configuration of a switch that the crash tests kill: one acquirer link
/// listening on `acquirer_port`, one issuer link dialling `issuer_address`, a
/// strict journal (`journal.db` beside the file) whose PAN key comes from the
/// variable `pan_key_var`; `switch_extra` are more lines of `[switch]` (and its
/// tables), `issuer_extra` more lines of the issuer link, `more` tables after
/// the links.
pub struct CrashConfig<'a> {
    pub acquirer: &'a str,
    pub acquirer_port: u16,
    pub issuer: &'a str,
    pub issuer_address: &'a str,
    pub pan_key_var: &'a str,
    pub switch_extra: &'a str,
    pub issuer_extra: &'a str,
    pub more: &'a str,
}

impl CrashConfig<'_> {
    /// The TOML text.
    pub fn text(&self) -> String {
        let CrashConfig {
            acquirer,
            acquirer_port,
            issuer,
            issuer_address,
            pan_key_var,
            switch_extra,
            issuer_extra,
            more,
        } = self;
        format!(
            r#"
[switch]
institution_id = "940000"
rules = "{RULES}"
{switch_extra}

[journal]
path = "journal.db"
durability = "strict"
pan_key = {{ env = "{pan_key_var}" }}

[[link]]
name = "acquirer"
role = "acquirer"
bank = "{acquirer}"
direction = "listen"
address = "127.0.0.1:{acquirer_port}"

[[link]]
name = "issuer"
role = "issuer"
bank = "{issuer}"
direction = "dial"
address = "{issuer_address}"
{issuer_extra}

{more}
"#
        )
    }
}
