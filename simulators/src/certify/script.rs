//! Certification scripts: the named cases of a run, in the order the host's
//! team runs them, as JSON (`sim certify script acquirer|issuer` prints the
//! default ones to start from).
//!
//! - Toward an acquirer host ([`AcquirerScript`]): what the host sends in each
//!   case (`send`, `amount`, `then`) — its operator reads that — and what the
//!   tool answers (`answer`, `none` for no answer: a timeout the host must
//!   reverse, and repeat that reversal).
//! - Toward an issuer host ([`IssuerScript`]): what the tool sends (`send`,
//!   with a `card` of the bank's catalogue and an `amount`) and the response
//!   code it expects.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// What an acquirer host sends to open a case.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum HostSends {
    /// 0800, field 70 = 001.
    SignOn,
    /// 0800, field 70 = 301.
    Echo,
    /// 0200, processing code 00xxxx.
    Purchase,
    /// 0200, processing code 01xxxx.
    Cash,
    /// 0200 (or 0100), processing code 31xxxx.
    Balance,
    /// 0100, processing code 00xxxx.
    Authorization,
    /// 0220 (a completion the host approved itself, field 39 = 00).
    Advice,
}

/// What the acquirer host does after the answer.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Then {
    /// Reverse the transaction (0400 naming it in field 90), as when the
    /// customer cancels or the terminal fails to complete.
    Reverse,
}

/// One case toward an acquirer host.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AcquirerCase {
    /// Unique name, shown in the report.
    pub name: String,
    /// What the host sends.
    pub send: HostSends,
    /// Field 4 the host must send (minor units); unchecked when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<u64>,
    /// The response code the tool answers, or `none`: no answer at all (the
    /// host must time out and reverse; the tool leaves the first reversal
    /// unanswered too, and answers its repeat).
    #[serde(default = "approved")]
    pub answer: String,
    /// What the host does after the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<Then>,
}

fn approved() -> String {
    "00".into()
}

/// The word of [`AcquirerCase::answer`] that means "do not answer".
pub const NO_ANSWER: &str = "none";

impl AcquirerCase {
    /// Whether the tool withholds its answer (a timeout case).
    pub fn times_out(&self) -> bool {
        self.answer == NO_ANSWER
    }

    /// Whether a reversal must follow (a timeout or `then: reverse`).
    pub fn wants_reversal(&self) -> bool {
        self.times_out() || self.then == Some(Then::Reverse)
    }
}

/// The cases run toward an acquirer host.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AcquirerScript {
    /// In the order the host runs them.
    pub cases: Vec<AcquirerCase>,
}

/// What the tool sends to an issuer host in a case.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SwitchSends {
    /// 0800, field 70 = 001.
    SignOn,
    /// 0800, field 70 = 301.
    Echo,
    /// 0200 purchase.
    Purchase,
    /// 0200 cash withdrawal.
    Cash,
    /// 0200 balance inquiry (field 54 expected in an approval).
    Balance,
    /// 0100 purchase authorization.
    Authorization,
    /// 0220 advice of an approval (the switch stood in).
    Advice,
    /// A 0200 purchase, then a 0400 reversal naming it.
    Reversal,
    /// A 0200 purchase, then a 0420 reversal advice naming it.
    ReversalAdvice,
    /// A 0200 purchase, a 0420 naming it, then the same again as 0421.
    ReversalRepeat,
    /// A 0200 purchase, then the very same message again.
    Duplicate,
}

/// Which card of the catalogue a case uses.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CardPick {
    /// An active card not used by an earlier case.
    #[default]
    Active,
    /// A blocked card.
    Blocked,
    /// An expired card.
    Expired,
    /// A PAN of the bank's BIN ranges that is not in the catalogue.
    Unknown,
}

/// The amount of an issuer case.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(untagged)]
pub enum AmountPick {
    /// Minor units of the card's home currency.
    Minor(u64),
    /// A word: `over-balance` or `over-cash-limit` (from the catalogue).
    Word(AmountWord),
}

/// Amounts the catalogue decides.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AmountWord {
    /// One major unit more than the card's balance.
    OverBalance,
    /// One major unit more than the card's daily cash limit (within its balance).
    OverCashLimit,
}

impl Default for AmountPick {
    fn default() -> Self {
        AmountPick::Minor(1_000)
    }
}

/// One case toward an issuer host.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IssuerCase {
    /// Unique name, shown in the report.
    pub name: String,
    /// What the tool sends.
    pub send: SwitchSends,
    /// The card.
    #[serde(default)]
    pub card: CardPick,
    /// The amount.
    #[serde(default)]
    pub amount: AmountPick,
    /// The response code expected (of the last message of the case).
    #[serde(default = "approved")]
    pub expect: String,
}

/// The cases run toward an issuer host.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IssuerScript {
    /// In the order they are sent.
    pub cases: Vec<IssuerCase>,
}

/// A case without `then`.
pub(crate) fn acquirer_case(
    name: &str,
    send: HostSends,
    amount: Option<u64>,
    answer: &str,
) -> AcquirerCase {
    AcquirerCase {
        name: name.into(),
        send,
        amount,
        answer: answer.into(),
        then: None,
    }
}

