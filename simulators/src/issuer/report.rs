//! The issuer's running totals and their JSON report:
//!
//! ```json
//! {"approved":{"940857":{"count":2,"amount":"1250.00"}},
//!  "reversed":{"count":1,"amount":"250.00"},
//!  "declined":{"51":1},
//!  "token_payments":{"approved":1,"amount":"250.00","by_app":{"94000000001":1}},
//!  "account_verifications":{"85":3,"62":1},
//!  "stand_in":{"advices":3,"repeats":1,"approved":{"count":1,"amount":"250.00"},
//!              "declined":{"61":1,"65":1},"not_posted":0,
//!              "reversed":{"count":0,"amount":"0.00"}}}
//! ```
//!
//! - `approved`: every approval, gross, by acquiring institution (field 32),
//!   including stand-in approvals the issuer learns of by advice (the acquirer saw
//!   those approved too);
//! - `reversed`: every reversal actually applied (repeats and reversals of unknown
//!   or declined originals are not counted);
//! - `declined`: answers other than 00 to authorization and financial requests, by
//!   response code;
//! - `token_payments`: the approvals (also counted in `approved`) of payments
//!   whose field 48 names a token, with their amount and their count by app
//!   (token requestor id);
//! - `account_verifications`: answers to the switch's account verifications (an
//!   app enrolling a card), by response code; not transactions, so in neither
//!   `approved` nor `declined`.
//! - `stand_in`: the advices of decisions the switch took in stand-in (marked by
//!   the stand-in indicator), apart from the issuer's own answers: `advices`
//!   received (each once; `repeats` the 0121/0221 and copies seen again),
//!   `approved` the approvals posted (also in `approved` above: the acquirer saw
//!   them approved), `declined` the declines advised by code (not in `declined`
//!   above, which holds the issuer's own), `not_posted` the approvals that could
//!   not be posted (unknown card or currency, or reversed before they arrived),
//!   `reversed` the stand-in approvals reversed (also in `reversed` above).
//!
//! So `approved - reversed` is the net the acquirers should see. Amounts are the
//! sum of transaction amounts in major units of their currencies, written as decimal
//! strings with at least two decimals. The file is replaced atomically (written to a
//! temporary file beside it, then renamed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use codecs::ResponseCode;
use dashmap::DashMap;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// A count and an amount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// How many.
    pub count: u64,
    /// Their amounts added, major units.
    pub amount: Decimal,
}

impl Tally {
    fn add(&mut self, amount: Decimal) {
        self.count += 1;
        self.amount += amount;
    }

    fn to_json(self) -> Value {
        let mut m = Map::new();
        m.insert("count".into(), self.count.into());
        m.insert("amount".into(), amount_text(self.amount).into());
        Value::Object(m)
    }
}

/// `amount` with at least two decimals: `1250` → `"1250.00"`, `0` → `"0.00"`.
pub fn amount_text(amount: Decimal) -> String {
    let mut a = amount;
    if a.scale() < 2 {
        a.rescale(2);
    }
    a.to_string()
}

/// Totals shared by every connection. Each update takes one short lock (a
/// `DashMap` shard or the reversal tally).
#[derive(Debug, Default)]
pub struct Totals {
    approved: DashMap<String, Tally>,
    reversed: Mutex<Tally>,
    reversed_by_acquirer: DashMap<String, Tally>,
    reversal_repeats: std::sync::atomic::AtomicU64,
    declined: DashMap<ResponseCode, u64>,
    token_payments: Mutex<Tally>,
    token_by_app: DashMap<String, u64>,
    verifications: DashMap<ResponseCode, u64>,
    stand_in: StandInTotals,
}

/// The stand-in advices' figures (see the module doc). Advices are rare next to
/// requests: one mutex is enough.
#[derive(Debug, Default)]
pub struct StandInTotals(Mutex<StandInSnapshot>);

