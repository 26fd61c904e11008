//! Each check, condition and outcome of `decide`, rule precedence, and that
//! `explain` always reaches the same decision.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::str::FromStr;

use codecs::luhn::luhn_check_digit;
use codecs::Mti;
use routing_rules::{Channel, RoutingTable, Step, Transaction, Verdict};
use rust_decimal::Decimal;

const NET: &str = r#"
[[region]]
id = "cap"
kind = "capital"
[[region]]
id = "north"
kind = "provincial-capital"
[[region]]
id = "village"
kind = "other"

[[bank]]
id = "100"
region = "cap"
roles = ["issuer", "acquirer"]
[[bank]]
id = "200"
region = "north"
roles = ["issuer", "acquirer"]
[[bank]]
id = "300"
region = "village"
roles = ["acquirer"]
[[bank]]
id = "400"
region = "cap"
roles = ["issuer"]

[[product]]
id = "debit"
issuer = "100"
category = "national-debit"
currencies = ["408"]
[[product.limit]]
currency = "408"
purchase = "1000"
cash = "500"

[[product]]
id = "north-payroll"
issuer = "200"
category = "enterprise-payroll"
home_region = "north"
currencies = ["408"]

[[product]]
id = "fx"
issuer = "200"
category = "foreign-currency"
currencies = ["USD", "978"]

[[product]]
id = "vip"
issuer = "400"
category = "privileged"
currencies = ["408"]

[[bin]]
low = "940810"
high = "940810"
product = "debit"
[[bin]]
low = "94081050"
high = "94081059"
product = "north-payroll"
[[bin]]
low = "940820"
high = "940820"
product = "north-payroll"
[[bin]]
low = "940830"
high = "940830"
product = "fx"
[[bin]]
low = "940840"
high = "940840"
product = "vip"

[[rule]]
id = "no-balance-in-village"
when = { transaction = ["balance"], acquirer_region_kind = ["other"] }
then = { decline = "58" }
[[rule]]
id = "payroll-home"
when = { category = ["enterprise-payroll"], home_region = "different" }
then = { decline = "57" }
[[rule]]
id = "fx-only-at-100"
when = { product = ["fx"], acquirer_not = ["100"] }
then = { decline = "58" }
[[rule]]
id = "fx-eur-limit"
when = { currency = ["978"], amount_ge = "300" }
then = { decline = "61" }
[[rule]]
id = "north-cash-cap"
when = { acquirer_region = ["north"], transaction = ["cash"], amount_gt = "100" }
then = { decline = "61" }
[[rule]]
id = "vip-via-100"
when = { issuer = ["400"] }
then = { route_to = "100" }
[[rule]]
id = "auth-only-for-vip"
when = { category = ["privileged"], mti_class = ["financial"] }
then = { decline = "12" }
[[rule]]
id = "small-purchases-explicit"
when = { transaction = ["purchase"], amount_lt = "1" }
then = { decline = "13" }
[[rule]]
id = "catch-all-route"
when = { issuer_not = ["400"], amount_le = "1000000" }
then = { route = true }
"#;

fn table() -> RoutingTable {
    let (t, warnings) = RoutingTable::from_toml(NET, "net.toml").unwrap();
    // The fixture keeps one deliberately shadowed rule to test precedence.
    let w: Vec<String> = warnings.iter().map(|p| p.entry.clone()).collect();
    assert_eq!(w, vec!["rule auth-only-for-vip".to_string()]);
    t
}

/// A Luhn-valid 16-digit PAN starting with `prefix`.
fn pan(prefix: &str) -> Vec<u8> {
    let mut p = format!("{prefix:0<15}").into_bytes();
    p.push(luhn_check_digit(&p).unwrap());
    p
}

struct Case<'a> {
    pan: Vec<u8>,
    acquirer: &'a str,
    mti: &'a str,
    pc: &'a str,
    amount: &'a str,
    currency: u16,
    channel: Channel,
    app: Option<&'a str>,
}

