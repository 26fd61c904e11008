//! Encoding a [`Message`] under a [`Spec`] into a `BytesMut`, with the same checks
//! as decoding. Bitmaps are computed from the fields present.
//!
//! One pass over the message's field index computes the bitmap words and an
//! estimate of the encoded size, reserved once up front so the buffer does not
//! grow field by field. Each field is then written from the spec's compact
//! [`FieldPlan`] (the decoder's table). The common case, a text value held as ASCII
//! (set through the API or decoded from an ASCII dialect) written as ASCII, takes a
//! straight path: the class check, the length check with its prefix, and one copy.
//! Everything else (hex text, EBCDIC, packed BCD, values converted between
//! dialects) goes through [`encode_field`]. Both paths check the same things in the
//! same order: characters first, then the length.
//!
//! A message decoded under the same spec layout and then changed in a few fields
//! (a switch's forward: new STAN, field 33, field 100) is spliced: the runs of
//! fields still in the frame are copied with their length prefixes in one go
//! (the decoder checked them against the same field plans), and only the bitmaps
//! and the fields set since are written field by field.

use bytes::{BufMut, BytesMut};

use crate::content::{ascii_to_ebcdic, char_nibble, first_invalid, hex_value, HEX_UPPER};
use crate::error::{EncodeError, Location, Reason};
use crate::message::{Field, Form, Message, Slot};
use crate::spec::{
    BitmapEncoding, ContentClass, DataEncoding, FieldPlan, MtiEncoding, PrefixEncoding, Spec,
};

type Res<T> = Result<T, EncodeError>;

/// Bytes a length prefix takes at most (LLLL in ASCII or EBCDIC).
const MAX_PREFIX: usize = 4;

impl Spec {
    /// Append the encoded message (without length header) to `out`. On error `out`
    /// is left as it was.
    pub fn encode(&self, msg: &Message, out: &mut BytesMut) -> Res<()> {
        let mark = out.len();
        // Two instances of one function, so the common one (messages built through
        // the API) carries no splicing code.
        let result = if msg.origin != 0 && msg.origin == self.layout() {
            self.encode_inner::<true>(msg, out)
        } else {
            self.encode_inner::<false>(msg, out)
        };
        if result.is_err() {
            out.truncate(mark);
        }
        result
    }

    /// Encode into a fresh buffer (sized by [`Spec::encode`]'s estimate).
    pub fn encode_to_bytes(&self, msg: &Message) -> Res<bytes::Bytes> {
        let mut out = BytesMut::new();
        self.encode(msg, &mut out)?;
        Ok(out.freeze())
    }

    /// `SPLICE`: the message was decoded under this spec's layout (see
    /// `encode_spliced`).
    fn encode_inner<const SPLICE: bool>(&self, msg: &Message, out: &mut BytesMut) -> Res<()> {
        let header = msg.header();
        if header.len() != self.header_len {
            let reason = Reason::WrongLength {
                length: header.len() as u32,
                expected: self.header_len as u32,
            };
            return Err(EncodeError::new(Location::Header, reason));
        }

        // The bitmap words (bit 63 of the first is field 1) and the size estimate:
        // values as stored plus the longest prefix. Only an estimate (hex text and
        // BCD change the size); the writes below grow the buffer if it is short.
        let (mut primary, mut secondary, mut tertiary) = (0u64, 0u64, 0u64);
        let mut estimate = header.len() + 4 + 3 * 16;
        for slot in &msg.slots {
            // Slots hold fields 2-192 only (`Message::set_stored`, the decoder).
            let bit = u32::from(slot.field).wrapping_sub(1);
            let mask = 1u64 << (63 - bit % 64);
            match bit / 64 {
                0 => primary |= mask,
                1 => secondary |= mask,
                _ => tertiary |= mask,
            }
            estimate += slot.len as usize + MAX_PREFIX;
        }
        if tertiary != 0 {
            secondary |= 1 << 63;
        }
        if secondary != 0 {
            primary |= 1 << 63;
        }
        out.reserve(estimate);

        out.extend_from_slice(header);
        encode_mti(self.mti, msg.mti().as_bytes(), out);
        encode_bitmap(self.bitmap, primary, out);
        if secondary != 0 {
            encode_bitmap(self.bitmap, secondary, out);
        }
        if tertiary != 0 {
            encode_bitmap(self.bitmap, tertiary, out);
        }

        if SPLICE {
            return self.encode_spliced(msg, out);
        }
        for slot in &msg.slots {
            self.encode_slot(msg, slot, out)?;
        }
        Ok(())
    }

