//! Writing a composite value from its subfields, each checked against its own
//! class and length (the same checks as [`super::read`], so what is written
//! reads back). The whole value's length is the field's to check, when the
//! message is encoded.

use super::{Composite, CompositeError, Key, Reason, Subfield, TlvLayout};
use crate::content::{first_invalid, HEX_UPPER};
use crate::spec::{BitmapEncoding, Length};

impl Composite {
    /// Field `field`'s logical value from its subfields. Positional ones in
    /// any order (none left out before the last given), TLV subelements in
    /// the order given (repeats allowed), bitmapped ones in any order (each
    /// once).
    pub fn write(&self, field: u8, parts: &[(Key, &[u8])]) -> Result<Vec<u8>, CompositeError> {
        let fail = |key: Key, reason| CompositeError {
            field,
            key: Some(key),
            reason,
        };
        let mut out = Vec::new();
        match self {
            Composite::Positional(subs) => {
                let mut given: Vec<(usize, &[u8])> = Vec::with_capacity(parts.len());
                for &(key, value) in parts {
                    match key {
                        Key::Position(p) if (1..=subs.len()).contains(&usize::from(p)) => {
                            given.push((usize::from(p), value))
                        }
                        _ => return Err(fail(key, Reason::UndefinedField)),
                    }
                }
                given.sort_by_key(|(p, _)| *p);
                for (i, (p, value)) in given.iter().enumerate() {
                    // Positions 1..=k each once: the i-th given must be i + 1.
                    if *p != i + 1 {
                        let key = Key::Position((i + 1).min(*p) as u8);
                        let reason = if *p < i + 1 {
                            Reason::Repeated
                        } else {
                            Reason::Missing
                        };
                        return Err(fail(key, reason));
                    }
                    put(&subs[i], value, &mut out).map_err(|r| fail(Key::Position(*p as u8), r))?;
                }
            }
            Composite::Tlv(layout) => {
                for &(key, value) in parts {
                    let Key::Tag(tag) = key else {
                        return Err(fail(key, Reason::BadTag));
                    };
                    if usize::from(tag.len) != usize::from(layout.tag_len) {
                        return Err(fail(key, Reason::BadTag));
                    }
                    out.extend_from_slice(tag.as_bytes());
                    let declared = layout.tags.iter().find(|(t, _)| *t == tag);
                    match declared {
                        Some((_, sub)) => put(sub, value, &mut out),
                        None if layout.strict => Err(Reason::UnknownTag),
                        None => put(&undeclared(layout), value, &mut out),
                    }
                    .map_err(|r| fail(key, r))?;
                }
            }
            Composite::Bitmap(layout) => {
                let mut given: Vec<(u8, &Subfield, &[u8])> = Vec::with_capacity(parts.len());
                for &(key, value) in parts {
                    let sub = match key {
                        Key::Bit(n) => self.subfield(key).map(|s| (n, s)),
                        _ => None,
                    };
                    let (n, sub) = sub.ok_or(fail(key, Reason::UndefinedField))?;
                    if given.iter().any(|(m, _, _)| *m == n) {
                        return Err(fail(key, Reason::Repeated));
                    }
                    given.push((n, sub, value));
                }
                given.sort_by_key(|(n, _, _)| *n);
                let word = given
                    .iter()
                    .fold(0u64, |w, (n, _, _)| w | 1u64 << (64 - u32::from(*n)));
                match layout.bitmap {
                    BitmapEncoding::Binary => out.extend_from_slice(&word.to_be_bytes()),
                    BitmapEncoding::Hex => out.extend(
                        (0..16).map(|i| HEX_UPPER[((word >> (60 - 4 * i)) & 0xF) as usize]),
                    ),
                }
                for (n, sub, value) in given {
                    put(sub, value, &mut out).map_err(|r| fail(Key::Bit(n), r))?;
                }
            }
        }
        Ok(out)
    }
}

/// The layout an undeclared tag's value is written with: any length its
/// digits can say, any byte (it is kept as it came).
fn undeclared(layout: &TlvLayout) -> Subfield {
    let max = 10u32.pow(u32::from(layout.length_digits)) - 1;
    Subfield {
        name: String::new(),
        class: crate::spec::ContentClass::B,
        length: Length::Variable {
            digits: layout.length_digits,
            max: u16::try_from(max).unwrap_or(u16::MAX),
        },
        mask: super::Mask::Length,
    }
}

/// Check one subfield's value and append it with its prefix.
fn put(sub: &Subfield, value: &[u8], out: &mut Vec<u8>) -> Result<(), Reason> {
    if let Some(p) = first_invalid(sub.class, value) {
        return Err(Reason::BadCharacter { position: p as u32 });
    }
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    match sub.length {
        Length::Fixed(n) if len != u32::from(n) => Err(Reason::WrongLength {
            length: len,
            expected: u32::from(n),
        }),
        Length::Fixed(_) => {
            out.extend_from_slice(value);
            Ok(())
        }
        Length::Variable { max, .. } if len > u32::from(max) => Err(Reason::TooLong {
            length: len,
            max: u32::from(max),
        }),
        Length::Variable { digits, .. } => {
            let digits = u32::from(digits);
            out.extend(
                (0..digits)
                    .rev()
                    .map(|i| b'0' + ((len / 10u32.pow(i)) % 10) as u8),
            );
            out.extend_from_slice(value);
            Ok(())
        }
    }
}