fn case(prefix: &str, acquirer: &'static str) -> Case<'static> {
    Case {
        pan: pan(prefix),
        acquirer,
        mti: "0200",
        pc: "000000",
        amount: "10",
        currency: 408,
        channel: Channel::Terminal,
        app: None,
    }
}

impl Case<'_> {
    fn pc(mut self, pc: &'static str) -> Self {
        self.pc = pc;
        self
    }
    fn amount(mut self, a: &'static str) -> Self {
        self.amount = a;
        self
    }
    fn currency(mut self, c: u16) -> Self {
        self.currency = c;
        self
    }
    fn mti(mut self, m: &'static str) -> Self {
        self.mti = m;
        self
    }
    /// (verdict, issuer, rc, rule or step)
    fn run(&self, t: &RoutingTable) -> (Verdict, Option<String>, Option<String>, String) {
        let tx = Transaction {
            pan: &self.pan,
            acquirer: self.acquirer.as_bytes(),
            mti: Mti::new(self.mti.as_bytes()).unwrap(),
            processing_code: self.pc.as_bytes(),
            amount: Decimal::from_str(self.amount).unwrap(),
            currency: self.currency,
            channel: self.channel,
            app: self.app,
        };
        let d = t.decide(&tx);
        let e = t.explain(&tx);
        // explain reaches the same decision
        assert_eq!(d.verdict, e.decision.verdict);
        assert_eq!(d.response_code, e.decision.response_code);
        assert_eq!(d.rule.map(|r| &r.id), e.decision.rule.map(|r| &r.id));
        assert_eq!(d.issuer.map(|b| &b.id), e.decision.issuer.map(|b| &b.id));
        let why = d
            .rule
            .map_or_else(|| d.step.name().to_string(), |r| r.id.clone());
        (
            d.verdict,
            d.issuer.map(|b| b.id.clone()),
            d.response_code.map(|r| r.to_string()),
            why,
        )
    }
}

fn declined(rc: &str, why: &str) -> (Verdict, String, String) {
    (Verdict::Decline, rc.to_string(), why.to_string())
}

fn decline_of(r: (Verdict, Option<String>, Option<String>, String)) -> (Verdict, String, String) {
    (r.0, r.2.unwrap_or_default(), r.3)
}

#[test]
fn checks_before_the_rules() {
    let t = table();
    let mut bad_luhn = pan("940810");
    bad_luhn[15] = if bad_luhn[15] == b'9' {
        b'0'
    } else {
        bad_luhn[15] + 1
    };
    let c = Case {
        pan: bad_luhn,
        ..case("940810", "100")
    };
    assert_eq!(decline_of(c.run(&t)), declined("14", "pan"));
    let c = Case {
        pan: b"940810000000003".to_vec(),
        ..case("940810", "100")
    }; // 15 digits
    assert_eq!(decline_of(c.run(&t)), declined("14", "pan"));
    assert_eq!(
        decline_of(case("950000", "100").run(&t)),
        declined("15", "bin")
    );
    assert_eq!(
        decline_of(case("940810", "999").run(&t)),
        declined("31", "acquirer")
    );
    assert_eq!(
        decline_of(case("940810", "400").run(&t)),
        declined("31", "acquirer")
    ); // issuer-only bank
    assert_eq!(
        decline_of(case("940810", "100").currency(840).run(&t)),
        declined("57", "product-currency")
    );
    assert_eq!(
        decline_of(case("940810", "100").amount("1000.01").run(&t)),
        declined("61", "product-limit")
    );
    assert_eq!(
        decline_of(case("940810", "100").pc("010000").amount("501").run(&t)),
        declined("61", "product-limit")
    );
}

#[test]
fn default_routes_to_the_card_issuer() {
    let t = table();
    let r = case("940810", "200").amount("2000000").currency(408);
    // over the debit limit → product-limit; use an amount within limits to reach the default.
    assert_eq!(r.run(&t).0, Verdict::Decline);
    let r = case("940810", "100").run(&t);
    assert_eq!(
        (r.0, r.1.as_deref(), r.3.as_str()),
        (Verdict::Route, Some("100"), "catch-all-route")
    );
}

#[test]
fn longest_bin_match_wins() {
    let t = table();
    // 94081050-94081059 (8 digits) inside 940810 (6 digits): payroll, not debit.
    let r = case("94081055", "200").run(&t);
    assert_eq!((r.0, r.1.as_deref()), (Verdict::Route, Some("200")));
    assert_eq!(
        decline_of(case("94081055", "100").run(&t)),
        declined("57", "payroll-home")
    );
    let r = case("94081060", "200").run(&t);
    assert_eq!((r.0, r.1.as_deref()), (Verdict::Route, Some("100")));
    assert_eq!(
        decline_of(case("940821", "100").run(&t)),
        declined("15", "bin")
    );
}

