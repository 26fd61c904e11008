//! What an issuer sees of the app channel: the switch's account verification
//! when an app enrols a card (a 0100 with amount zero and field 25 = `51`),
//! and the token indication on payments made by QR (field 48:
//! `TK016<token>AP011<requestor id>`, put there by the switch after it swapped
//! the token for the PAN). The issuer books nothing for a verification and
//! reports token payments apart, by app (requestor id); the token itself is
//! never kept or shown.

use codecs::mti::MessageClass;
use codecs::{Message, ResponseCode};

/// Field 25 (POS condition code) of an account verification.
pub const ACCOUNT_VERIFICATION_CONDITION: &str = "51";

/// RC 85: no reason to decline (a usable card, for a verification).
pub fn no_reason_to_decline() -> ResponseCode {
    ResponseCode::new("85").unwrap_or(ResponseCode::APPROVED)
}

/// Whether `req` is an account verification: an authorization (0100) of amount
/// zero with field 25 = `51`.
pub fn is_account_verification(req: &Message) -> bool {
    req.mti().class() == MessageClass::Authorization
        && req.text(25).as_deref() == Some(ACCOUNT_VERIFICATION_CONDITION)
        // Field 4's digits, not `Message::amount`: a verification need not carry
        // a currency (field 49).
        && req.get(4).and_then(|f| f.to_u64()) == Some(0)
}

/// The requestor id of the app a payment was made with, when field 48 says a
/// token was used (has both `TK` and `AP`); None for a card payment.
pub fn token_requestor(req: &Message) -> Option<String> {
    let field = req.get(48)?.bytes();
    let mut rest: &[u8] = &field;
    let (mut token, mut app) = (false, None);
    // Field 48 as the switch writes it: tag (2), length (3 digits), value.
    while rest.len() >= 5 {
        let (tag, after) = rest.split_at(2);
        let len = std::str::from_utf8(&after[..3])
            .ok()?
            .parse::<usize>()
            .ok()?;
        let value = after.get(3..3 + len)?;
        match tag {
            b"TK" => token = true,
            b"AP" => app = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
        rest = &after[3 + len..];
    }
    app.filter(|_| token)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use codecs::Mti;

    fn message(mti: &str, amount: &str, f25: Option<&str>, f48: Option<&str>) -> Message {
        let mut m = Message::new(Mti::new(mti.as_bytes()).unwrap());
        m.set(4, amount);
        if let Some(v) = f25 {
            m.set(25, v);
        }
        if let Some(v) = f48 {
            m.set(48, v);
        }
        m
    }

    #[test]
    fn verification_is_a_zero_authorization_with_condition_51() {
        assert!(is_account_verification(&message(
            "0100",
            "000000000000",
            Some("51"),
            None
        )));
        assert!(!is_account_verification(&message(
            "0200",
            "000000000000",
            Some("51"),
            None
        )));
        assert!(!is_account_verification(&message(
            "0100",
            "000000000100",
            Some("51"),
            None
        )));
        assert!(!is_account_verification(&message(
            "0100",
            "000000000000",
            Some("00"),
            None
        )));
        assert!(!is_account_verification(&message(
            "0100",
            "000000000000",
            None,
            None
        )));
    }

    #[test]
    fn field_48_names_the_app_of_a_token_payment() {
        let f48 = "TK0169408990000000017AP01194000000002";
        let m = message("0200", "000000000100", None, Some(f48));
        assert_eq!(token_requestor(&m).as_deref(), Some("94000000002"));
        // Other tags around them are skipped; AP without TK is not a token payment.
        let m = message("0200", "1", None, Some("XX002abAP01194000000003TK0011"));
        assert_eq!(token_requestor(&m).as_deref(), Some("94000000003"));
        assert_eq!(
            token_requestor(&message("0200", "1", None, Some("AP01194000000003"))),
            None
        );
        assert_eq!(token_requestor(&message("0200", "1", None, None)), None);
        // A length past the end, or not digits: not read.
        assert_eq!(
            token_requestor(&message("0200", "1", None, Some("TK099123AP0119"))),
            None
        );
        assert_eq!(
            token_requestor(&message("0200", "1", None, Some("TKx01"))),
            None
        );
    }
}