impl Default for AcquirerScript {
    /// Sign-on, echo, approvals and a decline of each kind, a cancellation, a
    /// timeout and an advice.
    fn default() -> Self {
        use HostSends as S;
        let mut cancel = acquirer_case("purchase-cancelled", S::Purchase, Some(140_000), "00");
        cancel.then = Some(Then::Reverse);
        AcquirerScript {
            cases: vec![
                acquirer_case("sign-on", S::SignOn, None, "00"),
                acquirer_case("echo", S::Echo, None, "00"),
                acquirer_case("purchase-approved", S::Purchase, Some(120_000), "00"),
                acquirer_case("purchase-declined-51", S::Purchase, Some(130_000), "51"),
                acquirer_case("cash-approved", S::Cash, Some(500_000), "00"),
                acquirer_case("balance-inquiry", S::Balance, None, "00"),
                acquirer_case(
                    "authorization-approved",
                    S::Authorization,
                    Some(110_000),
                    "00",
                ),
                cancel,
                acquirer_case("purchase-timeout", S::Purchase, Some(150_000), NO_ANSWER),
                acquirer_case("advice", S::Advice, Some(160_000), "00"),
            ],
        }
    }
}

fn issuer_case(
    name: &str,
    send: SwitchSends,
    card: CardPick,
    amount: AmountPick,
    expect: &str,
) -> IssuerCase {
    IssuerCase {
        name: name.into(),
        send,
        card,
        amount,
        expect: expect.into(),
    }
}

impl Default for IssuerScript {
    /// Sign-on, echo, approvals, each decline the catalogue can produce,
    /// reversals (request, advice, repeat), an advice and a duplicate.
    fn default() -> Self {
        use AmountPick::{Minor, Word};
        use CardPick::*;
        use SwitchSends as S;
        let small = Minor(1_000);
        IssuerScript {
            cases: vec![
                issuer_case("sign-on", S::SignOn, Active, small, "00"),
                issuer_case("echo", S::Echo, Active, small, "00"),
                issuer_case("purchase-approved", S::Purchase, Active, small, "00"),
                issuer_case("cash-approved", S::Cash, Active, small, "00"),
                issuer_case("balance-inquiry", S::Balance, Active, Minor(0), "00"),
                issuer_case(
                    "authorization-approved",
                    S::Authorization,
                    Active,
                    small,
                    "00",
                ),
                issuer_case(
                    "insufficient-funds",
                    S::Purchase,
                    Active,
                    Word(AmountWord::OverBalance),
                    "51",
                ),
                issuer_case(
                    "cash-over-daily-limit",
                    S::Cash,
                    Active,
                    Word(AmountWord::OverCashLimit),
                    "61",
                ),
                issuer_case("blocked-card", S::Purchase, Blocked, small, "62"),
                issuer_case("expired-card", S::Purchase, Expired, small, "54"),
                issuer_case("unknown-card", S::Purchase, Unknown, small, "14"),
                issuer_case("reversal", S::Reversal, Active, small, "00"),
                issuer_case("reversal-advice", S::ReversalAdvice, Active, small, "00"),
                issuer_case("reversal-repeat", S::ReversalRepeat, Active, small, "00"),
                issuer_case("advice", S::Advice, Active, small, "00"),
                issuer_case("duplicate", S::Duplicate, Active, small, "94"),
            ],
        }
    }
}

/// Read a script (`default`: the built-in one).
pub fn load<T: Default + for<'de> Deserialize<'de>>(name: &str) -> Result<T, String> {
    if name == "default" {
        return Ok(T::default());
    }
    let text = std::fs::read_to_string(Path::new(name))
        .map_err(|e| format!("cannot read the script {name}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("script {name}: {e}"))
}

/// Names unique and non-empty, codes two characters: the first problem found.
pub fn check_names<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let mut seen = HashSet::new();
    for name in names {
        if name.is_empty() || !seen.insert(name) {
            return Err(format!("case name {name:?} is empty or used twice"));
        }
    }
    Ok(())
}

impl AcquirerScript {
    /// Check names and answers.
    pub fn check(&self) -> Result<(), String> {
        check_names(self.cases.iter().map(|c| c.name.as_str()))?;
        for c in &self.cases {
            if !c.times_out() && codecs::ResponseCode::new(&c.answer).is_none() {
                return Err(format!(
                    "case {}: answer {:?} is not a response code or none",
                    c.name, c.answer
                ));
            }
        }
        Ok(())
    }
}

impl IssuerScript {
    /// Check names and expected codes.
    pub fn check(&self) -> Result<(), String> {
        check_names(self.cases.iter().map(|c| c.name.as_str()))?;
        for c in &self.cases {
            if codecs::ResponseCode::new(&c.expect).is_none() {
                return Err(format!(
                    "case {}: expect {:?} is not a response code",
                    c.name, c.expect
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scripts_round_trip_through_json_and_check() {
        let a = AcquirerScript::default();
        a.check().unwrap();
        let text = serde_json::to_string_pretty(&a).unwrap();
        assert_eq!(serde_json::from_str::<AcquirerScript>(&text).unwrap(), a);
        assert!(text.contains("\"answer\": \"none\"") && text.contains("\"then\": \"reverse\""));
        let i = IssuerScript::default();
        i.check().unwrap();
        let text = serde_json::to_string(&i).unwrap();
        assert_eq!(serde_json::from_str::<IssuerScript>(&text).unwrap(), i);
        assert!(text.contains("\"over-balance\""));
    }

    #[test]
    fn bad_scripts_are_refused() {
        let two = r#"{"cases":[{"name":"a","send":"echo"},{"name":"a","send":"echo"}]}"#;
        assert!(serde_json::from_str::<AcquirerScript>(two)
            .unwrap()
            .check()
            .is_err());
        let bad = r#"{"cases":[{"name":"a","send":"purchase","answer":"000"}]}"#;
        assert!(serde_json::from_str::<AcquirerScript>(bad)
            .unwrap()
            .check()
            .is_err());
        assert!(serde_json::from_str::<AcquirerScript>(
            r#"{"cases":[{"name":"a","send":"refund"}]}"#
        )
        .is_err());
        assert!(serde_json::from_str::<IssuerScript>(
            r#"{"cases":[{"name":"a","send":"echo","colour":1}]}"#
        )
        .is_err());
    }
}
