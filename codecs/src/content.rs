//! Character-level rules: which bytes each content class allows, and the
//! conversions between wire representations (packed BCD, EBCDIC, hex text).
//!
//! Everything here works on byte slices and small lookup tables, with no allocation
//! except in the explicit `to_*` conversions.

use crate::spec::ContentClass;

/// A 256-entry membership table for one content class.
type ClassTable = [bool; 256];

const fn class_table(class: ContentClass) -> ClassTable {
    let mut t = [false; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let digit = c.is_ascii_digit();
        let alpha = c.is_ascii_alphabetic();
        let printable = c >= 0x20 && c <= 0x7E;
        t[b] = match class {
            ContentClass::N => digit,
            ContentClass::A => alpha || c == b' ',
            ContentClass::An => alpha || digit || c == b' ',
            ContentClass::Ans => printable,
            ContentClass::Ns => printable && !alpha,
            // The sign is checked separately; the table covers the digits behind it.
            ContentClass::XN => digit,
            ContentClass::B => true,
            ContentClass::Z => (c >= 0x30 && c <= 0x3F) || c == b'D',
        };
        b += 1;
    }
    t
}

static TABLES: [ClassTable; 8] = [
    class_table(ContentClass::N),
    class_table(ContentClass::A),
    class_table(ContentClass::An),
    class_table(ContentClass::Ans),
    class_table(ContentClass::Ns),
    class_table(ContentClass::XN),
    class_table(ContentClass::B),
    class_table(ContentClass::Z),
];

fn table(class: ContentClass) -> &'static ClassTable {
    &TABLES[class as usize]
}

/// Position of the first character of `text` (logical ASCII form) that `class`
/// does not allow, if any.
#[inline(always)]
pub fn first_invalid(class: ContentClass, text: &[u8]) -> Option<usize> {
    // Fast path, inlined: a branch-free (vectorizable) check of the whole value;
    // the position is searched out of line only when something is wrong.
    let all_ok = match class {
        ContentClass::B => true,
        ContentClass::N => all_digits(text),
        ContentClass::Ans => all_printable(text),
        ContentClass::Z => text
            .iter()
            .fold(true, |ok, &b| ok & ((b & 0xF0) == 0x30 || b == b'D')),
        ContentClass::An => text.iter().fold(true, |ok, &b| {
            ok & (b.is_ascii_alphanumeric() | (b == b' '))
        }),
        _ => false,
    };
    if all_ok {
        return None;
    }
    first_invalid_position(class, text)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Eight bytes at a time (SWAR): every byte an ASCII digit.
#[inline(always)]
pub(crate) fn all_digits(text: &[u8]) -> bool {
    let mut chunks = text.chunks_exact(8);
    let mut ok = true;
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        ok &= is_eight_digits(u64::from_le_bytes(a));
    }
    ok && chunks.remainder().iter().all(u8::is_ascii_digit)
}

/// Whether all eight bytes of `x` are ASCII digits: each byte's high nibble is 3,
/// and adding 6 keeps it 3 (no byte can carry into the next).
#[inline(always)]
pub(crate) fn is_eight_digits(x: u64) -> bool {
    (x & 0xF0F0_F0F0_F0F0_F0F0) == 0x3030_3030_3030_3030
        && ((x + 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) == 0x3030_3030_3030_3030
}

/// Eight bytes at a time (SWAR): every byte printable ASCII (0x20-0x7E).
#[inline(always)]
fn all_printable(text: &[u8]) -> bool {
    let mut chunks = text.chunks_exact(8);
    let mut bad = 0u64;
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        let x = u64::from_le_bytes(a);
        // High bit set: >= 0x80. Below 0x20: (x - 0x20 per byte) borrows into the
        // high bit for bytes < 0x20 (bytes >= 0x80 are caught by the first term).
        // Equal to 0x7F: x ^ 0x7F.. is zero in that byte.
        let below = x.wrapping_sub(ONES * 0x20) & !x;
        let del = x ^ (ONES * 0x7F);
        let is_del = del.wrapping_sub(ONES) & !del;
        bad |= (x | below | is_del) & HIGH;
    }
    bad == 0
        && chunks
            .remainder()
            .iter()
            .all(|&b| (0x20..=0x7E).contains(&b))
}

