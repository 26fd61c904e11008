//! Field 39 response codes, with names for the ones the switch and the simulators
//! generate themselves (see DESIGN.md, "Response codes").

use std::fmt;

/// A two-character response code (field 39).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResponseCode([u8; 2]);

impl ResponseCode {
    /// 00: approved.
    pub const APPROVED: ResponseCode = ResponseCode(*b"00");
    /// 12: invalid transaction (MTI or processing code not allowed).
    pub const INVALID_TRANSACTION: ResponseCode = ResponseCode(*b"12");
    /// 13: invalid amount.
    pub const INVALID_AMOUNT: ResponseCode = ResponseCode(*b"13");
    /// 14: invalid card number (Luhn, length).
    pub const INVALID_CARD_NUMBER: ResponseCode = ResponseCode(*b"14");
    /// 15: no such issuer (BIN not in the table).
    pub const NO_SUCH_ISSUER: ResponseCode = ResponseCode(*b"15");
    /// 30: format error.
    pub const FORMAT_ERROR: ResponseCode = ResponseCode(*b"30");
    /// 31: bank not supported by the switch (unknown acquirer).
    pub const BANK_NOT_SUPPORTED: ResponseCode = ResponseCode(*b"31");
    /// 51: insufficient funds.
    pub const INSUFFICIENT_FUNDS: ResponseCode = ResponseCode(*b"51");
    /// 54: expired card.
    pub const EXPIRED_CARD: ResponseCode = ResponseCode(*b"54");
    /// 57: transaction not permitted to cardholder.
    pub const NOT_PERMITTED_CARDHOLDER: ResponseCode = ResponseCode(*b"57");
    /// 58: transaction not permitted to terminal.
    pub const NOT_PERMITTED_TERMINAL: ResponseCode = ResponseCode(*b"58");
    /// 61: exceeds amount limit.
    pub const EXCEEDS_AMOUNT_LIMIT: ResponseCode = ResponseCode(*b"61");
    /// 62: restricted card.
    pub const RESTRICTED_CARD: ResponseCode = ResponseCode(*b"62");
    /// 63: security violation.
    pub const SECURITY_VIOLATION: ResponseCode = ResponseCode(*b"63");
    /// 68: response received too late.
    pub const RESPONSE_TOO_LATE: ResponseCode = ResponseCode(*b"68");
    /// 91: issuer or switch inoperative.
    pub const ISSUER_INOPERATIVE: ResponseCode = ResponseCode(*b"91");
    /// 94: duplicate transmission.
    pub const DUPLICATE: ResponseCode = ResponseCode(*b"94");
    /// 96: system malfunction.
    pub const SYSTEM_MALFUNCTION: ResponseCode = ResponseCode(*b"96");

    /// A code from two alphanumeric ASCII characters.
    pub fn new(code: &str) -> Option<ResponseCode> {
        match code.as_bytes() {
            [a, b] if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() => {
                Some(ResponseCode([*a, *b]))
            }
            _ => None,
        }
    }

    /// The two characters.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// Whether this is an approval (00).
    pub fn is_approved(&self) -> bool {
        *self == ResponseCode::APPROVED
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RC {}", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_show() {
        assert_eq!(
            ResponseCode::new("57"),
            Some(ResponseCode::NOT_PERMITTED_CARDHOLDER)
        );
        assert_eq!(ResponseCode::new("5"), None);
        assert_eq!(ResponseCode::new("5!"), None);
        assert_eq!(ResponseCode::APPROVED.to_string(), "00");
        assert!(ResponseCode::APPROVED.is_approved());
    }
}
