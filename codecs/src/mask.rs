//! Masking of card data for every human- or log-facing rendering of a message.
//!
//! PANs (fields 2 and 34) show at most the first 6 and last 4 digits; shorter or
//! malformed values are fully masked. BER-TLV fields (ICC data, field 55) show
//! their tags in order with the card data among them masked by tag
//! ([`crate::icc`]); one that is not well-formed BER-TLV shows only its length.
//! Composite fields show their subfields, each masked as its spec declares
//! ([`crate::composite::show`]); one that breaks its layout shows only its length.
//! Track data, PIN blocks and any field a spec marks sensitive show only their
//! length. `Debug` and `Display` of
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
    if msg.is_tlv(n) && field.is_binary() {
        if let Some(list) = crate::icc::masked_list(&field.bytes()) {
            return Cow::Owned(list);
        }
        return Cow::Owned(format!("[{} bytes masked]", field.len()));
    }
    let unit = if field.is_binary() { "bytes" } else { "chars" };
    if msg.is_sensitive(n) {
        return Cow::Owned(format!("[{} {unit} masked]", field.len()));
    }
    if let Some(layout) = msg.composite_layout(n) {
        // Subfield by subfield, each masked as declared; a value that breaks
        // its layout cannot be told apart, so only its length is shown.
        return Cow::Owned(match layout.read(n, field.bytes()) {
            Ok(parts) => layout.masked_line(&parts, field.is_binary()),
            Err(_) => format!("[{} {unit} masked]", field.len()),
        });
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
            assert!(shown.contains("[3 bytes masked]"), "{shown}");
            assert!(!shown.contains("HOLDER"), "{shown}");
            assert!(shown.contains("940812******1234"), "{shown}");
            assert!(shown.contains("000000001000"), "{shown}");
        }
    }

    #[test]
    fn icc_data_is_shown_by_tag_without_its_card_data() {
        let mut m = Message::new(Mti::new(b"0200").unwrap());
        // 5A PAN, 57 track 2, 9F26 cryptogram, 5F20 name, 9F27 shown.
        let mut icc = vec![0x5A, 0x08, 0x94, 0x08, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34];
        icc.extend_from_slice(&[0x57, 0x0A, 0x94, 0x08, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34]);
        icc.extend_from_slice(&[0xD2, 0x91]);
        icc.extend_from_slice(&[
            0x9F, 0x26, 0x08, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x07, 0x18,
        ]);
        icc.extend_from_slice(&[0x5F, 0x20, 0x03, b'B', b'O', b'B', 0x9F, 0x27, 0x01, 0x80]);
        m.set_binary(55, &icc);
        for shown in [format!("{m:?}"), m.to_string(), format!("{m:#?}")] {
            assert!(!shown.contains("9408123456781234"), "{shown}");
            assert!(!shown.contains("A1B2C3D4"), "{shown}");
            assert!(!shown.contains("424F42"), "{shown}");
            assert!(
                shown.contains("5A=940812******1234, 57=940812******1234D[3 digits masked], 9F26=[8 bytes masked], 5F20=[3 bytes masked], 9F27=80"),
                "{shown}"
            );
        }
    }
}
