//! The advice that tells an issuer what the switch decided in its place: 0120
//! for an authorization, 0220 for a financial request, repeated as 0121/0221 with
//! the same field 11 until acknowledged. It carries the card (the issuer posts
//! to its account), the decision (39, 38 for an approval), the stand-in
//! indicator and the switch's STAN for the decision, by which the issuer knows
//! it (its own 11, 7 and 32) and a later reversal names it (field 90). After a
//! timeout it also names, in field 90, the request the switch forwarded and
//! reverses, so that it is delivered only after that reversal.

use codecs::{Message, Mti};

/// The fields an advice copies from the request as it went (or would have gone)
/// to the issuer: the card and its expiry, the transaction, the acquirer's keys
/// and the merchant, field 48 (a token payment's token and app).
const COPIED: [u8; 15] = [2, 3, 4, 7, 12, 13, 14, 22, 32, 37, 41, 42, 43, 48, 49];

/// What the advice says.
pub(crate) struct AdviceContent<'a> {
    /// The request toward the issuer (the card in field 2).
    pub(crate) request: &'a Message,
    /// The switch's STAN for the decision.
    pub(crate) stan: u32,
    /// Field 33.
    pub(crate) institution: &'a str,
    /// Field 100.
    pub(crate) issuer: &'a str,
    /// Field 39.
    pub(crate) response_code: &'a str,
    /// Field 38 of an approval.
    pub(crate) auth_code: Option<&'a str>,
    /// The stand-in indicator: field and value.
    pub(crate) indicator: (u8, &'a str),
    /// After a timeout: field 90 of the forwarded request that is reversed.
    pub(crate) reversed_first: Option<&'a str>,
}

/// The MTI of the advice of a decision on a request of `request_mti`: 0120 for
/// an authorization, 0220 for a financial request.
pub(crate) fn advice_mti(request_mti: Mti) -> Mti {
    if request_mti.as_bytes()[1] == b'1' {
        Mti::AUTH_ADVICE
    } else {
        Mti::FINANCIAL_ADVICE
    }
}

/// The advice message.
pub(crate) fn advice(c: &AdviceContent<'_>) -> Message {
    let mut m = Message::with_capacity(advice_mti(c.request.mti()), COPIED.len() + 7, 256);
    for n in COPIED {
        if let Some(v) = c.request.text(n) {
            m.set(n, &v);
        }
    }
    m.set_stan(c.stan);
    m.set(33, c.institution);
    m.set(100, c.issuer);
    m.set(39, c.response_code);
    if let Some(code) = c.auth_code {
        m.set(38, code);
    }
    m.set(c.indicator.0, c.indicator.1);
    if let Some(f90) = c.reversed_first {
        m.set(90, f90);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advice_of_a_financial_request_is_a_0220_with_the_decision() {
        let mut req = Message::new(Mti::new(b"0200").expect("mti"));
        req.set(2, "9408101234567893");
        req.set(3, "000000");
        req.set(4, "000000010000");
        req.set(7, "1206120000");
        req.set(11, "000123");
        req.set(32, "940800");
        req.set(49, "408");
        req.set(52, "0123456789ABCDEF");
        let m = advice(&AdviceContent {
            request: &req,
            stan: 500_001,
            institution: "940000",
            issuer: "940810",
            response_code: "00",
            auth_code: Some("900001"),
            indicator: (60, "STANDIN"),
            reversed_first: None,
        });
        assert_eq!(m.mti().as_str(), "0220");
        assert_eq!(m.stan(), Some(500_001));
        assert_eq!(m.text(38).as_deref(), Some("900001"));
        assert_eq!(m.text(60).as_deref(), Some("STANDIN"));
        assert_eq!(m.text(2).as_deref(), Some("9408101234567893"));
        assert!(!m.has(52), "no PIN block in an advice");
        assert!(!m.has(90));
    }
}
