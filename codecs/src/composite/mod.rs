//! Composite fields: a field whose value is made of subfields a spec file
//! declares, in one of three layouts.
//!
//! - [`Composite::Positional`]: subfields one after another, each fixed or with
//!   an ASCII length prefix (field 3 as type/from/to, field 43 as
//!   name/city/country). A value may end after any whole subfield: the
//!   subfields after it are absent.
//! - [`Composite::Tlv`]: subelements of 2- or 3-character tags and 2- or
//!   3-digit lengths (`01` `005` `HELLO`, the field-48 style of the card
//!   networks). A tag the spec does not declare is kept as it came (and shown
//!   only by its length, as nothing says what it holds), or refused when the
//!   layout is `strict`.
//! - [`Composite::Bitmap`]: a sub-message with its own bitmap (8 bytes, or 16
//!   hex characters) and subfields numbered 1-64 (the field-127 style of
//!   BASE24/Postilion hosts). There is one bitmap: bit 1 is subfield 1, not a
//!   further bitmap.
//!
//! Subfields work on the field's logical value ([`crate::Field::bytes`]: ASCII
//! text, or raw bytes for a `b` field), so a layout holds in every dialect.
//! Subfields are text of their own class; a `b` subfield (raw bytes) needs a
//! `b` field. One level only: a subfield is never composite itself.
//!
//! Nothing here runs while a message is decoded or encoded: the switch relays
//! composite fields as they came, and a subfield is read (and checked) only
//! when asked for ([`crate::Message::composite`], the JSON form, masking).
//! Reading is in [`read`], writing in [`write`].

pub mod read;
pub mod show;
pub mod write;

use std::fmt;
use std::sync::Arc;

use crate::content::first_invalid;
use crate::error::Reason;
use crate::spec::{BitmapEncoding, ContentClass, DataEncoding, FieldSpec, Length};

pub use read::Parts;

/// How a subfield may be shown in logs and tools.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mask {
    /// In full.
    #[default]
    None,
    /// Like a PAN: at most the first 6 and last 4 digits.
    Pan,
    /// Only by its length.
    Length,
}

/// One subfield's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subfield {
    /// Its name (positional subfields are named by it in JSON).
    pub name: String,
    /// Allowed characters (`b`: raw bytes, in a `b` field only).
    pub class: ContentClass,
    /// Fixed, or an ASCII length prefix of 1-4 digits then up to `max`
    /// (a TLV tag's length is its layout's length digits).
    pub length: Length,
    /// How it is shown when masked.
    pub mask: Mask,
}

impl Subfield {
    /// The prefix width in characters (0 when fixed).
    pub(crate) fn prefix_width(&self) -> usize {
        match self.length {
            Length::Fixed(_) => 0,
            Length::Variable { digits, .. } => usize::from(digits),
        }
    }

    /// The most bytes it takes with its prefix.
    fn max_wire(&self) -> usize {
        self.prefix_width() + usize::from(self.length.max())
    }
}

/// A TLV subelement's tag: 2 or 3 ASCII letters or digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubTag {
    bytes: [u8; 3],
    len: u8,
}

impl SubTag {
    /// A tag from its characters; None unless 2 or 3 ASCII letters or digits.
    pub fn new(text: &[u8]) -> Option<SubTag> {
        if !(2..=3).contains(&text.len()) || !text.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let mut bytes = [0u8; 3];
        bytes[..text.len()].copy_from_slice(text);
        Some(SubTag {
            bytes,
            len: text.len() as u8,
        })
    }

    /// Its characters.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Its characters as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl fmt::Display for SubTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SubTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubTag({self})")
    }
}

/// The TLV layout (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlvLayout {
    /// Characters of a tag: 2 or 3.
    pub tag_len: u8,
    /// Digits of a length: 2 or 3.
    pub length_digits: u8,
    /// Refuse tags that are not declared (else keep them as they came).
    pub strict: bool,
    /// The declared tags, each with its class and maximum length.
    pub tags: Vec<(SubTag, Subfield)>,
}

/// The bitmapped sub-message layout (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitmapLayout {
    /// 8 raw bytes (a `b` field) or 16 hex characters.
    pub bitmap: BitmapEncoding,
    /// The subfields by number (1-64), in ascending order.
    pub subfields: Vec<(u8, Subfield)>,
}

impl BitmapLayout {
    /// The bitmap's size in the value.
    pub(crate) fn bitmap_len(&self) -> usize {
        match self.bitmap {
            BitmapEncoding::Binary => 8,
            BitmapEncoding::Hex => 16,
        }
    }
}

