//! The built-in ISO 8583:1993 dialect `iso93ascii`: the 1993 field table written
//! as `iso87ascii` writes the 1987 one (ASCII text and length prefixes, hex
//! bitmaps, `b` fields as hex text).
//!
//! The 1993 version keeps the bitmaps and most of the numbering but redefines
//! many fields: 12 is a full local date and time (n12), 22 the POS data code
//! (an12), 24 the function code (which carries what field 70 did in 1987: sign-on,
//! echo, ...), 25 the message reason code (n4), 39 the action code (n3), 43 the
//! card acceptor name/location as an LLVAR, 56 the original data elements (n..35,
//! what 1987's field 90 was), 70 a country code, 90 a count. Its messages are the
//! 1xxx ones (1100/1110, 1200/1210, 1420/1430, 1804/1814, ...); the dialect
//! itself does not check the MTI's version digit, as the 1987 ones do not.
//!
//! The table follows ISO 8583:1993's data element directory, checked against
//! the public jPOS `ISO93APackager`. Where an LLL `b` field would exceed what an
//! ASCII LLL prefix counts in hex characters (96, key management data, b...999)
//! it is capped at 998 characters (499 bytes).

use std::sync::{Arc, OnceLock};

use super::builtin::{build, Kind, Row, Style, Table};
use super::{ContentClass, Spec};

use ContentClass::{An, Ans, Ns, B, N, XN, Z};
use Kind::{Fixed, L2, L3};

/// The 1993 data elements (`b` lengths in bytes).
const ISO93_FIELDS: &[Row] = &[
    (2, N, L2, 19, "Primary account number (PAN)"),
    (3, N, Fixed, 6, "Processing code"),
    (4, N, Fixed, 12, "Amount, transaction"),
    (5, N, Fixed, 12, "Amount, reconciliation"),
    (6, N, Fixed, 12, "Amount, cardholder billing"),
    (7, N, Fixed, 10, "Date and time, transmission (MMDDhhmmss)"),
    (8, N, Fixed, 8, "Amount, cardholder billing fee"),
    (9, N, Fixed, 8, "Conversion rate, reconciliation"),
    (10, N, Fixed, 8, "Conversion rate, cardholder billing"),
    (11, N, Fixed, 6, "Systems trace audit number (STAN)"),
    (
        12,
        N,
        Fixed,
        12,
        "Date and time, local transaction (YYMMDDhhmmss)",
    ),
    (13, N, Fixed, 4, "Date, effective (YYMM)"),
    (14, N, Fixed, 4, "Date, expiration (YYMM)"),
    (15, N, Fixed, 6, "Date, settlement (YYMMDD)"),
    (16, N, Fixed, 4, "Date, conversion (MMDD)"),
    (17, N, Fixed, 4, "Date, capture (MMDD)"),
    (18, N, Fixed, 4, "Merchant type"),
    (19, N, Fixed, 3, "Country code, acquiring institution"),
    (20, N, Fixed, 3, "Country code, primary account number"),
    (21, N, Fixed, 3, "Country code, forwarding institution"),
    (22, An, Fixed, 12, "Point of service data code"),
    (23, N, Fixed, 3, "Card sequence number"),
    (24, N, Fixed, 3, "Function code"),
    (25, N, Fixed, 4, "Message reason code"),
    (26, N, Fixed, 4, "Card acceptor business code"),
    (27, N, Fixed, 1, "Approval code length"),
    (28, N, Fixed, 6, "Date, reconciliation (YYMMDD)"),
    (29, N, Fixed, 3, "Reconciliation indicator"),
    (30, N, Fixed, 24, "Amounts, original"),
    (31, Ans, L2, 99, "Acquirer reference data"),
    (32, N, L2, 11, "Acquiring institution identification code"),
    (33, N, L2, 11, "Forwarding institution identification code"),
    (34, Ns, L2, 28, "Primary account number, extended"),
    (35, Z, L2, 37, "Track 2 data"),
    (36, Z, L3, 104, "Track 3 data"),
    (37, An, Fixed, 12, "Retrieval reference number"),
    (38, An, Fixed, 6, "Approval code"),
    (39, N, Fixed, 3, "Action code"),
    (40, N, Fixed, 3, "Service code"),
    (41, Ans, Fixed, 8, "Card acceptor terminal identification"),
    (42, Ans, Fixed, 15, "Card acceptor identification code"),
    (43, Ans, L2, 99, "Card acceptor name/location"),
    (44, Ans, L2, 99, "Additional response data"),
    (45, Ans, L2, 76, "Track 1 data"),
    (46, Ans, L3, 204, "Amounts, fees"),
    (47, Ans, L3, 999, "Additional data - national"),
    (48, Ans, L3, 999, "Additional data - private"),
    (49, An, Fixed, 3, "Currency code, transaction"),
    (50, An, Fixed, 3, "Currency code, reconciliation"),
    (51, An, Fixed, 3, "Currency code, cardholder billing"),
    (52, B, Fixed, 8, "Personal identification number (PIN) data"),
    (53, B, L2, 48, "Security related control information"),
    (54, Ans, L3, 120, "Amounts, additional"),
    (
        55,
        B,
        L3,
        255,
        "Integrated circuit card (ICC) system related data",
    ),
    (56, N, L2, 35, "Original data elements"),
    (57, N, Fixed, 3, "Authorization life cycle code"),
    (
        58,
        N,
        L2,
        11,
        "Authorizing agent institution identification code",
    ),
    (59, Ans, L3, 999, "Transport data"),
    (60, Ans, L3, 999, "Reserved for national use"),
    (61, Ans, L3, 999, "Reserved for national use"),
    (62, Ans, L3, 999, "Reserved for private use"),
    (63, Ans, L3, 999, "Reserved for private use"),
    (64, B, Fixed, 8, "Message authentication code (MAC)"),
    (66, Ans, L3, 204, "Amounts, original fees"),
    (67, N, Fixed, 2, "Extended payment data"),
    (68, N, Fixed, 3, "Country code, receiving institution"),
    (69, N, Fixed, 3, "Country code, settlement institution"),
    (
        70,
        N,
        Fixed,
        3,
        "Country code, authorizing agent institution",
    ),
    (71, N, Fixed, 8, "Message number"),
    (72, Ans, L3, 999, "Data record"),
    (73, N, Fixed, 6, "Date, action (YYMMDD)"),
    (74, N, Fixed, 10, "Credits, number"),
    (75, N, Fixed, 10, "Credits, reversal number"),
    (76, N, Fixed, 10, "Debits, number"),
    (77, N, Fixed, 10, "Debits, reversal number"),
    (78, N, Fixed, 10, "Transfer, number"),
    (79, N, Fixed, 10, "Transfer, reversal number"),
    (80, N, Fixed, 10, "Inquiries, number"),
    (81, N, Fixed, 10, "Authorizations, number"),
    (82, N, Fixed, 10, "Inquiries, reversal number"),
    (83, N, Fixed, 10, "Payments, number"),
    (84, N, Fixed, 10, "Payments, reversal number"),
    (85, N, Fixed, 10, "Fee collections, number"),
    (86, N, Fixed, 16, "Credits, amount"),
    (87, N, Fixed, 16, "Credits, reversal amount"),
    (88, N, Fixed, 16, "Debits, amount"),
    (89, N, Fixed, 16, "Debits, reversal amount"),
    (90, N, Fixed, 10, "Authorizations, reversal number"),
    (
        91,
        N,
        Fixed,
        3,
        "Country code, transaction destination institution",
    ),
    (
        92,
        N,
        Fixed,
        3,
        "Country code, transaction originator institution",
    ),
    (
        93,
        N,
        L2,
        11,
        "Transaction destination institution identification code",
    ),
    (
        94,
        N,
        L2,
        11,
        "Transaction originator institution identification code",
    ),
    (95, Ans, L2, 99, "Card issuer reference data"),
    (96, B, L3, 999, "Key management data"),
    (97, XN, Fixed, 17, "Amount, net reconciliation"),
    (98, Ans, Fixed, 25, "Payee"),
    (99, An, L2, 11, "Settlement institution identification code"),
    (100, N, L2, 11, "Receiving institution identification code"),
    (101, Ans, L2, 17, "File name"),
    (102, Ans, L2, 28, "Account identification 1"),
    (103, Ans, L2, 28, "Account identification 2"),
    (104, Ans, L3, 100, "Transaction description"),
    (105, N, Fixed, 16, "Credits, chargeback amount"),
    (106, N, Fixed, 16, "Debits, chargeback amount"),
    (107, N, Fixed, 10, "Credits, chargeback number"),
    (108, N, Fixed, 10, "Debits, chargeback number"),
    (109, Ans, L2, 84, "Credits, fee amounts"),
    (110, Ans, L2, 84, "Debits, fee amounts"),
    (128, B, Fixed, 8, "Message authentication code (MAC)"),
];

