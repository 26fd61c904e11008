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

/// Run `routing-rules explain` and return (decision, issuer, response_code, rule).
fn explain(
    pan_prefix: &str,
    acquirer: &str,
    pc: &str,
    amount: &str,
    currency: &str,
) -> (String, String, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_routing-rules"))
        .args([
            "explain",
            "--rules",
            NATIONAL,
            "--pan",
            &pan(pan_prefix),
            "--acquirer",
            acquirer,
        ])
        .args([
            "--processing-code",
            pc,
            "--amount",
            amount,
            "--currency",
            currency,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    assert!(
        !stdout.contains(&pan(pan_prefix)),
        "full PAN in output: {stdout}"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let s = |k: &str| v[k].as_str().unwrap_or("null").to_string();
    (s("decision"), s("issuer"), s("response_code"), s("rule"))
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
    let q = |a: &str, b: &str, c: &str, d: &str| {
        (a.to_string(), b.to_string(), c.to_string(), d.to_string())
    };
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
    assert_eq!(explain("940899", "940810", "000000", "10", "408").2, "15");
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