    /// The fields of a message decoded under this very layout: those still in
    /// the frame were checked there and are copied as they came (see
    /// `wire_run`); the others are checked and written one by one. Out of line,
    /// so the loop above stays as tight as before for messages built through the
    /// API.
    #[inline(never)]
    fn encode_spliced(&self, msg: &Message, out: &mut BytesMut) -> Res<()> {
        let mut i = 0;
        while let Some(slot) = msg.slots.get(i) {
            if let Some((run, bytes)) = self.wire_run(msg, i) {
                out.extend_from_slice(bytes);
                i += run;
            } else {
                self.encode_slot(msg, slot, out)?;
                i += 1;
            }
        }
        Ok(())
    }

    /// Check and write one field.
    #[inline(always)]
    fn encode_slot(&self, msg: &Message, slot: &Slot, out: &mut BytesMut) -> Res<()> {
        let n = slot.field;
        let plan = self.plan(n);
        if !plan.defined {
            return Err(EncodeError::new(Location::Field(n), Reason::UndefinedField));
        }
        let field = msg.view(slot);
        if slot.form == Form::Text
            && plan.encoding == DataEncoding::Ascii
            && plan.class != ContentClass::B
        {
            encode_ascii_text(plan, n, field.wire(), out)
        } else {
            encode_field(plan, &field, out)
        }
    }
}

impl Spec {
    /// The frame bytes (length prefixes included) of the run of fields from
    /// `msg.slots[first]` on that are still in the frame and lie back to back
    /// there, with the run's length in slots; `None` if `first` is not in the frame.
    /// Only for a message decoded under this spec's layout: the decoder checked
    /// those bytes against these very field plans, so they are the encoding.
    fn wire_run<'m>(&self, msg: &'m Message, first: usize) -> Option<(usize, &'m [u8])> {
        let start_of = |slot: &Slot| -> Option<u32> {
            if !slot.in_wire {
                return None;
            }
            let plan = self.plan(slot.field);
            let prefix = if plan.variable { plan.prefix_width } else { 0 };
            slot.start.checked_sub(u32::from(prefix))
        };
        let slots = msg.slots.get(first..)?;
        let from = start_of(slots.first()?)?;
        let mut to = from;
        let mut run = 0;
        for slot in slots {
            if start_of(slot) != Some(to) {
                break;
            }
            to = slot.start + slot.len;
            run += 1;
        }
        let bytes = msg.wire.get(from as usize..to as usize)?;
        Some((run, bytes))
    }
}

fn encode_mti(encoding: MtiEncoding, digits: &[u8; 4], out: &mut BytesMut) {
    match encoding {
        MtiEncoding::Ascii => out.extend_from_slice(digits),
        MtiEncoding::Ebcdic => out.extend_from_slice(&digits.map(|d| 0xF0 + (d - b'0'))),
        MtiEncoding::Bcd => {
            let d = digits.map(|c| c - b'0');
            out.extend_from_slice(&[d[0] << 4 | d[1], d[2] << 4 | d[3]]);
        }
    }
}

fn encode_bitmap(encoding: BitmapEncoding, word: u64, out: &mut BytesMut) {
    match encoding {
        BitmapEncoding::Binary => out.put_u64(word),
        BitmapEncoding::Hex => {
            // Sixteen uppercase hex digits, most significant nibble first, written
            // in one copy rather than byte by byte through `Extend`.
            let mut text = [0u8; 16];
            for (i, slot) in text.iter_mut().enumerate() {
                *slot = HEX_UPPER[((word >> (60 - 4 * i)) & 0x0F) as usize];
            }
            out.extend_from_slice(&text);
        }
    }
}

/// Append `bytes` as uppercase hex text, a stack chunk at a time (`BytesMut`'s
/// `Extend<u8>` checks capacity and bumps the length for every byte).
fn put_hex(out: &mut BytesMut, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for chunk in bytes.chunks(32) {
        let mut text = [0u8; 64];
        for (pair, &b) in text.chunks_exact_mut(2).zip(chunk) {
            pair[0] = HEX_UPPER[(b >> 4) as usize];
            pair[1] = HEX_UPPER[(b & 0x0F) as usize];
        }
        out.extend_from_slice(&text[..chunk.len() * 2]);
    }
}

