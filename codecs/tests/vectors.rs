//! Byte-literal vectors for every data encoding, length prefix and bitmap form,
//! and for each decode error a peer can cause.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;

use bytes::Bytes;
use codecs::spec::file::parse;
use codecs::{Location, Message, Mti, Reason, Spec};
use common::assert_vector;

fn spec(name: &str) -> std::sync::Arc<Spec> {
    Spec::builtin(name).unwrap()
}

fn decode(spec: &Spec, wire: &[u8]) -> Message {
    spec.decode(Bytes::copy_from_slice(wire)).unwrap()
}

fn decode_err(spec: &Spec, wire: &[u8]) -> (Location, Reason) {
    let e = spec.decode(Bytes::copy_from_slice(wire)).unwrap_err();
    (e.location, e.reason)
}

#[test]
fn ascii_hex_bitmap_and_ascii_prefixes() {
    // pyiso8583's own documentation example for default_ascii.
    let wire = b"02004010100000000000161234567890123456123456111";
    assert_vector(
        &spec("iso87ascii"),
        wire,
        "0200",
        &[(2, "1234567890123456"), (12, "123456"), (20, "111")],
    );
}

#[test]
fn ascii_lowercase_hex_bitmap_is_accepted_and_encoded_uppercase() {
    let s = spec("iso87ascii");
    let msg = decode(
        &s,
        b"0800822000000000000004000000000000001125103000000001301",
    );
    assert_eq!(msg.text(70).unwrap(), "301");
    let lower = b"0800822000000000000004000000000000001125103000000001301".to_ascii_lowercase();
    let msg2 = decode(&s, &lower);
    assert_eq!(
        s.encode_to_bytes(&msg2).unwrap(),
        s.encode_to_bytes(&msg).unwrap()
    );
}

#[test]
fn binary_bitmap_and_binary_fields() {
    let mut wire = b"0200".to_vec();
    wire.extend_from_slice(&[0x40, 0x00, 0x10, 0x00, 0x00, 0x00, 0x10, 0x00]); // 2, 20, 52
    wire.extend_from_slice(b"161234567890123456");
    wire.extend_from_slice(b"111");
    wire.extend_from_slice(&[0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]);
    assert_vector(
        &spec("iso87binary"),
        &wire,
        "0200",
        &[
            (2, "1234567890123456"),
            (20, "111"),
            (52, "0123456789ABCDEF"),
        ],
    );
}

#[test]
fn ascii_b_field_is_hex_text() {
    let mut wire = b"0200".to_vec();
    wire.extend_from_slice(b"0000000000001000"); // 52
    wire.extend_from_slice(b"0123456789ABCDEF");
    let msg = decode(&spec("iso87ascii"), &wire);
    assert_eq!(
        msg.get(52).unwrap().bytes().as_ref(),
        &[0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]
    );
    assert_eq!(
        &spec("iso87ascii").encode_to_bytes(&msg).unwrap()[..],
        &wire[..]
    );
    // LLL hex field: the prefix counts hex characters.
    let mut wire = b"0200".to_vec();
    wire.extend_from_slice(b"0000000000000200"); // 55
    wire.extend_from_slice(b"0069F2701");
    assert_vector(&spec("iso87ascii"), &wire, "0200", &[(55, "9F2701")]);
}

#[test]
fn secondary_and_tertiary_bitmaps() {
    // Fields 3, 70 and 130: primary bit 1, secondary bit 65 and bit 70, tertiary bit 130.
    let mut wire = b"0800".to_vec();
    wire.extend_from_slice(b"A000000000000000");
    wire.extend_from_slice(b"8400000000000000");
    wire.extend_from_slice(b"4000000000000000");
    wire.extend_from_slice(b"000000");
    wire.extend_from_slice(b"301");
    wire.extend_from_slice(b"003ABC");
    assert_vector(
        &spec("iso87ascii"),
        &wire,
        "0800",
        &[(3, "000000"), (70, "301"), (130, "ABC")],
    );
}

