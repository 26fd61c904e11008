//! Encoding a [`Message`] under a [`Spec`] into a `BytesMut`, with the same checks
//! as decoding. Bitmaps are computed from the fields present.

use bytes::{BufMut, BytesMut};

use crate::content::{ascii_to_ebcdic, char_nibble, first_invalid, hex_value, push_hex};
use crate::error::{EncodeError, Location, Reason};
use crate::message::{Field, Message};
use crate::spec::{
    BitmapEncoding, ContentClass, DataEncoding, FieldSpec, Length, MtiEncoding, PrefixEncoding,
    Spec,
};

type Res<T> = Result<T, EncodeError>;

impl Spec {
    /// Append the encoded message (without length header) to `out`. On error `out`
    /// is left as it was.
    pub fn encode(&self, msg: &Message, out: &mut BytesMut) -> Res<()> {
        let mark = out.len();
        let result = self.encode_inner(msg, out);
        if result.is_err() {
            out.truncate(mark);
        }
        result
    }

    /// Encode into a fresh buffer.
    pub fn encode_to_bytes(&self, msg: &Message) -> Res<bytes::Bytes> {
        let mut out = BytesMut::with_capacity(256);
        self.encode(msg, &mut out)?;
        Ok(out.freeze())
    }

    fn encode_inner(&self, msg: &Message, out: &mut BytesMut) -> Res<()> {
        let header = msg.header();
        if header.len() != self.header_len {
            let reason = Reason::WrongLength {
                length: header.len() as u32,
                expected: self.header_len as u32,
            };
            return Err(EncodeError::new(Location::Header, reason));
        }
        out.extend_from_slice(header);
        encode_mti(self.mti, msg.mti().as_bytes(), out);

        let mut words = [0u64; 3];
        for n in msg.field_numbers() {
            let bit = u32::from(n) - 1;
            words[(bit / 64) as usize] |= 1u64 << (63 - bit % 64);
        }
        if words[2] != 0 {
            words[1] |= 1 << 63;
        }
        if words[1] != 0 {
            words[0] |= 1 << 63;
        }
        encode_bitmap(self.bitmap, words[0], out);
        if words[1] != 0 {
            encode_bitmap(self.bitmap, words[1], out);
        }
        if words[2] != 0 {
            encode_bitmap(self.bitmap, words[2], out);
        }
        for field in msg.fields() {
            let n = field.number();
            let spec = self
                .field(n)
                .ok_or(EncodeError::new(Location::Field(n), Reason::UndefinedField))?;
            encode_field(spec, &field, out)?;
        }
        Ok(())
    }
}

fn encode_mti(encoding: MtiEncoding, digits: &[u8; 4], out: &mut BytesMut) {
    match encoding {
        MtiEncoding::Ascii => out.extend_from_slice(digits),
        MtiEncoding::Ebcdic => out.extend(digits.iter().map(|d| 0xF0 + (d - b'0'))),
        MtiEncoding::Bcd => {
            let d = digits.map(|c| c - b'0');
            out.put_u8(d[0] << 4 | d[1]);
            out.put_u8(d[2] << 4 | d[3]);
        }
    }
}

fn encode_bitmap(encoding: BitmapEncoding, word: u64, out: &mut BytesMut) {
    match encoding {
        BitmapEncoding::Binary => out.put_u64(word),
        BitmapEncoding::Hex => push_hex(out, &word.to_be_bytes()),
    }
}

fn encode_prefix(spec: &FieldSpec, digits: u8, len: usize, out: &mut BytesMut) {
    let width = spec.prefix_width();
    match spec.prefix {
        PrefixEncoding::Ascii | PrefixEncoding::Ebcdic => {
            let zero = if spec.prefix == PrefixEncoding::Ascii {
                b'0'
            } else {
                0xF0
            };
            let mut buf = [0u8; 4];
            let mut v = len;
            for slot in buf[..width].iter_mut().rev() {
                *slot = zero + (v % 10) as u8;
                v /= 10;
            }
            out.extend_from_slice(&buf[..width]);
        }
        PrefixEncoding::Bcd => {
            let _ = digits;
            let mut v = len;
            let mut buf = [0u8; 2];
            for slot in buf[..width].iter_mut().rev() {
                let lo = (v % 10) as u8;
                let hi = ((v / 10) % 10) as u8;
                *slot = hi << 4 | lo;
                v /= 100;
            }
            out.extend_from_slice(&buf[..width]);
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
fn write_length(spec: &FieldSpec, units: usize, at: Location, out: &mut BytesMut) -> Res<()> {
    match spec.length {
        Length::Fixed(len) => {
            if units != len as usize {
                let reason = Reason::WrongLength {
                    length: units as u32,
                    expected: len.into(),
                };
                return Err(EncodeError::new(at, reason));
            }
        }
        Length::Variable { digits, max } => {
            if units > max as usize {
                let reason = Reason::TooLong {
                    length: units as u32,
                    max: max.into(),
                };
                return Err(EncodeError::new(at, reason));
            }
            encode_prefix(spec, digits, units, out);
        }
    }
    Ok(())
}

fn encode_field(spec: &FieldSpec, field: &Field<'_>, out: &mut BytesMut) -> Res<()> {
    let at = Location::Field(field.number());
    let bad_char = |p: usize| EncodeError::new(at, Reason::BadCharacter { position: p as u32 });
    if (spec.class == ContentClass::B) != field.is_binary() {
        // A text value for a binary field or the reverse: the message was built
        // for another dialect's layout of this field.
        return Err(bad_char(0));
    }
    // Fast path: the value is already in this spec's wire form.
    let wire = field.wire();
    if spec.class == ContentClass::B && spec.encoding == DataEncoding::Ascii && field.is_hex_form()
    {
        if let Some(p) = wire.iter().position(|&c| hex_value(c).is_none()) {
            return Err(bad_char(p));
        }
        write_length(spec, wire.len(), at, out)?;
        out.extend_from_slice(wire);
        return Ok(());
    }

    let value = field.bytes();
    if let Some(p) = first_invalid(spec.class, &value) {
        return Err(bad_char(p));
    }
    match spec.encoding {
        DataEncoding::Ascii if spec.class == ContentClass::B => {
            write_length(spec, value.len() * 2, at, out)?;
            push_hex(out, &value);
        }
        DataEncoding::Ascii | DataEncoding::Binary => {
            write_length(spec, value.len(), at, out)?;
            out.extend_from_slice(&value);
        }
        DataEncoding::Ebcdic => {
            write_length(spec, value.len(), at, out)?;
            for (i, &c) in value.iter().enumerate() {
                out.put_u8(ascii_to_ebcdic(c).ok_or_else(|| bad_char(i))?);
            }
        }
        DataEncoding::BcdLeftPad | DataEncoding::BcdRightPad => {
            write_length(spec, value.len(), at, out)?;
            let pad = spec.pad_nibble;
            let odd = value.len() % 2 == 1;
            let nibbles = value.iter().map(|&c| char_nibble(c));
            let mut pending: Option<u8> = None;
            let leading = (spec.encoding == DataEncoding::BcdLeftPad && odd).then_some(pad);
            let trailing = (spec.encoding == DataEncoding::BcdRightPad && odd).then_some(pad);
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
