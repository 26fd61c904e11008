//! What certification checks in one message: mandatory fields, field formats
//! beyond what the codec already enforces (Luhn, dates and times, currency),
//! STAN and RRN uniqueness over the run, field 90 naming the original, and
//! the fields an answer must echo. Each check returns findings as text that
//! names fields and numbers, never a field's value when it may be card data.

use std::collections::HashMap;

use codecs::luhn::luhn_valid;
use codecs::Message;

use crate::messages::OriginalKey;

/// Fields an acquirer's 0100/0200 must carry.
pub const REQUEST_FIELDS: &[u8] = &[2, 3, 4, 7, 11, 12, 13, 22, 32, 37, 41, 42, 49];
/// Fields an acquirer's 0220 must carry (39: what the host decided).
pub const ADVICE_FIELDS: &[u8] = &[2, 3, 4, 7, 11, 32, 37, 39, 41, 49];
/// Fields a reversal must carry (90 is checked apart: it names the original).
pub const REVERSAL_FIELDS: &[u8] = &[2, 3, 4, 7, 11, 32, 49];
/// Fields a network management request must carry.
pub const NETWORK_FIELDS: &[u8] = &[7, 11, 70];
/// Fields an issuer's answer to a transaction must echo unchanged (when sent).
pub const ECHOED_FIELDS: &[u8] = &[2, 3, 4, 7, 11, 32, 37, 41, 49];

/// "fields 12, 13 missing" when some of `fields` are absent.
pub fn missing(msg: &Message, fields: &[u8]) -> Option<String> {
    let absent: Vec<String> = fields
        .iter()
        .filter(|&&n| !msg.has(n))
        .map(u8::to_string)
        .collect();
    match absent.len() {
        0 => None,
        1 => Some(format!("field {} missing", absent[0])),
        _ => Some(format!("fields {} missing", absent.join(", "))),
    }
}

fn digits(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit())
}

fn in_range(text: &str, at: usize, low: u32, high: u32) -> bool {
    text.get(at..at + 2)
        .and_then(|t| t.parse::<u32>().ok())
        .is_some_and(|v| (low..=high).contains(&v))
}

/// Formats the codec does not check: PAN length and Luhn, processing code,
/// dates and times, amount and currency, RRN length.
pub fn format_problems(msg: &Message) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(pan) = msg.get(2) {
        let pan = pan.bytes();
        if !(12..=19).contains(&pan.len()) || !pan.iter().all(u8::is_ascii_digit) {
            out.push("field 2 is not 12 to 19 digits".into());
        } else if !luhn_valid(&pan) {
            out.push("field 2 fails the Luhn check".into());
        }
    }
    let text = |n| msg.text(n).map(|t| t.into_owned());
    if let Some(pc) = text(3) {
        if !digits(&pc, 6) {
            out.push("field 3 is not 6 digits".into());
        }
    }
    if let Some(t) = text(7) {
        if !(digits(&t, 10)
            && in_range(&t, 0, 1, 12)
            && in_range(&t, 2, 1, 31)
            && in_range(&t, 4, 0, 23)
            && in_range(&t, 6, 0, 59)
            && in_range(&t, 8, 0, 59))
        {
            out.push("field 7 is not MMDDhhmmss".into());
        }
    }
    if let Some(t) = text(12) {
        if !(digits(&t, 6)
            && in_range(&t, 0, 0, 23)
            && in_range(&t, 2, 0, 59)
            && in_range(&t, 4, 0, 59))
        {
            out.push("field 12 is not hhmmss".into());
        }
    }
    if let Some(t) = text(13) {
        if !(digits(&t, 4) && in_range(&t, 0, 1, 12) && in_range(&t, 2, 1, 31)) {
            out.push("field 13 is not MMDD".into());
        }
    }
    if msg.has(4) && msg.amount().is_err() {
        out.push("field 4 is not an amount of 12 digits".into());
    }
    if msg.has(49) && msg.currency().is_err() {
        out.push("field 49 is not a known ISO 4217 currency".into());
    }
    if let Some(rrn) = text(37) {
        if rrn.len() != 12 {
            out.push("field 37 is not 12 characters".into());
        }
    }
    out
}

/// The STANs and RRNs a run has seen, and the case that used each first.
#[derive(Debug, Default)]
pub struct Uniqueness {
    stans: HashMap<u32, String>,
    rrns: HashMap<String, String>,
}

impl Uniqueness {
    /// Record `msg`'s STAN (and RRN unless `rrn` is false: a reversal carries
    /// its original's) for case `case`; a finding if another case used one.
    pub fn record(&mut self, msg: &Message, case: &str, rrn: bool) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(stan) = msg.stan() {
            if let Some(first) = self.stans.insert(stan, case.to_string()) {
                out.push(format!("STAN {stan:06} already used (case {first})"));
            }
        }
        if let (true, Some(r)) = (rrn, msg.text(37)) {
            if let Some(first) = self.rrns.insert(r.to_string(), case.to_string()) {
                out.push(format!("RRN {r} already used (case {first})"));
            }
        }
        out
    }
}

