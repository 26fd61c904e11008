//! `decide_stand_in` (allocation-free, for the switch) and `explain_stand_in` (the
//! same checks, each recorded with what it compared, for operators). Both run one
//! function with a different recorder, so the explained decision is the decided one.

use codecs::luhn::luhn_valid;
use codecs::mask::mask_pan;
use codecs::ResponseCode;
use serde_json::{json, Value};

use super::{StandInCheck, StandInDecision, StandInParams, StandInRequest};
use crate::decide::PAN_LENGTHS;
use crate::table::RoutingTable;

/// Decide a request as stand-in would if the card's issuer could not answer.
///
/// Checks in this order: an entry for the card's product (else 91), the kind
/// allowed (91), Luhn (14), expiry before today (54), the negative file (41/43/62),
/// the currency in the product and in the entry's limits (57), the per-transaction
/// limit (61), the daily count (`used.count + 1 > daily_count`: 65), the daily amount
/// (`used.amount + amount > daily_amount`: 61). An amount equal to a limit passes.
pub fn decide_stand_in<'a>(
    table: &'a RoutingTable,
    req: &StandInRequest<'_>,
) -> StandInDecision<'a> {
    run(table, req, &mut NoTrace)
}

/// A stand-in decision with every check it made.
#[derive(Clone, Debug)]
pub struct StandInExplanation<'a> {
    /// The decision, identical to what [`decide_stand_in`] returns.
    pub decision: StandInDecision<'a>,
    /// Each check made, in order: its name, whether it passed, what it compared.
    pub steps: Vec<StandInStep>,
}

/// One check of an explained stand-in decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandInStep {
    /// What was checked: `entry`, `transaction`, or a [`StandInCheck`] name.
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What it compared, e.g. `900000 + 200000 > 1000000 KPW (entry morning-star-debit)`.
    pub detail: String,
}

/// [`decide_stand_in`], with the trace. The PAN appears only masked.
pub fn explain_stand_in<'a>(
    table: &'a RoutingTable,
    req: &StandInRequest<'_>,
) -> StandInExplanation<'a> {
    let mut steps = Vec::new();
    let decision = run(table, req, &mut steps);
    StandInExplanation { decision, steps }
}