/// Card data and secrets: the 1987 set, and 96 (key management data: keys
/// under a key-encrypting key, never shown).
const SENSITIVE: &[u8] = &[35, 36, 45, 52, 55, 96];

/// The 1993 table with its reserved ranges.
const TABLE: Table = Table {
    fields: ISO93_FIELDS,
    reserved,
    sensitive: SENSITIVE,
};

/// The description of a field the table leaves to the reserved ranges.
fn reserved(n: u8) -> Option<&'static str> {
    Some(match n {
        111..=115 => "Reserved for ISO use",
        116..=122 => "Reserved for national use",
        123..=127 => "Reserved for private use",
        129..=192 => "Reserved private (tertiary bitmap)",
        _ => return None,
    })
}

/// The 1993 dialect by name (`iso93ascii`), built once and shared.
pub fn builtin(name: &str) -> Option<Arc<Spec>> {
    static ASCII: OnceLock<Arc<Spec>> = OnceLock::new();
    match name {
        "iso93ascii" => Some(
            ASCII
                .get_or_init(|| Arc::new(build(name, Style::Ascii, &TABLE)))
                .clone(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Length, PrefixEncoding};

    #[test]
    fn the_fields_1993_redefined() {
        let spec = builtin("iso93ascii").unwrap();
        let len = |n: u8| spec.field(n).unwrap().length;
        assert_eq!(len(12), Length::Fixed(12));
        assert_eq!(len(22), Length::Fixed(12));
        assert_eq!(len(24), Length::Fixed(3));
        assert_eq!(len(39), Length::Fixed(3));
        assert_eq!(len(43), Length::Variable { digits: 2, max: 99 });
        assert_eq!(len(56), Length::Variable { digits: 2, max: 35 });
        assert_eq!(len(90), Length::Fixed(10));
        assert_eq!(len(53), Length::Variable { digits: 2, max: 96 });
        assert_eq!(
            len(96),
            Length::Variable {
                digits: 3,
                max: 998
            }
        );
        assert_eq!(spec.field(39).unwrap().class, N);
        assert_eq!(spec.field(97).unwrap().class, XN);
        assert_eq!(spec.field(2).unwrap().prefix, PrefixEncoding::Ascii);
        assert!(spec.is_sensitive(96) && spec.is_sensitive(35));
    }
}
