//! Fuzz target `composite`: arbitrary bytes as a composite field's value under
//! `samples/host-composite.toml`.
//!
//! Input: byte 0 picks the field ([`codecs_fuzz::COMPOSITE_FIELDS`]`[byte % 4]`:
//! 3 and 43 positional, 48 TLV, 127 bitmapped), the rest is its logical value.
//! Nothing may panic. A value that reads must write back from its subfields and
//! read back to the same subfields; masked renderings run on every input, and
//! subfield 12 of field 127 (declared `mask = "pan"`) is never shown in full.
#![no_main]

use std::borrow::Cow;

use codecs::composite::Key;
use codecs::Mti;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((n, value)) = codecs_fuzz::composite_input(data) else {
        return;
    };
    let spec = codecs_fuzz::composite_spec();
    let layout = spec
        .composite(n)
        .unwrap_or_else(|| panic!("field {n} is composite"));
    let read = layout.read(n, Cow::Borrowed(value));

    let mut msg = codecs::Message::new(Mti::FINANCIAL_REQUEST);
    msg.use_composites_of(&spec);
    if spec
        .field(n)
        .is_some_and(|f| f.class == codecs::spec::ContentClass::B)
    {
        msg.set_binary(n, value);
    } else if let Ok(text) = std::str::from_utf8(value) {
        msg.set(n, text);
    }
    let shown = format!("{msg:?} {msg} {}", codecs::json::to_json(&msg, true));
    let _ = codecs::json::to_json(&msg, false);

    let Ok(parts) = read else { return };
    let list: Vec<(Key, &[u8])> = parts.iter().collect();
    let written = layout
        .write(n, &list)
        .unwrap_or_else(|e| panic!("a value that reads does not write: {e}"));
    let again = layout
        .read(n, Cow::Borrowed(&written))
        .unwrap_or_else(|e| panic!("a written value does not read: {e}"));
    assert_eq!(again.iter().collect::<Vec<_>>(), list, "read back differs");
    if n == 127 {
        if let Some(pan) = parts.get(Key::Bit(12)).filter(|p| p.len() >= 13) {
            let pan = std::str::from_utf8(pan).unwrap_or("");
            assert!(!shown.contains(pan), "subfield 127.12 shown in full");
        }
    }
});
