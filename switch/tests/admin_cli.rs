//! `switch run` with its admin address beyond loopback: refused before
//! anything starts (nothing is bound) unless a bearer token is in the
//! environment, with an error naming the variable; a token too short to be
//! one is refused too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::process::Command;

fn write_config(dir: &Path, admin_lines: &str) -> PathBuf {
    let text = format!(
        "[switch]\ninstitution_id = \"940000\"\nrules = \"{rules}\"\n{admin_lines}\n\n\
         [[link]]\nname = \"a\"\nrole = \"acquirer\"\nbank = \"940800\"\ndirection = \"listen\"\naddress = \"127.0.0.1:0\"\n",
        rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../routing-rules/rules/national.toml"),
    );
    let path = dir.join("switch.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `switch run` with `env` set (and the default token variable unset): its
/// success and standard error. Bounded: a refusal exits at once; a switch that
/// started would be killed after 10 s and fail the test.
fn run(config: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switch"));
    cmd.args(["run", "--config", config.to_str().unwrap()])
        .env_remove("SWITCH_ADMIN_TOKEN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("switch runs");
    // At most 500 looks 20 ms apart: 10 s.
    let mut looks = 0;
    while child.try_wait().unwrap().is_none() {
        looks += 1;
        if looks > 500 {
            let _ = child.kill();
            panic!("switch run did not refuse to start");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("admin-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn beyond_loopback_without_a_token_the_switch_does_not_start() {
    let dir = temp_dir("none");
    let config = write_config(&dir, "admin = \"0.0.0.0:0\"");
    let (ok, stderr) = run(&config, &[]);
    assert!(!ok);
    assert!(stderr.contains("not loopback"), "{stderr}");
    assert!(stderr.contains("$SWITCH_ADMIN_TOKEN"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_short_token_in_the_named_variable_is_refused() {
    let dir = temp_dir("short");
    let config = write_config(
        &dir,
        "admin = \"0.0.0.0:0\"\nadmin_token_env = \"ADMIN_CLI_TEST_TOKEN\"",
    );
    let (ok, stderr) = run(&config, &[("ADMIN_CLI_TEST_TOKEN", "secret")]);
    assert!(!ok);
    assert!(
        stderr.contains("$ADMIN_CLI_TEST_TOKEN holds 6 characters"),
        "{stderr}"
    );
    // The token itself is never printed.
    assert!(!stderr.contains("secret"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