#[test]
fn each_condition() {
    let t = table();
    // transaction + acquirer_region_kind
    assert_eq!(
        decline_of(case("940810", "300").pc("310000").amount("0").run(&t)),
        declined("58", "no-balance-in-village")
    );
    // home_region different / same
    assert_eq!(
        decline_of(case("940820", "100").run(&t)),
        declined("57", "payroll-home")
    );
    assert_eq!(case("940820", "200").run(&t).0, Verdict::Route);
    // product + acquirer_not
    assert_eq!(
        decline_of(case("940830", "200").currency(840).run(&t)),
        declined("58", "fx-only-at-100")
    );
    assert_eq!(
        case("940830", "100").currency(840).run(&t).0,
        Verdict::Route
    );
    // currency + amount_ge (boundary included)
    assert_eq!(
        decline_of(case("940830", "100").currency(978).amount("300").run(&t)),
        declined("61", "fx-eur-limit")
    );
    assert_eq!(
        case("940830", "100")
            .currency(978)
            .amount("299.99")
            .run(&t)
            .0,
        Verdict::Route
    );
    // acquirer_region + amount_gt (boundary excluded)
    assert_eq!(
        decline_of(case("940810", "200").pc("010000").amount("100.01").run(&t)),
        declined("61", "north-cash-cap")
    );
    assert_eq!(
        case("940810", "200").pc("010000").amount("100").run(&t).0,
        Verdict::Route
    );
    // issuer → route_to another bank
    let r = case("940840", "200").mti("0100").run(&t);
    assert_eq!(
        (r.0, r.1.as_deref(), r.3.as_str()),
        (Verdict::Route, Some("100"), "vip-via-100")
    );
    // amount_lt, transaction
    assert_eq!(
        decline_of(case("940810", "100").amount("0.5").run(&t)),
        declined("13", "small-purchases-explicit")
    );
    // non-numeric processing code is an unknown transaction type, matched by no list
    let r = case("940810", "100").pc("AB0000").run(&t);
    assert_eq!(r.3, "catch-all-route");
}

#[test]
fn first_match_wins() {
    let t = table();
    // A privileged 0200 would match auth-only-for-vip, but vip-via-100 comes first.
    let r = case("940840", "100").run(&t);
    assert_eq!(r.3, "vip-via-100");
    // Payroll card in the village asking a balance: no-balance-in-village comes before payroll-home.
    assert_eq!(
        decline_of(case("940820", "300").pc("310000").amount("0").run(&t)),
        declined("58", "no-balance-in-village")
    );
}

#[test]
fn mti_class_condition() {
    let text = NET.replace("[[rule]]\nid = \"no-balance-in-village\"", "[[rule]]\nid = \"no-auth\"\nwhen = { mti_class = [\"authorization\"] }\nthen = { decline = \"12\" }\n[[rule]]\nid = \"no-balance-in-village\"");
    let (t, _) = RoutingTable::from_toml(&text, "net.toml").unwrap();
    assert_eq!(
        decline_of(case("940810", "100").mti("0100").run(&t)),
        declined("12", "no-auth")
    );
    assert_eq!(case("940810", "100").mti("0200").run(&t).0, Verdict::Route);
}

#[test]
fn explain_masks_the_pan_and_lists_every_rule() {
    let t = table();
    let c = case("940810", "100");
    let tx = Transaction {
        pan: &c.pan,
        acquirer: b"100",
        mti: Mti::new(b"0200").unwrap(),
        processing_code: b"000000",
        amount: Decimal::from(10),
        currency: 408,
        channel: Channel::Terminal,
        app: None,
    };
    let json = t.explain(&tx).to_json().to_string();
    let full = String::from_utf8(c.pan.clone()).unwrap();
    assert!(!json.contains(&full), "{json}");
    assert!(
        json.contains(&format!("{}******{}", &full[..6], &full[12..])),
        "{json}"
    );
    let rules_in_trace = json.matches("\"matched\":").count();
    assert_eq!(rules_in_trace, t.rules().len(), "{json}");
    assert!(json.starts_with("{\"decision\":\"route\",\"issuer\":\"100\",\"product\":\"debit\",\"response_code\":null,\"rule\":\"catch-all-route\""), "{json}");
    assert_eq!(Step::Rule, t.decide(&tx).step);
}
