//! Masking of card data for every human- or log-facing rendering of a message.
//!
//! PANs (fields 2 and 34) show at most the first 6 and last 4 digits; shorter or
//! malformed values are fully masked. Track data, PIN blocks, ICC data and any
//! field a spec marks sensitive show only their length. `Debug` and `Display` of
//! [`Message`] always mask; only an explicit `unmasked` rendering shows everything.

use std::borrow::Cow;
use std::fmt;

use crate::message::{Field, Message, PAN_FIELDS};

/// First 6 and last 4 digits of a 13-19 digit PAN, `*` in between; anything else
/// is masked completely.
pub fn mask_pan(pan: &[u8]) -> String {
    let well_formed = (13..=19).contains(&pan.len()) && pan.iter().all(u8::is_ascii_digit);
    if !well_formed {
        return "*".repeat(pan.len().max(1));
    }
    let mut out = String::with_capacity(pan.len());
    out.push_str(std::str::from_utf8(&pan[..6]).unwrap_or(""));
    out.extend(std::iter::repeat_n('*', pan.len() - 10));
    out.push_str(std::str::from_utf8(&pan[pan.len() - 4..]).unwrap_or(""));
    out
}

/// The text of a field as it may be shown in logs and tools.
pub fn masked_text<'a>(msg: &Message, field: &Field<'a>) -> Cow<'a, str> {
    let n = field.number();
    if msg.is_sensitive(n) {
        let unit = if field.is_binary() { "bytes" } else { "chars" };
        return Cow::Owned(format!("[{} {unit} masked]", field.len()));
    }
    if PAN_FIELDS.contains(n) {
        return Cow::Owned(mask_pan(&field.bytes()));
    }
    field.text()
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        map.entry(&"mti", &self.mti().as_str());
        for field in self.fields() {
            map.entry(&field.number(), &masked_text(self, &field));
        }
        map.finish()
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mti().as_str())?;
        for field in self.fields() {
            write!(f, " {}={}", field.number(), masked_text(self, &field))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mti::Mti;

    #[test]
    fn pans() {
        assert_eq!(mask_pan(b"9408123456781234"), "940812******1234");
        assert_eq!(mask_pan(b"9408123456781234567"), "940812*********4567");
        assert_eq!(mask_pan(b"123456789012"), "************");
        assert_eq!(mask_pan(b"94081234567812X4"), "****************");
        assert_eq!(mask_pan(b""), "*");
    }

    #[test]
    fn debug_and_display_never_show_card_data() {
        let mut m = Message::new(Mti::new(b"0200").unwrap());
        m.set(2, "9408123456781234");
        m.set(35, "9408123456781234=29121010000000000");
        m.set_binary(52, &[0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0]);
        m.set(45, "B9408123456781234^HOLDER/CARD^2912101");
        m.set_binary(55, &[0x9F, 0x26, 0x08]);
        m.set(4, "000000001000");
        for shown in [format!("{m:?}"), m.to_string(), format!("{m:#?}")] {
            assert!(!shown.contains("9408123456781234"), "{shown}");
            assert!(!shown.contains("123456789ABC"), "{shown}");
            assert!(!shown.contains("9F2608"), "{shown}");
            assert!(!shown.contains("HOLDER"), "{shown}");
            assert!(shown.contains("940812******1234"), "{shown}");
            assert!(shown.contains("000000001000"), "{shown}");
        }
    }
}
