//! `decide_stand_in`: every decline code and the approval, in the order the checks
//! apply, the bucket (cash or purchases), the boundaries (an amount equal to a limit
//! approves; the count at its limit declines the next), and `explain_stand_in`
//! always reaching the same decision.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::str::FromStr;

use codecs::luhn::luhn_check_digit;
use routing_rules::{
    decide_stand_in, explain_stand_in, HotReason, RoutingTable, StandInCheck, StandInDecision,
    StandInRequest, Usage,
};
use rust_decimal::Decimal;

mod common;
use common::BASE;

/// Stand-in entries for [`BASE`]: `debit` purchases and cash, `gold` purchases only.
const ENTRIES: &str = r#"
[[stand_in]]
id = "debit-si"
issuer = "100"
products = ["debit"]
transactions = ["purchase", "cash"]
[[stand_in.limit]]
currency = "408"
per_transaction = "500000"
daily_amount = "1000000"
daily_count = 5
cash_per_transaction = "200000"
cash_daily_amount = "400000"
cash_daily_count = 2

[[stand_in]]
id = "gold-si"
issuer = "100"
products = ["gold"]
transactions = ["purchase"]
[[stand_in.limit]]
currency = "KPW"
per_transaction = "1000"
daily_amount = "2000"
daily_count = 3
"#;

fn table() -> RoutingTable {
    RoutingTable::from_toml(&format!("{BASE}\n{ENTRIES}"), "net.toml")
        .unwrap()
        .0
}

/// A Luhn-valid 16-digit PAN under `prefix`.
fn pan(prefix: &str) -> Vec<u8> {
    let mut p = format!("{prefix:0<15}").into_bytes();
    p.push(luhn_check_digit(&p).unwrap());
    p
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A purchase of `amount` KPW on a debit card, nothing used yet, valid to 2812.
fn request<'a>(pan: &'a [u8], amount: &str) -> StandInRequest<'a> {
    StandInRequest {
        pan,
        expiry: Some(*b"2812"),
        today: *b"2612",
        transaction_type: 0,
        amount: d(amount),
        currency: 408,
        hot: None,
        used: Usage::default(),
    }
}

/// The decision, after checking that `explain_stand_in` reaches the same one.
fn decide<'a>(t: &'a RoutingTable, req: &StandInRequest<'_>) -> StandInDecision<'a> {
    let decided = decide_stand_in(t, req);
    let explained = explain_stand_in(t, req);
    assert_eq!(decided, explained.decision);
    // The trace ends with the check that decided (or, approved, the last limit).
    let last = explained.steps.last().unwrap();
    assert_eq!(last.ok, decided.approve, "{:?}", explained.steps);
    decided
}

/// "CODE CHECK ENTRY BUCKET" of the decision (`-`: no entry), checked against
/// `explain_stand_in` and the approve flag.
fn outcome(t: &RoutingTable, req: &StandInRequest<'_>) -> String {
    let x = decide(t, req);
    assert_eq!(x.approve, x.response_code.as_str() == "00");
    format!(
        "{} {} {} {}",
        x.response_code,
        x.check.name(),
        x.entry.unwrap_or("-"),
        if x.cash { "cash" } else { "purchase" }
    )
}

#[test]
fn within_limits_approves() {
    let t = table();
    let card = pan("940800123");
    assert_eq!(
        outcome(&t, &request(&card, "1000")),
        "00 within-limits debit-si purchase"
    );
}

#[test]
fn not_allowed_91() {
    let t = table();
    // No entry for the product.
    let other = pan("940802123");
    assert_eq!(
        outcome(&t, &request(&other, "1")),
        "91 not-allowed - purchase"
    );
    // No BIN at all.
    let unknown = pan("950000123");
    assert_eq!(
        outcome(&t, &request(&unknown, "1")),
        "91 not-allowed - purchase"
    );
    // A kind the entry does not allow: cash on gold, a balance inquiry anywhere.
    let gold = pan("940801123");
    let mut req = request(&gold, "1");
    req.transaction_type = 1;
    assert_eq!(outcome(&t, &req), "91 not-allowed gold-si purchase");
    let debit = pan("940800123");
    let mut req = request(&debit, "0");
    req.transaction_type = 31;
    assert_eq!(outcome(&t, &req), "91 not-allowed debit-si purchase");
}

#[test]
fn card_number_14() {
    let t = table();
    let mut card = pan("940800123");
    card[15] = b'0' + (card[15] - b'0' + 1) % 10;
    assert_eq!(
        outcome(&t, &request(&card, "1")),
        "14 card-number debit-si purchase"
    );
    let short = &pan("940800123")[..15];
    assert_eq!(
        outcome(&t, &request(short, "1")),
        "14 card-number debit-si purchase"
    );
}

#[test]
fn expired_54() {
    let t = table();
    let card = pan("940800123");
    let mut req = request(&card, "1");
    req.expiry = Some(*b"2611");
    assert_eq!(outcome(&t, &req), "54 expired debit-si purchase");
    // Valid through its month.
    req.expiry = Some(*b"2612");
    assert_eq!(outcome(&t, &req), "00 within-limits debit-si purchase");
    // Not a date.
    for bad in [*b"2613", *b"2600", *b"26AB"] {
        req.expiry = Some(bad);
        assert_eq!(outcome(&t, &req), "54 expired debit-si purchase");
    }
    // No expiry came with the request: not checked.
    req.expiry = None;
    assert_eq!(outcome(&t, &req), "00 within-limits debit-si purchase");
}

