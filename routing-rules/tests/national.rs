//! The default national network (`rules/national.toml`) tells the story its header
//! comment promises, and the `routing-rules` command works on it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::process::Command;

use codecs::luhn::luhn_check_digit;
use routing_rules::model::{RegionKind, BUILTIN_CATEGORIES};
use routing_rules::RoutingTable;

const NATIONAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/national.toml");

fn pan(prefix: &str) -> String {
    let mut p = format!("{prefix:0<15}").into_bytes();
    p.push(luhn_check_digit(&p).unwrap());
    String::from_utf8(p).unwrap()
}

/// Run `routing-rules explain --rules NATIONAL --pan PAN` with `args`; the JSON line.
fn explain_json(pan_prefix: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_routing-rules"))
        .args(["explain", "--rules", NATIONAL, "--pan", &pan(pan_prefix)])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    assert!(
        !stdout.contains(&pan(pan_prefix)),
        "full PAN in output: {stdout}"
    );
    serde_json::from_str(&stdout).unwrap()
}

/// (decision, issuer, response_code, rule) of an explanation.
fn summary(v: &serde_json::Value) -> (String, String, String, String) {
    let s = |k: &str| v[k].as_str().unwrap_or("null").to_string();
    (s("decision"), s("issuer"), s("response_code"), s("rule"))
}

/// `routing-rules explain` of a transaction, with `extra` arguments.
fn explain_with(
    pan_prefix: &str,
    [acquirer, pc, amount, currency]: [&str; 4],
    extra: &[&str],
) -> serde_json::Value {
    let mut args = vec![
        "--acquirer",
        acquirer,
        "--processing-code",
        pc,
        "--amount",
        amount,
        "--currency",
        currency,
    ];
    args.extend_from_slice(extra);
    explain_json(pan_prefix, &args)
}

/// Run `routing-rules explain` and return (decision, issuer, response_code, rule).
fn explain(
    pan_prefix: &str,
    acquirer: &str,
    pc: &str,
    amount: &str,
    currency: &str,
) -> (String, String, String, String) {
    summary(&explain_with(
        pan_prefix,
        [acquirer, pc, amount, currency],
        &[],
    ))
}

/// The same as [`explain`] for a QR payment through `app`.
fn explain_app(
    app: &str,
    pan_prefix: &str,
    acquirer: &str,
    pc: &str,
    amount: &str,
    currency: &str,
) -> (String, String, String, String) {
    let v = explain_with(
        pan_prefix,
        [acquirer, pc, amount, currency],
        &["--channel", "wallet-qr", "--app", app],
    );
    assert_eq!(
        (v["channel"].as_str(), v["app"].as_str()),
        (Some("wallet-qr"), Some(app))
    );
    summary(&v)
}

fn q(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
    (a.to_string(), b.to_string(), c.to_string(), d.to_string())
}

