//! How a composite field's subfields are shown in logs, tools and JSON: each
//! under its label (a positional subfield's name, a tag, a subfield number),
//! masked by its declared [`Mask`]. An undeclared TLV tag is shown only by its
//! length: nothing says it holds no card data.

use super::{Composite, Key, Mask, Parts, Subfield};
use crate::content::to_hex;
use crate::mask::mask_pan;

impl Composite {
    /// The label of `key` in renderings and JSON: a positional subfield's
    /// name, a tag's characters, a bitmapped subfield's number.
    pub fn label(&self, key: Key) -> String {
        match key {
            Key::Position(_) => self
                .subfield(key)
                .map_or_else(|| key.to_string(), |s| s.name.clone()),
            Key::Tag(tag) => tag.to_string(),
            Key::Bit(n) => n.to_string(),
        }
    }

    /// The key a label names (see [`Composite::label`]), if any.
    pub fn key_of(&self, label: &str) -> Option<Key> {
        match self {
            Composite::Positional(subs) => subs
                .iter()
                .position(|s| s.name == label)
                .map(|i| Key::Position(i as u8 + 1)),
            Composite::Tlv(_) => super::SubTag::new(label.as_bytes()).map(Key::Tag),
            Composite::Bitmap(_) => label.parse().ok().map(Key::Bit),
        }
    }

    /// `parts` as one line, `{type=00, from=10, pan=940812******1234}`;
    /// `in_binary`: the field is a `b` field.
    pub fn masked_line(&self, parts: &Parts<'_>, in_binary: bool) -> String {
        let shown: Vec<String> = parts
            .iter()
            .map(|(key, value)| {
                let sub = self.subfield(key);
                format!(
                    "{}={}",
                    self.label(key),
                    shown_value(sub, in_binary, value, true)
                )
            })
            .collect();
        format!("{{{}}}", shown.join(", "))
    }
}

/// Whether a subfield's value is raw bytes, shown and written as hex: a `b`
/// subfield, or an undeclared tag in a `b` field (`in_binary`).
pub fn is_binary(sub: Option<&Subfield>, in_binary: bool) -> bool {
    match sub {
        Some(s) => s.class == crate::spec::ContentClass::B,
        None => in_binary,
    }
}

/// A subfield's value as text (hex when [`is_binary`]), masked when asked.
pub fn shown_value(sub: Option<&Subfield>, in_binary: bool, value: &[u8], masked: bool) -> String {
    let binary = is_binary(sub, in_binary);
    let mask = match sub {
        Some(s) if masked => s.mask,
        None if masked => Mask::Length,
        _ => Mask::None,
    };
    match mask {
        Mask::None if binary => to_hex(value),
        Mask::None => String::from_utf8_lossy(value).into_owned(),
        Mask::Pan => mask_pan(value),
        Mask::Length => {
            let unit = if binary { "bytes" } else { "chars" };
            format!("[{} {unit} masked]", value.len())
        }
    }
}
