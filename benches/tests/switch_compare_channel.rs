//! `switch-compare --compare channel` end to end: one short closed-loop
//! repetition over two connections (half a second per setup, on 127.0.0.1) must
//! give one JSON line where both setups' payments all reached the issuer, the QR
//! setup's were answered with tokens enrolled for the run, the switch's own CPU
//! per transaction came from its child process, and the ratio and target of
//! issue 22 are there.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_switch-compare");

#[test]
fn card_and_token_payments_are_compared() {
    let out = Command::new(BIN)
        .args([
            "--compare",
            "channel",
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
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line: Value = serde_json::from_str(stdout.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON line ({e}); stderr:\n{stderr}"));
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