#[test]
fn the_network_has_what_the_story_needs() {
    let (t, warnings) = RoutingTable::load(std::path::Path::new(NATIONAL)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let agent = t.settlement_agent().unwrap();
    assert!(agent.issuer && agent.acquirer);
    let commercial = t
        .banks()
        .iter()
        .filter(|b| b.issuer && b.acquirer && !b.settlement_agent)
        .count();
    assert!(commercial >= 3);
    let provincial_hosts = t
        .banks()
        .iter()
        .filter(|b| {
            b.acquirer
                && !b.issuer
                && t.regions()[b.region as usize].kind == RegionKind::ProvincialCapital
        })
        .count();
    assert!(provincial_hosts >= 9);
    for category in BUILTIN_CATEGORIES {
        assert!(
            t.products()
                .iter()
                .any(|p| t.category_name(p.category) == category),
            "no {category} product"
        );
    }
    assert!(t
        .products()
        .iter()
        .any(|p| p.issuer == t.bank_index(agent.id.as_bytes()).unwrap()
            && t.category_name(p.category) == "national-debit"));
    for r in t.bins().ranges() {
        let digits = r.low.to_string();
        assert!(digits.starts_with("9408"), "{digits}");
    }
}

#[test]
fn acceptance_depends_on_region_product_bank_type_and_amount() {
    // National debit card works in a province.
    assert_eq!(
        explain("940801", "940857", "000000", "1500", "408"),
        q("route", "940800", "null", "null")
    );
    // Capital resident card: only in the capital.
    assert_eq!(
        explain("940802", "940810", "000000", "1500", "408"),
        q("route", "940800", "null", "null")
    );
    assert_eq!(
        explain("940802", "940857", "000000", "1500", "408"),
        q(
            "decline",
            "940800",
            "57",
            "capital-resident-only-in-capital"
        )
    );
    // Payroll card: only in its home province (a longer BIN inside Morning Star's range).
    assert_eq!(
        explain("94081155", "940857", "000000", "1500", "408").0,
        "route"
    );
    assert_eq!(
        explain("94081155", "940858", "000000", "1500", "408"),
        q("decline", "940810", "57", "payroll-only-in-home-province")
    );
    // Foreign-currency card: only at the trade bank and the Central Bank.
    assert_eq!(
        explain("940831", "940830", "000000", "100", "840").0,
        "route"
    );
    assert_eq!(
        explain("940831", "940810", "000000", "100", "840"),
        q(
            "decline",
            "940830",
            "58",
            "foreign-currency-at-trade-and-central-bank"
        )
    );
    assert_eq!(
        explain("940831", "940830", "000000", "100", "408"),
        q("decline", "940830", "57", "null")
    );
    // Cash: lower limits outside the capital, lower still in county towns; privileged cards exempt.
    assert_eq!(
        explain("940801", "940810", "010000", "800000", "408").0,
        "route"
    );
    assert_eq!(
        explain("940801", "940857", "010000", "800000", "408"),
        q("decline", "940800", "61", "provincial-cash-limit")
    );
    assert_eq!(
        explain("940803", "940857", "010000", "800000", "408").0,
        "route"
    );
    assert_eq!(
        explain("940801", "940870", "010000", "300000", "408"),
        q("decline", "940800", "61", "county-cash-limit")
    );
    // Large purchases only in the capital.
    assert_eq!(
        explain("940803", "940810", "000000", "20000000", "408").0,
        "route"
    );
    assert_eq!(
        explain("940803", "940857", "000000", "20000000", "408"),
        q("decline", "940800", "61", "large-purchases-in-capital")
    );
    // Restricted legacy card; Pine Ridge via the Central Bank; bad PAN; unknown BIN; unknown acquirer.
    assert_eq!(
        explain("94082099", "940810", "000000", "10", "408"),
        q("decline", "940820", "62", "legacy-cards-restricted")
    );
    assert_eq!(
        explain("940840", "940810", "000000", "10", "408"),
        q("route", "940800", "null", "pine-ridge-via-central-bank")
    );
    assert_eq!(explain("940898", "940810", "000000", "10", "408").2, "15");
    assert_eq!(explain("940801", "123456", "000000", "10", "408").2, "31");
    // Unknown transaction type, zero amount.
    assert_eq!(explain("940801", "940810", "200000", "10", "408").2, "12");
    assert_eq!(explain("940801", "940810", "000000", "0", "408").2, "13");
}

#[test]
fn check_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_routing-rules"))
        .args(["check", NATIONAL])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
    let dir = std::env::temp_dir().join(format!("rr-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[bin]]\nlow = \"940809\"\nhigh = \"940801\"\nproduct = \"x\"\n[[rule]]\nid = \"r\"\nthen = { decline = \"00\" }\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_routing-rules"))
        .args(["check", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("error: ")).count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("bad.toml: bin 940809-940801: low > high"),
        "{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_apps_tell_their_story() {
    let (t, _) = RoutingTable::load(std::path::Path::new(NATIONAL)).unwrap();
    let joined = |app: &str| -> Vec<&str> {
        t.app(app)
            .unwrap()
            .banks
            .iter()
            .map(|&b| t.banks()[b as usize].id.as_str())
            .collect()
    };
    let issuers: Vec<&str> = t
        .banks()
        .iter()
        .filter(|b| b.issuer)
        .map(|b| b.id.as_str())
        .collect();
    assert_eq!(joined("koryo-pay"), issuers);
    assert_eq!(joined("jonsong"), ["940800", "940810", "940820"]);
    assert_eq!(joined("manmulsang"), ["940800"]);
    assert_eq!(t.app_by_requestor("94000000003").unwrap().id, "manmulsang");
    assert!(t.is_token(pan("940899").as_bytes()));
    let enrolment_rules: Vec<&str> = t
        .rules()
        .iter()
        .filter(|r| r.decides_enrolment())
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(enrolment_rules, ["app-accepts-joined-banks"]);
}

#[test]
fn app_payments_follow_the_app_and_region_rules() {
    // app card acquirer processing-code amount currency: decision issuer rc rule
    let cases = [
        // They all began with the national card.
        "koryo-pay 940801 940857 000000 1500 408: route 940800 null null",
        "jonsong 940801 940857 000000 1500 408: route 940800 null null",
        "manmulsang 940801 940857 000000 1500 408: route 940800 null null",
        // An app accepts the cards of the banks that joined it.
        "manmulsang 940810 940810 000000 1500 408: decline 940810 57 app-accepts-joined-banks",
        "jonsong 940810 940810 000000 1500 408: route 940810 null null",
        "jonsong 940830 940830 000000 1500 408: decline 940830 57 app-accepts-joined-banks",
        "koryo-pay 940830 940830 000000 1500 408: route 940830 null null",
        // Pine Ridge cards, by the app that joined it, still go via the Central Bank.
        "koryo-pay 940840 940810 000000 1500 408: route 940800 null pine-ridge-via-central-bank",
        // No cash, no foreign-currency cards, at most 1,000,000 KPW.
        "koryo-pay 940801 940810 010000 1500 408: decline 940800 57 no-cash-by-app",
        "koryo-pay 940831 940830 000000 100 840: decline 940830 57 foreign-currency-not-in-apps",
        "koryo-pay 940803 940810 000000 1500000 408: decline 940800 61 app-purchase-limit",
        // The region rules apply to app payments as to cards.
        "koryo-pay 940802 940810 000000 1500 408: route 940800 null null",
        "koryo-pay 940802 940857 000000 1500 408: decline 940800 57 capital-resident-only-in-capital",
        "koryo-pay 94081155 940858 000000 1500 408: decline 940810 57 payroll-only-in-home-province",
    ];
    for case in cases {
        let (given, expected) = case.split_once(": ").unwrap();
        let [app, card, acquirer, pc, amount, currency] =
            given.split(' ').collect::<Vec<_>>().try_into().unwrap();
        let [d, issuer, rc, rule] = expected.split(' ').collect::<Vec<_>>().try_into().unwrap();
        assert_eq!(
            explain_app(app, card, acquirer, pc, amount, currency),
            q(d, issuer, rc, rule),
            "{case}"
        );
    }
    // A card at a terminal is not limited as an app payment is.
    assert_eq!(
        explain("940803", "940810", "000000", "1500000", "408").0,
        "route"
    );
    // A token keyed at a terminal is not a card.
    let v = explain_json("940899", &["--acquirer", "940810"]);
    assert_eq!(summary(&v), q("decline", "null", "14", "null"));
    assert_eq!(v["trace"][1]["detail"], "token range: not a card");
}

#[test]
fn explain_shows_the_channel() {
    let v = explain_json("940801", &["--acquirer", "940810"]);
    assert_eq!(v["channel"], "terminal");
    assert!(v["app"].is_null());
    assert_eq!(v["trace"][3]["check"], "channel");
    assert_eq!(v["trace"][3]["detail"], "terminal, no app");
    let v = explain_json(
        "940810",
        &[
            "--acquirer",
            "940810",
            "--channel",
            "wallet-qr",
            "--app",
            "jonsong",
        ],
    );
    assert_eq!(
        v["trace"][3]["detail"],
        "wallet-qr, app jonsong (Jonsong Wallet): issuer 940810 joined it"
    );
    // A bad channel name is refused.
    let out = Command::new(env!("CARGO_BIN_EXE_routing-rules"))
        .args(["explain", "--rules", NATIONAL, "--pan", &pan("940801")])
        .args(["--acquirer", "940810", "--channel", "qr"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn explain_enrolment() {
    // A card of a bank the app did not join: refused by rule.
    let v = explain_json("940810", &["--enrolment", "--app", "manmulsang"]);
    assert_eq!(
        summary(&v),
        q("decline", "940810", "57", "app-accepts-joined-banks")
    );
    assert_eq!(
        (v["channel"].as_str(), v["app"].as_str()),
        (Some("wallet-qr"), Some("manmulsang"))
    );
    // Joined: the issuer verifies the account; payment rules are skipped.
    let v = explain_json("940810", &["--enrolment", "--app", "koryo-pay"]);
    assert_eq!(summary(&v), q("route", "940810", "null", "null"));
    let skipped = v["trace"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("skipped: "))
        })
        .count();
    assert_eq!(skipped, 14);
    let v = explain_json("940810", &["--enrolment", "--app", "unknown-app"]);
    assert_eq!(summary(&v), q("decline", "940810", "96", "null"));
    assert_eq!(v["trace"][2]["check"], "app");
    // --app is required with --enrolment.
    let out = Command::new(env!("CARGO_BIN_EXE_routing-rules"))
        .args([
            "explain",
            "--enrolment",
            "--rules",
            NATIONAL,
            "--pan",
            &pan("940801"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// The `stand_in` object of `explain --stand-in` for a card under `prefix` (padded as
/// [`pan`] does), or a full `pan` when it is 19 digits.
fn stand_in(card: &str, args: &[&str]) -> serde_json::Value {
    let card = if card.len() == 19 {
        card.to_string()
    } else {
        pan(card)
    };
    let out = Command::new(env!("CARGO_BIN_EXE_routing-rules"))
        .args(["explain", "--rules", NATIONAL, "--pan", &card, "--stand-in"])
        .args(["--today", "2612"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    assert!(!stdout.contains(&card), "full PAN in output: {stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    v["stand_in"].clone()
}

/// (decision, response code, check, entry) of a `stand_in` object.
fn stand_in_summary(v: &serde_json::Value) -> (String, String, String, String) {
    let s = |k: &str| v[k].as_str().unwrap_or("null").to_string();
    (s("decision"), s("response_code"), s("check"), s("entry"))
}

#[test]
fn stand_in_story() {
    let (t, _) = RoutingTable::load(std::path::Path::new(NATIONAL)).unwrap();
    // Every issuer's products have stand-in, except the legacy and foreign cards.
    for (i, p) in t.products().iter().enumerate() {
        let covered = t.stand_in_for(i as u16).is_some();
        let excluded = p.id == "golden-valley-legacy" || p.id == "harbour-foreign";
        assert_eq!(covered, !excluded, "{}", p.id);
    }
    let purchase = |card: &str, amount: &str, extra: &[&str]| {
        let mut args = vec!["--acquirer", "940800", "--amount", amount];
        args.extend_from_slice(extra);
        stand_in_summary(&stand_in(card, &args))
    };
    let q4 = |a: &str, b: &str, c: &str, d: &str| q(a, b, c, d);
    // Within the limits of Morning Star's debit card; above them.
    assert_eq!(
        purchase("940810123", "500000", &[]),
        q4("approve", "00", "within-limits", "morning-star-debit")
    );
    assert_eq!(
        purchase("940810123", "500001", &[]),
        q4("decline", "61", "per-transaction", "morning-star-debit")
    );
    let v = stand_in(
        "940810123",
        &[
            "--acquirer",
            "940800",
            "--amount",
            "200000",
            "--used-amount",
            "900000",
            "--used-count",
            "1",
        ],
    );
    assert!(
        v["text"].as_str().unwrap().contains(
            "daily-amount: 900000 + 200000 > 1000000 KPW (entry morning-star-debit) -> 61"
        ),
        "{v}"
    );
    assert_eq!(
        purchase("940810123", "1", &["--used-count", "5"]),
        q4("decline", "65", "daily-count", "morning-star-debit")
    );
    assert_eq!(
        purchase("940810123", "1", &["--expiry", "2611"]),
        q4("decline", "54", "expired", "morning-star-debit")
    );
    // Cash takes the lower cash limits.
    let cash = stand_in(
        "940810123",
        &[
            "--acquirer",
            "940800",
            "--processing-code",
            "010000",
            "--amount",
            "200001",
        ],
    );
    assert_eq!(
        (stand_in_summary(&cash).1, cash["bucket"].as_str()),
        ("61".to_string(), Some("cash"))
    );
    // Payroll cards have their own, lower entry (in their home province).
    assert_eq!(
        purchase("9408115", "300001", &[]).2.as_str(),
        // Routed only in Hamhung: the rules decline it at the Central Bank's
        // terminals, so stand-in never applies.
        "null"
    );
    assert_eq!(
        stand_in_summary(&stand_in(
            "9408115",
            &["--acquirer", "940857", "--amount", "300001"]
        )),
        q4("decline", "61", "per-transaction", "morning-star-payroll")
    );
    // No stand-in for the legacy card and the foreign-currency cards.
    assert_eq!(
        stand_in_summary(&stand_in(
            "94082099",
            &["--acquirer", "940820", "--amount", "1"]
        ))
        .2,
        "null",
        "the rules decline the legacy card before any issuer is asked"
    );
    assert_eq!(
        stand_in_summary(&stand_in(
            "940831",
            &[
                "--acquirer",
                "940830",
                "--amount",
                "10",
                "--currency",
                "840"
            ]
        )),
        q4("decline", "91", "not-allowed", "null")
    );
    // Pine Ridge's catch-all entry.
    assert_eq!(
        purchase("940840123", "1", &[]),
        q4("approve", "00", "within-limits", "pine-ridge")
    );
    // Morning Star's negative file: three cards by digest, a range of 19-digit cards.
    for (card, code) in [
        ("94081000000001", "41"),
        ("94081000000002", "43"),
        ("94081100000003", "62"),
    ] {
        let v = stand_in(card, &["--acquirer", "940800", "--amount", "1"]);
        assert_eq!(
            stand_in_summary(&v),
            q4("decline", code, "hot-card", "morning-star-debit")
        );
        assert!(
            v["hot_source"]
                .as_str()
                .unwrap()
                .starts_with("negative file NEGATIVE"),
            "{v}"
        );
    }
    let mut long = b"940810990000012345".to_vec();
    long.push(luhn_check_digit(&long).unwrap());
    let long = String::from_utf8(long).unwrap();
    assert_eq!(
        stand_in_summary(&stand_in(&long, &["--acquirer", "940800", "--amount", "1"])),
        q4("decline", "43", "hot-card", "morning-star-debit")
    );
    // --hot speaks for a card the file does not list.
    assert_eq!(
        purchase("940820123", "1", &["--hot", "restricted"]),
        q4("decline", "62", "hot-card", "golden-valley")
    );
}