/// Every byte a hex digit (either case): eight bytes at a time, the ends read as
/// overlapping words (a byte checked twice is harmless).
#[inline(always)]
pub fn all_hex(text: &[u8]) -> bool {
    let n = text.len();
    if n >= 8 {
        let mut ok = hex_word_ok(word8(text, n - 8));
        let mut i = 0;
        while i + 8 < n {
            ok &= hex_word_ok(word8(text, i));
            i += 8;
        }
        ok
    } else if n >= 4 {
        hex_word_ok(u64::from(word4(text, 0)) | u64::from(word4(text, n - 4)) << 32)
    } else {
        text.iter()
            .fold(0u8, |acc, &c| acc | HEX_VALUES[c as usize])
            & 0x80
            == 0
    }
}

/// Eight bytes of `t` from `i` as a little-endian word (`i + 8 <= t.len()`).
#[inline(always)]
fn word8(t: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&t[i..i + 8]);
    u64::from_le_bytes(a)
}

/// Four bytes of `t` from `i` as a little-endian word (`i + 4 <= t.len()`).
#[inline(always)]
fn word4(t: &[u8], i: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&t[i..i + 4]);
    u32::from_le_bytes(a)
}

/// Whether every byte of `text` lies in `lo..=hi` (both below 0x80; the digits for
/// `n`, printable ASCII for `ans`): eight bytes at a time, the ends read as
/// overlapping words, short values as one word padded with `lo`.
#[inline(always)]
pub(crate) fn all_in_range(text: &[u8], lo: u8, hi: u8) -> bool {
    let ge = ONES * u64::from(0x80 - lo);
    let gt = ONES * u64::from(0x7F - hi);
    // See `in_range_bytes`: a byte of 0x80 or more is bad by its own high bit (its
    // sums may carry into the next byte, but the word is then bad anyway).
    let bad = |x: u64| (x | !x.wrapping_add(ge) | x.wrapping_add(gt)) & HIGH;
    let n = text.len();
    if n >= 8 {
        let mut acc = bad(word8(text, n - 8));
        let mut i = 0;
        while i + 8 < n {
            acc |= bad(word8(text, i));
            i += 8;
        }
        acc == 0
    } else if n >= 4 {
        bad(u64::from(word4(text, 0)) | u64::from(word4(text, n - 4)) << 32) == 0
    } else if n > 0 {
        let x = u64::from(text[0])
            | u64::from(text[n / 2]) << 8
            | u64::from(text[n - 1]) << 16
            | (ONES * u64::from(lo)) << 24;
        bad(x) == 0
    } else {
        true
    }
}

#[cold]
#[inline(never)]
fn first_invalid_position(class: ContentClass, text: &[u8]) -> Option<usize> {
    match class {
        ContentClass::B => None,
        ContentClass::N => text.iter().position(|b| !b.is_ascii_digit()),
        ContentClass::XN => match text.first() {
            None => None,
            Some(b'C' | b'D') => text[1..]
                .iter()
                .position(|b| !b.is_ascii_digit())
                .map(|p| p + 1),
            Some(_) => Some(0),
        },
        _ => {
            let t = table(class);
            text.iter().position(|&b| !t[b as usize])
        }
    }
}

/// ASCII (0x20-0x7E) to EBCDIC code page 500.
static ASCII_TO_EBCDIC: [u8; 95] = [
    0x40, 0x4F, 0x7F, 0x7B, 0x5B, 0x6C, 0x50, 0x7D, 0x4D, 0x5D, 0x5C, 0x4E, 0x6B, 0x60, 0x4B, 0x61,
    0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0x7A, 0x5E, 0x4C, 0x7E, 0x6E, 0x6F,
    0x7C, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6,
    0xD7, 0xD8, 0xD9, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0x4A, 0xE0, 0x5A, 0x5F, 0x6D,
    0x79, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96,
    0x97, 0x98, 0x99, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xC0, 0xBB, 0xD0, 0xA1,
];

/// EBCDIC to ASCII for the printable range; 0 marks bytes outside it.
static EBCDIC_TO_ASCII: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < ASCII_TO_EBCDIC.len() {
        t[ASCII_TO_EBCDIC[i] as usize] = 0x20 + i as u8;
        i += 1;
    }
    t
};

/// The EBCDIC byte for a printable ASCII character (None outside 0x20-0x7E).
#[inline]
pub fn ascii_to_ebcdic(c: u8) -> Option<u8> {
    ASCII_TO_EBCDIC.get(c.checked_sub(0x20)? as usize).copied()
}

/// The ASCII character for an EBCDIC byte (None outside the printable range).
#[inline]
pub fn ebcdic_to_ascii(c: u8) -> Option<u8> {
    match EBCDIC_TO_ASCII[c as usize] {
        0 => None,
        a => Some(a),
    }
}

/// The logical character of a BCD nibble: digits, and `:;<=>?` for track data.
#[inline]
pub fn nibble_char(n: u8) -> u8 {
    0x30 + (n & 0x0F)
}

