//! The message type indicator: four digits naming version, class, function and origin.

use std::fmt;

use crate::error::{EncodeError, Location, Reason};

/// A message type indicator such as `0200`. Always four ASCII digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mti([u8; 4]);

/// Position 1: the ISO 8583 version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// 0: ISO 8583:1987.
    Iso1987,
    /// 1: ISO 8583:1993.
    Iso1993,
    /// 2: ISO 8583:2003.
    Iso2003,
    /// 3-7: reserved by ISO.
    Reserved(u8),
    /// 8: national use.
    National,
    /// 9: private use.
    Private,
}

/// Position 2: the message class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageClass {
    /// 0: reserved.
    Reserved0,
    /// 1: authorization (0100).
    Authorization,
    /// 2: financial (0200).
    Financial,
    /// 3: file actions (0300).
    FileAction,
    /// 4: reversals and chargebacks (0400).
    Reversal,
    /// 5: reconciliation (0500).
    Reconciliation,
    /// 6: administrative (0600).
    Administrative,
    /// 7: fee collection (0700).
    FeeCollection,
    /// 8: network management (0800).
    NetworkManagement,
    /// 9: reserved.
    Reserved9,
}

/// Position 3: the message function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// 0: request.
    Request,
    /// 1: response to a request.
    RequestResponse,
    /// 2: advice.
    Advice,
    /// 3: response to an advice.
    AdviceResponse,
    /// 4: notification.
    Notification,
    /// 5: notification acknowledgement.
    NotificationAck,
    /// 6: instruction.
    Instruction,
    /// 7: instruction acknowledgement.
    InstructionAck,
    /// 8-9: reserved.
    Reserved(u8),
}

/// Position 4: who sent the message, and whether it is a repeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// 0: acquirer.
    Acquirer,
    /// 1: acquirer, repeat.
    AcquirerRepeat,
    /// 2: issuer.
    Issuer,
    /// 3: issuer, repeat.
    IssuerRepeat,
    /// 4: other.
    Other,
    /// 5: other, repeat.
    OtherRepeat,
    /// 6-9: reserved.
    Reserved(u8),
}

impl Mti {
    /// 0100 authorization request.
    pub const AUTH_REQUEST: Mti = Mti(*b"0100");
    /// 0110 authorization response.
    pub const AUTH_RESPONSE: Mti = Mti(*b"0110");
    /// 0120 authorization advice.
    pub const AUTH_ADVICE: Mti = Mti(*b"0120");
    /// 0200 financial request.
    pub const FINANCIAL_REQUEST: Mti = Mti(*b"0200");
    /// 0210 financial response.
    pub const FINANCIAL_RESPONSE: Mti = Mti(*b"0210");
    /// 0220 financial advice.
    pub const FINANCIAL_ADVICE: Mti = Mti(*b"0220");
    /// 0400 reversal request.
    pub const REVERSAL_REQUEST: Mti = Mti(*b"0400");
    /// 0410 reversal response.
    pub const REVERSAL_RESPONSE: Mti = Mti(*b"0410");
    /// 0420 reversal advice.
    pub const REVERSAL_ADVICE: Mti = Mti(*b"0420");
    /// 0421 reversal advice, repeat.
    pub const REVERSAL_ADVICE_REPEAT: Mti = Mti(*b"0421");
    /// 0430 reversal advice response.
    pub const REVERSAL_ADVICE_RESPONSE: Mti = Mti(*b"0430");
    /// 0800 network management request.
    pub const NETWORK_REQUEST: Mti = Mti(*b"0800");
    /// 0810 network management response.
    pub const NETWORK_RESPONSE: Mti = Mti(*b"0810");

    /// Parse four ASCII digits.
    pub fn new(digits: &[u8]) -> Option<Mti> {
        match digits {
            [a, b, c, d] if digits.iter().all(u8::is_ascii_digit) => Some(Mti([*a, *b, *c, *d])),
            _ => None,
        }
    }

    /// Parse four ASCII digits, for encoders: an error names the MTI.
    pub fn parse(text: &str) -> Result<Mti, EncodeError> {
        Mti::new(text.as_bytes()).ok_or(EncodeError::new(Location::Mti, Reason::BadMti))
    }

