//! `switch-compare` end to end with the middle in a process of its own: one short
//! closed-loop repetition over two connections (half a second per middle or
//! setup, on 127.0.0.1) must give one JSON line whose relay and switch CPU per
//! transaction come from the children; `--compare channel` likewise, where both
//! setups' payments all reached the issuer and the QR setup's were answered with
//! tokens enrolled for the run (issue 22); and `--help` must list the flags.

use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_switch-compare");

/// One short closed64 repetition with `extra` flags: the process's output, its
/// stderr and the first JSON line. A test helper: failing loudly is its job.
#[allow(clippy::expect_used, clippy::panic)]
fn short_run(extra: &[&str]) -> (Output, String, Value) {
    let out = Command::new(BIN)
        .args(extra)
        .args([
            "--modes",
            "closed64",
            "--reps",
            "1",
            "--secs",
            "0.5",
            "--connections",
            "2",
        ])
        .output()
        .expect("run switch-compare");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line: Value = serde_json::from_str(stdout.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON line ({e}); stderr:\n{stderr}"));
    (out, stderr, line)
}

#[test]
fn the_middle_runs_in_a_child_and_its_cpu_is_reported() {
    let (_, stderr, line) = short_run(&[]);
    assert_eq!(line["mode"], "closed64");
    assert_eq!(line["middle"], "process", "{line}");
    for key in ["relay_cpu_us_per_txn", "switch_cpu_us_per_txn", "cpu_ratio"] {
        let v = line[key].as_f64().unwrap_or(f64::NAN);
        assert!(v.is_finite() && v > 0.0, "{key} = {}", line[key]);
    }
    // The switch child answered the added-latency question.
    assert!(line["switch_added_p50_us"].as_f64().is_some(), "{line}");
    let runs = line["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["errors"] == 0 && r["timed_out"] == 0));
    assert!(
        stderr.contains("process") && stderr.contains("µs/txn"),
        "{stderr}"
    );
}

#[test]
fn card_and_token_payments_are_compared() {
    let (out, stderr, line) = short_run(&["--compare", "channel"]);
    assert_eq!(line["compare"], "channel", "{line}");
    assert_eq!(line["middle"], "process", "{line}");
    for key in [
        "card_tps",
        "qr_tps",
        "tps_ratio",
        "qr_cpu_us_per_txn",
        "card_switch_cpu_us_per_txn",
        "qr_switch_cpu_us_per_txn",
        "switch_cpu_ratio",
    ] {
        let v = line[key].as_f64().unwrap_or(f64::NAN);
        assert!(v.is_finite() && v > 0.0, "{key} = {}", line[key]);
    }
    // Every payment of both setups reached the issuer: none was declined by the
    // switch (no app limit, no cash by app, no unknown token, no bad code).
    assert_eq!(line["card_issuer_share"], 1.0, "{line}");
    assert_eq!(line["qr_issuer_share"], 1.0, "{line}");
    assert!(line["qr_tokens"].as_f64().unwrap_or(0.0) >= 100.0, "{line}");
    assert_eq!(line["target"]["tps_ratio_at_least"], 0.9);
    assert!(line["met"].is_boolean());
    let runs = line["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["errors"] == 0 && r["timed_out"] == 0));
    assert!(out.status.success(), "{stderr}");
}

#[test]
fn help_lists_the_flags() {
    let out = Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run switch-compare --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--reps",
        "--secs",
        "--modes",
        "--journal",
        "--compare",
        "--middle",
    ] {
        assert!(help.contains(flag), "{flag} missing:\n{help}");
    }
    let bad = Command::new(BIN)
        .args(["--transport", "mac"])
        .output()
        .expect("run switch-compare");
    assert_eq!(bad.status.code(), Some(2));
}
