//! Composite fields declared in a spec file (`samples/host-composite.toml`):
//! hand-checked vectors for each kind, the JSON round trip, masking, every
//! kind of fault as a typed error naming the field and subfield, spec
//! validation, and property tests (what is written reads back; no bytes
//! panic a reader).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::borrow::Cow;
use std::sync::Arc;

use codecs::composite::{Composite, CompositeError, Key, SubTag};
use codecs::content::{from_hex, to_hex};
use codecs::json::{from_json, to_json};
use codecs::spec::file;
use codecs::{Reason, Spec};
use proptest::prelude::*;

fn spec() -> Arc<Spec> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/host-composite.toml");
    Arc::new(file::load(std::path::Path::new(path)).unwrap())
}

fn layout(spec: &Spec, n: u8) -> Composite {
    spec.composite(n).unwrap().clone()
}

fn tag(t: &str) -> Key {
    Key::Tag(SubTag::new(t.as_bytes()).unwrap())
}

fn read(layout: &Composite, n: u8, value: &[u8]) -> Result<Vec<(Key, Vec<u8>)>, CompositeError> {
    layout
        .read(n, Cow::Borrowed(value))
        .map(|p| p.iter().map(|(k, v)| (k, v.to_vec())).collect())
}

fn write(layout: &Composite, n: u8, parts: &[(Key, &[u8])]) -> Result<Vec<u8>, CompositeError> {
    layout.write(n, parts)
}

fn err(n: u8, key: Option<Key>, reason: Reason) -> CompositeError {
    CompositeError {
        field: n,
        key,
        reason,
    }
}

#[test]
fn positional_vectors() {
    let spec = spec();
    let f3 = layout(&spec, 3);
    let parts = [
        (Key::Position(1), &b"01"[..]),
        (Key::Position(2), b"10"),
        (Key::Position(3), b"20"),
    ];
    assert_eq!(write(&f3, 3, &parts).unwrap(), b"011020");
    assert_eq!(
        read(&f3, 3, b"011020").unwrap(),
        parts.map(|(k, v)| (k, v.to_vec()))
    );
    let f43 = layout(&spec, 43);
    let value = b"CORNER SHOP              PYONGYANG    KP";
    assert_eq!(value.len(), 40);
    let got = read(&f43, 43, value).unwrap();
    assert_eq!(got[1], (Key::Position(2), b"PYONGYANG    ".to_vec()));
    assert_eq!(got[2], (Key::Position(3), b"KP".to_vec()));
    // A subfield's class: `a` allows no digit (position 1 of "K9").
    assert_eq!(
        read(&f43, 43, b"CORNER SHOP              PYONGYANG    K9"),
        Err(err(
            43,
            Some(Key::Position(3)),
            Reason::BadCharacter { position: 1 }
        ))
    );
    // A value ending inside a subfield; a gap when writing; a wrong length.
    assert_eq!(
        read(&f3, 3, b"011"),
        Err(err(3, Some(Key::Position(2)), Reason::Truncated))
    );
    assert_eq!(
        write(
            &f3,
            3,
            &[(Key::Position(1), b"01"), (Key::Position(3), b"20")]
        ),
        Err(err(3, Some(Key::Position(2)), Reason::Missing))
    );
    assert_eq!(
        write(&f3, 3, &[(Key::Position(1), b"012")]),
        Err(err(
            3,
            Some(Key::Position(1)),
            Reason::WrongLength {
                length: 3,
                expected: 2
            }
        ))
    );
}

