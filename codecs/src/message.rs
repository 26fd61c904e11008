//! An ISO 8583 message: MTI, optional header and data fields 2-192, independent of
//! any one dialect.
//!
//! A decoded message keeps the frame's [`Bytes`] and an index of where each field's
//! value lies in it (zero copy: no value is copied or converted at decode time). Values
//! set through the API live in a small local buffer. Each value remembers its wire
//! form (ASCII text, EBCDIC, packed BCD, hex text or raw bytes), so a message decoded
//! in one dialect can be re-encoded in another; the conversion happens on access or
//! on encode, never at decode.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;

use crate::composite::{Composite, CompositeError, Composites, Parts};
use crate::content::{bcd_nibbles, ebcdic_to_ascii, from_hex, nibble_char, to_hex};
use crate::mti::Mti;
use crate::tlv::{self, Element, TlvError, TlvList};

/// A set of field numbers 0-255 (bit `n` for field `n`), used for bitmaps and masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldSet([u64; 4]);

impl FieldSet {
    /// The empty set.
    pub const EMPTY: FieldSet = FieldSet([0; 4]);

    /// A set from a list of field numbers.
    pub const fn of(fields: &[u8]) -> FieldSet {
        let mut s = [0u64; 4];
        let mut i = 0;
        while i < fields.len() {
            let n = fields[i] as usize;
            s[n / 64] |= 1 << (n % 64);
            i += 1;
        }
        FieldSet(s)
    }

    /// Add a field.
    pub fn insert(&mut self, n: u8) {
        self.0[n as usize / 64] |= 1 << (n % 64);
    }

    /// Add or remove a field.
    pub fn set(&mut self, n: u8, present: bool) {
        let bit = 1 << (n % 64);
        if present {
            self.0[n as usize / 64] |= bit;
        } else {
            self.0[n as usize / 64] &= !bit;
        }
    }

    /// Whether `n` is in the set.
    pub fn contains(&self, n: u8) -> bool {
        self.0[n as usize / 64] & (1 << (n % 64)) != 0
    }

    /// The union of two sets.
    pub const fn union(self, other: FieldSet) -> FieldSet {
        FieldSet([
            self.0[0] | other.0[0],
            self.0[1] | other.0[1],
            self.0[2] | other.0[2],
            self.0[3] | other.0[3],
        ])
    }
}

/// How a stored value is represented (its wire form in the dialect it came from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// ASCII text (a text content class).
    Text,
    /// EBCDIC text.
    Ebcdic,
    /// Packed BCD: two digits a byte, less one pad nibble (in front or behind) when
    /// the digit count is odd. (Flags, not a count: a slot stays 12 bytes.)
    Bcd { odd: bool, pad_left: bool },
    /// Binary data written as hex text.
    HexText,
    /// Raw binary data.
    Raw,
}

/// Where one field's value is stored.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub(crate) field: u8,
    pub(crate) form: Form,
    /// In the frame (`true`) or in the message's local buffer.
    pub(crate) in_wire: bool,
    pub(crate) start: u32,
    pub(crate) len: u32,
}

/// The digit count of packed BCD `data`.
fn bcd_digits(data: &[u8], odd: bool) -> usize {
    (2 * data.len()).saturating_sub(usize::from(odd))
}

/// Fields that always hold card data or secrets, whatever the spec says.
pub const ALWAYS_SENSITIVE: FieldSet = FieldSet::of(&[35, 36, 45, 52, 55]);

/// Fields read as BER-TLV in a message built through the API (the ICC data);
/// a decoded message takes its spec's ([`crate::spec::Spec::tlv_fields`]).
pub const DEFAULT_TLV_FIELDS: FieldSet = FieldSet::of(&[55]);

/// Fields holding a PAN: shown as first 6 and last 4 digits at most.
pub const PAN_FIELDS: FieldSet = FieldSet::of(&[2, 34]);

