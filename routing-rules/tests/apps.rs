//! The app channel: each channel and app condition matching and not (on the fast
//! path and the general one, and in `explain`), tokens and unknown apps in
//! `decide`, and enrolment decisions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::str::FromStr;

use codecs::luhn::luhn_check_digit;
use codecs::Mti;
use routing_rules::{Channel, Decision, RoutingTable, Step, Transaction, Verdict};
use rust_decimal::Decimal;

/// Issuers 100 (capital) and 200 (north); app `alpha` joined both, `beta` only 100.
const NET: &str = r#"
[[region]]
id = "cap"
kind = "capital"
[[region]]
id = "north"
kind = "provincial-capital"

[[bank]]
id = "100"
region = "cap"
roles = ["issuer", "acquirer"]
[[bank]]
id = "200"
region = "north"
roles = ["issuer", "acquirer"]

[[app]]
id = "alpha"
name = "Alpha Pay"
requestor_id = "94000000001"
banks = ["200", "100"]
[[app]]
id = "beta"
requestor_id = "94000000002"
banks = ["100"]

[[product]]
id = "debit"
issuer = "100"
category = "national-debit"
currencies = ["408"]
[[product]]
id = "north-debit"
issuer = "200"
category = "commercial-debit"
currencies = ["408"]
[[product]]
id = "fx"
issuer = "200"
category = "foreign-currency"
currencies = ["408"]

[[bin]]
low = "940810"
high = "940810"
product = "debit"
[[bin]]
low = "940820"
high = "940820"
product = "north-debit"
[[bin]]
low = "940830"
high = "940830"
product = "fx"

[[token_range]]
low = "940899"
high = "940899"
"#;

/// A Luhn-valid 16-digit number starting with `prefix`.
fn pan(prefix: &str) -> Vec<u8> {
    let mut p = format!("{prefix:0<15}").into_bytes();
    p.push(luhn_check_digit(&p).unwrap());
    p
}

/// NET with `rules` appended.
fn table(rules: &str) -> RoutingTable {
    RoutingTable::from_toml(&format!("{NET}\n{rules}"), "apps.toml")
        .unwrap()
        .0
}

/// NET with one rule `r` (declining 62) on these conditions.
fn one_rule(when: &str) -> RoutingTable {
    table(&format!(
        "[[rule]]\nid = \"r\"\nwhen = {{ {when} }}\nthen = {{ decline = \"62\" }}\n"
    ))
}

/// A purchase of 10 KPW at acquirer 100 by QR through `app`.
fn qr_purchase<'a>(pan: &'a [u8], app: Option<&'a str>) -> Transaction<'a> {
    Transaction {
        pan,
        acquirer: b"100",
        mti: Mti::new(b"0200").unwrap(),
        processing_code: b"000000",
        amount: Decimal::from(10),
        currency: 408,
        channel: Channel::WalletQr,
        app,
    }
}

/// The rule id that decided, or the step's name, for a purchase from acquirer 100;
/// checked on the integer fast path, the general `Decimal` path (an amount with
/// more decimals than it takes) and `explain`, which must all agree.
fn why(t: &RoutingTable, prefix: &str, channel: Channel, app: Option<&str>) -> String {
    let pan = pan(prefix);
    let tx = |amount: &str| Transaction {
        amount: Decimal::from_str(amount).unwrap(),
        channel,
        ..qr_purchase(&pan, app)
    };
    let fast = t.decide(&tx("10"));
    let general = t.decide(&tx("10.000001"));
    let explained = t.explain(&tx("10")).decision;
    let key = |d: &Decision<'_>| {
        (
            d.verdict,
            d.response_code,
            d.step,
            d.rule.map(|r| r.id.clone()),
        )
    };
    assert_eq!(key(&fast), key(&general));
    assert_eq!(key(&fast), key(&explained));
    fast.rule
        .map_or_else(|| fast.step.name().to_string(), |r| r.id.clone())
}

const QR: Channel = Channel::WalletQr;
const TERMINAL: Channel = Channel::Terminal;