#[test]
fn tlv_vectors() {
    let f48 = layout(&spec(), 48);
    // 01 len 005 "REF-7", 92 len 003 "123", an undeclared 77 len 001 "X".
    let value = b"01005REF-79200312377001X";
    assert_eq!(
        read(&f48, 48, value).unwrap(),
        vec![
            (tag("01"), b"REF-7".to_vec()),
            (tag("92"), b"123".to_vec()),
            (tag("77"), b"X".to_vec()),
        ]
    );
    let parts = [
        (tag("01"), &b"REF-7"[..]),
        (tag("92"), b"123"),
        (tag("77"), b"X"),
    ];
    assert_eq!(write(&f48, 48, &parts).unwrap(), value);
    // A declared tag's own class and maximum.
    assert_eq!(
        read(&f48, 48, b"02003AB1"),
        Err(err(
            48,
            Some(tag("02")),
            Reason::BadCharacter { position: 0 }
        ))
    );
    assert_eq!(
        read(&f48, 48, b"0200912345678"),
        Err(err(
            48,
            Some(tag("02")),
            Reason::TooLong { length: 9, max: 8 }
        ))
    );
    // A tag that is not letters or digits; a length that is not digits; a
    // length that claims more than remains.
    assert_eq!(
        read(&f48, 48, b"0!001X"),
        Err(err(48, None, Reason::BadTag))
    );
    assert_eq!(
        read(&f48, 48, b"01x05REF-7"),
        Err(err(48, Some(tag("01")), Reason::BadLengthPrefix))
    );
    assert_eq!(
        read(&f48, 48, b"01009REF-7"),
        Err(err(48, Some(tag("01")), Reason::Truncated))
    );
    // A tag of the wrong size is refused when writing.
    assert_eq!(
        write(&f48, 48, &[(tag("012"), b"X")]),
        Err(err(48, Some(tag("012")), Reason::BadTag))
    );
}

#[test]
fn strict_tlv_refuses_undeclared_tags() {
    let text = r#"
        name = "strict"
        base = "iso87ascii"
        [fields.48]
        structure = "tlv"
        tag_length = 3
        length_digits = 2
        strict = true
        tags.A01 = { class = "an", length = 10 }
    "#;
    let spec = file::parse(text, false, "strict.toml").unwrap();
    let f48 = layout(&spec, 48);
    assert_eq!(
        read(&f48, 48, b"A0103XYZ").unwrap(),
        vec![(tag("A01"), b"XYZ".to_vec())]
    );
    assert_eq!(
        read(&f48, 48, b"A0103XYZB0201Q"),
        Err(err(48, Some(tag("B02")), Reason::UnknownTag))
    );
    assert_eq!(
        write(&f48, 48, &[(tag("B02"), b"Q")]),
        Err(err(48, Some(tag("B02")), Reason::UnknownTag))
    );
}

#[test]
fn bitmap_vectors() {
    let f127 = layout(&spec(), 127);
    // Subfields 2 and 3: bitmap 0x60 then seven zero bytes; 2 is LL ans, 3 n6.
    let mut value = vec![0x60, 0, 0, 0, 0, 0, 0, 0];
    value.extend_from_slice(b"05KEY-1000123");
    let parts = [(Key::Bit(3), &b"000123"[..]), (Key::Bit(2), b"KEY-1")];
    assert_eq!(write(&f127, 127, &parts).unwrap(), value);
    assert_eq!(
        read(&f127, 127, &value).unwrap(),
        vec![
            (Key::Bit(2), b"KEY-1".to_vec()),
            (Key::Bit(3), b"000123".to_vec()),
        ]
    );
    // Bit 4 is not declared; subfield 3 given twice; a short bitmap; bytes left.
    let mut undefined = value.clone();
    undefined[0] = 0x70;
    assert_eq!(
        read(&f127, 127, &undefined),
        Err(err(127, Some(Key::Bit(4)), Reason::UndefinedField))
    );
    assert_eq!(
        write(
            &f127,
            127,
            &[(Key::Bit(3), b"000123"), (Key::Bit(3), b"000124")]
        ),
        Err(err(127, Some(Key::Bit(3)), Reason::Repeated))
    );
    assert_eq!(
        read(&f127, 127, &[0x60, 0]),
        Err(err(127, None, Reason::Truncated))
    );
    value.push(b'9');
    assert_eq!(
        read(&f127, 127, &value),
        Err(err(
            127,
            Some(Key::Bit(3)),
            Reason::TrailingBytes { count: 1 }
        ))
    );
}