    /// The four ASCII digits.
    pub fn as_bytes(&self) -> &[u8; 4] {
        &self.0
    }

    /// The MTI as text.
    pub fn as_str(&self) -> &str {
        // Four ASCII digits by construction.
        std::str::from_utf8(&self.0).unwrap_or("????")
    }

    fn digit(&self, i: usize) -> u8 {
        self.0[i] - b'0'
    }

    /// The version (first digit).
    pub fn version(&self) -> Version {
        match self.digit(0) {
            0 => Version::Iso1987,
            1 => Version::Iso1993,
            2 => Version::Iso2003,
            8 => Version::National,
            9 => Version::Private,
            d => Version::Reserved(d),
        }
    }

    /// The message class (second digit).
    pub fn class(&self) -> MessageClass {
        use MessageClass::*;
        [
            Reserved0,
            Authorization,
            Financial,
            FileAction,
            Reversal,
            Reconciliation,
            Administrative,
            FeeCollection,
            NetworkManagement,
            Reserved9,
        ][self.digit(1) as usize]
    }

    /// The function (third digit).
    pub fn function(&self) -> Function {
        use Function::*;
        match self.digit(2) {
            0 => Request,
            1 => RequestResponse,
            2 => Advice,
            3 => AdviceResponse,
            4 => Notification,
            5 => NotificationAck,
            6 => Instruction,
            7 => InstructionAck,
            d => Reserved(d),
        }
    }

    /// The origin (fourth digit).
    pub fn origin(&self) -> Origin {
        use Origin::*;
        match self.digit(3) {
            0 => Acquirer,
            1 => AcquirerRepeat,
            2 => Issuer,
            3 => IssuerRepeat,
            4 => Other,
            5 => OtherRepeat,
            d => Reserved(d),
        }
    }

    /// Requests, advices, notifications and instructions: messages that expect an answer
    /// or acknowledgement (an even function digit).
    pub fn is_request(&self) -> bool {
        self.digit(2) % 2 == 0 && self.digit(2) <= 6
    }

    /// Responses and acknowledgements (an odd function digit).
    pub fn is_response(&self) -> bool {
        self.digit(2) % 2 == 1 && self.digit(2) <= 7
    }

    /// A repeated transmission (0201, 0421, ...).
    pub fn is_repeat(&self) -> bool {
        matches!(self.digit(3), 1 | 3 | 5)
    }

    /// The MTI of the answer to this request: 0200 → 0210, 0421 → 0430.
    /// None for messages that are already answers.
    pub fn response(&self) -> Option<Mti> {
        if !self.is_request() {
            return None;
        }
        let origin = self.digit(3) & !1; // a repeat is answered like the original
        Some(Mti([self.0[0], self.0[1], self.0[2] + 1, b'0' + origin]))
    }

    /// The original request's MTI for a repeat (0421 → 0420); self otherwise.
    pub fn without_repeat(&self) -> Mti {
        let mut m = self.0;
        if self.is_repeat() {
            m[3] -= 1;
        }
        Mti(m)
    }
}

impl fmt::Display for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mti({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_responses() {
        let m = Mti::new(b"0200").unwrap();
        assert_eq!(m.version(), Version::Iso1987);
        assert_eq!(m.class(), MessageClass::Financial);
        assert_eq!(m.function(), Function::Request);
        assert_eq!(m.origin(), Origin::Acquirer);
        assert!(m.is_request() && !m.is_response() && !m.is_repeat());
        assert_eq!(m.response().unwrap().as_str(), "0210");
        let r = Mti::new(b"0421").unwrap();
        assert!(r.is_repeat());
        assert_eq!(r.response().unwrap().as_str(), "0430");
        assert_eq!(r.without_repeat().as_str(), "0420");
        assert_eq!(Mti::new(b"0810").unwrap().response(), None);
        assert!(Mti::new(b"0810").unwrap().is_response());
        assert_eq!(Mti::new(b"1200").unwrap().version(), Version::Iso1993);
        assert!(Mti::new(b"02A0").is_none());
        assert!(Mti::new(b"020").is_none());
    }
}
