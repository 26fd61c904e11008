//! Byte-literal vectors for the `iso87ebcdic` and `iso93ascii` dialects (each
//! byte worked out by hand from the tables and code page 500), and field 55 read
//! as BER-TLV on demand in every built-in dialect.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod common;

use bytes::Bytes;
use codecs::tlv::{Element, TlvReason};
use codecs::{Location, Message, Mti, Reason, Spec, Tag};
use common::assert_vector;

fn spec(name: &str) -> std::sync::Arc<Spec> {
    Spec::builtin(name).unwrap()
}

/// [`assert_vector`], and the same message built through the API encodes to
/// the same bytes too.
fn assert_dialect_vector(spec: &Spec, wire: &[u8], mti: &str, fields: &[(u8, &str)]) -> Message {
    let msg = assert_vector(spec, wire, mti, fields);
    let mut built = Message::new(Mti::parse(mti).unwrap());
    for f in msg.fields() {
        built.copy_field(f);
    }
    assert_eq!(&spec.encode_to_bytes(&built).unwrap()[..], wire);
    msg
}

/// The ICC data of the vectors: 5A (PAN), 9F27 (cryptogram information data).
const ICC: [u8; 14] = [
    0x5A, 0x08, 0x94, 0x08, 0x00, 0x12, 0x34, 0x56, 0x78, 0x96, 0x9F, 0x27, 0x01, 0x80,
];

#[test]
fn ebcdic_echo_with_a_secondary_bitmap() {
    let mut wire = vec![0xF0, 0xF8, 0xF0, 0xF0]; // "0800" in cp500
    wire.extend_from_slice(&[0x82, 0x20, 0, 0, 0, 0, 0, 0]); // 1 (secondary), 7, 11
    wire.extend_from_slice(&[0x04, 0, 0, 0, 0, 0, 0, 0]); // 70
    wire.extend_from_slice(&[0xF1, 0xF1, 0xF2, 0xF5, 0xF1, 0xF0, 0xF3, 0xF0, 0xF0, 0xF0]);
    wire.extend_from_slice(&[0xF0, 0xF0, 0xF0, 0xF0, 0xF0, 0xF1]);
    wire.extend_from_slice(&[0xF3, 0xF0, 0xF1]);
    assert_dialect_vector(
        &spec("iso87ebcdic"),
        &wire,
        "0800",
        &[(7, "1125103000"), (11, "000001"), (70, "301")],
    );
}

#[test]
fn ebcdic_purchase_with_prefixes_text_and_icc_data() {
    let mut wire = vec![0xF0, 0xF2, 0xF0, 0xF0]; // "0200"
    wire.extend_from_slice(&[0x50, 0, 0, 0, 0, 0x80, 0x02, 0]); // 2, 4, 41, 55
    wire.extend_from_slice(&[0xF1, 0xF6]); // LL "16" in EBCDIC
    wire.extend_from_slice(&[
        0xF9, 0xF4, 0xF0, 0xF8, 0xF0, 0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9,
        0xF6,
    ]);
    wire.extend_from_slice(&[
        0xF0, 0xF0, 0xF0, 0xF0, 0xF0, 0xF0, 0xF0, 0xF1, 0xF2, 0xF5, 0xF0, 0xF0,
    ]);
    // "Term 01!": upper and lower case, a space, a special character.
    wire.extend_from_slice(&[0xE3, 0x85, 0x99, 0x94, 0x40, 0xF0, 0xF1, 0x4F]);
    wire.extend_from_slice(&[0xF0, 0xF1, 0xF4]); // LLL "014", then the raw bytes
    wire.extend_from_slice(&ICC);
    let msg = assert_dialect_vector(
        &spec("iso87ebcdic"),
        &wire,
        "0200",
        &[
            (2, "9408001234567896"),
            (4, "000000012500"),
            (41, "Term 01!"),
            (55, "5A0894080012345678969F270180"),
        ],
    );
    let tags: Vec<String> = msg
        .tlv(55)
        .unwrap()
        .unwrap()
        .iter()
        .map(|e| e.tag.to_string())
        .collect();
    assert_eq!(tags, ["5A", "9F27"]);
    // Masked renderings show the tags, not the card number.
    let shown = format!("{msg:?}");
    assert!(shown.contains("5A=940800******7896, 9F27=80"), "{shown}");
    assert!(!shown.contains("9408001234567896"), "{shown}");
}

#[test]
fn ebcdic_refuses_bytes_outside_code_page_500_text() {
    // Field 41 with a byte that is no printable cp500 character (0x00).
    let mut wire = vec![0xF0, 0xF2, 0xF0, 0xF0];
    wire.extend_from_slice(&[0, 0, 0, 0, 0, 0x80, 0, 0]);
    wire.extend_from_slice(&[0xE3, 0x85, 0x00, 0x94, 0x40, 0xF0, 0xF1, 0x4F]);
    let err = spec("iso87ebcdic").decode(Bytes::from(wire)).unwrap_err();
    assert_eq!(
        (err.location, err.reason),
        (Location::Field(41), Reason::BadCharacter { position: 2 })
    );
}