/// An ISO 8583 message. `Debug` and `Display` mask card data (see [`crate::mask`]).
#[derive(Clone)]
pub struct Message {
    pub(crate) mti: Mti,
    pub(crate) wire: Bytes,
    pub(crate) header: (u32, u32),
    pub(crate) local: Vec<u8>,
    pub(crate) slots: Vec<Slot>,
    /// Fields to show only by length (the spec's sensitive fields plus the defaults).
    pub(crate) sensitive: FieldSet,
    /// Fields holding BER-TLV: shown tag by tag, masked by tag.
    pub(crate) tlv: FieldSet,
    /// The composite layouts of the spec the message was decoded under (or
    /// given by [`Message::use_composites_of`]): shown and read by subfield.
    pub(crate) composites: Option<Arc<Composites>>,
    /// The layout id of the spec the frame was decoded under (0: built through the
    /// API). Encoding under that same layout copies the wire bytes of the fields
    /// still in the frame instead of checking and re-writing them one by one.
    pub(crate) origin: u32,
}

/// A read-only view of one field's value.
#[derive(Clone, Copy)]
pub struct Field<'a> {
    number: u8,
    form: Form,
    data: &'a [u8],
}

impl<'a> Field<'a> {
    /// The field number.
    pub fn number(&self) -> u8 {
        self.number
    }

    /// The bytes as they are stored (the wire form of the dialect it came from).
    pub fn wire(&self) -> &'a [u8] {
        self.data
    }

    pub(crate) fn from_parts(number: u8, form: Form, data: &'a [u8]) -> Field<'a> {
        Field { number, form, data }
    }

    /// Whether the value is stored as hex text (a `b` field from an ASCII dialect).
    pub(crate) fn is_hex_form(&self) -> bool {
        self.form == Form::HexText
    }

    /// Whether the value is binary data (content class `b`).
    pub fn is_binary(&self) -> bool {
        matches!(self.form, Form::HexText | Form::Raw)
    }

    /// The value's length in characters (text) or bytes (binary).
    pub fn len(&self) -> usize {
        match self.form {
            Form::Text | Form::Ebcdic | Form::Raw => self.data.len(),
            Form::Bcd { odd, .. } => bcd_digits(self.data, odd),
            Form::HexText => self.data.len() / 2,
        }
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The logical value: ASCII text for text classes, raw bytes for binary fields.
    /// Borrowed when the wire form already is that, converted otherwise.
    #[inline]
    pub fn bytes(&self) -> Cow<'a, [u8]> {
        match self.form {
            Form::Text | Form::Raw => Cow::Borrowed(self.data),
            Form::Ebcdic => Cow::Owned(
                self.data
                    .iter()
                    .map(|&b| ebcdic_to_ascii(b).unwrap_or(b'?'))
                    .collect(),
            ),
            Form::Bcd { odd, pad_left } => Cow::Owned(
                bcd_nibbles(self.data, bcd_digits(self.data, odd), pad_left)
                    .map(nibble_char)
                    .collect(),
            ),
            Form::HexText => Cow::Owned(from_hex(self.data).unwrap_or_default()),
        }
    }

    /// The value as text: the characters for text classes, uppercase hex for binary.
    pub fn text(&self) -> Cow<'a, str> {
        if let Some(text) = self.as_str() {
            return Cow::Borrowed(text);
        }
        match self.form {
            Form::Raw => Cow::Owned(to_hex(self.data)),
            Form::HexText if self.data.iter().all(|b| !b.is_ascii_lowercase()) => {
                Cow::Borrowed(std::str::from_utf8(self.data).unwrap_or(""))
            }
            Form::HexText => Cow::Owned(String::from_utf8_lossy(self.data).to_ascii_uppercase()),
            _ => match self.bytes() {
                Cow::Borrowed(b) => String::from_utf8_lossy(b),
                Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
            },
        }
    }

    /// The value as text, borrowed, when it is stored as text: a text-class field
    /// decoded from an ASCII dialect (its characters were checked at decode), a
    /// field set through [`Message::set`], or a binary field held as uppercase hex
    /// text. `None` for values that need converting (EBCDIC, packed BCD, raw
    /// binary, lowercase hex): [`Field::text`] converts those.
    #[inline]
    pub fn as_str(&self) -> Option<&'a str> {
        match self.form {
            // ASCII by the class check (decode) or a `&str` (set): `from_utf8` only
            // confirms it, with no scan for replacement characters and no copy.
            Form::Text => std::str::from_utf8(self.data).ok(),
            Form::HexText if !self.data.iter().any(u8::is_ascii_lowercase) => {
                std::str::from_utf8(self.data).ok()
            }
            _ => None,
        }
    }

    /// The value's digits as a number, for numeric fields of up to 19 digits.
    pub fn to_u64(&self) -> Option<u64> {
        let mut value: u64 = 0;
        let mut any = false;
        let mut push = |c: u8| -> Option<()> {
            if !c.is_ascii_digit() {
                return None;
            }
            any = true;
            value = value.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            Some(())
        };
        match self.form {
            Form::Text => self.data.iter().try_for_each(|&c| push(c))?,
            Form::Bcd { odd, pad_left } => {
                bcd_nibbles(self.data, bcd_digits(self.data, odd), pad_left)
                    .try_for_each(|n| push(nibble_char(n)))?
            }
            _ => self.bytes().iter().try_for_each(|&c| push(c))?,
        }
        any.then_some(value)
    }
}