/// Write a variable field's length prefix; `len` is within the field's maximum,
/// which the spec checked fits the prefix.
#[inline(always)]
fn encode_prefix(plan: &FieldPlan, len: usize, out: &mut BytesMut) {
    let width = usize::from(plan.prefix_width);
    match plan.prefix {
        PrefixEncoding::Ascii | PrefixEncoding::Ebcdic => {
            let zero = if plan.prefix == PrefixEncoding::Ascii {
                b'0'
            } else {
                0xF0
            };
            let d = [len / 1000, len / 100, len / 10, len].map(|v| zero + (v % 10) as u8);
            // One arm per width, so each copy has a constant length (no memcpy call).
            match width {
                1 => out.put_u8(d[3]),
                2 => out.extend_from_slice(&d[2..]),
                3 => out.extend_from_slice(&d[1..]),
                _ => out.extend_from_slice(&d),
            }
        }
        PrefixEncoding::Bcd => {
            let pair = |v: usize| ((v / 10) % 10) as u8 * 16 + (v % 10) as u8;
            if width == 1 {
                out.put_u8(pair(len));
            } else {
                out.extend_from_slice(&[pair(len / 100), pair(len)]);
            }
        }
        PrefixEncoding::Binary => {
            if width == 1 {
                out.put_u8(len as u8);
            } else {
                out.put_u16(len as u16);
            }
        }
    }
}

/// Check a length (in the spec's units) against the spec; write the prefix if any.
#[inline(always)]
fn write_length(plan: &FieldPlan, units: usize, at: Location, out: &mut BytesMut) -> Res<()> {
    if !plan.variable {
        if units != usize::from(plan.len) {
            return Err(wrong_length(at, units, plan.len));
        }
        return Ok(());
    }
    if units > usize::from(plan.len) {
        return Err(too_long(at, units, plan.len));
    }
    encode_prefix(plan, units, out);
    Ok(())
}

#[cold]
fn wrong_length(at: Location, units: usize, expected: u16) -> EncodeError {
    let reason = Reason::WrongLength {
        length: units as u32,
        expected: expected.into(),
    };
    EncodeError::new(at, reason)
}

#[cold]
fn too_long(at: Location, units: usize, max: u16) -> EncodeError {
    let reason = Reason::TooLong {
        length: units as u32,
        max: max.into(),
    };
    EncodeError::new(at, reason)
}

#[cold]
fn bad_character(at: Location, position: usize) -> EncodeError {
    let reason = Reason::BadCharacter {
        position: position as u32,
    };
    EncodeError::new(at, reason)
}

/// The common case: ASCII text (not class `b`) written as ASCII.
#[inline(always)]
fn encode_ascii_text(plan: &FieldPlan, n: u8, text: &[u8], out: &mut BytesMut) -> Res<()> {
    let at = Location::Field(n);
    if let Some(p) = first_invalid(plan.class, text) {
        return Err(bad_character(at, p));
    }
    write_length(plan, text.len(), at, out)?;
    out.extend_from_slice(text);
    Ok(())
}