#[test]
fn bcd_mti_fields_and_prefixes() {
    let mut wire = vec![0x02, 0x00];
    // Fields 2, 3, 22, 35, 44, 48, 52.
    wire.extend_from_slice(&[0x60, 0x00, 0x04, 0x00, 0x20, 0x11, 0x10, 0x00]);
    wire.extend_from_slice(&[
        0x19, 0x09, 0x40, 0x81, 0x23, 0x45, 0x67, 0x81, 0x23, 0x45, 0x67,
    ]); // 2: 19 digits, 0 in front
    wire.extend_from_slice(&[0x31, 0x00, 0x00]); // 3
    wire.extend_from_slice(&[0x00, 0x51]); // 22: n3, 0 nibble in front
    wire.extend_from_slice(&[0x07, 0x12, 0x34, 0xD5, 0x6F]); // 35: z, 7 digits, F behind
    wire.extend_from_slice(&[0x05]); // 44: an, BCD length counts bytes
    wire.extend_from_slice(b"AB 12");
    wire.extend_from_slice(&[0x00, 0x12]); // 48: LLL in two BCD bytes
    wire.extend_from_slice(b"hello, world");
    wire.extend_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x11, 0x22, 0x33]); // 52 raw
    assert_vector(
        &spec("iso87bcd"),
        &wire,
        "0200",
        &[
            (2, "9408123456781234567"),
            (3, "310000"),
            (22, "051"),
            (35, "1234=56"),
            (44, "AB 12"),
            (48, "hello, world"),
            (52, "DEADBEEF00112233"),
        ],
    );
}

#[test]
fn ebcdic_and_binary_prefixes_from_a_spec_file() {
    let text = r#"
        name = "mainframe"
        mti = "ebcdic"
        bitmap = "binary"
        [fields.3]
        class = "n"
        length = 6
        encoding = "ebcdic"
        [fields.43]
        class = "ans"
        prefix = "LL"
        length = 40
        prefix_encoding = "ebcdic"
        encoding = "ebcdic"
        [fields.55]
        class = "b"
        prefix = "LLL"
        length = 255
        prefix_encoding = "binary"
        [fields.2]
        class = "n"
        prefix = "LL"
        length = 19
        prefix_encoding = "binary"
        encoding = "bcd-right-pad"
        pad_nibble = 15
    "#;
    let s = parse(text, false, "mainframe.toml").unwrap();
    let mut wire = vec![0xF0, 0xF2, 0xF0, 0xF0]; // "0200"
    wire.extend_from_slice(&[0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x02, 0x00]); // 2, 3, 43, 55
    wire.extend_from_slice(&[0x0F, 0x94, 0x08, 0x12, 0x34, 0x56, 0x78, 0x12, 0x3F]); // 2: 15 digits, F behind
    wire.extend_from_slice(&[0xF0, 0xF0, 0xF0, 0xF0, 0xF0, 0xF1]); // 3: "000001"
    wire.extend_from_slice(&[0xF0, 0xF4, 0xC1, 0x40, 0x81, 0x6B]); // 43: "A a,"
    wire.extend_from_slice(&[0x00, 0x03, 0x9F, 0x26, 0x08]); // 55
    assert_vector(
        &s,
        &wire,
        "0200",
        &[
            (2, "940812345678123"),
            (3, "000001"),
            (43, "A a,"),
            (55, "9F2608"),
        ],
    );
}

#[test]
fn fixed_header_is_kept() {
    let text = "name = \"h\"\nbase = \"iso87ascii\"\nheader_len = 5\n";
    let s = parse(text, false, "h.toml").unwrap();
    let wire = b"ISO010800822000000000000004000000000000001125103000000001301";
    let msg = decode(&s, wire);
    assert_eq!(msg.header(), b"ISO01");
    assert_eq!(&s.encode_to_bytes(&msg).unwrap()[..], &wire[..]);
}

