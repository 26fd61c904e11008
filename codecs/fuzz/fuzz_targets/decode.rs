//! Fuzz target `decode`: arbitrary bytes into each built-in spec's decoder.
//!
//! Input: byte 0 picks `iso87ascii`, `iso87binary`, `iso87bcd`, `iso87ebcdic` or
//! `iso93ascii` (modulo 5), the rest is the frame. Nothing here may panic. On a
//! successful decode the masked `Debug`/`Display` renderings, the JSON form,
//! every field accessor and field 55's tags are exercised, and
//! `peek_mti_and_stan` must agree with the full decode.
#![no_main]

use std::fmt::Write as _;

use bytes::Bytes;
use codecs::json::to_json;
use codecs_fuzz::spec_and_frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((spec, frame)) = spec_and_frame(data) else {
        return;
    };
    let peeked = spec.peek_mti_and_stan(frame);
    let msg = match spec.decode(Bytes::copy_from_slice(frame)) {
        Ok(msg) => msg,
        Err(e) => {
            // Errors are rendered in logs: formatting them must not panic either.
            let mut s = String::new();
            let _ = write!(s, "{e} {e:?} {:?}", e.location.field_number());
            return;
        }
    };

    // A frame that decodes whole is also identified by the peek, with the same MTI
    // and, when field 11 is present, the same STAN.
    let (mti, stan) = peeked.unwrap_or_else(|| panic!("decoded but peek found nothing"));
    assert_eq!(mti, msg.mti(), "peek MTI differs from decode");
    let full_stan = msg
        .get(11)
        .and_then(|f| f.to_u64())
        .and_then(|v| u32::try_from(v).ok());
    assert_eq!(stan, full_stan, "peek STAN differs from decode");

    let mut s = String::new();
    let _ = write!(s, "{msg:?} {msg:#?} {msg} {}", msg.mti());
    let _ = to_json(&msg, true);
    let _ = to_json(&msg, false);
    let _ = msg.header();
    // Field 55's tags, read on demand, whatever the field holds.
    if let Some(Ok(list)) = msg.tlv(55) {
        assert_eq!(list.iter().count(), list.len());
    }
    for field in msg.fields() {
        let n = field.number();
        let _ = field.text();
        let _ = field.bytes();
        let _ = field.to_u64();
        let _ = (
            field.len(),
            field.is_empty(),
            field.is_binary(),
            field.wire(),
        );
        let _ = codecs::mask::masked_text(&msg, &field);
        assert!(msg.has(n));
        assert!(msg.get_wire_bytes(n).is_some());
    }
});