#[test]
fn hex_sub_bitmap_in_a_text_field() {
    let text = r#"
        name = "hexmap"
        base = "iso87ascii"
        [fields.127]
        structure = "bitmap"
        bitmap = "hex"
        bits.1 = { class = "n", length = 2 }
        bits.64 = { class = "ans", prefix = "LLL", length = 100 }
    "#;
    let spec = file::parse(text, false, "hexmap.toml").unwrap();
    let f127 = layout(&spec, 127);
    let value = write(&f127, 127, &[(Key::Bit(1), b"42"), (Key::Bit(64), b"hi")]).unwrap();
    assert_eq!(value, b"800000000000000142002hi");
    assert_eq!(
        read(&f127, 127, b"80000000000000Z142"),
        Err(err(127, None, Reason::BadBitmap))
    );
}

/// A purchase with every kind of composite, as the `iso8583` tool's JSON.
const PURCHASE: &str = r#"{"mti":"0200","fields":{"2":"9408123456781234","3":{"type":"00","from":"10","to":"00"},"11":"000001","43":{"name":"CORNER SHOP              ","city":"PYONGYANG    ","country":"KP"},"48":[{"tag":"01","value":"REF-7"},{"tag":"92","value":"123"},{"tag":"77","value":"X"}],"127":{"2":"KEY-1","3":"000123","12":"9408123456781234"}}}"#;