/// Whether field 90 of `reversal` names `original` (its MTI, STAN, field 7 and
/// field 32); the finding otherwise.
pub fn field90_problem(reversal: &Message, original: &Message) -> Option<String> {
    let Some(f90) = reversal.get(90).map(|f| f.bytes().into_owned()) else {
        return Some("field 90 missing: the reversal does not name its original".into());
    };
    let Some(named) = OriginalKey::from_field90(&f90) else {
        return Some("field 90 is not 42 digits of original data elements".into());
    };
    let mut wrong = Vec::new();
    if f90.get(..4) != Some(original.mti().as_bytes().as_slice()) {
        wrong.push("MTI");
    }
    match OriginalKey::of_request(original) {
        Some(key) => {
            if key.stan != named.stan {
                wrong.push("STAN");
            }
            if key.transmission != named.transmission {
                wrong.push("transmission time");
            }
            if key.acquirer.trim_start_matches('0') != named.acquirer.trim_start_matches('0') {
                wrong.push("acquirer");
            }
        }
        None => wrong.push("keys"),
    }
    (!wrong.is_empty()).then(|| {
        format!(
            "field 90 does not name the original ({} differ)",
            wrong.join(", ")
        )
    })
}

/// Fields of `request` that `answer` leaves out or changes.
pub fn echo_problems(request: &Message, answer: &Message, fields: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for &n in fields {
        let Some(sent) = request.get(n) else { continue };
        match answer.get(n) {
            None => out.push(format!("field {n} not echoed")),
            Some(got) if got.bytes() != sent.bytes() => {
                out.push(format!("field {n} echoed with another value"));
            }
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::now_fields;
    use crate::messages::{response_to, reversal_for};
    use codecs::{Mti, ResponseCode};

    fn purchase(stan: u32, rrn: &str) -> Message {
        let when = now_fields();
        let mut m = Message::new(Mti::FINANCIAL_REQUEST);
        m.set(2, "9408010000001238");
        m.set(3, "000000");
        m.set(4, "000000001000");
        m.set(7, std::str::from_utf8(&when.transmission).unwrap());
        m.set_stan(stan);
        m.set(12, "101500");
        m.set(13, "1125");
        m.set(22, "051");
        m.set(32, "940857");
        m.set(37, rrn);
        m.set(41, "TERM0001");
        m.set(42, "MERCHANT0000001");
        m.set(49, "408");
        m
    }

    #[test]
    fn a_good_request_has_no_findings_and_bad_ones_are_named() {
        let good = purchase(1, "000000000001");
        assert_eq!(missing(&good, REQUEST_FIELDS), None);
        assert!(
            format_problems(&good).is_empty(),
            "{:?}",
            format_problems(&good)
        );
        let mut bad = good.clone();
        bad.remove(12);
        bad.remove(37);
        assert_eq!(
            missing(&bad, REQUEST_FIELDS).unwrap(),
            "fields 12, 37 missing"
        );
        bad.set(2, "9408010000001239");
        bad.set(13, "1332");
        let found = format_problems(&bad);
        assert!(
            found.contains(&"field 2 fails the Luhn check".to_string()),
            "{found:?}"
        );
        assert!(
            found.contains(&"field 13 is not MMDD".to_string()),
            "{found:?}"
        );
        assert!(
            !found.iter().any(|f| f.contains("940801")),
            "no PAN in findings"
        );
    }

    #[test]
    fn stans_and_rrns_are_unique_and_field_90_names_the_original() {
        let mut u = Uniqueness::default();
        let a = purchase(1, "000000000001");
        assert!(u.record(&a, "first", true).is_empty());
        let b = purchase(1, "000000000001");
        let found = u.record(&b, "second", true);
        assert_eq!(
            found,
            [
                "STAN 000001 already used (case first)",
                "RRN 000000000001 already used (case first)"
            ]
        );
        let rev = reversal_for(&a, 2, &now_fields()).unwrap();
        assert_eq!(field90_problem(&rev, &a), None);
        let other = purchase(5, "000000000005");
        assert!(field90_problem(&rev, &other).unwrap().contains("STAN"));
        let mut without = rev.clone();
        without.remove(90);
        assert!(field90_problem(&without, &a)
            .unwrap()
            .starts_with("field 90 missing"));
    }

    #[test]
    fn echoes_are_compared() {
        let req = purchase(1, "000000000001");
        let mut answer = response_to(&req, ResponseCode::APPROVED);
        assert!(echo_problems(&req, &answer, ECHOED_FIELDS).is_empty());
        answer.remove(37);
        answer.set(4, "000000000002");
        assert_eq!(
            echo_problems(&req, &answer, ECHOED_FIELDS),
            ["field 4 echoed with another value", "field 37 not echoed"]
        );
    }
}
