//! Differential tests against pyiso8583 4.0.1, both directions, for `iso87ascii`
//! (pyiso8583's `default_ascii`), `iso87binary` (`default`) and `iso87ebcdic`
//! (`default` with text and length prefixes encoded `cp500`): random valid
//! messages are encoded by both sides and must give the same bytes, and each side
//! must decode the other's bytes to the generated values.
//!
//! The Python interpreter is `$PYISO8583_PYTHON` (default `python3`). Without
//! pyiso8583 the tests print that they skipped, unless `ISO8583_DIFFERENTIAL_REQUIRED=1`
//! (set by CI) makes that a failure. `ISO8583_DIFFERENTIAL_COUNT` sets the number of
//! messages per spec (default 1000); `ISO8583_DIFFERENTIAL_SEED` replays a run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use bytes::Bytes;
use codecs::content::{from_hex, to_hex};
use codecs::Spec;
use common::{random_message, Rng};
use serde_json::{json, Map, Value};

fn python() -> String {
    std::env::var("PYISO8583_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether pyiso8583 4.0.1 can be used; panics if it is required but missing.
fn oracle_available() -> bool {
    let ok = Command::new(python())
        .args([
            "-c",
            "import iso8583; assert iso8583.__version__ == '4.0.1', iso8583.__version__",
        ])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        let required = std::env::var("ISO8583_DIFFERENTIAL_REQUIRED").is_ok_and(|v| v == "1");
        assert!(!required, "pyiso8583 4.0.1 is required (ISO8583_DIFFERENTIAL_REQUIRED=1) but `{}` cannot import it", python());
        println!(
            "SKIPPED differential test: pyiso8583 4.0.1 not importable by `{}`",
            python()
        );
    }
    ok
}

fn run_differential(our_spec: &str, py_spec: &str) {
    if !oracle_available() {
        return;
    }
    let count: usize = std::env::var("ISO8583_DIFFERENTIAL_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let seed: u64 = std::env::var("ISO8583_DIFFERENTIAL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("differential {our_spec} vs pyiso8583 {py_spec}: {count} messages, ISO8583_DIFFERENTIAL_SEED={seed}");

    let spec = Spec::builtin(our_spec).unwrap();
    // pyiso8583's default specs define fields 1-128; 65 is the tertiary bitmap bit.
    let allowed: Vec<u8> = (2..=128u8).filter(|&n| n != 65).collect();
    let mut rng = Rng::new(seed);
    let mut cases = Vec::with_capacity(count);
    let mut input = String::new();
    for _ in 0..count {
        let (msg, values) = random_message(&spec, &allowed, &mut rng);
        let rust_hex = to_hex(&spec.encode_to_bytes(&msg).unwrap());
        let fields: Map<String, Value> = values
            .iter()
            .map(|(n, v)| (n.to_string(), Value::String(v.text())))
            .collect();
        input.push_str(
            &json!({"mti": msg.mti().as_str(), "fields": fields, "rust_hex": rust_hex}).to_string(),
        );
        input.push('\n');
        cases.push((msg.mti(), values, rust_hex));
    }

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyiso8583_oracle.py");
    let mut child = Command::new(python())
        .args([script, py_spec])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();
    writer.join().unwrap().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(lines.len(), count);

    for (i, ((mti, values, rust_hex), line)) in cases.iter().zip(&lines).enumerate() {
        let out: Value = serde_json::from_str(line).unwrap();
        assert!(
            out.get("error").is_none(),
            "case {i} (seed {seed}): pyiso8583 failed: {}",
            out["error"]
        );
        // Rust encodes → the same bytes as Python.
        let py_hex = out["py_hex"].as_str().unwrap();
        assert_eq!(rust_hex, py_hex, "case {i} (seed {seed}): encodings differ");
        // Python encodes → Rust decodes to the same values.
        let decoded = spec
            .decode(Bytes::from(from_hex(py_hex.as_bytes()).unwrap()))
            .unwrap();
        assert_eq!(decoded.mti(), *mti);
        let got: Vec<(u8, String)> = decoded
            .fields()
            .map(|f| (f.number(), f.text().into_owned()))
            .collect();
        let want: Vec<(u8, String)> = values.iter().map(|(n, v)| (*n, v.text())).collect();
        assert_eq!(
            got, want,
            "case {i} (seed {seed}): Rust decoding of Python's bytes"
        );
        // Rust encodes → Python decodes to the same values.
        let py = out["py_decoded"].as_object().unwrap();
        assert_eq!(py["t"], mti.as_str());
        let py_fields: Vec<(u8, String)> = py
            .iter()
            .filter_map(|(k, v)| Some((k.parse::<u8>().ok()?, v.as_str()?.to_string())))
            .filter(|(n, _)| *n != 1 && *n != 65)
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_iter()
            .collect();
        assert_eq!(
            py_fields, want,
            "case {i} (seed {seed}): Python decoding of Rust's bytes"
        );
    }
}

#[test]
fn iso87ascii_matches_pyiso8583_default_ascii() {
    run_differential("iso87ascii", "default_ascii");
}

#[test]
fn iso87binary_matches_pyiso8583_default() {
    run_differential("iso87binary", "default");
}

#[test]
fn iso87ebcdic_matches_pyiso8583_default_in_cp500() {
    run_differential("iso87ebcdic", "default_cp500");
}
