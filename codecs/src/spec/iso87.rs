//! The built-in ISO 8583:1987 dialects: `iso87ascii`, `iso87binary`, `iso87bcd`
//! and `iso87ebcdic`.
//!
//! One table ([`ISO87_FIELDS`]) holds each field's content class, length kind and
//! length as data; each dialect is that table plus encoding rules
//! ([`super::builtin::Style`]). Lengths follow pyiso8583 4.0.1
//! (`specs.default_ascii` and `specs.default`), so `iso87ascii` and `iso87binary`
//! are byte-for-byte compatible with it, and `iso87ebcdic` with `specs.default`
//! whose text and length prefixes are encoded `cp500`; content classes follow
//! ISO 8583:1987. Fields 129-192 (behind the tertiary bitmap) are not defined by
//! the 1987 standard; they are declared here as private `ans...999` fields.

use std::sync::{Arc, OnceLock};

use super::builtin::{build, Kind, Style, Table};
use super::ContentClass;
use super::Spec;

use ContentClass::{An, Ans, Ns, B, N, XN, Z};
use Kind::{Fixed, L2, L3};

/// (field, class, kind, length, description). For `b` fields the length is in bytes.
const ISO87_FIELDS: &[(u8, ContentClass, Kind, u16, &str)] = &[
    (2, N, L2, 19, "Primary account number (PAN)"),
    (3, N, Fixed, 6, "Processing code"),
    (4, N, Fixed, 12, "Amount, transaction"),
    (5, N, Fixed, 12, "Amount, settlement"),
    (6, N, Fixed, 12, "Amount, cardholder billing"),
    (7, N, Fixed, 10, "Transmission date and time"),
    (8, N, Fixed, 8, "Amount, cardholder billing fee"),
    (9, N, Fixed, 8, "Conversion rate, settlement"),
    (10, N, Fixed, 8, "Conversion rate, cardholder billing"),
    (11, N, Fixed, 6, "System trace audit number (STAN)"),
    (12, N, Fixed, 6, "Time, local transaction (hhmmss)"),
    (13, N, Fixed, 4, "Date, local transaction (MMDD)"),
    (14, N, Fixed, 4, "Date, expiration (YYMM)"),
    (15, N, Fixed, 4, "Date, settlement"),
    (16, N, Fixed, 4, "Date, conversion"),
    (17, N, Fixed, 4, "Date, capture"),
    (18, N, Fixed, 4, "Merchant type"),
    (19, N, Fixed, 3, "Acquiring institution country code"),
    (20, N, Fixed, 3, "PAN extended, country code"),
    (21, N, Fixed, 3, "Forwarding institution country code"),
    (22, N, Fixed, 3, "Point of service entry mode"),
    (23, N, Fixed, 3, "Card sequence number"),
    (24, N, Fixed, 3, "Network international identifier"),
    (25, N, Fixed, 2, "Point of service condition code"),
    (26, N, Fixed, 2, "Point of service capture code"),
    (
        27,
        N,
        Fixed,
        1,
        "Authorizing identification response length",
    ),
    (28, XN, Fixed, 9, "Amount, transaction fee"),
    (29, XN, Fixed, 9, "Amount, settlement fee"),
    (30, XN, Fixed, 9, "Amount, transaction processing fee"),
    (31, XN, Fixed, 9, "Amount, settlement processing fee"),
    (32, N, L2, 11, "Acquiring institution identification code"),
    (33, N, L2, 11, "Forwarding institution identification code"),
    (34, Ns, L2, 28, "Primary account number, extended"),
    (35, Z, L2, 37, "Track 2 data"),
    (36, Z, L3, 104, "Track 3 data"),
    (37, An, Fixed, 12, "Retrieval reference number"),
    (38, An, Fixed, 6, "Authorization identification response"),
    (39, An, Fixed, 2, "Response code"),
    (40, An, Fixed, 3, "Service restriction code"),
    (41, Ans, Fixed, 8, "Card acceptor terminal identification"),
    (42, Ans, Fixed, 15, "Card acceptor identification code"),
    (43, Ans, Fixed, 40, "Card acceptor name/location"),
    (44, An, L2, 25, "Additional response data"),
    (45, Ans, L2, 76, "Track 1 data"),
    (46, Ans, L3, 999, "Additional data - ISO"),
    (47, Ans, L3, 999, "Additional data - national"),
    (48, Ans, L3, 999, "Additional data - private"),
    (49, An, Fixed, 3, "Currency code, transaction"),
    (50, An, Fixed, 3, "Currency code, settlement"),
    (51, An, Fixed, 3, "Currency code, cardholder billing"),
    (
        52,
        B,
        Fixed,
        8,
        "Personal identification number data (PIN block)",
    ),
    (53, N, Fixed, 16, "Security related control information"),
    (54, Ans, L3, 240, "Additional amounts"),
    (55, B, L3, 255, "ICC data"),
    (56, Ans, L3, 999, "Reserved ISO"),
    (57, Ans, L3, 999, "Reserved national"),
    (58, Ans, L3, 999, "Reserved national"),
    (59, Ans, L3, 999, "Reserved national"),
    (60, Ans, L3, 999, "Reserved national"),
    (61, Ans, L3, 999, "Reserved private"),
    (62, Ans, L3, 999, "Reserved private"),
    (63, Ans, L3, 999, "Reserved private"),
    (64, B, Fixed, 8, "Message authentication code (MAC)"),
    (66, N, Fixed, 1, "Settlement code"),
    (67, N, Fixed, 2, "Extended payment code"),
    (68, N, Fixed, 3, "Receiving institution country code"),
    (69, N, Fixed, 3, "Settlement institution country code"),
    (70, N, Fixed, 3, "Network management information code"),
    (71, N, Fixed, 4, "Message number"),
    (72, N, Fixed, 4, "Message number, last"),
    (73, N, Fixed, 6, "Date, action (YYMMDD)"),
    (74, N, Fixed, 10, "Credits, number"),
    (75, N, Fixed, 10, "Credits, reversal number"),
    (76, N, Fixed, 10, "Debits, number"),
    (77, N, Fixed, 10, "Debits, reversal number"),
    (78, N, Fixed, 10, "Transfer, number"),
    (79, N, Fixed, 10, "Transfer, reversal number"),
    (80, N, Fixed, 10, "Inquiries, number"),
    (81, N, Fixed, 10, "Authorizations, number"),
    (82, N, Fixed, 12, "Credits, processing fee amount"),
    (83, N, Fixed, 12, "Credits, transaction fee amount"),
    (84, N, Fixed, 12, "Debits, processing fee amount"),
    (85, N, Fixed, 12, "Debits, transaction fee amount"),
    (86, N, Fixed, 16, "Credits, amount"),
    (87, N, Fixed, 16, "Credits, reversal amount"),
    (88, N, Fixed, 16, "Debits, amount"),
    (89, N, Fixed, 16, "Debits, reversal amount"),
    (90, N, Fixed, 42, "Original data elements"),
    (91, An, Fixed, 1, "File update code"),
    (92, An, Fixed, 2, "File security code"),
    (93, An, Fixed, 5, "Response indicator"),
    (94, An, Fixed, 7, "Service indicator"),
    (95, An, Fixed, 42, "Replacement amounts"),
    (96, B, Fixed, 8, "Message security code"),
    (97, XN, Fixed, 17, "Amount, net settlement"),
    (98, Ans, Fixed, 25, "Payee"),
    (99, N, L2, 11, "Settlement institution identification code"),
    (100, N, L2, 11, "Receiving institution identification code"),
    (101, Ans, L2, 17, "File name"),
    (102, Ans, L2, 28, "Account identification 1"),
    (103, Ans, L2, 28, "Account identification 2"),
    (104, Ans, L3, 100, "Transaction description"),
    (128, B, Fixed, 8, "Message authentication code (MAC)"),
];

