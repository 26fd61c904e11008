//! Strict, zero-copy decoding of one whole frame with nom complete parsers.
//!
//! The decoder walks the bitmaps and records where each field's value lies in the
//! frame; it copies and converts nothing. It checks everything a peer could get
//! wrong: digits-only numeric fields and length prefixes, exact fixed lengths,
//! maximum variable lengths, BCD pad nibbles, bits for undefined fields and bytes
//! after the last field. It allocates only the message's field index, sized by the
//! bitmap (at most 190 entries), never by a length the peer claims.

use bytes::Bytes;
use nom::bytes::complete::take;

use crate::content::all_in_range;
use crate::content::{all_hex, ebcdic_to_ascii, first_invalid, hex_u64, hex_value};
use crate::error::{DecodeError, Location, Reason};
use crate::message::{Field, Form, Message, Slot};
use crate::mti::Mti;
use crate::spec::{
    BitmapEncoding, ContentClass, DataEncoding, FastPath, FieldPlan, MtiEncoding, PrefixEncoding,
    Spec,
};

type Res<T> = Result<T, DecodeError>;

/// The frame as nom input. A newtype over `&[u8]` whose `nom::Input` methods are
/// all `#[inline]`: nom's own impl for `&[u8]` leaves `take`/`take_from` out of line
/// across crates, a call per field that the codec bench shows.
#[derive(Clone, Copy)]
struct Wire<'a>(&'a [u8]);

impl<'a> nom::Input for Wire<'a> {
    type Item = u8;
    type Iter = std::iter::Copied<std::slice::Iter<'a, u8>>;
    type IterIndices = std::iter::Enumerate<Self::Iter>;

    #[inline(always)]
    fn input_len(&self) -> usize {
        self.0.len()
    }

    #[inline(always)]
    fn take(&self, index: usize) -> Self {
        Wire(self.0.get(..index).unwrap_or(self.0))
    }

    #[inline(always)]
    fn take_from(&self, index: usize) -> Self {
        Wire(self.0.get(index..).unwrap_or(&[]))
    }

    #[inline(always)]
    fn take_split(&self, index: usize) -> (Self, Self) {
        let (prefix, suffix) = self.0.split_at_checked(index).unwrap_or((self.0, &[]));
        (Wire(suffix), Wire(prefix))
    }

    #[inline(always)]
    fn position<P: Fn(u8) -> bool>(&self, predicate: P) -> Option<usize> {
        self.0.iter().position(|&b| predicate(b))
    }

    #[inline(always)]
    fn iter_elements(&self) -> Self::Iter {
        self.0.iter().copied()
    }

    #[inline(always)]
    fn iter_indices(&self) -> Self::IterIndices {
        self.iter_elements().enumerate()
    }

    #[inline(always)]
    fn slice_index(&self, count: usize) -> Result<usize, nom::Needed> {
        if self.0.len() >= count {
            Ok(count)
        } else {
            Err(nom::Needed::new(count - self.0.len()))
        }
    }
}

/// A cursor over the frame: nom parsers on the remaining input, plus the offset
/// of that input in the frame for the field index.
struct Cursor<'a> {
    frame: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn offset(&self) -> usize {
        self.frame.len() - self.rest.len()
    }

    /// Take exactly `n` bytes (complete parser: too few is an error, not "incomplete").
    #[inline(always)]
    fn take(&mut self, n: usize, at: Location) -> Res<&'a [u8]> {
        match take::<_, _, ()>(n)(Wire(self.rest)) {
            Ok((rest, taken)) => {
                self.rest = rest.0;
                Ok(taken.0)
            }
            Err(_) => Err(DecodeError::new(at, Reason::Truncated)),
        }
    }
}

