//! The `iso8583` command: JSON lines, masking, error objects and exit status.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::io::Write;
use std::process::{Command, Stdio};

fn run(args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iso8583"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

const PURCHASE: &str = r#"{"mti":"0200","fields":{"2":"9408123456781234","3":"000000","4":"000000125000","11":"000001","35":"9408123456781234=29121010000","49":"408","52":"0123456789ABCDEF"}}"#;

#[test]
fn encode_then_decode_masks_by_default() {
    let (code, hex, _) = run(
        &["encode", "--spec", "iso87ascii"],
        &format!("{PURCHASE}\n"),
    );
    assert_eq!(code, 0);
    assert_eq!(hex.lines().count(), 1);
    let (code, json, _) = run(&["decode", "--spec", "iso87ascii"], &hex);
    assert_eq!(code, 0);
    assert_eq!(
        json.trim(),
        r#"{"mti":"0200","fields":{"2":"940812******1234","3":"000000","4":"000000125000","11":"000001","35":"[28 chars masked]","49":"408","52":"[8 bytes masked]"}}"#
    );
    let (_, json, _) = run(&["decode", "--spec", "iso87ascii", "--unmasked"], &hex);
    assert_eq!(json.trim(), PURCHASE);
    let (_, table, _) = run(&["describe", "--spec", "iso87ascii"], &hex);
    assert!(
        table.contains("940812******1234") && !table.contains("9408123456781234"),
        "{table}"
    );
    assert!(table.contains("Processing code"), "{table}");
}

#[test]
fn bad_lines_give_error_objects_and_decoding_goes_on() {
    let (_, hex, _) = run(
        &["encode", "--spec", "iso87binary"],
        &format!("{PURCHASE}\n"),
    );
    let input = format!("zz\n{}\n30323030\n{}", "3032303030", hex);
    let (code, out, _) = run(&["decode", "--spec", "iso87binary"], &input);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(
        lines[0],
        r#"{"error":{"field":null,"reason":"input line is not hex"}}"#
    );
    assert!(
        lines[1].starts_with(r#"{"error":{"field":null,"#),
        "{}",
        lines[1]
    );
    assert!(lines[3].starts_with(r#"{"mti":"0200""#));
    let (code, out, _) = run(
        &["encode", "--spec", "iso87ascii"],
        "{\"mti\":\"0200\",\"fields\":{\"3\":\"12\"}}\nnot json\n",
    );
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with(r#"{"error":{"field":3,"#), "{out}");
    assert!(
        lines[1].starts_with(r#"{"error":{"field":null,"reason":"invalid JSON"#),
        "{out}"
    );
}

#[test]
fn field_errors_name_the_field() {
    // Field 4 holds a letter.
    let (_, out, _) = run(
        &["decode", "--spec", "iso87ascii"],
        "3032303031303030303030303030303030303030303030303030303030313241\n",
    );
    assert!(out.starts_with(r#"{"error":{"field":4,"#), "{out}");
}

#[test]
fn spec_files_and_unknown_specs() {
    let dir = std::env::temp_dir().join(format!("iso8583-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("host.toml");
    std::fs::write(&path, "name = \"host\"\nbase = \"iso87bcd\"\n").unwrap();
    let (code, hex, _) = run(
        &["encode", "--spec-file", path.to_str().unwrap()],
        &format!("{PURCHASE}\n"),
    );
    assert_eq!(code, 0);
    assert!(hex.starts_with("0200"), "{hex}");
    let (code, _, err) = run(&["decode", "--spec", "nonesuch"], "");
    assert_eq!(code, 2);
    assert!(err.contains("nonesuch"), "{err}");
    std::fs::write(
        &path,
        "name = \"host\"\nbase = \"iso87bcd\"\n[fields.2]\nlength = 200\n",
    )
    .unwrap();
    let (code, _, err) = run(&["decode", "--spec-file", path.to_str().unwrap()], "");
    assert_eq!(code, 2);
    assert!(err.contains("field 2"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
