//! Building and reading the messages the simulators exchange: requests, responses,
//! reversals and network management, and the keys that match them.

use codecs::{Message, Mti, ResponseCode};
use rust_decimal::Decimal;

use crate::cards::Card;
use crate::clock::DateTimeFields;

/// What a cardholder does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxnKind {
    /// Processing code 000000.
    Purchase,
    /// Processing code 010000.
    Cash,
    /// Processing code 310000.
    Balance,
}

impl TxnKind {
    /// Field 3.
    pub fn processing_code(self) -> &'static str {
        match self {
            TxnKind::Purchase => "000000",
            TxnKind::Cash => "010000",
            TxnKind::Balance => "310000",
        }
    }

    /// From the first two digits of field 3.
    pub fn from_processing_code(pc: &[u8]) -> Option<TxnKind> {
        match pc.get(..2)? {
            b"00" => Some(TxnKind::Purchase),
            b"01" => Some(TxnKind::Cash),
            b"31" => Some(TxnKind::Balance),
            _ => None,
        }
    }

    /// Name used in `--mix`.
    pub fn name(self) -> &'static str {
        match self {
            TxnKind::Purchase => "purchase",
            TxnKind::Cash => "cash",
            TxnKind::Balance => "balance",
        }
    }
}

/// Everything that identifies a request to its sender: the keys the acquirer
/// chose, as carried again in a reversal's field 90.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OriginalKey {
    /// Field 11.
    pub stan: u32,
    /// Field 7.
    pub transmission: [u8; 10],
    /// Field 32 (digits, without padding).
    pub acquirer: String,
}

impl OriginalKey {
    /// The key of a request message (fields 11, 7, 32).
    pub fn of_request(msg: &Message) -> Option<OriginalKey> {
        let f7 = msg.get(7)?.bytes();
        Some(OriginalKey {
            stan: msg.stan()?,
            transmission: f7.as_ref().try_into().ok()?,
            acquirer: msg.text(32)?.into_owned(),
        })
    }

    /// The key in a field 90 value: original MTI (4), STAN (6), transmission date
    /// and time (10), acquiring institution (11, zero-padded), forwarding institution (11).
    pub fn from_field90(f90: &[u8]) -> Option<OriginalKey> {
        if f90.len() != 42 || !f90.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let stan = std::str::from_utf8(&f90[4..10]).ok()?.parse().ok()?;
        let acquirer = std::str::from_utf8(&f90[20..31])
            .ok()?
            .trim_start_matches('0');
        Some(OriginalKey {
            stan,
            transmission: f90[10..20].try_into().ok()?,
            acquirer: if acquirer.is_empty() {
                "0".into()
            } else {
                acquirer.into()
            },
        })
    }
}

/// Field 90 for a reversal of `original`.
pub fn field90_for(original: &Message) -> Option<String> {
    let key = OriginalKey::of_request(original)?;
    let forwarding = original
        .text(33)
        .map(|s| s.into_owned())
        .unwrap_or_default();
    Some(format!(
        "{}{:06}{}{:0>11}{:0>11}",
        original.mti(),
        key.stan,
        std::str::from_utf8(&key.transmission).ok()?,
        key.acquirer,
        forwarding
    ))
}

/// What an acquirer puts in a request.
#[derive(Clone, Debug)]
pub struct RequestParams<'a> {
    /// 0100 or 0200.
    pub mti: Mti,
    /// The card.
    pub card: &'a Card,
    /// Purchase, cash or balance inquiry.
    pub kind: TxnKind,
    /// Amount in major units (zero for a balance inquiry).
    pub amount: Decimal,
    /// ISO numeric currency.
    pub currency: u16,
    /// Field 11.
    pub stan: u32,
    /// Field 37 (12 characters).
    pub rrn: &'a str,
    /// Field 32.
    pub acquirer: &'a str,
    /// Field 41 (8 characters).
    pub terminal: &'a str,
    /// Field 42 (15 characters).
    pub merchant: &'a str,
    /// Fields 7, 12, 13.
    pub when: DateTimeFields,
}

