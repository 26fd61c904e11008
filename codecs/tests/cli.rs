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

/// Field 55 in JSON: an ordered list of tags, masked by tag by default, read
/// back from that list; the PAN in tag 5A is never shown in full when masked.
#[test]
fn field_55_is_a_list_of_tags_both_ways() {
    let input = r#"{"mti":"0100","fields":{"11":"000001","55":[{"tag":"9F26","value":"A1B2C3D4E5F60718"},{"tag":"5A","value":"9408001234567896"},{"tag":"9F27","value":"80"},{"tag":"5F20","value":"424F42"}]}}"#;
    for spec in ["iso87ascii", "iso87binary", "iso87ebcdic"] {
        let (code, hex, _) = run(&["encode", "--spec", spec], &format!("{input}\n"));
        assert_eq!(code, 0);
        assert!(!hex.contains("error"), "{spec}: {hex}");
        let (_, json, _) = run(&["decode", "--spec", spec, "--unmasked"], &hex);
        assert_eq!(json.trim(), input, "{spec}");
        let (_, json, _) = run(&["decode", "--spec", spec], &hex);
        assert_eq!(
            json.trim(),
            r#"{"mti":"0100","fields":{"11":"000001","55":[{"tag":"9F26","value":"[8 bytes masked]"},{"tag":"5A","value":"940800******7896"},{"tag":"9F27","value":"80"},{"tag":"5F20","value":"[3 bytes masked]"}]}}"#,
            "{spec}"
        );
    }
    // A bad tag is an error object naming the field and the element.
    let bad = r#"{"mti":"0100","fields":{"55":[{"tag":"9F","value":"00"}]}}"#;
    let (code, out, _) = run(&["encode", "--spec", "iso87binary"], &format!("{bad}\n"));
    assert_eq!(code, 0);
    assert!(out.contains("field 55 element 0"), "{out}");
}

#[test]
fn describe_prints_a_dialect_field_table() {
    let (code, table, _) = run(&["describe", "--dialect", "iso93ascii"], "");
    assert_eq!(code, 0);
    assert!(
        table.starts_with("dialect iso93ascii: MTI ascii, bitmaps hex"),
        "{table}"
    );
    let row = |n: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(n))
            .unwrap_or_else(|| panic!("no row {n}: {table}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(row("24"), "24 Function code n fixed 3 ascii -");
    assert_eq!(
        row("55"),
        "55 Integrated circuit card (ICC) system related data b LLLVAR 510 ascii ascii sensitive, ber-tlv"
    );
    let (_, table, _) = run(&["describe", "--dialect", "iso87ebcdic"], "");
    assert!(
        table.contains("dialect iso87ebcdic: MTI ebcdic, bitmaps binary"),
        "{table}"
    );
    let (code, _, err) = run(&["describe", "--dialect", "iso99"], "");
    assert_eq!(code, 2);
    assert!(err.contains("iso93ascii"), "{err}");
}

const HOST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/host-composite.toml");

#[test]
fn describe_shows_composite_subfields_indented() {
    let (code, table, _) = run(&["describe", "--dialect", HOST], "");
    assert_eq!(code, 0);
    let squeezed: Vec<String> = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let at = |line: &str| {
        squeezed
            .iter()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("no line {line:?}: {table}"))
    };
    // Each subfield right under its field, indented.
    let f48 = at("48 Additional data - private ans LLLVAR 999 ascii ascii tlv");
    assert_eq!(
        at("tags of 2 characters, lengths of 3 digits, undeclared tags kept"),
        f48 + 1
    );
    assert_eq!(
        at("92 card verification value 2 n LLLVAR 4 masked by length"),
        f48 + 4
    );
    let f127 = at("127 Private data (sub-message) b LLLVAR 998 ascii ascii bitmap");
    assert_eq!(at("own bitmap: binary"), f127 + 1);
    assert_eq!(
        at("12 original card number n LLVAR 19 masked as a PAN"),
        f127 + 4
    );
    assert_eq!(
        at(".3 to n fixed 2"),
        at("3 Processing code n fixed 6 ascii - positional") + 3
    );
    assert!(
        table.lines().any(|l| l.starts_with("       .1     type")),
        "{table}"
    );

    // A message: the subfields under their field, masked as declared.
    let json = r#"{"mti":"0200","fields":{"3":{"type":"00","from":"10","to":"00"},"48":[{"tag":"01","value":"REF-7"},{"tag":"92","value":"4821"}],"127":{"12":"9408123456781234"}}}"#;
    let (code, hex, _) = run(&["encode", "--spec-file", HOST], json);
    assert_eq!(code, 0, "{hex}");
    let (_, shown, _) = run(&["describe", "--spec-file", HOST], &hex);
    assert!(
        shown.contains("       92       card verification value 2"),
        "{shown}"
    );
    assert!(shown.contains("[4 chars masked]"), "{shown}");
    assert!(
        !shown.contains("4821") && !shown.contains("9408123456781234"),
        "{shown}"
    );
    let (_, decoded, _) = run(&["decode", "--spec-file", HOST, "--unmasked"], &hex);
    assert_eq!(decoded.trim(), json);
}