#[test]
fn iso93_purchase_1200() {
    let mut wire = b"1200".to_vec();
    wire.extend_from_slice(b"7030050000208000"); // 2 3 4 11 12 22 24 43 49
    wire.extend_from_slice(b"169408001234567896");
    wire.extend_from_slice(b"000000");
    wire.extend_from_slice(b"000000012500");
    wire.extend_from_slice(b"000042");
    wire.extend_from_slice(b"261206194501"); // field 12: YYMMDDhhmmss (n12 in 1993)
    wire.extend_from_slice(b"510101511344"); // field 22: POS data code (an12)
    wire.extend_from_slice(b"200"); // field 24: function code, original request
    wire.extend_from_slice(b"24KORYO STORE PYONGYANG KP"); // field 43: LLVAR in 1993
    wire.extend_from_slice(b"408");
    assert_dialect_vector(
        &spec("iso93ascii"),
        &wire,
        "1200",
        &[
            (2, "9408001234567896"),
            (3, "000000"),
            (4, "000000012500"),
            (11, "000042"),
            (12, "261206194501"),
            (22, "510101511344"),
            (24, "200"),
            (43, "KORYO STORE PYONGYANG KP"),
            (49, "408"),
        ],
    );
    // The same bytes are no 1987 message: field 12 is six digits there, so the
    // 1987 dialect reads the rest out of step and fails.
    assert!(spec("iso87ascii").decode(Bytes::from(wire)).is_err());
}

#[test]
fn iso93_network_management_1804_and_1814() {
    // 1804 echo: function code 831; 1814 answers with action code 800 (accepted).
    let mut request = b"1804".to_vec();
    request.extend_from_slice(b"0220010000000000"); // 7 11 24
    request.extend_from_slice(b"1206194501000042831");
    assert_dialect_vector(
        &spec("iso93ascii"),
        &request,
        "1804",
        &[(7, "1206194501"), (11, "000042"), (24, "831")],
    );
    let mut response = b"1814".to_vec();
    response.extend_from_slice(b"0220010002000000"); // 7 11 24 39
    response.extend_from_slice(b"1206194501000042831800");
    assert_dialect_vector(
        &spec("iso93ascii"),
        &response,
        "1814",
        &[(7, "1206194501"), (11, "000042"), (24, "831"), (39, "800")],
    );
    // Action codes are three digits in 1993: a two-character 1987 response
    // code does not encode.
    let mut wrong = Message::new(Mti::parse("1814").unwrap());
    wrong.set(39, "00");
    let err = spec("iso93ascii").encode_to_bytes(&wrong).unwrap_err();
    assert_eq!(err.location, Location::Field(39));
}

#[test]
fn iso93_reversal_1420_with_original_data_elements_in_56() {
    let mut wire = b"1420".to_vec();
    wire.extend_from_slice(b"0020010000000100"); // 11 24 56
    wire.extend_from_slice(b"000043");
    wire.extend_from_slice(b"400"); // function code: full reversal
                                    // Field 56, n..35: original MTI, STAN, local date and time, acquirer (LL).
    wire.extend_from_slice(b"30120000004226120619450106940810");
    assert_dialect_vector(
        &spec("iso93ascii"),
        &wire,
        "1420",
        &[
            (11, "000043"),
            (24, "400"),
            (56, "120000004226120619450106940810"),
        ],
    );
}

#[test]
fn field_55_reads_as_tags_on_demand_in_every_dialect() {
    let nine_f26 = Tag::parse_hex("9F26").unwrap();
    let cryptogram = [0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x07, 0x18];
    for name in codecs::spec::builtin::NAMES {
        let s = spec(name);
        let mut msg = Message::new(Mti::parse("1100").unwrap());
        msg.set(11, "000001");
        msg.set_tlv(
            55,
            [
                Element {
                    tag: nine_f26,
                    value: &cryptogram,
                },
                Element {
                    tag: Tag::parse_hex("9F27").unwrap(),
                    value: &[0x80],
                },
            ],
        )
        .unwrap();
        let wire = s.encode_to_bytes(&msg).unwrap();
        let back = s.decode(wire).unwrap();
        let list = back.tlv(55).unwrap().unwrap();
        assert_eq!(list.len(), 2, "{name}");
        assert_eq!(list.get(nine_f26), Some(&cryptogram[..]), "{name}");
        assert!(!format!("{back:?}").contains("A1B2C3D4"), "{name}");
    }
}

#[test]
fn a_malformed_field_55_decodes_and_fails_only_when_read() {
    // 9F26 claims 8 bytes, 2 follow: the message decodes (the switch relays
    // field 55 untouched); reading its tags names field 55 and the tag.
    let mut msg = Message::new(Mti::parse("0200").unwrap());
    msg.set_binary(55, &[0x9F, 0x26, 0x08, 0x01, 0x02]);
    let s = spec("iso87binary");
    let back = s.decode(s.encode_to_bytes(&msg).unwrap()).unwrap();
    let err = back.tlv(55).unwrap().unwrap_err();
    assert_eq!(err.field, Some(55));
    assert_eq!(err.tag, Tag::parse_hex("9F26"));
    assert_eq!(
        err.reason,
        TlvReason::Overrun {
            length: 8,
            remaining: 2
        }
    );
    // Shown only by its length, since it cannot be shown by tag.
    assert!(format!("{back:?}").contains("[5 bytes masked]"));
}
