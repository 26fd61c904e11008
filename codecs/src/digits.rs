//! ASCII decimal digits to numbers, eight at a time (SWAR), for the hot paths that
//! read PAN prefixes and institution ids.

use crate::content::is_eight_digits;

/// The value of `digits` (ASCII, at most 19 of them), or None if it is empty, too
/// long or holds a non-digit.
#[inline]
pub fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut chunks = digits.chunks_exact(8);
    let mut value = 0u64;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        if !is_eight_digits(x) {
            return None;
        }
        value = value * 100_000_000 + eight_digits_value(x);
    }
    chunks.remainder().iter().try_fold(value, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
    })
}

/// The value of eight ASCII digits read little-endian (first character in the low
/// byte): pairs, then quads, then the whole, each step one multiply.
#[inline(always)]
fn eight_digits_value(x: u64) -> u64 {
    let x = x - 0x3030_3030_3030_3030;
    let x = (x * 10 + (x >> 8)) & 0x00FF_00FF_00FF_00FF;
    let x = (x * 100 + (x >> 16)) & 0x0000_FFFF_0000_FFFF;
    (x * 10_000 + (x >> 32)) & 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_str_parse() {
        for s in [
            "0",
            "7",
            "12345678",
            "123456789",
            "94080012345",
            "00000000000",
            "99999999999",
            "9999999999999999999",
            "1000000000000000000",
            "0123456789012345",
        ] {
            assert_eq!(parse_u64(s.as_bytes()), s.parse().ok(), "{s}");
        }
    }

    #[test]
    fn rejects_non_digits_anywhere_and_bad_lengths() {
        let good = *b"9408001234567890";
        for i in 0..good.len() {
            for bad in [b'/', b':', b' ', b'a', 0x00, 0xB9, b'0' + 0x80] {
                let mut pan = good;
                pan[i] = bad;
                assert_eq!(parse_u64(&pan), None, "byte {bad:#x} at {i}");
            }
        }
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"99999999999999999999"), None);
    }
}