/// The nibble for a logical character in a BCD field (`D` is the track separator).
#[inline]
pub fn char_nibble(c: u8) -> Option<u8> {
    match c {
        0x30..=0x3F => Some(c - 0x30),
        b'D' => Some(0x0D),
        _ => None,
    }
}

/// Iterate the `digits` significant nibbles of a packed BCD value.
pub fn bcd_nibbles(wire: &[u8], digits: usize, pad_left: bool) -> impl Iterator<Item = u8> + '_ {
    let skip = usize::from(pad_left && digits % 2 == 1);
    wire.iter()
        .flat_map(|b| [b >> 4, b & 0x0F])
        .skip(skip)
        .take(digits)
}

/// Hex digit values; 0xFF marks a non-hex byte.
static HEX_VALUES: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'A' as usize + i] = 10 + i as u8;
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// The value of a hex character (either case).
#[inline]
pub fn hex_value(c: u8) -> Option<u8> {
    match HEX_VALUES[c as usize] {
        0xFF => None,
        v => Some(v),
    }
}

/// Sixteen hex characters as a big-endian u64 (a hex bitmap); None if any is not hex.
#[inline]
pub fn hex_u64(text: &[u8; 16]) -> Option<u64> {
    let mut a = [0u8; 8];
    a.copy_from_slice(&text[..8]);
    let high = u64::from_be_bytes(a);
    a.copy_from_slice(&text[8..]);
    let low = u64::from_be_bytes(a);
    (hex_word_ok(high) && hex_word_ok(low))
        .then(|| u64::from(hex_word_value(high)) << 32 | u64::from(hex_word_value(low)))
}

/// Per byte of `x` (every byte below 0x80): the high bit set iff the byte is in
/// `lo..=hi`. `b + (0x80 - lo)` reaches the high bit iff `b >= lo`, `b + (0x7F - hi)`
/// iff `b > hi`, and for bytes below 0x80 neither sum carries into the next byte.
#[inline(always)]
const fn in_range_bytes(x: u64, lo: u8, hi: u8) -> u64 {
    let ge = x.wrapping_add(ONES * (0x80 - lo as u64));
    let gt = x.wrapping_add(ONES * (0x7F - hi as u64));
    ge & !gt & HIGH
}

/// Whether all eight bytes of `x` are hex digits (either case).
#[inline(always)]
const fn hex_word_ok(x: u64) -> bool {
    x & HIGH == 0
        && (in_range_bytes(x, b'0', b'9') | in_range_bytes(x | (ONES * 0x20), b'a', b'f')) == HIGH
}

/// The value of eight hex digits read big-endian (first character in the top byte).
#[inline(always)]
const fn hex_word_value(x: u64) -> u32 {
    // Each byte's value: its low nibble, plus 9 for letters (bit 6 set).
    let v = (x & (ONES * 0x0F)) + ((x >> 6) & ONES) * 9;
    let v = (v | v >> 4) & 0x00FF_00FF_00FF_00FF;
    let v = (v | v >> 8) & 0x0000_FFFF_0000_FFFF;
    ((v | v >> 16) & 0xFFFF_FFFF) as u32
}

/// The uppercase hex digits, by value.
pub(crate) const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Append `bytes` as uppercase hex text.
pub fn push_hex(out: &mut impl Extend<u8>, bytes: &[u8]) {
    out.extend(
        bytes
            .iter()
            .flat_map(|b| [HEX_UPPER[(b >> 4) as usize], HEX_UPPER[(b & 0x0F) as usize]]),
    );
}

/// `bytes` as an uppercase hex string.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = Vec::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    // Hex digits are ASCII.
    String::from_utf8(s).unwrap_or_default()
}

