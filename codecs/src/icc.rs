//! EMV chip data (field 55) for people and logs: which tags are card data or
//! secrets, and how each is shown.
//!
//! - `5A` (PAN) and `57` (track 2 equivalent) are shown like a PAN: at most the
//!   first 6 and last 4 digits; everything of track 2 after its separator is
//!   shown only by its length.
//! - Shown only by their length: `56` (track 1 equivalent), `5F20` (cardholder
//!   name), `9F0B` (cardholder name extended), `5F24` (application expiration
//!   date: with the first 6 and last 4 digits it narrows a card down too far),
//!   `9F1F` and `9F20` (track 1 and 2 discretionary data: the card's CVV lives
//!   there), `9F6B` (contactless track 2), `99` (transaction PIN data), and the
//!   cryptograms, which are never logged: `9F26` (application cryptogram), `91`
//!   (issuer authentication data, the ARPC), `9F4B` (signed dynamic data).
//! - Constructed elements (templates such as `70`, `77`, or the issuer scripts
//!   `71`/`72`) are shown only by their length: they may wrap any of the above.
//! - Every other tag is shown in hex.
//!
//! The wire format itself is [`crate::tlv`]'s.

use crate::mask::mask_pan;
use crate::tlv::{self, Tag};

/// How one element's value may be shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// In full (hex).
    Value,
    /// As a PAN (`5A`): compressed numeric digits, first 6 and last 4 at most.
    Pan,
    /// As track 2 (`57`): the PAN as above, the rest by its length.
    Track2,
    /// Only by its length.
    Length,
}

/// Primitive tags shown only by their length (see the module doc; `5A` and
/// `57` have renderings of their own, in [`shown`]).
const BY_LENGTH: [u32; 11] = [
    0x56, 0x5F20, 0x9F0B, 0x5F24, 0x9F1F, 0x9F20, 0x9F6B, 0x99, 0x9F26, 0x91, 0x9F4B,
];

/// The tag of the PAN.
pub const PAN: Tag = Tag::from_u32(0x5A);
/// The tag of the track 2 equivalent data.
pub const TRACK2: Tag = Tag::from_u32(0x57);

/// How `tag`'s value may be shown.
pub fn shown(tag: Tag) -> Shown {
    if tag == PAN {
        Shown::Pan
    } else if tag == TRACK2 {
        Shown::Track2
    } else if tag.is_constructed() || BY_LENGTH.contains(&tag.value()) {
        Shown::Length
    } else {
        Shown::Value
    }
}

/// The value of an element as it may be shown in logs and tools.
pub fn masked_value(tag: Tag, value: &[u8]) -> String {
    match shown(tag) {
        Shown::Value => crate::content::to_hex(value),
        Shown::Length => by_length(value.len()),
        Shown::Pan => match digits_before(value, None) {
            Some(digits) => mask_pan(&digits),
            None => by_length(value.len()),
        },
        Shown::Track2 => {
            // The PAN up to the separator `D`, then the rest (expiry, service
            // code, discretionary data) by its digit count.
            let Some(pan) = digits_before(value, Some(0xD)) else {
                return by_length(value.len());
            };
            let rest = (2 * value.len()).saturating_sub(pan.len() + 1);
            format!("{}D[{rest} digits masked]", mask_pan(&pan))
        }
    }
}

/// A value shown only by its length.
fn by_length(len: usize) -> String {
    format!("[{len} bytes masked]")
}

/// The ASCII digits of packed `value` up to `stop` (a nibble) or to the `F`
/// padding at the end; None if a nibble that is neither a digit nor `stop`/`F`
/// comes first, or when `stop` is asked for and never comes.
fn digits_before(value: &[u8], stop: Option<u8>) -> Option<Vec<u8>> {
    let mut digits = Vec::with_capacity(value.len() * 2);
    for nibble in value.iter().flat_map(|b| [b >> 4, b & 0x0F]) {
        match nibble {
            0..=9 => digits.push(b'0' + nibble),
            n if Some(n) == stop => return Some(digits),
            0xF if stop.is_none() => return Some(digits),
            _ => return None,
        }
    }
    stop.is_none().then_some(digits)
}

/// Field `data` as a masked list, `{9F26=[8 bytes masked], 9F27=80, ...}`;
/// None when it is not well-formed BER-TLV (then only its length may be shown).
pub fn masked_list(data: &[u8]) -> Option<String> {
    let mut out = String::from("{");
    for (i, element) in tlv::elements(data).enumerate() {
        let element = element.ok()?;
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&element.tag.to_string());
        out.push('=');
        out.push_str(&masked_value(element.tag, element.value));
    }
    out.push('}');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(hex: &str) -> Tag {
        Tag::parse_hex(hex).unwrap()
    }

    #[test]
    fn pan_and_track2_are_masked_like_a_pan() {
        // 5A: 16 digits; a 19-digit PAN padded with F.
        let pan = [0x94, 0x08, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34];
        assert_eq!(masked_value(PAN, &pan), "940812******1234");
        let odd = [0x94, 0x08, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x7F];
        assert_eq!(masked_value(PAN, &odd), "940812*********4567");
        // 57: PAN D YYMM service code discretionary data, F padded.
        let track2 = [
            0x94, 0x08, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0xD2, 0x91, 0x21, 0x01, 0x23, 0x4F,
        ];
        assert_eq!(
            masked_value(TRACK2, &track2),
            "940812******1234D[11 digits masked]"
        );
        // Malformed: no digits, no separator: only the length.
        assert_eq!(masked_value(PAN, &[0xAB]), "[1 bytes masked]");
        assert_eq!(masked_value(TRACK2, &pan), "[8 bytes masked]");
    }

    #[test]
    fn sensitive_and_constructed_tags_by_length_others_in_full() {
        for hex in [
            "56", "5F20", "9F0B", "5F24", "9F1F", "9F20", "9F6B", "99", "9F26", "91", "9F4B", "70",
            "77", "71", "72", "BF0C",
        ] {
            assert_eq!(shown(tag(hex)), Shown::Length, "{hex}");
            assert_eq!(masked_value(tag(hex), &[1, 2, 3]), "[3 bytes masked]");
        }
        for hex in [
            "9F27", "9F36", "9F37", "95", "9A", "9C", "9F02", "5F2A", "82", "9F10",
        ] {
            assert_eq!(shown(tag(hex)), Shown::Value, "{hex}");
        }
        assert_eq!(masked_value(tag("9F27"), &[0x80]), "80");
    }

    #[test]
    fn a_masked_list_keeps_the_order_and_hides_card_data() {
        let data = [
            0x9F, 0x26, 0x02, 0xAB, 0xCD, 0x9F, 0x27, 0x01, 0x80, 0x5A, 0x08, 0x94, 0x08, 0x12,
            0x34, 0x56, 0x78, 0x12, 0x34,
        ];
        assert_eq!(
            masked_list(&data).unwrap(),
            "{9F26=[2 bytes masked], 9F27=80, 5A=940812******1234}"
        );
        assert_eq!(masked_list(&data[..4]), None);
    }
}