impl Spec {
    /// Decode one message (without length header) from a whole frame.
    pub fn decode(&self, frame: Bytes) -> Res<Message> {
        let mut cur = Cursor {
            frame: &frame,
            rest: &frame,
        };
        let header_start = cur.offset();
        cur.take(self.header_len, Location::Header)?;
        let mti = decode_mti(self, &mut cur)?;
        let bitmap = decode_bitmaps(self, &mut cur)?;

        let mut slots = Vec::with_capacity(bitmap.data_field_count());
        // The set bits in order, written out rather than through `data_fields`'s
        // iterator chain (a measurable share of the decode on the reference message).
        for (w, &word) in bitmap.0.iter().enumerate() {
            let mut word = word & !Bitmaps::bitmap_bit(w);
            while word != 0 {
                let bit = word.leading_zeros();
                word &= !(1u64 << (63 - bit));
                let n = (w as u32 * 64 + bit + 1) as u8;
                let plan = self.plan(n);
                if !plan.defined {
                    return Err(DecodeError::new(Location::Field(n), Reason::UndefinedField));
                }
                decode_field(plan, n, &mut cur, |slot| slots.push(slot))?;
            }
        }
        if !cur.rest.is_empty() {
            let count = u32::try_from(cur.rest.len()).unwrap_or(u32::MAX);
            return Err(DecodeError::new(
                Location::Message,
                Reason::TrailingBytes { count },
            ));
        }
        Ok(Message {
            mti,
            header: (header_start as u32, self.header_len as u32),
            wire: frame,
            local: Vec::new(),
            slots,
            sensitive: self.sensitive_fields(),
            tlv: self.tlv_fields(),
            composites: self.composites().cloned(),
            origin: self.layout(),
        })
    }

    /// Decode a message from a byte slice (copies it once into a `Bytes`).
    pub fn decode_slice(&self, frame: &[u8]) -> Res<Message> {
        self.decode(Bytes::copy_from_slice(frame))
    }

    /// Read as much of a frame as identifies it: the MTI and, if it can be found,
    /// the STAN (field 11). Used to answer a malformed request with RC 30.
    pub fn peek_mti_and_stan(&self, frame: &[u8]) -> Option<(Mti, Option<u32>)> {
        let mut cur = Cursor { frame, rest: frame };
        cur.take(self.header_len, Location::Header).ok()?;
        let mti = decode_mti(self, &mut cur).ok()?;
        let stan = (|| {
            let bitmap = decode_bitmaps(self, &mut cur).ok()?;
            for n in bitmap.data_fields().take_while(|&n| n <= 11) {
                let plan = self.plan(n);
                if !plan.defined {
                    return None;
                }
                if n < 11 {
                    // Only step over fields before the STAN: their content may be
                    // what is wrong with the message.
                    let units = if plan.variable {
                        decode_prefix(plan, &mut cur, Location::Field(n)).ok()?
                    } else {
                        u32::from(plan.len)
                    };
                    cur.take(plan.wire_len(units as usize), Location::Field(n))
                        .ok()?;
                    continue;
                }
                let mut found = None;
                decode_field(plan, n, &mut cur, |slot| found = Some(slot)).ok()?;
                let slot = found?;
                if n == 11 {
                    let data = frame.get(slot.start as usize..(slot.start + slot.len) as usize)?;
                    let stan = Field::from_parts(11, slot.form, data).to_u64()?;
                    return u32::try_from(stan).ok();
                }
            }
            None
        })();
        Some((mti, stan))
    }
}

fn decode_mti(spec: &Spec, cur: &mut Cursor<'_>) -> Res<Mti> {
    let bad = DecodeError::new(Location::Mti, Reason::BadMti);
    match spec.mti {
        MtiEncoding::Ascii => Mti::new(cur.take(4, Location::Mti)?).ok_or(bad),
        MtiEncoding::Ebcdic => {
            let e = cur.take(4, Location::Mti)?;
            let mut d = [0u8; 4];
            for (o, &b) in d.iter_mut().zip(e) {
                *o = ebcdic_to_ascii(b).ok_or(bad)?;
            }
            Mti::new(&d).ok_or(bad)
        }
        MtiEncoding::Bcd => {
            let b = cur.take(2, Location::Mti)?;
            let d = [b[0] >> 4, b[0] & 0xF, b[1] >> 4, b[1] & 0xF].map(|n| b'0' + n);
            Mti::new(&d).ok_or(bad)
        }
    }
}

/// The three bitmaps as words; bit 63 of word 0 is field 1.
pub(crate) struct Bitmaps([u64; 3]);

impl Bitmaps {
    /// The bit of word `w` that announces the next bitmap (fields 1 and 65), not
    /// data; 0 for the tertiary word, whose top bit is field 129.
    #[inline(always)]
    fn bitmap_bit(w: usize) -> u64 {
        if w < 2 {
            1 << 63
        } else {
            0
        }
    }