impl StandInExplanation<'_> {
    /// One line per check (`name: detail: ok`, or `name: detail -> RC` for the one
    /// that declined), then the outcome.
    pub fn to_text(&self) -> String {
        let d = &self.decision;
        let mut out = String::new();
        for s in &self.steps {
            if s.ok {
                out.push_str(&format!("{}: {}: ok\n", s.name, s.detail));
            } else {
                out.push_str(&format!(
                    "{}: {} -> {}\n",
                    s.name, s.detail, d.response_code
                ));
            }
        }
        out.push_str(&format!(
            "stand-in: {} {} ({}{})\n",
            if d.approve { "approve" } else { "decline" },
            d.response_code,
            d.check.name(),
            d.entry.map(|e| format!(", entry {e}")).unwrap_or_default()
        ));
        out
    }

    /// The `stand_in` object of `routing-rules explain`'s JSON.
    pub fn to_json(&self) -> Value {
        let d = &self.decision;
        json!({
            "decision": if d.approve { "approve" } else { "decline" },
            "response_code": d.response_code.as_str(),
            "check": d.check.name(),
            "entry": d.entry,
            "bucket": if d.cash { "cash" } else { "purchase" },
            "trace": self.steps.iter().map(|s| json!({
                "check": s.name, "ok": s.ok, "detail": s.detail,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Records the checks when explaining; nothing when deciding.
trait Recorder {
    fn step(&mut self, name: &'static str, ok: bool, detail: impl FnOnce() -> String);
}

struct NoTrace;

impl Recorder for NoTrace {
    #[inline]
    fn step(&mut self, _: &'static str, _: bool, _: impl FnOnce() -> String) {}
}

impl Recorder for Vec<StandInStep> {
    fn step(&mut self, name: &'static str, ok: bool, detail: impl FnOnce() -> String) {
        self.push(StandInStep {
            name,
            ok,
            detail: detail(),
        });
    }
}

/// Whether `yymm` is four digits with a month 01-12.
fn is_yymm(yymm: &[u8; 4]) -> bool {
    yymm.iter().all(u8::is_ascii_digit)
        && matches!(&yymm[2..], [b'0', b'1'..=b'9'] | [b'1', b'0'..=b'2'])
}

fn text(yymm: &[u8; 4]) -> String {
    String::from_utf8_lossy(yymm).into_owned()
}

fn run<'a>(
    table: &'a RoutingTable,
    req: &StandInRequest<'_>,
    t: &mut impl Recorder,
) -> StandInDecision<'a> {
    let decline = |check, rc, entry: Option<&'a StandInParams>, cash| StandInDecision {
        approve: false,
        response_code: rc,
        check,
        entry: entry.map(|e| e.id.as_str()),
        cash,
    };

    // An entry for the card's product.
    let product = table.bins.lookup_product(req.pan);
    let params = product.and_then(|p| table.stand_in_for(p));
    t.step("entry", params.is_some(), || match (product, params) {
        (None, _) => format!("{}: no BIN range matches", mask_pan(req.pan)),
        (Some(p), None) => format!(
            "no [[stand_in]] entry for product {}: stand-in not allowed",
            table.products[p as usize].id
        ),
        (Some(p), Some(e)) => format!(
            "product {}: entry {} ({})",
            table.products[p as usize].id, e.id, e.source
        ),
    });
    let (Some(product), Some(params)) = (product, params) else {
        return decline(
            StandInCheck::NotAllowed,
            ResponseCode::ISSUER_INOPERATIVE,
            None,
            false,
        );
    };
    let product = &table.products[product as usize];

    // The kind.
    let cash = params.allows(req.transaction_type);
    t.step("transaction", cash.is_some(), || {
        let kinds = match (params.purchase, params.cash) {
            (true, true) => "purchase, cash",
            (true, false) => "purchase",
            (false, true) => "cash",
            (false, false) => "nothing",
        };
        format!(
            "type {:02}; entry {} allows {kinds}",
            req.transaction_type, params.id
        )
    });
    let Some(cash) = cash else {
        return decline(
            StandInCheck::NotAllowed,
            ResponseCode::ISSUER_INOPERATIVE,
            Some(params),
            false,
        );
    };

    // The card number.
    let pan_ok = PAN_LENGTHS.contains(&req.pan.len()) && luhn_valid(req.pan);
    t.step(StandInCheck::CardNumber.name(), pan_ok, || {
        format!(
            "{}: {} digits, Luhn {}",
            mask_pan(req.pan),
            req.pan.len(),
            if luhn_valid(req.pan) { "ok" } else { "failed" }
        )
    });
    if !pan_ok {
        return decline(
            StandInCheck::CardNumber,
            ResponseCode::INVALID_CARD_NUMBER,
            Some(params),
            cash,
        );
    }

    // Expiry: YYMM compares as text. An expiry that is not a date is not honoured.
    let expired = req.expiry.is_some_and(|e| !is_yymm(&e) || e < req.today);
    t.step(StandInCheck::Expired.name(), !expired, || {
        match &req.expiry {
            None => "no expiry date in the request (field 14, track 2): not checked".into(),
            Some(e) if !is_yymm(e) => format!("expiry {:?} is not YYMM", text(e)),
            Some(e) => format!(
                "expiry {} {} today {}",
                text(e),
                if expired { "<" } else { ">=" },
                text(&req.today)
            ),
        }
    });
    if expired {
        return decline(
            StandInCheck::Expired,
            ResponseCode::EXPIRED_CARD,
            Some(params),
            cash,
        );
    }

    // The negative file (the caller's lookup).
    t.step(
        StandInCheck::HotCard.name(),
        req.hot.is_none(),
        || match req.hot {
            None => "not in the negative file".into(),
            Some(r) => format!("in the negative file: {}", r.name()),
        },
    );
    if let Some(reason) = req.hot {
        return decline(
            StandInCheck::HotCard,
            reason.response_code(),
            Some(params),
            cash,
        );
    }

    // The currency, and the limits of the bucket in it.
    let held = product.currencies.contains(&req.currency);
    let limit = params.limit_for(req.currency);
    let bucket = limit.and_then(|l| {
        if cash {
            l.cash.as_ref()
        } else {
            Some(&l.purchase)
        }
    });
    let cur = codecs::currency::by_numeric(req.currency);
    let unit = move || cur.map_or_else(|| format!("{:03}", req.currency), |c| c.code.to_string());
    t.step(
        StandInCheck::Currency.name(),
        held && bucket.is_some(),
        || {
            if !held {
                format!("product {} does not hold {}", product.id, unit())
            } else if bucket.is_none() {
                format!(
                    "entry {} has no {} limit in {}",
                    params.id,
                    if cash { "cash" } else { "purchase" },
                    unit()
                )
            } else {
                format!("{} (entry {})", unit(), params.id)
            }
        },
    );
    let (true, Some(bucket)) = (held, bucket) else {
        return decline(
            StandInCheck::Currency,
            ResponseCode::NOT_PERMITTED_CARDHOLDER,
            Some(params),
            cash,
        );
    };
    let kind = if cash { "cash " } else { "" };

    let within = req.amount <= bucket.per_transaction;
    t.step(StandInCheck::PerTransaction.name(), within, || {
        format!(
            "{}{} {} {} {} (entry {})",
            kind,
            req.amount,
            if within { "<=" } else { ">" },
            bucket.per_transaction,
            unit(),
            params.id
        )
    });
    if !within {
        return decline(
            StandInCheck::PerTransaction,
            ResponseCode::EXCEEDS_AMOUNT_LIMIT,
            Some(params),
            cash,
        );
    }

    let count_ok = req.used.count < bucket.daily_count;
    t.step(StandInCheck::DailyCount.name(), count_ok, || {
        format!(
            "{}{} + 1 {} {} (entry {})",
            kind,
            req.used.count,
            if count_ok { "<=" } else { ">" },
            bucket.daily_count,
            params.id
        )
    });
    if !count_ok {
        return decline(
            StandInCheck::DailyCount,
            exceeds_count(),
            Some(params),
            cash,
        );
    }

    // An overflowing sum is above any limit.
    let total = req.used.amount.checked_add(req.amount);
    let amount_ok = total.is_some_and(|t| t <= bucket.daily_amount);
    t.step(StandInCheck::DailyAmount.name(), amount_ok, || {
        format!(
            "{}{} + {} {} {} {} (entry {})",
            kind,
            req.used.amount,
            req.amount,
            if amount_ok { "<=" } else { ">" },
            bucket.daily_amount,
            unit(),
            params.id
        )
    });
    if !amount_ok {
        return decline(
            StandInCheck::DailyAmount,
            ResponseCode::EXCEEDS_AMOUNT_LIMIT,
            Some(params),
            cash,
        );
    }

    StandInDecision {
        approve: true,
        response_code: ResponseCode::APPROVED,
        check: StandInCheck::WithinLimits,
        entry: Some(params.id.as_str()),
        cash,
    }
}

/// 65: exceeds withdrawal frequency (codecs names no constant for it).
fn exceeds_count() -> ResponseCode {
    // A literal `new` accepts: the fallback is never taken.
    ResponseCode::new("65").unwrap_or(ResponseCode::EXCEEDS_AMOUNT_LIMIT)
}
