//! Decode and encode errors: a small `Copy` value naming where and why.
//!
//! Errors cost nothing on the hot path (no allocation, no formatting until displayed)
//! and never carry field contents, so they are safe to log even for card data fields.

use std::fmt;

/// The part of a message an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Location {
    /// The fixed header in front of the MTI.
    Header,
    /// The message type indicator.
    Mti,
    /// The primary bitmap.
    PrimaryBitmap,
    /// A data element, or the secondary (1) / tertiary (65) bitmap.
    Field(u8),
    /// The message as a whole (for example bytes after the last field).
    Message,
}

impl Location {
    /// The field number, for errors about a numbered field (1-192).
    pub fn field_number(self) -> Option<u8> {
        match self {
            Location::Field(n) => Some(n),
            _ => None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Header => f.write_str("header"),
            Location::Mti => f.write_str("MTI"),
            Location::PrimaryBitmap => f.write_str("primary bitmap"),
            Location::Field(1) => f.write_str("field 1 (secondary bitmap)"),
            Location::Field(65) => f.write_str("field 65 (tertiary bitmap)"),
            Location::Field(n) => write!(f, "field {n}"),
            Location::Message => f.write_str("message"),
        }
    }
}

/// Why a message could not be decoded or encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The input ended inside this element.
    Truncated,
    /// A length prefix holds something other than digits.
    BadLengthPrefix,
    /// A variable length exceeds the spec's maximum.
    TooLong {
        /// The length found (in the field's length unit).
        length: u32,
        /// The spec's maximum.
        max: u32,
    },
    /// A fixed-length field has the wrong length (encode side).
    WrongLength {
        /// The length given.
        length: u32,
        /// The length the spec fixes.
        expected: u32,
    },
    /// A character is not allowed by the field's content class.
    BadCharacter {
        /// Zero-based position of the first offending character in the value.
        position: u32,
    },
    /// A packed BCD pad nibble is not the spec's pad value.
    BadPadding,
    /// A bitmap in hex form holds a non-hex character.
    BadBitmap,
    /// A field (or a composite's subfield) the spec does not define: a bit
    /// set for it, or a value given for it.
    UndefinedField,
    /// A composite's TLV tag that is not letters or digits of the layout's
    /// tag length.
    BadTag,
    /// A composite's TLV tag the spec does not declare, under a strict layout.
    UnknownTag,
    /// A composite's subfield given twice.
    Repeated,
    /// Bytes remain after the last field (or subfield).
    TrailingBytes {
        /// How many bytes remain.
        count: u32,
    },
    /// The MTI is not four digits.
    BadMti,
    /// A mandatory part (the MTI) is missing when encoding.
    Missing,
    /// The encoded message would not fit the output limits.
    TooLarge,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Truncated => f.write_str("truncated"),
            Reason::BadLengthPrefix => f.write_str("length prefix is not a valid number"),
            Reason::TooLong { length, max } => write!(f, "length {length} exceeds maximum {max}"),
            Reason::WrongLength { length, expected } => {
                write!(f, "length {length}, expected exactly {expected}")
            }
            Reason::BadCharacter { position } => {
                write!(
                    f,
                    "character at position {position} not allowed by the content class"
                )
            }
            Reason::BadPadding => f.write_str("invalid BCD pad nibble"),
            Reason::BadBitmap => f.write_str("bitmap is not valid hex"),
            Reason::UndefinedField => f.write_str("not defined by the spec"),
            Reason::BadTag => f.write_str("not a tag of this layout"),
            Reason::UnknownTag => f.write_str("tag not declared (strict layout)"),
            Reason::Repeated => f.write_str("given twice"),
            Reason::TrailingBytes { count } => write!(f, "{count} bytes left over at the end"),
            Reason::BadMti => f.write_str("MTI is not four digits"),
            Reason::Missing => f.write_str("missing"),
            Reason::TooLarge => f.write_str("message too large"),
        }
    }
}

/// A message failed to decode: where and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("decode error at {location}: {reason}")]
pub struct DecodeError {
    /// Where decoding stopped.
    pub location: Location,
    /// Why.
    pub reason: Reason,
}

/// A message failed to encode: where and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("encode error at {location}: {reason}")]
pub struct EncodeError {
    /// The element that could not be encoded.
    pub location: Location,
    /// Why.
    pub reason: Reason,
}

impl DecodeError {
    pub(crate) const fn new(location: Location, reason: Reason) -> Self {
        DecodeError { location, reason }
    }
}

impl EncodeError {
    pub(crate) const fn new(location: Location, reason: Reason) -> Self {
        EncodeError { location, reason }
    }
}

/// A spec (built-in or loaded from a file) is inconsistent or unreadable.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML/JSON or has the wrong shape.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// One entry is invalid.
    #[error("{path}: {entry}: {problem}")]
    Invalid {
        /// The file (or `built-in`).
        path: String,
        /// The entry, e.g. `field 35`.
        entry: String,
        /// What is wrong.
        problem: String,
    },
    /// No built-in spec has this name.
    #[error("unknown spec {0:?} (built-in specs: iso87ascii, iso87binary, iso87bcd, iso87ebcdic, iso93ascii)")]
    UnknownName(String),
}