#[test]
fn a_message_round_trips_through_json_and_the_wire() {
    let spec = spec();
    let msg = from_json(&serde_json::from_str(PURCHASE).unwrap(), &spec).unwrap();
    let wire = spec.encode_to_bytes(&msg).unwrap();
    // Field 127 on the wire (hand-checked): 8 bitmap bytes (bits 2, 3, 12:
    // 0x60 0x10), "05KEY-1", "000123", "16" and the PAN: 39 bytes, 78 hex
    // characters behind the LLL prefix "078".
    let f127 = format!(
        "078{}{}{}{}",
        "6010000000000000",
        to_hex(b"05KEY-1"),
        to_hex(b"000123"),
        to_hex(b"169408123456781234")
    );
    let text = String::from_utf8(wire.to_vec()).unwrap();
    assert!(text.ends_with(&f127), "{text}");
    // Field 48 as written: LLL 024 then the subelements.
    assert!(text.contains("02401005REF-79200312377001X"), "{text}");
    let decoded = spec.decode(wire.clone()).unwrap();
    assert_eq!(to_json(&decoded, false), PURCHASE);
    let again = from_json(
        &serde_json::from_str(&to_json(&decoded, false)).unwrap(),
        &spec,
    )
    .unwrap();
    assert_eq!(spec.encode_to_bytes(&again).unwrap(), wire);
    // The plain string form of a composite field is read back too.
    let flat = PURCHASE.replace(r#"{"type":"00","from":"10","to":"00"}"#, r#""001000""#);
    let flat = from_json(&serde_json::from_str(&flat).unwrap(), &spec).unwrap();
    assert_eq!(spec.encode_to_bytes(&flat).unwrap(), wire);
}

#[test]
fn subfields_are_masked_as_declared() {
    let spec = spec();
    let msg = from_json(&serde_json::from_str(PURCHASE).unwrap(), &spec).unwrap();
    let decoded = spec.decode(spec.encode_to_bytes(&msg).unwrap()).unwrap();
    let masked = to_json(&decoded, true);
    assert!(
        masked.contains(r#"{"tag":"92","value":"[3 chars masked]"}"#),
        "{masked}"
    );
    // An undeclared tag may hold anything: only its length is shown.
    assert!(
        masked.contains(r#"{"tag":"77","value":"[1 chars masked]"}"#),
        "{masked}"
    );
    assert!(masked.contains(r#""12":"940812******1234""#), "{masked}");
    for shown in [masked, format!("{decoded:?}"), decoded.to_string()] {
        assert!(!shown.contains("9408123456781234"), "{shown}");
        assert!(
            !shown.contains("92=123") && !shown.contains("\"123\""),
            "{shown}"
        );
        assert!(shown.contains("REF-7"), "{shown}");
    }
    assert!(decoded
        .to_string()
        .contains("48={01=REF-7, 92=[3 chars masked], 77=[1 chars masked]}"));
}

#[test]
fn parts_debug_shows_no_subfield_value() {
    // Field 127 bit 12 is a PAN (mask = "pan"): Debug of the parts read must
    // not print it, in text or as bytes.
    let f127 = layout(&spec(), 127);
    let value = write(&f127, 127, &[(Key::Bit(12), b"9408123456781234")]).unwrap();
    let parts = f127.read(127, Cow::Borrowed(&value)).unwrap();
    let shown = format!("{parts:?}");
    assert!(!shown.contains("9408123456781234"), "{shown}");
    assert!(!shown.contains("57, 52, 48, 56"), "{shown}");
    assert!(shown.contains("Bit(12)"), "{shown}");
}

#[test]
fn decoding_stays_lazy_and_faults_are_named_on_read() {
    let spec = spec();
    // Field 48 "01009REF-7": the tag claims 9 characters, 5 remain. The
    // message decodes (the switch relays it as it came); reading field 48
    // names the field and the tag.
    let msg = from_json(
        &serde_json::from_str(r#"{"mti":"0200","fields":{"11":"000001","48":"01009REF-7"}}"#)
            .unwrap(),
        &spec,
    )
    .unwrap();
    let wire = spec.encode_to_bytes(&msg).unwrap();
    let decoded = spec.decode(wire.clone()).unwrap();
    let e = decoded.composite(48).unwrap().unwrap_err();
    assert_eq!(e, err(48, Some(tag("01")), Reason::Truncated));
    assert_eq!(e.to_string(), "field 48 tag 01: truncated");
    // Shown only by its length, and as a string in JSON.
    assert!(decoded.to_string().contains("48=[10 chars masked]"));
    assert!(to_json(&decoded, false).contains(r#""48":"01009REF-7""#));
    // Re-encoded as it came.
    assert_eq!(spec.encode_to_bytes(&decoded).unwrap(), wire);
    // A JSON subfield that breaks its layout is refused, naming it.
    let bad = r#"{"mti":"0200","fields":{"3":{"type":"0A"}}}"#;
    let e = from_json(&serde_json::from_str(bad).unwrap(), &spec).unwrap_err();
    assert_eq!(e.field(), Some(3));
    assert_eq!(
        e.to_string(),
        "field 3 subfield 1: character at position 1 not allowed by the content class"
    );
}

#[test]
fn spec_validation_names_field_and_subfield() {
    let check = |fields: &str| {
        let text = format!("name = \"v\"\nbase = \"iso87ascii\"\n{fields}");
        file::parse(&text, false, "v.toml")
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let cases = [
        // Subfields longer than the field (fixed 6).
        (
            r#"[fields.3]
            structure = "positional"
            subfields = [{ name = "a", class = "n", length = 4 }, { name = "b", class = "n", length = 4 }]"#,
            "field 3: the subfields together: up to 8, beyond the field's maximum 6",
        ),
        // One name twice.
        (
            r#"[fields.3]
            structure = "positional"
            subfields = [{ name = "a", class = "n", length = 3 }, { name = "a", class = "n", length = 3 }]"#,
            "subfield name \"a\" used twice",
        ),
        // An ans subfield in an n field.
        (
            r#"[fields.3]
            structure = "positional"
            subfields = [{ name = "a", class = "ans", length = 6 }]"#,
            "field 3: subfield 1: class ans does not fit a field of class n",
        ),
        // A tag of the wrong size, a tag's maximum beyond its length digits.
        (
            r#"[fields.48]
            structure = "tlv"
            tag_length = 2
            length_digits = 2
            tags.ABC = { class = "ans", length = 5 }"#,
            "tag ABC: not 2 characters",
        ),
        (
            r#"[fields.48]
            structure = "tlv"
            tag_length = 2
            length_digits = 2
            tags.AB = { class = "ans", length = 100 }"#,
            "tag AB: maximum 100 does not fit 2 prefix digits",
        ),
        // A binary sub-bitmap in a text field; a subfield number beyond 64.
        (
            r#"[fields.127]
            structure = "bitmap"
            bitmap = "binary"
            bits.2 = { class = "n", length = 2 }"#,
            "a binary sub-bitmap needs a b field",
        ),
        (
            r#"[fields.127]
            structure = "bitmap"
            bitmap = "hex"
            bits.65 = { class = "n", length = 2 }"#,
            "bits.65: not a subfield number 1-64",
        ),
        // A subfield that alone does not fit; keys of another structure.
        (
            r#"[fields.62]
            class = "ans"
            prefix = "LL"
            length = 20
            structure = "bitmap"
            bitmap = "hex"
            bits.2 = { class = "n", length = 6 }"#,
            "field 62: subfield 2: up to 22, beyond the field's maximum 20",
        ),
        (
            r#"[fields.3]
            structure = "positional"
            tag_length = 2
            subfields = [{ name = "a", class = "n", length = 6 }]"#,
            "`tag_length` does not belong to this structure",
        ),
        (
            r#"[fields.3]
            subfields = [{ name = "a", class = "n", length = 6 }]"#,
            "field 3: subfields, tags or bits need a `structure`",
        ),
        (
            r#"[fields.3]
            structure = "positional"
            subfields = [{ name = "a", class = "n", length = 6, mask = "pin" }]"#,
            "unknown variant `pin`",
        ),
    ];
    for (fields, want) in cases {
        let got = check(fields).unwrap_err();
        assert!(got.contains(want), "{got}\n  wanted: {want}");
    }
}

#[test]
fn tags_declared_twice_are_refused() {
    // A spec file's map cannot repeat a key; a layout built in code can.
    let mut spec = (*spec()).clone();
    let mut field = spec.field(48).unwrap().clone();
    let Some(Composite::Tlv(mut tlv)) = spec.composite(48).cloned() else {
        panic!("48 is tlv")
    };
    tlv.tags.push(tlv.tags[0].clone());
    field.structure = codecs::spec::Structure::Composite(Arc::new(Composite::Tlv(tlv)));
    spec.set_field(48, field);
    let e = spec.validate("code").unwrap_err().to_string();
    assert!(e.contains("field 48: tag 01 declared twice"), "{e}");
}

/// Random subfield values that fit `layout`'s subfields (text of the class's
/// characters, within the length).
fn values(layout: &Composite, seeds: &[u64]) -> Vec<(Key, Vec<u8>)> {
    let mut out = Vec::new();
    for ((key, sub), &seed) in layout.declared().into_iter().zip(seeds) {
        let len = match sub.length {
            codecs::spec::Length::Fixed(n) => usize::from(n),
            codecs::spec::Length::Variable { max, .. } => (seed as usize) % (usize::from(max) + 1),
        };
        let alphabet: &[u8] = match sub.class {
            codecs::spec::ContentClass::N => b"0123456789",
            codecs::spec::ContentClass::A => b"ABC xyz",
            _ => b"AZaz09 -/*#",
        };
        let value = (0..len)
            .map(|i| alphabet[(seed as usize / 7 + i * 13) % alphabet.len()])
            .collect();
        out.push((key, value));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn what_is_written_reads_back(seeds in proptest::collection::vec(any::<u64>(), 4), keep in 0usize..5) {
        let spec = spec();
        for n in [3u8, 43, 48, 127] {
            let layout = layout(&spec, n);
            let mut parts = values(&layout, &seeds);
            // Positional: a leading run; the others: any subset.
            match layout {
                Composite::Positional(_) => parts.truncate(keep.max(1)),
                _ => {
                    let mut i = 0;
                    parts.retain(|_| {
                        i += 1;
                        (seeds[0] >> i) & 1 == 1
                    });
                }
            }
            let borrowed: Vec<(Key, &[u8])> = parts.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            let value = layout.write(n, &borrowed).unwrap();
            prop_assert_eq!(read(&layout, n, &value).unwrap(), parts);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_a_reader(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let spec = spec();
        for n in [3u8, 43, 48, 127] {
            let _ = read(&layout(&spec, n), n, &data);
        }
        let _ = from_hex(b"00");
    }
}