#[test]
fn channel_condition() {
    let t = one_rule("channel = [\"wallet-qr\"]");
    assert_eq!(why(&t, "940810", QR, Some("alpha")), "r");
    assert_eq!(why(&t, "940810", QR, None), "r");
    assert_eq!(why(&t, "940810", TERMINAL, None), "default");
    assert_eq!(why(&t, "940810", Channel::Atm, None), "default");
    let t = one_rule("channel_not = [\"terminal\"]");
    assert_eq!(why(&t, "940810", Channel::Atm, None), "r");
    assert_eq!(why(&t, "940810", TERMINAL, None), "default");
    assert_eq!(why(&t, "940810", TERMINAL, Some("alpha")), "default");
}

#[test]
fn app_condition() {
    let t = one_rule("app = [\"alpha\"]");
    assert_eq!(why(&t, "940810", QR, Some("alpha")), "r");
    assert_eq!(why(&t, "940810", QR, Some("beta")), "default");
    // No app is in no list.
    assert_eq!(why(&t, "940810", TERMINAL, None), "default");
    let t = one_rule("app_not = [\"alpha\"]");
    assert_eq!(why(&t, "940810", QR, Some("beta")), "r");
    assert_eq!(why(&t, "940810", TERMINAL, None), "r");
    assert_eq!(why(&t, "940810", QR, Some("alpha")), "default");
}

#[test]
fn issuer_joined_app_condition() {
    let t = one_rule("issuer_joined_app = false");
    // beta did not join 200 (issuer of 940820 and 940830); alpha did.
    assert_eq!(why(&t, "940820", QR, Some("beta")), "r");
    assert_eq!(why(&t, "940830", QR, Some("beta")), "r");
    assert_eq!(why(&t, "940810", QR, Some("beta")), "default");
    assert_eq!(why(&t, "940820", QR, Some("alpha")), "default");
    // Without an app neither value holds.
    assert_eq!(why(&t, "940820", TERMINAL, None), "default");
    let t = one_rule("issuer_joined_app = true");
    assert_eq!(why(&t, "940820", QR, Some("alpha")), "r");
    assert_eq!(why(&t, "940820", QR, Some("beta")), "default");
    assert_eq!(why(&t, "940810", TERMINAL, None), "default");
}

#[test]
fn conditions_combine_with_the_others() {
    let t = table(
        r#"
[[rule]]
id = "beta-north-at-100"
when = { app = ["beta"], channel = ["wallet-qr"], issuer = ["200"], acquirer = ["100"] }
then = { decline = "58" }
[[rule]]
id = "qr-fx"
when = { channel = ["wallet-qr"], category = ["foreign-currency"] }
then = { decline = "57" }
"#,
    );
    assert_eq!(why(&t, "940820", QR, Some("beta")), "beta-north-at-100");
    assert_eq!(why(&t, "940830", QR, Some("beta")), "beta-north-at-100");
    assert_eq!(why(&t, "940830", QR, Some("alpha")), "qr-fx");
    assert_eq!(why(&t, "940830", TERMINAL, None), "default");
    assert_eq!(why(&t, "940820", QR, Some("alpha")), "default");
}

#[test]
fn tokens_and_unknown_apps_in_decide() {
    let t = one_rule("channel = [\"atm\"]");
    let token = pan("940899");
    let tx = qr_purchase(&token, Some("alpha"));
    assert!(t.is_token(&token));
    assert!(!t.is_token(&pan("940810")));
    let d = t.decide(&tx);
    assert_eq!(
        (d.verdict, d.step, d.response_code.map(|rc| rc.to_string())),
        (Verdict::Decline, Step::Bin, Some("14".to_string()))
    );
    let json = t.explain(&tx).to_json().to_string();
    assert!(json.contains("token range: not a card"), "{json}");
    // Outside both the BIN table and the token ranges: 15 as before.
    assert_eq!(why(&t, "940898", TERMINAL, None), "bin");
    assert_eq!(
        t.decide(&Transaction {
            pan: &pan("940898"),
            ..tx
        })
        .response_code
        .map(|rc| rc.to_string()),
        Some("15".into())
    );

    // An app the table does not know: 96 at step "app", the card still named.
    assert_eq!(why(&t, "940810", QR, Some("gamma")), "app");
    let card = pan("940810");
    let tx = Transaction { pan: &card, ..tx };
    let d = t.decide(&Transaction {
        app: Some("gamma"),
        ..tx
    });
    assert_eq!(d.response_code.map(|rc| rc.to_string()), Some("96".into()));
    assert_eq!(d.issuer.map(|b| b.id.as_str()), Some("100"));
}