#[test]
fn hot_cards_41_43_62() {
    let t = table();
    let card = pan("940800123");
    for (reason, code) in [
        (HotReason::Lost, "41"),
        (HotReason::Stolen, "43"),
        (HotReason::Restricted, "62"),
    ] {
        let mut req = request(&card, "1");
        req.hot = Some(reason);
        assert_eq!(
            outcome(&t, &req),
            format!("{code} hot-card debit-si purchase")
        );
    }
}

#[test]
fn currency_57() {
    let t = table();
    let card = pan("940800123");
    // The product holds USD, the entry has no limit in it (check warns of that).
    let mut req = request(&card, "1");
    req.currency = 840;
    assert_eq!(outcome(&t, &req), "57 currency debit-si purchase");
    // The product does not hold EUR.
    req.currency = 978;
    assert_eq!(outcome(&t, &req), "57 currency debit-si purchase");
}

#[test]
fn per_transaction_61_at_and_above_the_limit() {
    let t = table();
    let card = pan("940800123");
    assert_eq!(
        outcome(&t, &request(&card, "500000")),
        "00 within-limits debit-si purchase"
    );
    assert_eq!(
        outcome(&t, &request(&card, "500000.01")),
        "61 per-transaction debit-si purchase"
    );
}

#[test]
fn daily_count_65_declines_the_one_after_the_limit() {
    let t = table();
    let card = pan("940800123");
    let mut req = request(&card, "1");
    req.used = Usage {
        amount: d("4"),
        count: 4,
    };
    assert_eq!(outcome(&t, &req), "00 within-limits debit-si purchase");
    req.used.count = 5;
    assert_eq!(outcome(&t, &req), "65 daily-count debit-si purchase");
}

#[test]
fn daily_amount_61_at_and_above_the_limit() {
    let t = table();
    let card = pan("940800123");
    let mut req = request(&card, "100000");
    req.used = Usage {
        amount: d("900000"),
        count: 1,
    };
    assert_eq!(outcome(&t, &req), "00 within-limits debit-si purchase");
    req.amount = d("100000.01");
    assert_eq!(outcome(&t, &req), "61 daily-amount debit-si purchase");
    // A sum past Decimal's range is above any limit, not a panic.
    req.used.amount = Decimal::MAX;
    assert_eq!(outcome(&t, &req), "61 daily-amount debit-si purchase");
}

#[test]
fn cash_takes_the_cash_limits() {
    let t = table();
    let card = pan("940800123");
    let mut req = request(&card, "200000");
    req.transaction_type = 1;
    assert_eq!(outcome(&t, &req), "00 within-limits debit-si cash");
    // 200,001 is within the purchase limit but not the cash one.
    req.amount = d("200001");
    assert_eq!(outcome(&t, &req), "61 per-transaction debit-si cash");
    req.amount = d("100");
    req.used = Usage {
        amount: d("100"),
        count: 2,
    };
    assert_eq!(outcome(&t, &req), "65 daily-count debit-si cash");
    req.used = Usage {
        amount: d("399901"),
        count: 1,
    };
    assert_eq!(outcome(&t, &req), "61 daily-amount debit-si cash");
}

#[test]
fn checks_apply_in_order() {
    let t = table();
    let card = pan("940800123");
    // Expired, hot, in a foreign currency and over every limit: expiry decides.
    let mut req = request(&card, "9999999");
    req.expiry = Some(*b"2001");
    req.hot = Some(HotReason::Stolen);
    req.used = Usage {
        amount: d("9999999"),
        count: 99,
    };
    assert_eq!(outcome(&t, &req), "54 expired debit-si purchase");
    req.expiry = None;
    assert_eq!(outcome(&t, &req), "43 hot-card debit-si purchase");
    req.hot = None;
    assert_eq!(outcome(&t, &req), "61 per-transaction debit-si purchase");
    req.amount = d("1");
    // Count before amount.
    assert_eq!(outcome(&t, &req), "65 daily-count debit-si purchase");
}

#[test]
fn explain_names_the_deciding_limit() {
    let t = table();
    let card = pan("940800123");
    let mut req = request(&card, "200000");
    req.used = Usage {
        amount: d("900000"),
        count: 1,
    };
    let text = explain_stand_in(&t, &req).to_text();
    assert!(
        text.contains("daily-amount: 900000 + 200000 > 1000000 KPW (entry debit-si) -> 61\n"),
        "{text}"
    );
    assert!(
        text.ends_with("stand-in: decline 61 (daily-amount, entry debit-si)\n"),
        "{text}"
    );
    assert!(
        !text.contains(std::str::from_utf8(&card).unwrap()),
        "full PAN in {text}"
    );
    let json = explain_stand_in(&t, &req).to_json();
    assert_eq!(json["check"], "daily-amount");
    assert_eq!(json["response_code"], "61");
    assert_eq!(json["bucket"], "purchase");
    assert_eq!(json["trace"].as_array().unwrap().len(), 9);
}

#[test]
fn check_names_round_trip() {
    for c in StandInCheck::ALL {
        assert_eq!(StandInCheck::from_name(c.name()), Some(c));
    }
    assert_eq!(StandInCheck::from_name("none"), None);
}