impl StandInTotals {
    fn with(&self, change: impl FnOnce(&mut StandInSnapshot)) {
        change(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// A new advice whose approval was posted.
    pub fn approved(&self, amount: Decimal) {
        self.with(|s| {
            s.advices += 1;
            s.approved.add(amount);
        });
    }

    /// A new advice of a decline.
    pub fn declined(&self, rc: ResponseCode) {
        self.with(|s| {
            s.advices += 1;
            *s.declined.entry(rc.as_str().to_string()).or_default() += 1;
        });
    }

    /// A new advice of an approval that could not be posted.
    pub fn not_posted(&self) {
        self.with(|s| {
            s.advices += 1;
            s.not_posted += 1;
        });
    }

    /// An advice seen before.
    pub fn repeat(&self) {
        self.with(|s| s.repeats += 1);
    }

    /// A posted stand-in approval reversed.
    pub fn reversed(&self, amount: Decimal) {
        self.with(|s| s.reversed.add(amount));
    }

    fn snapshot(&self) -> StandInSnapshot {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The stand-in figures at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StandInSnapshot {
    /// Distinct stand-in advices received.
    pub advices: u64,
    /// Advices received again (repeats, or copies whose acknowledgement was lost).
    pub repeats: u64,
    /// Approvals posted (forced posts).
    pub approved: Tally,
    /// Declines advised, by response code.
    pub declined: BTreeMap<String, u64>,
    /// Approvals that could not be posted.
    pub not_posted: u64,
    /// Posted stand-in approvals since reversed.
    pub reversed: Tally,
}

impl StandInSnapshot {
    /// The report object.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("advices".into(), self.advices.into());
        m.insert("repeats".into(), self.repeats.into());
        m.insert("approved".into(), self.approved.to_json());
        m.insert("declined".into(), counts_json(&self.declined));
        m.insert("not_posted".into(), self.not_posted.into());
        m.insert("reversed".into(), self.reversed.to_json());
        Value::Object(m)
    }

    /// One line for the text report.
    pub fn summary(&self) -> String {
        let declined = self.declined.values().sum::<u64>();
        let mut by_code: Vec<String> = self
            .declined
            .iter()
            .map(|(rc, n)| format!("{rc}: {n}"))
            .collect();
        if by_code.is_empty() {
            by_code.push("none".into());
        }
        format!(
            "stand-in advices {} (repeats {}): approvals posted {} ({}), declines {} ({}), not posted {}, reversed {} ({})",
            self.advices,
            self.repeats,
            self.approved.count,
            amount_text(self.approved.amount),
            declined,
            by_code.join(", "),
            self.not_posted,
            self.reversed.count,
            amount_text(self.reversed.amount),
        )
    }
}

impl Totals {
    /// The stand-in advices' figures.
    pub fn stand_in(&self) -> &StandInTotals {
        &self.stand_in
    }

    /// Count an approved token payment (already counted by [`Totals::approved`])
    /// for the app with requestor id `app`.
    pub fn token_approved(&self, app: &str, amount: Decimal) {
        self.token_payments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(amount);
        if let Some(mut n) = self.token_by_app.get_mut(app) {
            *n += 1;
            return;
        }
        *self.token_by_app.entry(app.to_string()).or_default() += 1;
    }

    /// Count the answer to an account verification.
    pub fn verified(&self, rc: ResponseCode) {
        *self.verifications.entry(rc).or_default() += 1;
    }

    /// Count an approval of `amount` for the acquirer `acquirer` (field 32).
    pub fn approved(&self, acquirer: &str, amount: Decimal) {
        // Look up by &str first: no allocation once the acquirer is known.
        if let Some(mut t) = self.approved.get_mut(acquirer) {
            t.add(amount);
            return;
        }
        self.approved
            .entry(acquirer.to_string())
            .or_default()
            .add(amount);
    }

    /// Count a reversal that was applied, sent by acquirer `acquirer` (field 32).
    pub fn reversed(&self, acquirer: &str, amount: Decimal) {
        self.reversed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(amount);
        self.reversed_by_acquirer
            .entry(acquirer.to_string())
            .or_default()
            .add(amount);
    }

    /// Count a reversal of an original already reversed (acknowledged, not
    /// applied again): a repeat, e.g. the acquirer's and a switch node's.
    pub fn reversal_repeat(&self) {
        self.reversal_repeats
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Count a decline.
    pub fn declined(&self, rc: ResponseCode) {
        *self.declined.entry(rc).or_default() += 1;
    }

    /// A consistent-enough copy for reporting (each part is read under its lock).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            approved: self
                .approved
                .iter()
                .map(|e| (e.key().clone(), *e.value()))
                .collect(),
            reversed: *self.reversed.lock().unwrap_or_else(|p| p.into_inner()),
            reversed_by_acquirer: self
                .reversed_by_acquirer
                .iter()
                .map(|e| (e.key().clone(), *e.value()))
                .collect(),
            reversal_repeats: self
                .reversal_repeats
                .load(std::sync::atomic::Ordering::Relaxed),
            declined: self
                .declined
                .iter()
                .map(|e| (e.key().as_str().to_string(), *e.value()))
                .collect(),
            token_payments: *self
                .token_payments
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
            token_by_app: self
                .token_by_app
                .iter()
                .map(|e| (e.key().clone(), *e.value()))
                .collect(),
            account_verifications: self
                .verifications
                .iter()
                .map(|e| (e.key().as_str().to_string(), *e.value()))
                .collect(),
            stand_in: self.stand_in.snapshot(),
        }
    }
}

/// The totals at one moment, in report order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Approvals by acquirer id.
    pub approved: BTreeMap<String, Tally>,
    /// Reversals applied.
    pub reversed: Tally,
    /// Reversals applied, by the acquirer that sent them (field 32).
    pub reversed_by_acquirer: BTreeMap<String, Tally>,
    /// Reversals of an original already reversed: acknowledged, not applied.
    pub reversal_repeats: u64,
    /// Declines by response code.
    pub declined: BTreeMap<String, u64>,
    /// Approved token payments (a part of `approved`).
    pub token_payments: Tally,
    /// Approved token payments by app (token requestor id).
    pub token_by_app: BTreeMap<String, u64>,
    /// Account verifications answered, by response code.
    pub account_verifications: BTreeMap<String, u64>,
    /// Stand-in advices.
    pub stand_in: StandInSnapshot,
}

impl Snapshot {
    /// The report object.
    pub fn to_json(&self) -> Value {
        let approved: Map<String, Value> = self
            .approved
            .iter()
            .map(|(acq, t)| (acq.clone(), t.to_json()))
            .collect();
        let mut m = Map::new();
        m.insert("approved".into(), Value::Object(approved));
        m.insert("reversed".into(), self.reversed.to_json());
        m.insert("declined".into(), counts_json(&self.declined));
        let mut token = Map::new();
        token.insert("approved".into(), self.token_payments.count.into());
        token.insert(
            "amount".into(),
            amount_text(self.token_payments.amount).into(),
        );
        token.insert("by_app".into(), counts_json(&self.token_by_app));
        m.insert("token_payments".into(), Value::Object(token));
        m.insert(
            "account_verifications".into(),
            counts_json(&self.account_verifications),
        );
        m.insert("stand_in".into(), self.stand_in.to_json());
        Value::Object(m)
    }

