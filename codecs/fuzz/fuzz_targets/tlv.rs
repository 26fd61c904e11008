//! Fuzz target `tlv`: arbitrary bytes as field 55's BER-TLV data.
//!
//! Input: the whole input is the field's value. Nothing may panic. Reading the
//! elements lazily and all at once must agree (the same elements, or the same
//! error); a list that reads must encode, and its encoding must read back to the
//! same tags and values and encode to itself (the first encoding may differ
//! from the input: a long length form that did not need to be long comes out
//! short). Masked renderings run on every input, and a `5A` (PAN) value of 13
//! digits or more is never shown in full by its masked rendering.
#![no_main]

use codecs::tlv::{self, Element};
use codecs::{Message, Mti};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lazy: Result<Vec<Element<'_>>, _> = tlv::elements(data).collect();
    let whole = tlv::decode(data);
    assert_eq!(lazy, whole, "lazy and whole reads differ");
    assert_eq!(tlv::validate(data).ok(), whole.as_ref().ok().map(Vec::len));

    // Through a message, as the switch's tools see field 55.
    let mut msg = Message::new(Mti::FINANCIAL_REQUEST);
    msg.set_binary(55, data);
    let _ = format!("{msg:?} {msg}");
    let _ = codecs::json::to_json(&msg, true);
    let _ = codecs::json::to_json(&msg, false);
    let read = msg.tlv(55).unwrap_or_else(|| panic!("field 55 is set"));
    assert_eq!(read.is_ok(), whole.is_ok(), "Message::tlv and tlv::decode differ");

    let Ok(elements) = whole else {
        return;
    };
    for e in &elements {
        let shown = codecs::icc::masked_value(e.tag, e.value);
        if e.tag == codecs::icc::PAN {
            let digits = codecs::content::to_hex(e.value);
            let pan: String = digits.chars().take_while(char::is_ascii_digit).collect();
            assert!(
                pan.len() < 13 || !shown.contains(&pan),
                "a PAN of {} digits shown in full",
                pan.len()
            );
        }
    }
    let mut first = Vec::new();
    if let Err(e) = tlv::encode(elements.iter().copied(), &mut first) {
        panic!("elements that read do not encode: {e}");
    }
    let again = match tlv::decode(&first) {
        Ok(again) => again,
        Err(e) => panic!("own encoding does not read: {e}"),
    };
    assert_eq!(elements, again, "elements changed through an encoding");
    let mut second = Vec::new();
    if let Err(e) = tlv::encode(again.iter().copied(), &mut second) {
        panic!("re-read elements do not encode: {e}");
    }
    assert_eq!(first, second, "second encoding differs from the first");
});