#[test]
fn explain_shows_the_channel_and_app() {
    let t = one_rule("issuer_joined_app = false");
    let card = pan("940820");
    let tx = qr_purchase(&card, Some("beta"));
    let v = t.explain(&tx).to_json();
    assert_eq!(v["channel"], "wallet-qr");
    assert_eq!(v["app"], "beta");
    assert_eq!(v["rule"], "r");
    let trace = v["trace"].as_array().unwrap();
    let steps: Vec<&str> = trace.iter().filter_map(|s| s["check"].as_str()).collect();
    assert_eq!(steps, ["pan", "bin", "acquirer", "channel"]);
    assert_eq!(
        trace[3]["detail"],
        "wallet-qr, app beta: issuer 200 has not joined it"
    );
    // Why a rule did not match names the channel facts.
    let v = t
        .explain(&Transaction {
            app: Some("alpha"),
            ..tx
        })
        .to_json();
    assert_eq!(
        v["trace"][4]["detail"],
        "not matched: issuer_joined_app: issuer 200 joined app alpha, not false"
    );
    let v = t
        .explain(&Transaction {
            app: None,
            channel: Channel::Terminal,
            ..tx
        })
        .to_json();
    assert_eq!(v["channel"], "terminal");
    assert!(v["app"].is_null());
    assert_eq!(v["trace"][3]["detail"], "terminal, no app");
    assert_eq!(
        v["trace"][4]["detail"],
        "not matched: issuer_joined_app: no app"
    );
}

/// Rules of every kind for enrolment: some take part, some are skipped.
const ENROLMENT_RULES: &str = r#"
[[rule]]
id = "joined-banks-only"
when = { channel = ["wallet-qr"], issuer_joined_app = false }
then = { decline = "57" }
[[rule]]
id = "no-cash-by-app"
when = { channel = ["wallet-qr"], transaction = ["cash"] }
then = { decline = "57" }
[[rule]]
id = "alpha-no-fx"
when = { app = ["alpha"], category = ["foreign-currency"] }
then = { decline = "62" }
[[rule]]
id = "alpha-small-only"
when = { app = ["alpha"], amount_gt = "100" }
then = { decline = "61" }
[[rule]]
id = "alpha-at-terminals"
when = { app = ["alpha"], channel = ["terminal"] }
then = { decline = "58" }
[[rule]]
id = "north-via-100-except-beta"
when = { app_not = ["beta"], issuer = ["200"] }
then = { route_to = "100" }
"#;

/// (verdict, response code, step, rule, routed-to or card issuer) of an enrolment.
fn enrol(t: &RoutingTable, pan: &[u8], app: &str) -> (Verdict, String, String, String, String) {
    let d = t.decide_enrolment(pan, app);
    let e = t.explain_enrolment(pan, app).decision;
    let key = |d: &Decision<'_>| {
        (
            d.verdict,
            d.response_code.map_or("-".into(), |rc| rc.to_string()),
            d.step.name().to_string(),
            d.rule.map_or("-".into(), |r| r.id.clone()),
            d.issuer.map_or("-".into(), |b| b.id.clone()),
        )
    };
    assert_eq!(key(&d), key(&e));
    key(&d)
}