impl Message {
    /// An empty message of type `mti`.
    pub fn new(mti: Mti) -> Message {
        Message::with_capacity(mti, 0, 0)
    }

    /// An empty message of type `mti` with room for `fields` fields holding `bytes`
    /// bytes of values in all, so that building it with [`Message::set`] does not
    /// grow its buffers field by field.
    pub fn with_capacity(mti: Mti, fields: usize, bytes: usize) -> Message {
        Message {
            mti,
            wire: Bytes::new(),
            header: (0, 0),
            local: Vec::with_capacity(bytes),
            slots: Vec::with_capacity(fields),
            sensitive: ALWAYS_SENSITIVE,
            tlv: DEFAULT_TLV_FIELDS,
            composites: None,
            origin: 0,
        }
    }

    /// The message type indicator.
    pub fn mti(&self) -> Mti {
        self.mti
    }

    /// Change the message type (e.g. to turn a request into its response).
    pub fn set_mti(&mut self, mti: Mti) {
        self.mti = mti;
    }

    /// The fixed header, if the dialect has one.
    pub fn header(&self) -> &[u8] {
        let (start, len) = self.header;
        if len == 0 {
            return &[];
        }
        self.local_or_wire(start, len, self.header_in_wire())
    }

    fn header_in_wire(&self) -> bool {
        // Headers set through the API are marked by the top bit of `start`.
        self.header.0 & HEADER_LOCAL == 0
    }

    /// Set the fixed header.
    pub fn set_header(&mut self, header: &[u8]) {
        let start = self.local.len() as u32;
        self.local.extend_from_slice(header);
        self.header = (start | HEADER_LOCAL, header.len() as u32);
    }

    #[inline]
    fn local_or_wire(&self, start: u32, len: u32, in_wire: bool) -> &[u8] {
        let start = (start & !HEADER_LOCAL) as usize;
        let buf: &[u8] = if in_wire { &self.wire } else { &self.local };
        buf.get(start..start + len as usize).unwrap_or(&[])
    }

    fn position(&self, n: u8) -> Result<usize, usize> {
        self.slots.binary_search_by_key(&n, |s| s.field)
    }