#[test]
fn decode_errors_name_the_field_and_reason() {
    let ascii = spec("iso87ascii");
    // Non-digit in a numeric field.
    assert_eq!(
        decode_err(&ascii, b"0200001000000000000012345X"),
        (Location::Field(12), Reason::BadCharacter { position: 5 })
    );
    // Signs and spaces are not digits.
    assert_eq!(
        decode_err(&ascii, b"02000010000000000000-12345").1,
        Reason::BadCharacter { position: 0 }
    );
    assert_eq!(
        decode_err(&ascii, b"0200001000000000000012 345").1,
        Reason::BadCharacter { position: 2 }
    );
    // Length prefix with a non-digit.
    assert_eq!(
        decode_err(&ascii, b"020040000000000000001A1234567890"),
        (Location::Field(2), Reason::BadLengthPrefix)
    );
    // Variable length over the maximum.
    assert_eq!(
        decode_err(&ascii, b"0200400000000000000020"),
        (
            Location::Field(2),
            Reason::TooLong {
                length: 20,
                max: 19
            }
        )
    );
    // Fixed field cut short.
    assert_eq!(
        decode_err(&ascii, b"0200001000000000000012345"),
        (Location::Field(12), Reason::Truncated)
    );
    // Bytes after the last field.
    assert_eq!(
        decode_err(&ascii, b"0200001000000000000012345600"),
        (Location::Message, Reason::TrailingBytes { count: 2 })
    );
    // Bad MTI, bad bitmap.
    assert_eq!(decode_err(&ascii, b"02X0").0, Location::Mti);
    assert_eq!(
        decode_err(&ascii, b"020000100000000000G0123456"),
        (Location::PrimaryBitmap, Reason::BadBitmap)
    );
    assert_eq!(
        decode_err(&ascii, b"0200"),
        (Location::PrimaryBitmap, Reason::Truncated)
    );
    // Secondary bitmap announced but missing.
    assert_eq!(
        decode_err(&ascii, b"02008000000000000000"),
        (Location::Field(1), Reason::Truncated)
    );
    // BCD pad nibble must be the spec's.
    let bcd = spec("iso87bcd");
    let wire = [
        0x02, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x51,
    ];
    assert_eq!(
        decode_err(&bcd, &wire),
        (Location::Field(22), Reason::BadPadding)
    );
    let wire = [
        0x02, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5A,
    ];
    assert_eq!(
        decode_err(&bcd, &wire),
        (Location::Field(22), Reason::BadCharacter { position: 2 })
    );
    // A bit for a field the spec does not define.
    let text = "name = \"small\"\nbase = \"iso87ascii\"\n[fields.48]\nremove = true\n";
    let small = parse(text, false, "small.toml").unwrap();
    let wire = b"02000000000000010000003abc";
    assert_eq!(
        decode_err(&small, wire),
        (Location::Field(48), Reason::UndefinedField)
    );
}

#[test]
fn errors_never_contain_field_values() {
    let ascii = spec("iso87ascii");
    let e = ascii
        .decode(Bytes::from_static(
            b"020040000000000000001694081234567812X4",
        ))
        .unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("9408"), "{shown}");
    assert!(shown.contains("field 2"), "{shown}");
}

#[test]
fn encode_validates_like_decode() {
    let ascii = spec("iso87ascii");
    let mut msg = Message::new(Mti::new(b"0200").unwrap());
    msg.set(3, "00000");
    let e = ascii.encode_to_bytes(&msg).unwrap_err();
    assert_eq!(
        (e.location, e.reason),
        (
            Location::Field(3),
            Reason::WrongLength {
                length: 5,
                expected: 6
            }
        )
    );
    msg.set(3, "00000A");
    assert_eq!(
        ascii.encode_to_bytes(&msg).unwrap_err().reason,
        Reason::BadCharacter { position: 5 }
    );
    msg.set(3, "000000");
    msg.set(2, "12345678901234567890");
    assert_eq!(
        ascii.encode_to_bytes(&msg).unwrap_err().reason,
        Reason::TooLong {
            length: 20,
            max: 19
        }
    );
    msg.remove(2);
    msg.set(52, "0123456789ABCDEF"); // text given for a binary field
    assert_eq!(
        ascii.encode_to_bytes(&msg).unwrap_err().location,
        Location::Field(52)
    );
    msg.set_binary(52, &[1, 2, 3, 4, 5, 6, 7, 8]);
    let bytes = ascii.encode_to_bytes(&msg).unwrap();
    assert_eq!(
        &bytes[..],
        b"02002000000000001000000000"
            .iter()
            .chain(b"0102030405060708")
            .copied()
            .collect::<Vec<u8>>()
            .as_slice()
    );
}

#[test]
fn peek_finds_mti_and_stan_in_a_broken_message() {
    let ascii = spec("iso87ascii");
    // Fields 3, 11 fine; field 12 broken.
    let wire = b"020020300000000000000000001234561234X6";
    assert!(ascii.decode(Bytes::from_static(wire)).is_err());
    let (mti, stan) = ascii.peek_mti_and_stan(wire).unwrap();
    assert_eq!((mti.as_str(), stan), ("0200", Some(123456)));
    assert_eq!(ascii.peek_mti_and_stan(b"02"), None);
    // A bad field before the STAN does not hide it.
    let wire = b"0200102000000000000000000000012A000124";
    assert!(ascii.decode(Bytes::from_static(wire)).is_err());
    assert_eq!(ascii.peek_mti_and_stan(wire).unwrap().1, Some(124));
}
