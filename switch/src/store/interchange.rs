//! Interchange: the fee one bank pays the other on each approved financial
//! transaction, settled with it. Configured as a schedule of entries, the first
//! that matches a transaction applying:
//!
//! ```toml
//! [[settlement.interchange]]
//! transaction = "purchase"   # purchase (processing code 00), cash (01) or any (default)
//! currency = 408             # only this currency (default: any)
//! percent = "0.50"           # of the amount (default 0)
//! fixed = "0.00"             # per transaction, in the currency's major units (default 0)
//! paid_by = "acquirer"       # the acquirer pays the issuer (purchases: the default);
//!                            # "issuer": the issuer pays the acquirer (ATM cash)
//! ```
//!
//! Each fee is rounded to the currency's minor units (half away from zero); a
//! reversed transaction's fee is reversed with it. Without a schedule there are no
//! fees.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;

/// Who pays the fee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payer {
    /// The acquirer pays the issuer.
    Acquirer,
    /// The issuer pays the acquirer.
    Issuer,
}

/// One entry of the schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterchangeEntry {
    /// The processing code's transaction type (first two digits) it applies to;
    /// None: any.
    pub transaction: Option<&'static str>,
    /// The currency it applies to; None: any.
    pub currency: Option<u16>,
    /// Percent of the amount.
    pub percent: Decimal,
    /// Fixed part per transaction, major units.
    pub fixed: Decimal,
    /// Who pays.
    pub paid_by: Payer,
}

/// The schedule (empty: no fees).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interchange {
    /// First match applies.
    pub entries: Vec<InterchangeEntry>,
}

/// `[[settlement.interchange]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInterchange {
    transaction: Option<String>,
    currency: Option<u16>,
    percent: Option<String>,
    fixed: Option<String>,
    paid_by: Option<String>,
}

impl Interchange {
    /// The schedule from its entries as written; each problem names the entry.
    pub(crate) fn from_raw(raw: &[RawInterchange], problem: &mut dyn FnMut(String)) -> Interchange {
        let mut entries = Vec::new();
        for (i, r) in raw.iter().enumerate() {
            let at = format!("interchange entry {}", i + 1);
            let transaction = match r.transaction.as_deref().unwrap_or("any") {
                "any" => None,
                "purchase" => Some("00"),
                "cash" => Some("01"),
                other => {
                    problem(format!(
                        "{at}: transaction {other:?} (expected purchase, cash or any)"
                    ));
                    continue;
                }
            };
            if let Some(c) = r
                .currency
                .filter(|c| codecs::currency::by_numeric(*c).is_none())
            {
                problem(format!(
                    "{at}: currency {c:03} is not an ISO 4217 numeric code"
                ));
                continue;
            }
            let decimal = |text: &Option<String>| match text.as_deref().map(str::parse::<Decimal>) {
                None => Some(Decimal::ZERO),
                Some(Ok(d)) if !d.is_sign_negative() => Some(d),
                Some(_) => None,
            };
            let (Some(percent), Some(fixed)) = (decimal(&r.percent), decimal(&r.fixed)) else {
                problem(format!(
                    "{at}: percent and fixed must be non-negative decimals written as strings (\"0.50\")"
                ));
                continue;
            };
            let paid_by = match r.paid_by.as_deref().unwrap_or("acquirer") {
                "acquirer" => Payer::Acquirer,
                "issuer" => Payer::Issuer,
                other => {
                    problem(format!(
                        "{at}: paid_by {other:?} (expected acquirer or issuer)"
                    ));
                    continue;
                }
            };
            entries.push(InterchangeEntry {
                transaction,
                currency: r.currency,
                percent,
                fixed,
                paid_by,
            });
        }
        Interchange { entries }
    }

    /// The fee on one transaction, signed: positive when the acquirer pays the
    /// issuer, negative when the issuer pays the acquirer; zero when no entry
    /// applies. `processing_code` may be unknown (a journal from before it was
    /// recorded): then only entries for any transaction apply.
    pub fn fee(&self, processing_code: Option<&str>, currency: u16, amount: Decimal) -> Decimal {
        let kind = processing_code.and_then(|pc| pc.get(..2));
        let Some(entry) = self.entries.iter().find(|e| {
            e.transaction.is_none_or(|t| kind == Some(t))
                && e.currency.is_none_or(|c| c == currency)
        }) else {
            return Decimal::ZERO;
        };
        let minor = codecs::currency::by_numeric(currency).map_or(2, |c| c.minor_units);
        let fee = (entry.fixed + amount * entry.percent / Decimal::ONE_HUNDRED)
            .round_dp_with_strategy(minor, RoundingStrategy::MidpointAwayFromZero);
        match entry.paid_by {
            Payer::Acquirer => fee,
            Payer::Issuer => -fee,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn schedule(text: &str) -> (Interchange, Vec<String>) {
        #[derive(Deserialize)]
        struct File {
            interchange: Vec<RawInterchange>,
        }
        let file: File = toml::from_str(text).unwrap();
        let mut problems = Vec::new();
        let s = Interchange::from_raw(&file.interchange, &mut |p| problems.push(p));
        (s, problems)
    }

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn the_first_matching_entry_applies_rounded_to_minor_units() {
        let (s, problems) = schedule(
            r#"
[[interchange]]
transaction = "cash"
fixed = "1.00"
paid_by = "issuer"
[[interchange]]
transaction = "purchase"
currency = 840
percent = "1.5"
[[interchange]]
transaction = "purchase"
percent = "0.5"
fixed = "0.10"
"#,
        );
        assert!(problems.is_empty(), "{problems:?}");
        // Cash: the issuer pays the acquirer a fixed fee.
        assert_eq!(s.fee(Some("011000"), 408, d("5000")), d("-1.00"));
        // Purchases in dollars: 1.5 %, to the cent (half away from zero).
        assert_eq!(s.fee(Some("000000"), 840, d("10.01")), d("0.15"));
        assert_eq!(s.fee(Some("000000"), 840, d("10.03")), d("0.15"));
        assert_eq!(s.fee(Some("000000"), 840, d("10.10")), d("0.15"));
        assert_eq!(s.fee(Some("000000"), 840, d("10.30")), d("0.15"));
        assert_eq!(s.fee(Some("000000"), 840, d("10.34")), d("0.16"));
        // Other purchases: 0.5 % + 0.10.
        assert_eq!(s.fee(Some("000000"), 408, d("1000.00")), d("5.10"));
        // Balance inquiries and unknown types pay nothing here.
        assert_eq!(s.fee(Some("310000"), 408, d("0")), Decimal::ZERO);
        assert_eq!(s.fee(None, 408, d("100")), Decimal::ZERO);
        // Yen have no minor unit: 6.17 + 0.10 is 6.
        assert_eq!(s.fee(Some("000000"), 392, d("1234")), d("6"));
        assert_eq!(
            Interchange::default().fee(Some("000000"), 408, d("99")),
            Decimal::ZERO
        );
    }

    #[test]
    fn bad_entries_are_reported_by_position() {
        let (s, problems) = schedule(
            r#"
[[interchange]]
transaction = "transfer"
[[interchange]]
percent = "-1"
[[interchange]]
paid_by = "merchant"
[[interchange]]
currency = 999
"#,
        );
        assert!(s.entries.is_empty());
        assert_eq!(problems.len(), 4, "{problems:?}");
        for (i, p) in problems.iter().enumerate() {
            assert!(
                p.starts_with(&format!("interchange entry {}:", i + 1)),
                "{p}"
            );
        }
    }
}