    /// Field `n`, if present.
    #[inline]
    pub fn get(&self, n: u8) -> Option<Field<'_>> {
        let slot = self.slots[self.position(n).ok()?];
        Some(self.view(&slot))
    }

    #[inline]
    pub(crate) fn view(&self, slot: &Slot) -> Field<'_> {
        Field {
            number: slot.field,
            form: slot.form,
            data: self.local_or_wire(slot.start, slot.len, slot.in_wire),
        }
    }

    /// The value of a field that came from the frame, as a zero-copy slice of the
    /// frame's `Bytes`; a copy for values set through the API.
    pub fn get_wire_bytes(&self, n: u8) -> Option<Bytes> {
        let slot = self.slots[self.position(n).ok()?];
        let range = slot.start as usize..(slot.start + slot.len) as usize;
        Some(if slot.in_wire {
            self.wire.slice(range)
        } else {
            Bytes::copy_from_slice(self.local.get(range)?)
        })
    }

    /// Field `n` as text (see [`Field::text`]).
    pub fn text(&self, n: u8) -> Option<Cow<'_, str>> {
        self.get(n).map(|f| f.text())
    }

    /// Field `n` as borrowed text when it is stored as text (see [`Field::as_str`]):
    /// no allocation and no conversion. `None` when absent or stored in another
    /// form (EBCDIC, packed BCD, binary): use [`Message::text`] where a dialect
    /// may hold the field that way.
    #[inline]
    pub fn str(&self, n: u8) -> Option<&str> {
        self.get(n).and_then(|f| f.as_str())
    }

    /// Whether field `n` is present.
    pub fn has(&self, n: u8) -> bool {
        self.position(n).is_ok()
    }

    /// Present field numbers in ascending order.
    pub fn field_numbers(&self) -> impl Iterator<Item = u8> + '_ {
        self.slots.iter().map(|s| s.field)
    }

    /// All present fields in ascending order.
    pub fn fields(&self) -> impl Iterator<Item = Field<'_>> + '_ {
        self.slots.iter().map(|s| self.view(s))
    }

    /// Set a text field (content classes other than `b`). The value is validated
    /// against the spec when the message is encoded.
    pub fn set(&mut self, n: u8, text: &str) {
        self.set_stored(n, Form::Text, text.as_bytes());
    }

    /// Set a numeric field to the last `width` decimal digits of `value`, zero-padded
    /// (`width` at most 20, the digits of `u64::MAX`): `set_digits(11, 42, 6)` sets
    /// `"000042"`. Written by hand, not through `format!`.
    pub fn set_digits(&mut self, n: u8, value: u64, width: usize) {
        let mut digits = [b'0'; 20];
        let width = width.min(digits.len());
        let mut v = value;
        for d in digits[..width].iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.set_stored(n, Form::Text, &digits[..width]);
    }

    /// Set a binary (`b`) field from raw bytes.
    pub fn set_binary(&mut self, n: u8, bytes: &[u8]) {
        self.set_stored(n, Form::Raw, bytes);
    }

    /// Set the field `field` (another message's, of any dialect) to its value:
    /// a binary field as its bytes, any other as its text (for this message's
    /// dialect to encode). How an answer echoes its request's fields.
    #[inline(always)]
    pub fn copy_field(&mut self, field: Field<'_>) {
        if field.is_binary() {
            self.set_binary(field.number(), &field.bytes());
        } else {
            self.set(field.number(), &field.text());
        }
    }

    fn set_stored(&mut self, n: u8, form: Form, value: &[u8]) {
        if n < 2 || n == 65 || n > crate::spec::MAX_FIELD {
            return; // bitmaps are computed, not set
        }
        // Drop an earlier local value of this field that sits at the end of the buffer,
        // so rewriting the same field (a STAN, say) does not grow the buffer.
        if let Ok(i) = self.position(n) {
            let old = self.slots[i];
            if !old.in_wire && (old.start + old.len) as usize == self.local.len() {
                self.local.truncate(old.start as usize);
            }
        }
        let slot = Slot {
            field: n,
            form,
            in_wire: false,
            start: self.local.len() as u32,
            len: value.len() as u32,
        };
        if self.local.capacity() == 0 {
            // The first value set on a decoded message (or one made without a
            // capacity): room for a few more, as a switch sets 3-5 fields on each
            // message it forwards (a Vec would grow 8, 16, 32 bytes: 3 allocations).
            self.local.reserve(value.len().max(FIRST_LOCAL));
        }
        self.local.extend_from_slice(value);
        match self.position(n) {
            Ok(i) => self.slots[i] = slot,
            Err(i) => {
                if !self.wire.is_empty() && self.slots.len() == self.slots.capacity() {
                    // A decoded message's index is sized exactly by its bitmap: add
                    // room for the few fields a forward adds, not double the index.
                    self.slots.reserve_exact(SPARE_SLOTS);
                }
                self.slots.insert(i, slot)
            }
        }
    }

    /// Give back spare capacity: for messages kept a long time (a switch's
    /// in-flight requests), so each holds only what it uses.
    pub fn shrink_to_fit(&mut self) {
        self.slots.shrink_to_fit();
        self.local.shrink_to_fit();
    }

    /// Remove field `n`; returns whether it was present.
    pub fn remove(&mut self, n: u8) -> bool {
        match self.position(n) {
            Ok(i) => {
                self.slots.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Mark field `n` as sensitive for masking (specs do this on decode).
    pub fn mark_sensitive(&mut self, n: u8) {
        self.sensitive.insert(n);
    }

    /// Whether field `n` is shown only by its length.
    pub fn is_sensitive(&self, n: u8) -> bool {
        self.sensitive.contains(n)
    }

    /// Whether field `n` holds BER-TLV (shown tag by tag; see [`Message::tlv`]).
    pub fn is_tlv(&self, n: u8) -> bool {
        self.tlv.contains(n)
    }

    /// Field `n`'s value read as BER-TLV elements, on demand (decoding the
    /// message never parses them: a switch relays field 55 untouched). None
    /// when the field is absent; an error naming the field and the tag when
    /// the value is not well-formed BER-TLV.
    pub fn tlv(&self, n: u8) -> Option<Result<TlvList<'_>, TlvError>> {
        let field = self.get(n)?;
        Some(TlvList::read(field.bytes()).map_err(|e| e.in_field(n)))
    }

    /// The composite layout of field `n` this message knows (from the spec
    /// it was decoded under), if any.
    pub fn composite_layout(&self, n: u8) -> Option<&Composite> {
        self.composites.as_deref()?.get(n)
    }

    /// Read field `n`'s subfields under its composite layout, on demand (the
    /// decode of the message never does). None when the field is absent or
    /// not composite; an error naming the field and the subfield or tag when
    /// a subfield breaks its layout.
    pub fn composite(&self, n: u8) -> Option<Result<Parts<'_>, CompositeError>> {
        let layout = self.composite_layout(n)?;
        let field = self.get(n)?;
        Some(layout.read(n, field.bytes()))
    }

    /// Know `spec`'s composite layouts (for a message built through the API:
    /// so that it is masked and read by subfield as a decoded one is).
    pub fn use_composites_of(&mut self, spec: &crate::spec::Spec) {
        self.composites = spec.composites().cloned();
    }

    /// Set field `n` (a `b` field) to the BER-TLV encoding of `elements`, in
    /// their order.
    pub fn set_tlv<'v>(
        &mut self,
        n: u8,
        elements: impl IntoIterator<Item = Element<'v>>,
    ) -> Result<(), TlvError> {
        let mut value = Vec::new();
        tlv::encode(elements, &mut value).map_err(|e| e.in_field(n))?;
        self.set_binary(n, &value);
        Ok(())
    }
}