    /// Data fields present: every set bit except the bitmap bits 1 and 65.
    pub(crate) fn data_fields(&self) -> impl Iterator<Item = u8> + '_ {
        (0..3usize)
            .flat_map(move |w| {
                let mut word = self.0[w];
                std::iter::from_fn(move || {
                    if word == 0 {
                        return None;
                    }
                    let bit = word.leading_zeros();
                    word &= !(1u64 << (63 - bit));
                    Some((w as u32 * 64 + bit + 1) as u8)
                })
            })
            .filter(|&n| n != 1 && n != 65)
    }

    fn data_field_count(&self) -> usize {
        let bits: u32 = self.0.iter().map(|w| w.count_ones()).sum();
        let bitmap_bits = (self.0[0] >> 63) + (self.0[1] >> 63);
        (bits as u64 - bitmap_bits) as usize
    }
}

fn decode_bitmaps(spec: &Spec, cur: &mut Cursor<'_>) -> Res<Bitmaps> {
    let mut words = [0u64; 3];
    words[0] = decode_bitmap(spec, cur, Location::PrimaryBitmap)?;
    if words[0] >> 63 == 1 {
        words[1] = decode_bitmap(spec, cur, Location::Field(1))?;
        if words[1] >> 63 == 1 {
            words[2] = decode_bitmap(spec, cur, Location::Field(65))?;
        }
    }
    Ok(Bitmaps(words))
}

fn decode_bitmap(spec: &Spec, cur: &mut Cursor<'_>, at: Location) -> Res<u64> {
    match spec.bitmap {
        BitmapEncoding::Binary => {
            let b = cur.take(8, at)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Ok(u64::from_be_bytes(a))
        }
        BitmapEncoding::Hex => {
            let text: &[u8; 16] = cur
                .take(16, at)?
                .try_into()
                .map_err(|_| DecodeError::new(at, Reason::Truncated))?;
            hex_u64(text).ok_or(DecodeError::new(at, Reason::BadBitmap))
        }
    }
}

/// Read a variable field's length prefix.
#[inline(always)]
fn decode_prefix(plan: &FieldPlan, cur: &mut Cursor<'_>, at: Location) -> Res<u32> {
    let bad = DecodeError::new(at, Reason::BadLengthPrefix);
    let digits = plan.digits;
    let raw = cur.take(plan.prefix_width as usize, at)?;
    match plan.prefix {
        PrefixEncoding::Ascii => raw.iter().try_fold(0u32, |acc, &c| {
            if c.is_ascii_digit() {
                Ok(acc * 10 + u32::from(c - b'0'))
            } else {
                Err(bad)
            }
        }),
        PrefixEncoding::Ebcdic => raw.iter().try_fold(0u32, |acc, &c| match c {
            0xF0..=0xF9 => Ok(acc * 10 + u32::from(c - 0xF0)),
            _ => Err(bad),
        }),
        PrefixEncoding::Bcd => {
            let value = raw.iter().try_fold(0u32, |acc, &b| {
                let (hi, lo) = (b >> 4, b & 0xF);
                if hi > 9 || lo > 9 {
                    return Err(bad);
                }
                Ok(acc * 100 + u32::from(hi) * 10 + u32::from(lo))
            })?;
            // An LLL length in two bytes has a leading nibble that must be zero
            // beyond the digits the prefix allows (e.g. 0x0999 for LLL).
            if value >= 10u32.pow(u32::from(digits.max(2))) {
                return Err(bad);
            }
            Ok(value)
        }
        PrefixEncoding::Binary => Ok(raw.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b))),
    }
}