/// Fields whose content is card data or a secret: masked down to their length
/// (field 55 tag by tag).
const SENSITIVE: &[u8] = &[35, 36, 45, 52, 55];

/// The 1987 table with its reserved ranges.
pub(super) const TABLE: Table = Table {
    fields: ISO87_FIELDS,
    reserved,
    sensitive: SENSITIVE,
};

/// The description of a field the table leaves to the reserved ranges.
fn reserved(n: u8) -> Option<&'static str> {
    Some(match n {
        105..=111 => "Reserved ISO",
        112..=119 => "Reserved national",
        120..=127 => "Reserved private",
        129..=192 => "Reserved private (tertiary bitmap)",
        _ => return None,
    })
}

/// The names of the 1987 dialects.
pub const BUILTIN_NAMES: [&str; 4] = ["iso87ascii", "iso87binary", "iso87bcd", "iso87ebcdic"];

/// A 1987 dialect by name, built once and shared.
pub fn builtin(name: &str) -> Option<Arc<Spec>> {
    static ASCII: OnceLock<Arc<Spec>> = OnceLock::new();
    static BINARY: OnceLock<Arc<Spec>> = OnceLock::new();
    static BCD: OnceLock<Arc<Spec>> = OnceLock::new();
    static EBCDIC: OnceLock<Arc<Spec>> = OnceLock::new();
    let (cell, style) = match name {
        "iso87ascii" => (&ASCII, Style::Ascii),
        "iso87binary" => (&BINARY, Style::Binary),
        "iso87bcd" => (&BCD, Style::Bcd),
        "iso87ebcdic" => (&EBCDIC, Style::Ebcdic),
        _ => return None,
    };
    Some(
        cell.get_or_init(|| Arc::new(build(name, style, &TABLE)))
            .clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{DataEncoding, Length, MtiEncoding, PrefixEncoding};

    #[test]
    fn ascii_dialect_matches_pyiso8583_lengths() {
        let spec = builtin("iso87ascii").unwrap();
        let f55 = spec.field(55).unwrap();
        assert_eq!(
            f55.length,
            Length::Variable {
                digits: 3,
                max: 510
            }
        );
        assert_eq!(spec.field(52).unwrap().length, Length::Fixed(16));
        let spec = builtin("iso87binary").unwrap();
        assert_eq!(spec.field(52).unwrap().length, Length::Fixed(8));
        assert_eq!(spec.field(52).unwrap().encoding, DataEncoding::Binary);
    }

    #[test]
    fn ebcdic_dialect_is_the_binary_one_in_cp500() {
        let ebcdic = builtin("iso87ebcdic").unwrap();
        let binary = builtin("iso87binary").unwrap();
        assert_eq!(ebcdic.mti, MtiEncoding::Ebcdic);
        assert_eq!(ebcdic.bitmap, binary.bitmap);
        for n in (2..=192).filter(|&n| n != 65) {
            let (e, b) = (ebcdic.field(n).unwrap(), binary.field(n).unwrap());
            assert_eq!((e.class, e.length), (b.class, b.length), "field {n}");
            if e.class == B {
                assert_eq!(e.encoding, DataEncoding::Binary, "field {n}");
            } else {
                assert_eq!(e.encoding, DataEncoding::Ebcdic, "field {n}");
            }
            if matches!(e.length, Length::Variable { .. }) {
                assert_eq!(e.prefix, PrefixEncoding::Ebcdic, "field {n}");
            }
        }
    }
}