/// A composite field's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Composite {
    /// Subfields in a row.
    Positional(Vec<Subfield>),
    /// Tagged subelements.
    Tlv(TlvLayout),
    /// A sub-message with its own bitmap.
    Bitmap(BitmapLayout),
}

/// Which subfield of a composite something is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// A positional subfield, 1 for the first.
    Position(u8),
    /// A TLV subelement's tag.
    Tag(SubTag),
    /// A bitmapped sub-message's subfield number.
    Bit(u8),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Position(p) => write!(f, "subfield {p}"),
            Key::Tag(t) => write!(f, "tag {t}"),
            Key::Bit(b) => write!(f, "subfield {b}"),
        }
    }
}

/// A composite value was refused: the field, the subfield or tag (None when
/// it could not be told, e.g. a bad bitmap), and why. Holds no value bytes,
/// so it is safe to log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub struct CompositeError {
    /// The message field.
    pub field: u8,
    /// The subfield or tag.
    pub key: Option<Key>,
    /// Why (the codec's [`Reason`]s; a composite adds [`Reason::BadTag`],
    /// [`Reason::UnknownTag`] and [`Reason::Repeated`]).
    pub reason: Reason,
}

impl fmt::Display for CompositeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field {}", self.field)?;
        if let Some(key) = self.key {
            write!(f, " {key}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The composite layouts of a spec's fields, shared by the messages it
/// decodes (so that masking and JSON can read their subfields).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Composites(Vec<(u8, Arc<Composite>)>);

impl Composites {
    /// The layout of field `n`, if composite.
    pub fn get(&self, n: u8) -> Option<&Composite> {
        let i = self.0.binary_search_by_key(&n, |(f, _)| *f).ok()?;
        self.0.get(i).map(|(_, c)| c.as_ref())
    }

    /// Set or clear field `n`'s layout.
    pub(crate) fn set(&mut self, n: u8, layout: Option<Arc<Composite>>) {
        match (self.0.binary_search_by_key(&n, |(f, _)| *f), layout) {
            (Ok(i), Some(c)) => self.0[i].1 = c,
            (Ok(i), None) => {
                self.0.remove(i);
            }
            (Err(i), Some(c)) => self.0.insert(i, (n, c)),
            (Err(_), None) => {}
        }
    }

    /// Whether no field is composite.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether a field of class `parent` can hold text of class `sub`.
fn holds(parent: ContentClass, sub: ContentClass) -> bool {
    use ContentClass as C;
    parent == sub
        || parent == C::B
        || (parent == C::Ans && sub != C::B)
        || (parent == C::An && matches!(sub, C::A | C::N))
        || (parent == C::Ns && sub == C::N)
}

impl Composite {
    /// The kind's name as written in spec files.
    pub fn kind(&self) -> &'static str {
        match self {
            Composite::Positional(_) => "positional",
            Composite::Tlv(_) => "tlv",
            Composite::Bitmap(_) => "bitmap",
        }
    }

    /// The subfield `key` names, if declared.
    pub fn subfield(&self, key: Key) -> Option<&Subfield> {
        match (self, key) {
            (Composite::Positional(subs), Key::Position(p)) => {
                subs.get(usize::from(p).checked_sub(1)?)
            }
            (Composite::Tlv(t), Key::Tag(tag)) => {
                t.tags.iter().find(|(t, _)| *t == tag).map(|(_, s)| s)
            }
            (Composite::Bitmap(b), Key::Bit(n)) => {
                b.subfields.iter().find(|(m, _)| *m == n).map(|(_, s)| s)
            }
            _ => None,
        }
    }

    /// Every declared subfield with its key, in order.
    pub fn declared(&self) -> Vec<(Key, &Subfield)> {
        match self {
            Composite::Positional(subs) => subs
                .iter()
                .enumerate()
                .map(|(i, s)| (Key::Position(i as u8 + 1), s))
                .collect(),
            Composite::Tlv(t) => t.tags.iter().map(|(tag, s)| (Key::Tag(*tag), s)).collect(),
            Composite::Bitmap(b) => b.subfields.iter().map(|(n, s)| (Key::Bit(*n), s)).collect(),
        }
    }

    /// Check the layout against its field; the problem in words.
    pub(crate) fn check(&self, field: &FieldSpec) -> Result<(), String> {
        use ContentClass as C;
        if matches!(field.class, C::Z | C::XN) {
            return Err(format!(
                "a composite field cannot be of class {}",
                field.class.name()
            ));
        }
        // The field's maximum in logical units: a `b` field in ASCII hex counts
        // hex characters, its value is half as many bytes.
        let hex = field.class == C::B && field.encoding == DataEncoding::Ascii;
        let room = usize::from(field.length.max()) / if hex { 2 } else { 1 };
        let subs = self.declared();
        if subs.is_empty() {
            return Err(format!("{} composite without subfields", self.kind()));
        }
        for (key, sub) in &subs {
            check_subfield(field.class, sub).map_err(|p| format!("{key}: {p}"))?;
        }
        let fits = |need: usize, what: String| {
            if need > room {
                Err(format!(
                    "{what}: up to {need}, beyond the field's maximum {room}"
                ))
            } else {
                Ok(())
            }
        };
        match self {
            Composite::Positional(subs) => {
                let mut names: Vec<&str> = subs.iter().map(|s| s.name.as_str()).collect();
                names.sort_unstable();
                if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                    return Err(format!("subfield name {:?} used twice", w[0]));
                }
                if names.first().is_some_and(|n| n.is_empty()) {
                    return Err("a subfield without a name".into());
                }
                let total: usize = subs.iter().map(Subfield::max_wire).sum();
                fits(total, "the subfields together".into())?;
                let all_fixed = subs.iter().all(|s| matches!(s.length, Length::Fixed(_)));
                if matches!(field.length, Length::Fixed(_)) && all_fixed && total != room {
                    return Err(format!(
                        "fixed subfields of {total} in all, the field is fixed at {room}"
                    ));
                }
            }
            Composite::Tlv(t) => {
                if !(2..=3).contains(&t.tag_len) || !(2..=3).contains(&t.length_digits) {
                    return Err("tags of 2-3 characters and lengths of 2-3 digits".into());
                }
                let mut seen: Vec<SubTag> = Vec::new();
                for (tag, sub) in &t.tags {
                    let key = Key::Tag(*tag);
                    if usize::from(tag.len) != usize::from(t.tag_len) {
                        return Err(format!("{key}: not {} characters", t.tag_len));
                    }
                    if first_invalid(field.class, tag.as_bytes()).is_some() {
                        return Err(format!(
                            "{key}: not allowed by class {}",
                            field.class.name()
                        ));
                    }
                    if seen.contains(tag) {
                        return Err(format!("{key} declared twice"));
                    }
                    seen.push(*tag);
                    if sub.length
                        != (Length::Variable {
                            digits: t.length_digits,
                            max: sub.length.max(),
                        })
                    {
                        return Err(format!("{key}: its length must use the layout's digits"));
                    }
                    if u32::from(sub.length.max()) >= 10u32.pow(u32::from(t.length_digits)) {
                        return Err(format!(
                            "{key}: maximum {} does not fit {} length digits",
                            sub.length.max(),
                            t.length_digits
                        ));
                    }
                    fits(usize::from(t.tag_len) + sub.max_wire(), key.to_string())?;
                }
            }
            Composite::Bitmap(b) => {
                if b.bitmap == BitmapEncoding::Binary && field.class != C::B {
                    return Err(
                        "a binary sub-bitmap needs a b field (else bitmap = \"hex\")".into(),
                    );
                }
                if b.bitmap == BitmapEncoding::Hex && !holds(field.class, C::An) {
                    return Err(format!(
                        "a hex sub-bitmap cannot be held by class {}",
                        field.class.name()
                    ));
                }
                if b.subfields.iter().any(|(n, _)| !(1..=64).contains(n)) {
                    return Err("subfield numbers are 1-64".into());
                }
                if b.subfields.windows(2).any(|w| w[0].0 >= w[1].0) {
                    return Err("subfield numbers must be unique and ascending".into());
                }
                for (n, sub) in &b.subfields {
                    fits(b.bitmap_len() + sub.max_wire(), format!("subfield {n}"))?;
                }
            }
        }
        Ok(())
    }
}

/// One subfield's own rules, and that its field can hold it.
fn check_subfield(parent: ContentClass, sub: &Subfield) -> Result<(), String> {
    if !holds(parent, sub.class) {
        return Err(format!(
            "class {} does not fit a field of class {}",
            sub.class.name(),
            parent.name()
        ));
    }
    if sub.mask == Mask::Pan && sub.class != ContentClass::N {
        return Err("mask \"pan\" needs class n".into());
    }
    match sub.length {
        Length::Fixed(0) => Err("fixed length 0".into()),
        Length::Fixed(_) => Ok(()),
        Length::Variable { digits, max } => {
            if !(1..=4).contains(&digits) {
                Err(format!("length prefix of {digits} digits (allowed: 1-4)"))
            } else if max == 0 {
                Err("maximum length 0".into())
            } else if u32::from(max) >= 10u32.pow(u32::from(digits)) {
                Err(format!("maximum {max} does not fit {digits} prefix digits"))
            } else {
                Ok(())
            }
        }
    }
}