    /// Approvals over all acquirers.
    pub fn approved_total(&self) -> Tally {
        self.approved.values().fold(Tally::default(), |mut acc, t| {
            acc.count += t.count;
            acc.amount += t.amount;
            acc
        })
    }

    /// Declines over all codes.
    pub fn declined_total(&self) -> u64 {
        self.declined.values().sum()
    }
}

/// `{"key": count, ...}` in key order.
fn counts_json(counts: &BTreeMap<String, u64>) -> Value {
    Value::Object(
        counts
            .iter()
            .map(|(k, n)| (k.clone(), Value::from(*n)))
            .collect(),
    )
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_owned()).unwrap_or_default();
    name.push(format!(".tmp.{}", std::process::id()));
    path.with_file_name(name)
}

/// Write `text` to `path` so that readers see the old file or the new one, never
/// a part: write a temporary file in the same directory, then rename it.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = temp_path(path);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Write the report of `totals` to `path` (blocking file I/O: call it off the
/// async workers, e.g. in `spawn_blocking`).
pub fn write_report(path: &Path, totals: &Totals) -> std::io::Result<()> {
    let mut text = totals.snapshot().to_json().to_string();
    text.push('\n');
    write_atomically(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn report_has_the_exact_shape() {
        let t = Totals::default();
        assert_eq!(
            t.snapshot().to_json().to_string(),
            concat!(
                r#"{"approved":{},"reversed":{"count":0,"amount":"0.00"},"declined":{},"#,
                r#""token_payments":{"approved":0,"amount":"0.00","by_app":{}},"#,
                r#""account_verifications":{},"#,
                r#""stand_in":{"advices":0,"repeats":0,"approved":{"count":0,"amount":"0.00"},"#,
                r#""declined":{},"not_posted":0,"reversed":{"count":0,"amount":"0.00"}}}"#
            )
        );
        t.approved("940857", d("1000.00"));
        t.approved("940857", d("250.00"));
        t.approved("940810", d("15"));
        t.reversed("940857", d("250.00"));
        t.reversal_repeat();
        let snap = t.snapshot();
        assert_eq!(snap.reversed_by_acquirer["940857"].count, 1);
        assert_eq!(snap.reversal_repeats, 1);
        t.declined(ResponseCode::INSUFFICIENT_FUNDS);
        t.declined(ResponseCode::INSUFFICIENT_FUNDS);
        t.declined(ResponseCode::FORMAT_ERROR);
        t.token_approved("94000000002", d("15"));
        t.verified(ResponseCode::new("85").unwrap());
        t.verified(ResponseCode::RESTRICTED_CARD);
        assert_eq!(
            t.snapshot().to_json().to_string(),
            concat!(
                r#"{"approved":{"940810":{"count":1,"amount":"15.00"},"#,
                r#""940857":{"count":2,"amount":"1250.00"}},"#,
                r#""reversed":{"count":1,"amount":"250.00"},"#,
                r#""declined":{"30":1,"51":2},"#,
                r#""token_payments":{"approved":1,"amount":"15.00","by_app":{"94000000002":1}},"#,
                r#""account_verifications":{"62":1,"85":1},"#,
                r#""stand_in":{"advices":0,"repeats":0,"approved":{"count":0,"amount":"0.00"},"#,
                r#""declined":{},"not_posted":0,"reversed":{"count":0,"amount":"0.00"}}}"#
            )
        );
        t.stand_in().approved(d("250"));
        t.stand_in().declined(ResponseCode::EXCEEDS_AMOUNT_LIMIT);
        t.stand_in().repeat();
        t.stand_in().reversed(d("250"));
        assert_eq!(
            t.snapshot().stand_in.summary(),
            "stand-in advices 2 (repeats 1): approvals posted 1 (250.00), declines 1 (61: 1), not posted 0, reversed 1 (250.00)"
        );
        let s = t.snapshot();
        assert_eq!(s.approved_total().count, 3);
        assert_eq!(s.approved_total().amount, d("1265"));
        assert_eq!(s.declined_total(), 3);
    }

    #[test]
    fn amounts_keep_their_decimals() {
        assert_eq!(amount_text(d("0")), "0.00");
        assert_eq!(amount_text(d("1500")), "1500.00");
        assert_eq!(amount_text(d("1.005")), "1.005");
        assert_eq!(amount_text(d("12.5")), "12.50");
    }

    #[test]
    fn totals_add_up_across_threads() {
        let t = std::sync::Arc::new(Totals::default());
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        t.approved(if i % 2 == 0 { "1" } else { "2" }, d("0.01"));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let s = t.snapshot();
        assert_eq!(s.approved["1"].count, 2000);
        assert_eq!(s.approved_total().amount, d("40.00"));
    }

    #[test]
    fn report_file_is_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("issuer-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("issuer.json");
        let t = Totals::default();
        t.approved("940857", d("1.00"));
        write_report(&path, &t).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["approved"]["940857"]["amount"], "1.00");
        t.reversed("940800", d("1.00"));
        write_report(&path, &t).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["reversed"]["count"], 1);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