/// Any field in any wire form under any layout (the general path).
fn encode_field(plan: &FieldPlan, field: &Field<'_>, out: &mut BytesMut) -> Res<()> {
    let at = Location::Field(field.number());
    let bad_char = |p: usize| bad_character(at, p);
    if (plan.class == ContentClass::B) != field.is_binary() {
        // A text value for a binary field or the reverse: the message was built
        // for another dialect's layout of this field.
        return Err(bad_char(0));
    }
    // Fast path: the value is already in this spec's wire form.
    let wire = field.wire();
    if plan.class == ContentClass::B && plan.encoding == DataEncoding::Ascii && field.is_hex_form()
    {
        if let Some(p) = wire.iter().position(|&c| hex_value(c).is_none()) {
            return Err(bad_char(p));
        }
        write_length(plan, wire.len(), at, out)?;
        out.extend_from_slice(wire);
        return Ok(());
    }

    let value = field.bytes();
    if let Some(p) = first_invalid(plan.class, &value) {
        return Err(bad_char(p));
    }
    match plan.encoding {
        DataEncoding::Ascii if plan.class == ContentClass::B => {
            write_length(plan, value.len() * 2, at, out)?;
            put_hex(out, &value);
        }
        DataEncoding::Ascii | DataEncoding::Binary => {
            write_length(plan, value.len(), at, out)?;
            out.extend_from_slice(&value);
        }
        DataEncoding::Ebcdic => {
            write_length(plan, value.len(), at, out)?;
            for (i, &c) in value.iter().enumerate() {
                out.put_u8(ascii_to_ebcdic(c).ok_or_else(|| bad_char(i))?);
            }
        }
        DataEncoding::BcdLeftPad | DataEncoding::BcdRightPad => {
            write_length(plan, value.len(), at, out)?;
            let pad = plan.pad_nibble;
            let odd = value.len() % 2 == 1;
            let nibbles = value.iter().map(|&c| char_nibble(c));
            let mut pending: Option<u8> = None;
            let leading = (plan.encoding == DataEncoding::BcdLeftPad && odd).then_some(pad);
            let trailing = (plan.encoding == DataEncoding::BcdRightPad && odd).then_some(pad);
            let all = leading
                .map(Some)
                .into_iter()
                .chain(nibbles)
                .chain(trailing.map(Some));
            let shift = usize::from(leading.is_some());
            for (i, nib) in all.enumerate() {
                let nib = nib.ok_or_else(|| bad_char(i - shift))?;
                match pending.take() {
                    None => pending = Some(nib),
                    Some(hi) => out.put_u8(hi << 4 | nib),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod splice_tests {
    use crate::mti::Mti;
    use crate::spec::iso87::{builtin, BUILTIN_NAMES};
    use crate::spec::Length;

    use super::*;

    /// A request with fixed and variable, text and binary fields, and a secondary
    /// bitmap (field 100).
    fn request() -> Message {
        let mut m = Message::new(Mti::new(b"0200").expect("mti"));
        for (n, v) in [
            (2, "9408001234567896"),
            (3, "000000"),
            (4, "000000012500"),
            (7, "0612143015"),
            (11, "004217"),
            (32, "940800"),
            (35, "9408001234567896=29121010000000123"),
            (37, "516314004217"),
            (41, "TRM00417"),
            (49, "408"),
            (102, "12345"),
        ] {
            m.set(n, v);
        }
        m.set_binary(52, &[0x3A, 0x9F, 0x1C, 0x4E, 0x8B, 0x27, 0xD0, 0x65]);
        m
    }

    fn field_by_field(spec: &Spec, msg: &Message) -> Res<bytes::Bytes> {
        let mut copy = msg.clone();
        copy.origin = 0;
        spec.encode_to_bytes(&copy)
    }

    #[test]
    fn a_spliced_encoding_is_the_field_by_field_one() {
        for name in BUILTIN_NAMES {
            let spec = builtin(name).expect("builtin");
            let frame = spec.encode_to_bytes(&request()).expect("encodes");
            let mut m = spec.decode(frame.clone()).expect("decodes");
            assert_ne!(m.origin, 0);
            // Untouched: the very frame.
            assert_eq!(spec.encode_to_bytes(&m).expect("encodes"), frame, "{name}");
            // A switch's forward: a new STAN, two fields added, one removed, one
            // variable field rewritten with another length.
            m.set_stan(99);
            m.set(33, "940000");
            m.set(100, "940810");
            m.remove(37);
            m.set(32, "94080");
            let spliced = spec.encode_to_bytes(&m).expect("encodes");
            assert_eq!(
                spliced,
                field_by_field(&spec, &m).expect("encodes"),
                "{name}"
            );
            let back = spec.decode(spliced).expect("decodes");
            assert_eq!(back.text(11).as_deref(), Some("000099"));
            assert_eq!(back.text(32).as_deref(), Some("94080"));
            assert_eq!(back.text(100).as_deref(), Some("940810"));
            assert!(!back.has(37));
        }
    }

    #[test]
    fn another_layout_checks_every_field() {
        let spec = builtin("iso87ascii").expect("builtin");
        let frame = spec.encode_to_bytes(&request()).expect("encodes");
        let m = spec.decode(frame).expect("decodes");
        // The same dialect with field 11 redefined: a message decoded under the
        // original must be checked against the new definition, not copied.
        let mut changed = (*spec).clone();
        let mut f11 = spec.field(11).cloned().expect("field 11");
        f11.length = Length::Fixed(7);
        changed.set_field(11, f11);
        let err = changed
            .encode_to_bytes(&m)
            .expect_err("field 11 is 6 digits");
        assert_eq!(err.location, Location::Field(11));
        // An unchanged clone shares the layout and splices.
        let clone = (*spec).clone();
        assert_eq!(clone.layout(), spec.layout());
        assert_ne!(changed.layout(), spec.layout());
        // Another dialect decodes what it encodes, never the other's frame bytes.
        let binary = builtin("iso87binary").expect("builtin");
        let reencoded = binary.encode_to_bytes(&m).expect("encodes");
        let back = binary.decode(reencoded).expect("decodes");
        assert_eq!(back.text(52).as_deref(), Some("3A9F1C4E8B27D065"));
    }
}