/// Decode hex text (even length, either case); None if malformed.
pub fn from_hex(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    text.chunks_exact(2)
        .map(|p| Some(hex_value(p[0])? << 4 | hex_value(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swar_checks_agree_with_bytewise_ones() {
        for len in 0..20 {
            for bad_at in 0..=len {
                for filler in [b'0', b'9', b' ', b'~', b'A'] {
                    for bad in [0u8, 0x1F, 0x20, 0x2F, 0x3A, 0x7E, 0x7F, 0x80, 0xFF, b'5'] {
                        let mut v = vec![filler; len];
                        if bad_at < len {
                            v[bad_at] = bad;
                        }
                        assert_eq!(all_digits(&v), v.iter().all(u8::is_ascii_digit), "{v:?}");
                        assert_eq!(
                            all_printable(&v),
                            v.iter().all(|b| (0x20..=0x7E).contains(b)),
                            "{v:?}"
                        );
                        assert_eq!(all_hex(&v), v.iter().all(u8::is_ascii_hexdigit), "{v:?}");
                        assert_eq!(
                            all_in_range(&v, b'0', b'9'),
                            v.iter().all(u8::is_ascii_digit),
                            "{v:?}"
                        );
                        assert_eq!(
                            all_in_range(&v, 0x20, 0x7E),
                            v.iter().all(|b| (0x20..=0x7E).contains(b)),
                            "{v:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn hex_words_agree_with_the_table() {
        let table = |text: &[u8; 16]| {
            text.iter().try_fold(0u64, |acc, &c| {
                c.is_ascii_hexdigit()
                    .then(|| acc << 4 | u64::from(hex_value(c).unwrap_or(0)))
            })
        };
        let edges = b"0123456789abcdefABCDEF/:@G`g \x00\x7f\x80\xb0\xc1\xe6\xff";
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut text = [0u8; 16];
            for (i, c) in text.iter_mut().enumerate() {
                // Mostly hex digits, now and then an edge byte.
                let r = (state >> (i * 4)) as usize;
                *c = if r % 7 == 0 {
                    edges[(r >> 3) % edges.len()]
                } else {
                    b"0123456789abcdefABCDEF"[(r >> 3) % 22]
                };
            }
            assert_eq!(hex_u64(&text), table(&text), "{text:?}");
            assert_eq!(all_hex(&text), table(&text).is_some(), "{text:?}");
        }
        for b in 0..=255u8 {
            let mut text = *b"0123456789ABCDEF";
            for i in 0..16 {
                text[i] = b;
                assert_eq!(hex_u64(&text), table(&text), "{text:?}");
                text[i] = b"0123456789ABCDEF"[i];
            }
        }
    }

    #[test]
    fn classes() {
        assert_eq!(first_invalid(ContentClass::N, b"0123"), None);
        assert_eq!(first_invalid(ContentClass::N, b"01 3"), Some(2));
        assert_eq!(first_invalid(ContentClass::N, b"-1"), Some(0));
        assert_eq!(first_invalid(ContentClass::XN, b"D00001000"), None);
        assert_eq!(first_invalid(ContentClass::XN, b"X00001000"), Some(0));
        assert_eq!(first_invalid(ContentClass::XN, b"C0000100A"), Some(8));
        assert_eq!(first_invalid(ContentClass::An, b"AB 12"), None);
        assert_eq!(first_invalid(ContentClass::An, b"AB-12"), Some(2));
        assert_eq!(first_invalid(ContentClass::Ans, b"A-b ~"), None);
        assert_eq!(first_invalid(ContentClass::Ans, b"A\x7F"), Some(1));
        assert_eq!(first_invalid(ContentClass::Ns, b"12-/ "), None);
        assert_eq!(first_invalid(ContentClass::Ns, b"12a"), Some(2));
        assert_eq!(first_invalid(ContentClass::Z, b"4000=2512D1"), None);
        assert_eq!(first_invalid(ContentClass::Z, b"4000^"), Some(4));
        assert_eq!(first_invalid(ContentClass::A, b"Ab c"), None);
        assert_eq!(first_invalid(ContentClass::A, b"A1"), Some(1));
    }

    #[test]
    fn ebcdic_round_trips_printable_ascii() {
        for c in 0x20u8..=0x7E {
            let e = ascii_to_ebcdic(c).unwrap();
            assert_eq!(ebcdic_to_ascii(e), Some(c));
        }
        assert_eq!(ascii_to_ebcdic(b'A'), Some(0xC1));
        assert_eq!(ascii_to_ebcdic(b'0'), Some(0xF0));
        assert_eq!(ascii_to_ebcdic(0x7F), None);
        assert_eq!(ebcdic_to_ascii(0x00), None);
    }

    #[test]
    fn bcd_and_hex() {
        let n: Vec<u8> = bcd_nibbles(&[0x01, 0x23], 3, true)
            .map(nibble_char)
            .collect();
        assert_eq!(n, b"123");
        let n: Vec<u8> = bcd_nibbles(&[0x12, 0x3F], 3, false)
            .map(nibble_char)
            .collect();
        assert_eq!(n, b"123");
        assert_eq!(char_nibble(b'='), Some(0xD));
        assert_eq!(char_nibble(b'D'), Some(0xD));
        assert_eq!(to_hex(&[0xAB, 0x01]), "AB01");
        assert_eq!(from_hex(b"ab01"), Some(vec![0xAB, 0x01]));
        assert_eq!(from_hex(b"ab0"), None);
        assert_eq!(from_hex(b"zz"), None);
    }
}