fn outcome(
    v: Verdict,
    rc: &str,
    step: &str,
    rule: &str,
    bank: &str,
) -> (Verdict, String, String, String, String) {
    (v, rc.into(), step.into(), rule.into(), bank.into())
}

#[test]
fn enrolment_decisions() {
    use Verdict::{Decline, Route};
    let t = table(ENROLMENT_RULES);
    let takes_part: Vec<bool> = t.rules().iter().map(|r| r.decides_enrolment()).collect();
    assert_eq!(takes_part, [true, false, true, false, true, true]);

    // (card, app, expected): a card of a bank the app did not join; rules that
    // take part; skipped (amount, transaction type) and unmatched (channel:
    // enrolment is wallet-qr) rules that do not decide; a route_to rule routing the
    // verification; the checks before the rules.
    let cases = [
        (
            "940820",
            "beta",
            (Decline, "57", "rule", "joined-banks-only", "200"),
        ),
        (
            "940830",
            "alpha",
            (Decline, "62", "rule", "alpha-no-fx", "200"),
        ),
        (
            "940820",
            "alpha",
            (Route, "-", "rule", "north-via-100-except-beta", "100"),
        ),
        ("940810", "alpha", (Route, "-", "default", "-", "100")),
        ("940810", "beta", (Route, "-", "default", "-", "100")),
        ("940810", "gamma", (Decline, "96", "app", "-", "100")),
        ("940899", "alpha", (Decline, "14", "bin", "-", "-")),
        ("940898", "alpha", (Decline, "15", "bin", "-", "-")),
    ];
    for (card, app, (v, rc, step, rule, bank)) in cases {
        assert_eq!(
            enrol(&t, &pan(card), app),
            outcome(v, rc, step, rule, bank),
            "{card} by {app}"
        );
    }
    let mut bad_luhn = pan("940810");
    bad_luhn[15] = b'0' + (bad_luhn[15] - b'0' + 1) % 10;
    assert_eq!(
        enrol(&t, &bad_luhn, "alpha"),
        outcome(Decline, "14", "pan", "-", "-")
    );
}

#[test]
fn explain_enrolment_lists_skipped_rules_and_masks_the_pan() {
    let t = table(ENROLMENT_RULES);
    let card = pan("940820");
    let v = t.explain_enrolment(&card, "beta").to_json();
    let text = v.to_string();
    assert!(
        !text.contains(std::str::from_utf8(&card).unwrap()),
        "{text}"
    );
    assert!(text.contains("940820******"), "{text}");
    assert_eq!(v["channel"], "wallet-qr");
    assert_eq!(v["app"], "beta");
    assert_eq!(v["response_code"], "57");
    let trace = v["trace"].as_array().unwrap();
    let details: Vec<&str> = trace.iter().filter_map(|s| s["detail"].as_str()).collect();
    assert_eq!(
        details[2],
        "wallet-qr, app beta: issuer 200 has not joined it"
    );
    assert_eq!(details[3], "matched: decides");
    assert_eq!(details[4], "skipped: names no app condition");
    assert_eq!(
        details[6],
        "skipped: has conditions beyond the card, channel and app"
    );
    assert_eq!(trace.len(), 3 + t.rules().len());
}

#[test]
fn apps_by_id_and_requestor() {
    let t = table("");
    assert_eq!(t.apps().len(), 2);
    let alpha = t.app("alpha").unwrap();
    assert_eq!(alpha.name, "Alpha Pay");
    let ids: Vec<&str> = alpha
        .banks
        .iter()
        .map(|&b| t.banks()[b as usize].id.as_str())
        .collect();
    assert_eq!(ids, ["100", "200"]);
    assert!(alpha.joined(t.bank_index(b"200").unwrap()));
    assert!(!t.app("beta").unwrap().joined(t.bank_index(b"200").unwrap()));
    assert_eq!(t.app_by_requestor("94000000002").unwrap().id, "beta");
    assert!(t.app_by_requestor("94000000009").is_none());
    assert!(t.app("gamma").is_none());
    assert_eq!(t.token_ranges().len(), 1);
}
