//! Short strings held inline: the keys and ids an in-flight entry keeps (fields 7
//! and 11, bank and rule ids) fit in 22 bytes, so they cost no allocation of their
//! own; anything longer is boxed.

use std::fmt;
use std::ops::Deref;

/// Longest text held inline.
const INLINE: usize = 22;

/// A short immutable string.
#[derive(Clone, PartialEq, Eq)]
pub enum ShortText {
    /// Up to [`INLINE`] bytes, in place.
    Inline {
        /// Bytes used.
        len: u8,
        /// The text, then zeros.
        bytes: [u8; INLINE],
    },
    /// Longer text.
    Boxed(Box<str>),
}

impl ShortText {
    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            ShortText::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            ShortText::Boxed(text) => text,
        }
    }
}

impl Default for ShortText {
    /// The empty text.
    fn default() -> ShortText {
        ShortText::Inline {
            len: 0,
            bytes: [0; INLINE],
        }
    }
}

impl From<&str> for ShortText {
    fn from(text: &str) -> ShortText {
        if text.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            ShortText::Inline {
                len: text.len() as u8,
                bytes,
            }
        } else {
            ShortText::Boxed(text.into())
        }
    }
}

impl From<String> for ShortText {
    fn from(text: String) -> ShortText {
        ShortText::from(text.as_str())
    }
}

impl Deref for ShortText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_inline_long_boxed_both_read_back() {
        for text in [
            "",
            "000123",
            "1125101010",
            "1234567890123456789012",
            "a-rule-id-longer-than-22-bytes",
        ] {
            let s = ShortText::from(text);
            assert_eq!(s.as_str(), text);
            assert_eq!(matches!(s, ShortText::Inline { .. }), text.len() <= INLINE);
        }
        assert_eq!(std::mem::size_of::<ShortText>(), 24);
    }
}