/// Decode one field: the straight path for ASCII data behind no prefix or an ASCII
/// one (every field of `iso87ascii`, all but the `b` fields of `iso87binary` and the
/// like), the general decoder for the rest. Both check the same things in the same
/// order and report the same errors.
///
/// The slot is handed to `put` (which pushes it onto the field index) rather than
/// returned: returned in a `Result`, it was written to the stack a field at a time
/// and read back whole, a store-forwarding stall that cost more than the rest of
/// the field's decoding.
#[inline(always)]
fn decode_field(plan: &FieldPlan, n: u8, cur: &mut Cursor<'_>, put: impl FnOnce(Slot)) -> Res<()> {
    if plan.fast == FastPath::General {
        return decode_field_general(plan, n, cur, put);
    }
    let at = Location::Field(n);
    let units = if plan.variable {
        let raw = cur.take(usize::from(plan.prefix_width), at)?;
        let len = ascii_length(raw).ok_or(DecodeError::new(at, Reason::BadLengthPrefix))?;
        if len > u32::from(plan.len) {
            return Err(too_long(at, len, plan.len));
        }
        len
    } else {
        u32::from(plan.len)
    };
    let start = cur.offset();
    let data = cur.take(units as usize, at)?;
    let (ok, form) = match plan.fast {
        FastPath::Range { lo, hi } => (all_in_range(data, lo, hi), Form::Text),
        FastPath::Text => (first_invalid(plan.class, data).is_none(), Form::Text),
        FastPath::Hex => (data.len() % 2 == 0 && all_hex(data), Form::HexText),
        FastPath::Raw | FastPath::General => (true, Form::Raw),
    };
    if !ok {
        return Err(bad_ascii_content(plan.class, at, data));
    }
    put(Slot {
        field: n,
        form,
        in_wire: true,
        start: start as u32,
        len: units,
    });
    Ok(())
}

/// An ASCII length prefix of 1-4 digits; None if any byte is not a digit.
#[inline(always)]
fn ascii_length(raw: &[u8]) -> Option<u32> {
    let mut value = 0u32;
    let mut bad = false;
    for &c in raw {
        let d = c.wrapping_sub(b'0');
        bad |= d > 9;
        value = value * 10 + u32::from(d);
    }
    (!bad).then_some(value)
}

#[cold]
#[inline(never)]
fn too_long(at: Location, length: u32, max: u16) -> DecodeError {
    DecodeError::new(
        at,
        Reason::TooLong {
            length,
            max: max.into(),
        },
    )
}

/// The error for ASCII data that failed its class check, with the position the
/// general decoder reports (for `b` hex text: the last character of an odd count,
/// else the first non-hex one).
#[cold]
#[inline(never)]
fn bad_ascii_content(class: ContentClass, at: Location, data: &[u8]) -> DecodeError {
    let position = if class == ContentClass::B {
        if data.len() % 2 != 0 {
            data.len() - 1
        } else {
            data.iter()
                .position(|&c| hex_value(c).is_none())
                .unwrap_or(0)
        }
    } else {
        first_invalid(class, data).unwrap_or(0)
    };
    DecodeError::new(
        at,
        Reason::BadCharacter {
            position: position as u32,
        },
    )
}

#[inline(always)]
fn decode_field_general(
    spec: &FieldPlan,
    n: u8,
    cur: &mut Cursor<'_>,
    put: impl FnOnce(Slot),
) -> Res<()> {
    let at = Location::Field(n);
    let units = match spec.variable {
        false => u32::from(spec.len),
        true => {
            let max = spec.len;
            let len = decode_prefix(spec, cur, at)?;
            if len > u32::from(max) {
                return Err(DecodeError::new(
                    at,
                    Reason::TooLong {
                        length: len,
                        max: max.into(),
                    },
                ));
            }
            len
        }
    };
    let start = cur.offset();
    let data = cur.take(spec.wire_len(units as usize), at)?;
    let bad_char = |p: usize| DecodeError::new(at, Reason::BadCharacter { position: p as u32 });
    let form = match spec.encoding {
        DataEncoding::Ascii if spec.class == ContentClass::B => {
            if data.len() % 2 != 0 {
                return Err(DecodeError::new(
                    at,
                    Reason::BadCharacter {
                        position: units - 1,
                    },
                ));
            }
            if !all_hex(data) {
                let p = data
                    .iter()
                    .position(|&c| hex_value(c).is_none())
                    .unwrap_or(0);
                return Err(bad_char(p));
            }
            Form::HexText
        }
        DataEncoding::Ascii => {
            if let Some(p) = first_invalid(spec.class, data) {
                return Err(bad_char(p));
            }
            Form::Text
        }
        DataEncoding::Ebcdic => {
            let mut ascii = [0u8; 64];
            // Validate in chunks so no allocation is needed.
            for (ci, chunk) in data.chunks(64).enumerate() {
                for (i, &b) in chunk.iter().enumerate() {
                    ascii[i] = ebcdic_to_ascii(b).ok_or_else(|| bad_char(ci * 64 + i))?;
                }
                if let Some(p) = first_invalid_chunk(spec.class, &ascii[..chunk.len()], ci == 0) {
                    return Err(bad_char(ci * 64 + p));
                }
            }
            Form::Ebcdic
        }
        DataEncoding::BcdLeftPad | DataEncoding::BcdRightPad => {
            let pad_left = spec.encoding == DataEncoding::BcdLeftPad;
            check_bcd(spec, data, units as usize, pad_left, at)?;
            Form::Bcd {
                odd: units % 2 == 1,
                pad_left,
            }
        }
        DataEncoding::Binary => Form::Raw,
    };
    put(Slot {
        field: n,
        form,
        in_wire: true,
        start: start as u32,
        len: data.len() as u32,
    });
    Ok(())
}