/// Bytes reserved for the first value set on a message without local capacity.
const FIRST_LOCAL: usize = 64;

/// Slots added at once when a field is added to a decoded message's full index.
const SPARE_SLOTS: usize = 4;

/// Marks a header stored in the local buffer (headers are short; the bit is free).
const HEADER_LOCAL: u32 = 1 << 31;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_remove() {
        let mut m = Message::new(Mti::new(b"0200").unwrap());
        m.set(11, "000001");
        m.set(3, "000000");
        m.set_binary(52, &[0xAB, 0xCD]);
        assert_eq!(m.field_numbers().collect::<Vec<_>>(), vec![3, 11, 52]);
        assert_eq!(m.text(11).unwrap(), "000001");
        assert_eq!(m.text(52).unwrap(), "ABCD");
        assert_eq!(m.get(52).unwrap().bytes().as_ref(), &[0xAB, 0xCD]);
        m.set(11, "000002");
        assert_eq!(m.text(11).unwrap(), "000002");
        assert_eq!(m.get(11).unwrap().to_u64(), Some(2));
        assert!(m.remove(3));
        assert!(!m.has(3));
        m.set(1, "x");
        m.set(65, "x");
        assert!(!m.has(1) && !m.has(65));
        m.set_header(b"ISO01");
        assert_eq!(m.header(), b"ISO01");
    }

    #[test]
    fn text_is_borrowed_where_it_is_stored_as_text() {
        let mut m = Message::new(Mti::new(b"0200").unwrap());
        m.set(11, "000001");
        m.set_binary(52, &[0xAB, 0xCD]);
        assert_eq!(m.str(11), Some("000001"));
        assert!(matches!(m.text(11), Some(Cow::Borrowed("000001"))));
        // Raw bytes need converting to hex: text() does, str() does not.
        assert_eq!(m.str(52), None);
        assert_eq!(m.text(52).as_deref(), Some("ABCD"));
        assert_eq!(m.str(12), None);
        // Packed BCD from the wire: converted by text(), not borrowed.
        let data = [0x00, 0x00, 0x01];
        let bcd = Field::from_parts(
            11,
            Form::Bcd {
                odd: false,
                pad_left: true,
            },
            &data,
        );
        assert_eq!(bcd.as_str(), None);
        assert_eq!(bcd.text(), "000001");
        let lower = Field::from_parts(52, Form::HexText, b"abcd");
        assert_eq!(lower.as_str(), None);
        assert_eq!(lower.text(), "ABCD");
    }

    #[test]
    fn digits_are_zero_padded_and_cut_to_width() {
        let mut m = Message::new(Mti::new(b"0200").unwrap());
        m.set_digits(11, 42, 6);
        assert_eq!(m.str(11), Some("000042"));
        m.set_stan(1_234_567);
        assert_eq!(m.str(11), Some("234567"));
        m.set_digits(4, 999_999_999_999, 12);
        assert_eq!(m.str(4), Some("999999999999"));
        m.set_digits(5, u64::MAX, 40);
        assert_eq!(m.str(5), Some("18446744073709551615"));
        m.set_digits(6, 7, 0);
        assert_eq!(m.str(6), Some(""));
    }

    #[test]
    fn a_message_with_capacity_does_not_grow() {
        let mut m = Message::with_capacity(Mti::new(b"0420").unwrap(), 4, 32);
        let (slots, local) = (m.slots.as_ptr(), m.local.as_ptr());
        for (n, v) in [
            (3, "000000"),
            (11, "000001"),
            (32, "940800"),
            (41, "TRM00417"),
        ] {
            m.set(n, v);
        }
        assert_eq!((m.slots.as_ptr(), m.local.as_ptr()), (slots, local));
        assert_eq!(m.str(41), Some("TRM00417"));
    }

    #[test]
    fn rewriting_a_field_reuses_the_buffer() {
        let mut m = Message::new(Mti::new(b"0200").unwrap());
        for i in 0..100 {
            m.set(11, &format!("{i:06}"));
        }
        assert_eq!(m.local.len(), 6);
    }
}

#[cfg(test)]
mod slot_size {
    /// A message keeps one slot per field: 12 bytes each.
    #[test]
    fn a_slot_is_twelve_bytes() {
        assert_eq!(std::mem::size_of::<super::Slot>(), 12);
    }
}
