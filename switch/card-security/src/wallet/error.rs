//! Why a QR payload or a field 55 was refused. Small, `Copy` and free of
//! allocation (the switch parses field 55 on every token payment); no variant
//! carries a value from the data, so neither the token's digits nor a
//! cryptogram can reach a log through an error.

use std::fmt;

/// A BER-TLV tag (its bytes big-endian, at most three). Displays as hex with
/// the element's name when it is one the wallet code uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tag(pub u32);

impl Tag {
    /// Payload format indicator ("CPV01").
    pub const FORMAT_INDICATOR: Tag = Tag(0x85);
    /// Application template.
    pub const APPLICATION_TEMPLATE: Tag = Tag(0x61);
    /// Application identifier (AID).
    pub const AID: Tag = Tag(0x4F);
    /// Application PAN: here the token.
    pub const TOKEN: Tag = Tag(0x5A);
    /// Application expiration date (YYMMDD): the token's expiry.
    pub const EXPIRY: Tag = Tag(0x5F24);
    /// Token requestor id (the app).
    pub const REQUESTOR_ID: Tag = Tag(0x9F19);
    /// Application transaction counter.
    pub const ATC: Tag = Tag(0x9F36);
    /// Unpredictable number.
    pub const UNPREDICTABLE: Tag = Tag(0x9F37);
    /// Application cryptogram.
    pub const CRYPTOGRAM: Tag = Tag(0x9F26);

    fn name(self) -> Option<&'static str> {
        Some(match self {
            Tag::FORMAT_INDICATOR => "payload format indicator",
            Tag::APPLICATION_TEMPLATE => "application template",
            Tag::AID => "application identifier",
            Tag::TOKEN => "token",
            Tag::EXPIRY => "expiry",
            Tag::REQUESTOR_ID => "token requestor id",
            Tag::ATC => "application transaction counter",
            Tag::UNPREDICTABLE => "unpredictable number",
            Tag::CRYPTOGRAM => "application cryptogram",
            _ => return None,
        })
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X}", self.0)?;
        match self.name() {
            Some(name) => write!(f, " ({name})"),
            None => Ok(()),
        }
    }
}

/// A QR payload or field 55 that cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    /// The payload text is longer than any payload this module writes allows.
    #[error("the QR payload is over {max} characters")]
    TooLong {
        /// The bound.
        max: usize,
    },
    /// The payload is not standard base64 (with padding).
    #[error("the QR payload is not standard base64")]
    NotBase64,
    /// The data ends inside a tag or a length.
    #[error("the TLV data ends inside a tag or a length")]
    Truncated,
    /// A tag of more than three bytes.
    #[error("a TLV tag longer than three bytes")]
    TagTooLong,
    /// A length in a form not accepted: indefinite, or more than two length bytes.
    #[error("tag {0}: length in indefinite form or of more than two bytes")]
    LengthForm(Tag),
    /// A value longer than what is left of its template or of the data.
    #[error("tag {0}: the value runs past the end of the data")]
    Overrun(Tag),
    /// A mandatory element is absent.
    #[error("tag {0} is missing")]
    Missing(Tag),
    /// An element given twice.
    #[error("tag {0} is given twice")]
    Duplicate(Tag),
    /// An element of a fixed length has another.
    #[error("tag {tag}: {found} bytes where {expected} are required")]
    WrongLength {
        /// The element.
        tag: Tag,
        /// Its fixed length.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// A numeric element holds nibbles that are not digits (or misplaced padding).
    #[error("tag {0}: not BCD digits")]
    NotDigits(Tag),
    /// The token has fewer than 8 or more than 19 digits.
    #[error("tag {0}: a token has 8 to 19 digits")]
    TokenLength(Tag),
    /// The payload does not start with the format indicator "CPV01".
    #[error("the payload does not start with the format indicator CPV01")]
    Format,
    /// The application template names another application.
    #[error("the application template is not the national QR application")]
    Application,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_display_as_hex_and_name() {
        assert_eq!(Tag::CRYPTOGRAM.to_string(), "9F26 (application cryptogram)");
        assert_eq!(Tag(0x50).to_string(), "50");
        assert_eq!(
            QrError::Missing(Tag::ATC).to_string(),
            "tag 9F36 (application transaction counter) is missing"
        );
    }
}
