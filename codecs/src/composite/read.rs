//! Reading a composite value into its subfields, each checked against its own
//! class and length; every fault is a [`CompositeError`] naming the field and
//! the subfield or tag, never a panic.

use std::borrow::Cow;

use super::{BitmapLayout, Composite, CompositeError, Key, Reason, SubTag, Subfield, TlvLayout};
use crate::content::{first_invalid, hex_u64};
use crate::spec::{BitmapEncoding, Length};

/// A composite value's subfields in the order they came, borrowed from the
/// message where its value needs no conversion.
#[derive(Clone)]
pub struct Parts<'a> {
    data: Cow<'a, [u8]>,
    /// Each subfield's key and where its value lies in `data`.
    items: Vec<(Key, u32, u32)>,
}

// Debug shows each subfield's key and length only: a subfield may be a PAN
// (a `Mask::Pan` subfield), and the masks are the layout's, not known here.
impl std::fmt::Debug for Parts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.items.iter().map(|(key, _, len)| (key, len)))
            .finish()
    }
}

impl Parts<'_> {
    /// The subfields in order: key and value (text, or raw bytes for `b`).
    pub fn iter(&self) -> impl Iterator<Item = (Key, &[u8])> + '_ {
        self.items.iter().map(|&(key, start, len)| {
            let range = start as usize..(start + len) as usize;
            (key, self.data.get(range).unwrap_or(&[]))
        })
    }

    /// The value of the first subfield with `key`.
    pub fn get(&self, key: Key) -> Option<&[u8]> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// How many subfields are present.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A cursor over the value, failing with the field's number.
struct Reader<'d> {
    field: u8,
    data: &'d [u8],
    at: usize,
}

impl<'d> Reader<'d> {
    fn fail(&self, key: Option<Key>, reason: Reason) -> CompositeError {
        CompositeError {
            field: self.field,
            key,
            reason,
        }
    }

    fn take(&mut self, n: usize, key: Option<Key>) -> Result<&'d [u8], CompositeError> {
        let taken = self
            .at
            .checked_add(n)
            .and_then(|end| self.data.get(self.at..end))
            .ok_or(self.fail(key, Reason::Truncated))?;
        self.at += n;
        Ok(taken)
    }

    /// ASCII decimal digits (a length prefix).
    fn number(&mut self, digits: usize, key: Key) -> Result<u32, CompositeError> {
        let raw = self.take(digits, Some(key))?;
        raw.iter().try_fold(0u32, |acc, &c| {
            if c.is_ascii_digit() {
                Ok(acc * 10 + u32::from(c - b'0'))
            } else {
                Err(self.fail(Some(key), Reason::BadLengthPrefix))
            }
        })
    }

    /// One subfield: its prefix (if any) and value, checked; the value's range.
    fn subfield(&mut self, sub: &Subfield, key: Key) -> Result<(u32, u32), CompositeError> {
        let len = match sub.length {
            Length::Fixed(n) => u32::from(n),
            Length::Variable { digits, max } => {
                let len = self.number(usize::from(digits), key)?;
                if len > u32::from(max) {
                    let reason = Reason::TooLong {
                        length: len,
                        max: u32::from(max),
                    };
                    return Err(self.fail(Some(key), reason));
                }
                len
            }
        };
        let start = self.at;
        let value = self.take(len as usize, Some(key))?;
        if let Some(p) = first_invalid(sub.class, value) {
            let reason = Reason::BadCharacter { position: p as u32 };
            return Err(self.fail(Some(key), reason));
        }
        Ok((start as u32, len))
    }

    fn rest(&self) -> usize {
        self.data.len().saturating_sub(self.at)
    }

    fn trailing(&self, key: Option<Key>) -> Result<(), CompositeError> {
        match self.rest() {
            0 => Ok(()),
            n => Err(self.fail(
                key,
                Reason::TrailingBytes {
                    count: u32::try_from(n).unwrap_or(u32::MAX),
                },
            )),
        }
    }
}

impl Composite {
    /// Read field `field`'s logical `value` under this layout.
    pub fn read<'a>(&self, field: u8, value: Cow<'a, [u8]>) -> Result<Parts<'a>, CompositeError> {
        let mut r = Reader {
            field,
            data: &value,
            at: 0,
        };
        let items = match self {
            Composite::Positional(subs) => positional(&mut r, subs)?,
            Composite::Tlv(layout) => tlv(&mut r, layout)?,
            Composite::Bitmap(layout) => bitmapped(&mut r, layout)?,
        };
        Ok(Parts { data: value, items })
    }
}

fn positional(
    r: &mut Reader<'_>,
    subs: &[Subfield],
) -> Result<Vec<(Key, u32, u32)>, CompositeError> {
    let mut items = Vec::with_capacity(subs.len());
    for (i, sub) in subs.iter().enumerate() {
        if r.rest() == 0 {
            break; // the subfields after the value's end are absent
        }
        let key = Key::Position(i as u8 + 1);
        let (start, len) = r.subfield(sub, key)?;
        items.push((key, start, len));
    }
    r.trailing(items.last().map(|(k, _, _)| *k))?;
    Ok(items)
}

fn tlv(r: &mut Reader<'_>, layout: &TlvLayout) -> Result<Vec<(Key, u32, u32)>, CompositeError> {
    let mut items = Vec::new();
    while r.rest() > 0 {
        let raw = r.take(usize::from(layout.tag_len), None)?;
        let tag = SubTag::new(raw).ok_or(r.fail(None, Reason::BadTag))?;
        let key = Key::Tag(tag);
        let (start, len) = match layout.tags.iter().find(|(t, _)| *t == tag) {
            Some((_, sub)) => r.subfield(sub, key)?,
            None if layout.strict => return Err(r.fail(Some(key), Reason::UnknownTag)),
            None => {
                // Kept as it came: only its length is known to be right.
                let len = r.number(usize::from(layout.length_digits), key)?;
                let start = r.at;
                r.take(len as usize, Some(key))?;
                (start as u32, len)
            }
        };
        items.push((key, start, len));
    }
    Ok(items)
}

fn bitmapped(
    r: &mut Reader<'_>,
    layout: &BitmapLayout,
) -> Result<Vec<(Key, u32, u32)>, CompositeError> {
    let raw = r.take(layout.bitmap_len(), None)?;
    let word = match layout.bitmap {
        BitmapEncoding::Binary => {
            let mut a = [0u8; 8];
            a.copy_from_slice(raw);
            u64::from_be_bytes(a)
        }
        BitmapEncoding::Hex => {
            let text: &[u8; 16] = raw
                .try_into()
                .map_err(|_| r.fail(None, Reason::BadBitmap))?;
            hex_u64(text).ok_or(r.fail(None, Reason::BadBitmap))?
        }
    };
    let mut items = Vec::with_capacity(word.count_ones() as usize);
    for bit in 0..64u8 {
        if word & (1u64 << (63 - bit)) == 0 {
            continue;
        }
        let key = Key::Bit(bit + 1);
        let sub = layout
            .subfields
            .iter()
            .find(|(n, _)| *n == bit + 1)
            .map(|(_, s)| s)
            .ok_or(r.fail(Some(key), Reason::UndefinedField))?;
        let (start, len) = r.subfield(sub, key)?;
        items.push((key, start, len));
    }
    r.trailing(items.last().map(|(k, _, _)| *k))?;
    Ok(items)
}