fn ascii(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

/// Minor units of `amount` in `currency`, as the 12 digits of field 4.
pub fn amount_field(amount: Decimal, currency: u16) -> String {
    let minor_units = codecs::currency::by_numeric(currency).map_or(2, |c| c.minor_units);
    let minor = (amount * Decimal::from(10u64.pow(minor_units))).trunc();
    format!("{:012}", minor.to_string().parse::<u64>().unwrap_or(0))
}

/// An authorization or financial request.
pub fn request(p: &RequestParams<'_>) -> Message {
    let mut m = Message::new(p.mti);
    m.set(2, p.card.pan_str());
    m.set(3, p.kind.processing_code());
    m.set(4, &amount_field(p.amount, p.currency));
    m.set(7, ascii(&p.when.transmission));
    m.set_stan(p.stan);
    m.set(12, ascii(&p.when.local_time));
    m.set(13, ascii(&p.when.local_date));
    m.set(14, ascii(&p.card.expiry));
    m.set(
        18,
        if p.kind == TxnKind::Cash {
            "6011"
        } else {
            "5411"
        },
    );
    m.set(22, "051");
    m.set(25, "00");
    m.set(32, p.acquirer);
    m.set(37, p.rrn);
    m.set(41, p.terminal);
    m.set(42, p.merchant);
    m.set(49, &format!("{:03}", p.currency));
    m
}

/// Fields a response echoes from its request.
const ECHOED: [u8; 16] = [2, 3, 4, 7, 11, 12, 13, 14, 32, 33, 37, 41, 42, 49, 90, 100];

/// The response to `req` with response code `rc` (MTI from the request's).
pub fn response_to(req: &Message, rc: ResponseCode) -> Message {
    let mti = req.mti().response().unwrap_or(req.mti());
    let mut m = Message::new(mti);
    for n in ECHOED {
        if let Some(f) = req.get(n) {
            m.copy_field(f);
        }
    }
    if let Some(f70) = req.text(70) {
        m.set(70, &f70);
    }
    m.set_response_code(rc.as_str());
    m
}

/// A reversal advice (0420) for `original`, with its own STAN and time.
pub fn reversal_for(original: &Message, stan: u32, when: &DateTimeFields) -> Option<Message> {
    let mut m = Message::new(Mti::REVERSAL_ADVICE);
    for n in [2u8, 3, 4, 32, 37, 41, 42, 49] {
        if let Some(v) = original.text(n) {
            m.set(n, &v);
        }
    }
    m.set(7, ascii(&when.transmission));
    m.set_stan(stan);
    m.set(39, "68");
    m.set(90, &field90_for(original)?);
    Some(m)
}

/// A network management request (0800) with field 70 = `code` (001 sign-on,
/// 002 sign-off, 301 echo).
pub fn network_request(code: &str, stan: u32, when: &DateTimeFields) -> Message {
    let mut m = Message::new(Mti::NETWORK_REQUEST);
    m.set(7, ascii(&when.transmission));
    m.set_stan(stan);
    m.set(70, code);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cards::{Card, CardStatus};
    use crate::clock::fields_at;
    use std::time::{Duration, UNIX_EPOCH};

    fn card() -> Card {
        Card {
            pan: *b"9408010000001238",
            expiry: *b"2912",
            status: CardStatus::Active,
            issuer: 0,
            product: 0,
            balances: vec![(408, Decimal::from(1000))],
            daily_cash_limit: Decimal::from(100),
        }
    }

    #[test]
    fn request_response_reversal_keys_agree() {
        let when = fields_at(UNIX_EPOCH + Duration::from_secs(1_795_602_600));
        let c = card();
        let req = request(&RequestParams {
            mti: Mti::new(b"0200").unwrap(),
            card: &c,
            kind: TxnKind::Cash,
            amount: Decimal::new(125050, 2),
            currency: 408,
            stan: 42,
            rrn: "000000000042",
            acquirer: "940857",
            terminal: "ATM00001",
            merchant: "BRANCH000000001",
            when,
        });
        assert_eq!(req.text(4).unwrap(), "000000125050");
        assert_eq!(req.text(3).unwrap(), "010000");
        let spec = codecs::Spec::builtin("iso87ascii").unwrap();
        spec.encode_to_bytes(&req).unwrap();
        let resp = response_to(&req, ResponseCode::APPROVED);
        assert_eq!(resp.mti().as_str(), "0210");
        assert_eq!(
            OriginalKey::of_request(&resp),
            OriginalKey::of_request(&req)
        );
        let rev = reversal_for(&req, 43, &when).unwrap();
        spec.encode_to_bytes(&rev).unwrap();
        let f90 = rev.get(90).unwrap().bytes();
        assert_eq!(
            OriginalKey::from_field90(&f90),
            OriginalKey::of_request(&req)
        );
        assert_eq!(&f90[..4], b"0200");
        let echo = network_request("301", 7, &when);
        assert_eq!(
            response_to(&echo, ResponseCode::APPROVED).text(70).unwrap(),
            "301"
        );
    }
}