/// Class check on a chunk of a longer value: the `x+n` sign applies to the first only.
fn first_invalid_chunk(class: ContentClass, text: &[u8], first: bool) -> Option<usize> {
    if class == ContentClass::XN && !first {
        first_invalid(ContentClass::N, text)
    } else {
        first_invalid(class, text)
    }
}

#[inline(always)]
fn check_bcd(
    spec: &FieldPlan,
    data: &[u8],
    digits: usize,
    pad_left: bool,
    at: Location,
) -> Res<()> {
    let odd = digits % 2 == 1;
    if odd {
        let pad = if pad_left {
            data.first().map(|b| b >> 4)
        } else {
            data.last().map(|b| b & 0xF)
        };
        if pad != Some(spec.pad_nibble) {
            return Err(DecodeError::new(at, Reason::BadPadding));
        }
    }
    if spec.class == ContentClass::N {
        // The pad nibble (checked above) is masked out of the digit check.
        let first_mask = if pad_left && odd { 0x0F } else { 0xFF };
        let last_mask = if !pad_left && odd { 0xF0 } else { 0xFF };
        if !all_bcd_digits(data, first_mask, last_mask) {
            return Err(bad_bcd_digit(data, digits, pad_left, at));
        }
    }
    Ok(())
}

/// Whether every nibble of packed BCD `data` is a digit (0-9), after masking the
/// first and last bytes (to leave out a pad nibble): eight bytes at a time, as
/// overlapping words at the ends.
#[inline(always)]
fn all_bcd_digits(data: &[u8], first_mask: u8, last_mask: u8) -> bool {
    const LOW: u64 = 0x0F0F_0F0F_0F0F_0F0F;
    const SIX: u64 = 0x0606_0606_0606_0606;
    // A nibble plus 6 carries out of its 4 bits iff it is 10-15.
    let bad = |x: u64| (((x & LOW) + SIX) | (((x >> 4) & LOW) + SIX)) & !LOW;
    let byte = |b: u8| bad(u64::from(b)) == 0;
    match data {
        [] => true,
        [only] => byte(only & first_mask & last_mask),
        [first, middle @ .., last] => {
            let n = middle.len();
            let mut acc = 0u64;
            if n >= 8 {
                acc |= bad(u64::from_le_bytes(word(&middle[n - 8..])));
                let mut i = 0;
                while i + 8 < n {
                    acc |= bad(u64::from_le_bytes(word(&middle[i..i + 8])));
                    i += 8;
                }
            } else {
                for &b in middle {
                    acc |= bad(u64::from(b));
                }
            }
            acc == 0 && byte(first & first_mask) && byte(last & last_mask)
        }
    }
}

/// The first eight bytes of `b` (which has at least eight).
#[inline(always)]
fn word(b: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    a
}

/// The error for a BCD value with a non-digit nibble: its position among the digits.
#[cold]
#[inline(never)]
fn bad_bcd_digit(data: &[u8], digits: usize, pad_left: bool, at: Location) -> DecodeError {
    let skip = usize::from(pad_left && digits % 2 == 1);
    let position = data
        .iter()
        .flat_map(|b| [b >> 4, b & 0xF])
        .skip(skip)
        .take(digits)
        .position(|d| d > 9)
        .unwrap_or(0);
    DecodeError::new(
        at,
        Reason::BadCharacter {
            position: position as u32,
        },
    )
}
