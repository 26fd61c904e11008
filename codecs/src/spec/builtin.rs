//! The built-in dialects by name, and how one is made from a field table and an
//! encoding style.
//!
//! A table ([`Table`]: the 1987 one in [`super::iso87`], the 1993 one in
//! [`super::iso93`]) says what each field holds (content class, length kind,
//! length); a [`Style`] says how it is written (ASCII, EBCDIC, packed BCD, raw
//! binary). This module owns neither table, only the pairing and the registry.

use std::borrow::Cow;
use std::sync::Arc;

use super::{
    iso87, iso93, BitmapEncoding, ContentClass, DataEncoding, FieldSpec, Length, MtiEncoding,
    PrefixEncoding, Spec, Structure, MAX_FIELD,
};
use crate::error::SpecError;

/// Every built-in dialect's name, in the order tools list them.
pub const NAMES: [&str; 5] = [
    "iso87ascii",
    "iso87binary",
    "iso87bcd",
    "iso87ebcdic",
    "iso93ascii",
];

/// A built-in dialect by name, built once and shared.
pub fn by_name(name: &str) -> Result<Arc<Spec>, SpecError> {
    iso87::builtin(name)
        .or_else(|| iso93::builtin(name))
        .ok_or_else(|| SpecError::UnknownName(name.to_string()))
}

/// How a table entry's length is given: fixed, or with an LL/LLL prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Fixed,
    L2,
    L3,
}

/// One table row: (field, class, kind, length, description). For `b` fields the
/// length is in bytes (an ASCII style doubles it: hex text).
pub(super) type Row = (u8, ContentClass, Kind, u16, &'static str);

/// A version's field table.
pub(super) struct Table {
    /// The fields it defines one by one.
    pub(super) fields: &'static [Row],
    /// The description of a field left to a reserved range (declared private
    /// `ans...999`), or None for a field the version does not define.
    pub(super) reserved: fn(u8) -> Option<&'static str>,
    /// Fields holding card data or secrets.
    pub(super) sensitive: &'static [u8],
}

/// The encoding styles of the built-in dialects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Style {
    /// Everything ASCII, bitmaps and binary fields as hex text.
    Ascii,
    /// Text ASCII, bitmaps and `b` fields raw.
    Binary,
    /// MTI and numeric fields packed BCD, BCD length prefixes, bitmaps raw.
    Bcd,
    /// MTI, text and length prefixes EBCDIC (code page 500), bitmaps and `b`
    /// fields raw: the IBM mainframe hosts' form.
    Ebcdic,
}

/// The ICC data field: BER-TLV in every built-in dialect.
const ICC_FIELD: u8 = 55;

/// The dialect `name`: `table` written in `style`.
pub(super) fn build(name: &str, style: Style, table: &Table) -> Spec {
    let (mti, bitmap) = match style {
        Style::Ascii => (MtiEncoding::Ascii, BitmapEncoding::Hex),
        Style::Binary => (MtiEncoding::Ascii, BitmapEncoding::Binary),
        Style::Bcd => (MtiEncoding::Bcd, BitmapEncoding::Binary),
        Style::Ebcdic => (MtiEncoding::Ebcdic, BitmapEncoding::Binary),
    };
    let mut spec = Spec::new(name, mti, bitmap);
    for n in 2..=MAX_FIELD {
        let row = table.fields.iter().find(|row| row.0 == n);
        let (class, kind, len, description) = match row {
            Some(&(_, class, kind, len, desc)) => (class, kind, len, desc),
            None => match (table.reserved)(n) {
                Some(desc) => (ContentClass::Ans, Kind::L3, 999, desc),
                None => continue,
            },
        };
        spec.set_field(n, field(style, class, kind, len, description, table, n));
    }
    spec
}

/// One field's spec in `style`.
fn field(
    style: Style,
    class: ContentClass,
    kind: Kind,
    len: u16,
    description: &'static str,
    table: &Table,
    n: u8,
) -> FieldSpec {
    use ContentClass::{B, N, Z};
    let (encoding, pad_nibble) = match (style, class) {
        (Style::Ascii, _) => (DataEncoding::Ascii, 0),
        (_, B) => (DataEncoding::Binary, 0),
        (Style::Binary, _) => (DataEncoding::Ascii, 0),
        (Style::Ebcdic, _) => (DataEncoding::Ebcdic, 0),
        (Style::Bcd, N) => (DataEncoding::BcdLeftPad, 0),
        // Track data: digits and separators as nibbles, padded with F behind.
        (Style::Bcd, Z) => (DataEncoding::BcdRightPad, 0xF),
        (Style::Bcd, _) => (DataEncoding::Ascii, 0),
    };
    // Hex text takes two characters per byte; an LLL prefix then caps it at 999
    // characters, and hex needs an even count.
    let len = if class == B && style == Style::Ascii {
        let doubled = len.saturating_mul(2);
        if kind == Kind::L3 {
            doubled.min(998)
        } else {
            doubled
        }
    } else {
        len
    };
    let length = match kind {
        Kind::Fixed => Length::Fixed(len),
        Kind::L2 => Length::Variable {
            digits: 2,
            max: len,
        },
        Kind::L3 => Length::Variable {
            digits: 3,
            max: len,
        },
    };
    let prefix = match style {
        Style::Bcd => PrefixEncoding::Bcd,
        Style::Ebcdic => PrefixEncoding::Ebcdic,
        Style::Ascii | Style::Binary => PrefixEncoding::Ascii,
    };
    FieldSpec {
        class,
        length,
        prefix,
        encoding,
        pad_nibble,
        sensitive: table.sensitive.contains(&n),
        structure: if n == ICC_FIELD && class == B {
            Structure::BerTlv
        } else {
            Structure::Plain
        },
        description: Cow::Borrowed(description),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves_and_validates() {
        for name in NAMES {
            let spec = by_name(name).unwrap();
            assert_eq!(spec.name, name);
            spec.validate("built-in").unwrap();
            assert_eq!(spec.field(55).unwrap().structure, Structure::BerTlv);
            assert!(spec.tlv_fields().contains(55));
            for n in 2..=MAX_FIELD {
                assert_eq!(spec.field(n).is_some(), n != 65, "{name} field {n}");
            }
        }
        let err = by_name("iso99").unwrap_err().to_string();
        assert!(
            err.contains("iso87ebcdic") && err.contains("iso93ascii"),
            "{err}"
        );
    }
}
