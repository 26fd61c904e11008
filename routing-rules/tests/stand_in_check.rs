//! `check` of stand-in parameters and negative files: every problem names the file,
//! the entry and the reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::PathBuf;

use routing_rules::{Problem, RoutingTable};

mod common;
use common::BASE;

/// A limit in `currency` with the given purchase and cash lines.
fn limit(currency: &str, purchase: &str, cash: &str) -> String {
    format!("[[stand_in.limit]]\ncurrency = \"{currency}\"\n{purchase}\n{cash}\n")
}

const PURCHASE: &str = "per_transaction = \"500000\"\ndaily_amount = \"1000000\"\ndaily_count = 5";
const CASH: &str =
    "cash_per_transaction = \"200000\"\ncash_daily_amount = \"400000\"\ncash_daily_count = 2";

/// A `[[stand_in]]` entry; `products` is the TOML value or "" for none.
fn entry(id: &str, issuer: &str, products: &str, transactions: &str, limits: &str) -> String {
    let products = if products.is_empty() {
        String::new()
    } else {
        format!("products = {products}\n")
    };
    format!(
        "[[stand_in]]\nid = \"{id}\"\nissuer = \"{issuer}\"\n{products}transactions = {transactions}\n{limits}"
    )
}

/// A valid entry for both currencies of `debit`.
fn good(id: &str, products: &str) -> String {
    entry(
        id,
        "100",
        products,
        r#"["purchase", "cash"]"#,
        &(limit("408", PURCHASE, CASH) + &limit("840", PURCHASE, CASH)),
    )
}

/// A scratch directory for one test (negative files live beside the rules file).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("rr-stand-in-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.0.join(name), text).unwrap();
    }

    /// Load BASE plus `extra` as `net.toml` in the directory.
    fn load(&self, extra: &str) -> Result<(RoutingTable, Vec<Problem>), Vec<String>> {
        let origin = self.0.join("net.toml");
        RoutingTable::from_toml(&format!("{BASE}\n{extra}"), origin.to_str().unwrap())
            .map_err(|e| e.0.errors.iter().map(|p| p.to_string()).collect())
    }

    /// The error lines of loading BASE plus `extra`.
    fn errors(&self, extra: &str) -> Vec<String> {
        self.load(extra).err().unwrap_or_default()
    }

    /// Loading BASE plus `extra` reports an error in `file` containing every part.
    fn assert_error(&self, extra: &str, file: &str, expected: &[&str]) {
        let errs = self.errors(extra);
        let prefix = format!("{}: ", self.0.join(file).display());
        assert!(
            errs.iter()
                .any(|e| e.starts_with(&prefix) && expected.iter().all(|x| e.contains(x))),
            "expected an error in {file} containing {expected:?}, got {errs:?}"
        );
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_valid_entry_loads_and_covers_its_products() {
    let s = Scratch::new("valid");
    let (t, warnings) = s
        .load(&(good("debit-si", r#"["debit"]"#) + &good("rest", "")))
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let id = |p: u16| t.stand_in_for(p).map(|e| e.id.as_str());
    // `rest` names no products: it takes the issuer's others (gold), not debit.
    assert_eq!(
        (id(0), id(1), id(2)),
        (Some("debit-si"), Some("rest"), None)
    );
    assert_eq!(t.stand_in_for(99).map(|e| e.id.as_str()), None);
}

#[test]
fn unknown_issuer_product_and_currency() {
    let s = Scratch::new("unknown");
    let l = limit("408", PURCHASE, CASH);
    s.assert_error(
        &entry("s", "999", "", r#"["purchase"]"#, &l),
        "net.toml",
        &["stand_in s", "unknown issuer bank \"999\""],
    );
    s.assert_error(
        &entry("s", "300", "", r#"["purchase"]"#, &l),
        "net.toml",
        &["stand_in s", "bank 300 does not have the issuer role"],
    );
    s.assert_error(
        &entry("s", "100", r#"["platinum"]"#, r#"["purchase"]"#, &l),
        "net.toml",
        &["stand_in s", "unknown product \"platinum\""],
    );
    s.assert_error(
        &entry("s", "100", r#"["other"]"#, r#"["purchase"]"#, &l),
        "net.toml",
        &["stand_in s", "product other is issued by 200, not 100"],
    );
    s.assert_error(
        &entry(
            "s",
            "100",
            "",
            r#"["purchase"]"#,
            &limit("XYZ", PURCHASE, ""),
        ),
        "net.toml",
        &["stand_in s", "limit: unknown currency \"XYZ\""],
    );
}

#[test]
fn a_product_in_two_entries() {
    let s = Scratch::new("two");
    s.assert_error(
        &(good("a", r#"["debit"]"#) + &good("b", r#"["debit", "gold"]"#)),
        "net.toml",
        &["stand_in b", "product debit is also covered by stand_in a"],
    );
    // Two catch-all entries of one issuer both take every product.
    s.assert_error(
        &(good("a", "") + &good("b", "")),
        "net.toml",
        &["stand_in b", "is also covered by stand_in a"],
    );
    s.assert_error(
        &(good("a", r#"["debit"]"#) + &good("a", r#"["gold"]"#)),
        "net.toml",
        &["stand_in a", "duplicate id"],
    );
}

#[test]
fn transaction_kinds() {
    let s = Scratch::new("kinds");
    let l = limit("408", PURCHASE, CASH);
    s.assert_error(
        &entry("s", "100", "", r#"["purchase", "balance"]"#, &l),
        "net.toml",
        &["stand_in s", "balance is never approved in stand-in"],
    );
    s.assert_error(
        &entry("s", "100", "", r#"["refund"]"#, &l),
        "net.toml",
        &["stand_in s", "unknown kind \"refund\""],
    );
    s.assert_error(
        &entry("s", "100", "", "[]", &l),
        "net.toml",
        &["stand_in s", "transactions: empty list"],
    );
}

#[test]
fn limits() {
    let s = Scratch::new("limits");
    let both = r#"["purchase", "cash"]"#;
    let purchase = r#"["purchase"]"#;
    let cash_above =
        "cash_per_transaction = \"600000\"\ncash_daily_amount = \"400000\"\ncash_daily_count = 2";
    let count_above =
        "cash_per_transaction = \"1\"\ncash_daily_amount = \"1\"\ncash_daily_count = 6";
    let bad = "per_transaction = \"lots\"\ndaily_amount = \"-5\"\ndaily_count = 5";
    let zero = "per_transaction = \"1\"\ndaily_amount = \"1\"\ndaily_count = 0";
    let twice = limit("408", PURCHASE, "") + &limit("KPW", PURCHASE, "");
    // (transactions, limits of the gold entry, the error).
    let cases: [(&str, String, &str); 9] = [
        (
            both,
            limit("408", PURCHASE, cash_above),
            "limit 408: cash_per_transaction is above the purchase limit",
        ),
        (
            both,
            limit("408", PURCHASE, count_above),
            "limit 408: cash_daily_count is above the purchase limit",
        ),
        (
            both,
            limit("408", PURCHASE, ""),
            "cash is allowed but cash_per_transaction",
        ),
        (
            purchase,
            limit("408", PURCHASE, "cash_daily_count = 1"),
            "go together",
        ),
        (
            purchase,
            limit("408", bad, ""),
            "limit 408: per_transaction \"lots\" is not a positive amount",
        ),
        (
            purchase,
            limit("408", bad, ""),
            "limit 408: daily_amount \"-5\" is not a positive amount",
        ),
        (purchase, twice, "currency KPW given twice"),
        (purchase, String::new(), "no [[stand_in.limit]]"),
        (purchase, limit("408", zero, ""), "limit 408: daily_count 0"),
    ];
    for (transactions, limits, expected) in &cases {
        s.assert_error(
            &entry("s", "100", r#"["gold"]"#, transactions, limits),
            "net.toml",
            &["stand_in s", expected],
        );
    }
}

#[test]
fn a_currency_the_product_holds_without_a_limit_is_a_warning() {
    let s = Scratch::new("warn");
    let (_, warnings) = s
        .load(&entry(
            "s",
            "100",
            r#"["debit"]"#,
            r#"["purchase"]"#,
            &limit("408", PURCHASE, ""),
        ))
        .unwrap();
    let text: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(text[0].ends_with("net.toml: stand_in s: product debit holds currency 840 but the entry has no limit in it: stand-in declines it 57"), "{text:?}");
}

/// A `[[negative_file]]` of `issuer` at `path`.
fn negative(issuer: &str, path: &str) -> String {
    format!("[[negative_file]]\nissuer = \"{issuer}\"\npath = \"{path}\"\n")
}

const HASH: &str = "c8fff4083d751442565ba839857ecf4c972e98e91d184c2006ed1a80a96c727d";

#[test]
fn a_negative_file_loads_relative_to_its_rules_file() {
    let s = Scratch::new("neg-ok");
    std::fs::create_dir_all(s.0.join("neg")).unwrap();
    s.write(
        "neg/100.toml",
        &format!("[[card]]\nsha256 = \"{HASH}\"\nreason = \"lost\"\n[[range]]\nlow = \"9408009\"\nhigh = \"9408009\"\nreason = \"stolen\"\n"),
    );
    let (t, _) = s
        .load(&(negative("100", "neg/100.toml") + "name = \"HOT1\"\napply_when_up = true\n"))
        .unwrap();
    let f = t.negative_file(0).unwrap();
    assert_eq!(
        (
            f.name(),
            f.apply_when_up(),
            f.card_count(),
            f.ranges().len()
        ),
        ("HOT1", true, 1, 1)
    );
    assert!(t.negative_file(1).is_none());
    // Defaults: the name NEGATIVE, hot cards only in stand-in.
    let (t, _) = s.load(&negative("100", "neg/100.toml")).unwrap();
    let f = t.negative_file(0).unwrap();
    assert_eq!((f.name(), f.apply_when_up()), ("NEGATIVE", false));
}

#[test]
fn negative_file_path_missing_or_unreadable() {
    let s = Scratch::new("neg-path");
    s.assert_error(
        &negative("100", "absent.toml"),
        "net.toml",
        &[
            "negative_file 100",
            "cannot read negative file",
            "absent.toml",
        ],
    );
    // A directory cannot be read as a file (permissions would not stop root).
    std::fs::create_dir_all(s.0.join("adir")).unwrap();
    s.assert_error(
        &negative("100", "adir"),
        "net.toml",
        &["negative_file 100", "cannot read negative file"],
    );
    s.write("n.toml", "");
    s.assert_error(
        &negative("999", "n.toml"),
        "net.toml",
        &["negative_file 999", "unknown issuer bank \"999\""],
    );
    s.assert_error(
        &negative("300", "n.toml"),
        "net.toml",
        &["negative_file 300", "does not have the issuer role"],
    );
    s.assert_error(
        &(negative("100", "n.toml") + "name = \"A NAME LONGER THAN 17\"\n"),
        "net.toml",
        &["negative_file 100", "must be 1-17 printable characters"],
    );
    s.assert_error(
        &(negative("100", "n.toml") + &negative("100", "n.toml")),
        "net.toml",
        &["negative_file 100", "a second negative file for issuer 100"],
    );
}

#[test]
fn negative_file_content() {
    let s = Scratch::new("neg-content");
    let problem = |content: &str, expected: &[&str]| {
        s.write("n.toml", content);
        s.assert_error(&negative("100", "n.toml"), "n.toml", expected);
    };
    problem(
        &format!(
            "[[card]]\nsha256 = \"{}\"\nreason = \"lost\"\n",
            HASH.to_uppercase()
        ),
        &["card 1", "sha256 must be 64 lowercase hex digits"],
    );
    problem(
        &format!("[[card]]\nsha256 = \"{HASH}\"\nreason = \"lost\"\n[[card]]\nsha256 = \"{}\"\nreason = \"lost\"\n", &HASH[1..]),
        &["card 2", "sha256 must be 64 lowercase hex digits"],
    );
    problem(
        &format!("[[card]]\nsha256 = \"{HASH}\"\nreason = \"misplaced\"\n"),
        &["card 1", "unknown reason \"misplaced\""],
    );
    problem(
        "[[range]]\nlow = \"9408001\"\nhigh = \"94080011\"\nreason = \"lost\"\n",
        &[
            "range 9408001-94080011",
            "low and high must have the same length",
        ],
    );
    problem(
        "[[range]]\nlow = \"9408009\"\nhigh = \"9408001\"\nreason = \"lost\"\n",
        &["range 9408009-9408001", "low > high"],
    );
    problem(
        "[[range]]\nlow = \"94080\"\nhigh = \"94080\"\nreason = \"lost\"\n",
        &["range 94080-94080", "low and high must be 6-19 digits"],
    );
    problem(
        "[[range]]\nlow = \"9408001\"\nhigh = \"9408001\"\nreason = \"borrowed\"\n",
        &["range 9408001-9408001", "unknown reason \"borrowed\""],
    );
    problem(
        "[[range]]\nlow = \"9408001\"\nhigh = \"9408005\"\nreason = \"lost\"\n[[range]]\nlow = \"9408005\"\nhigh = \"9408009\"\nreason = \"lost\"\n",
        &["range 9408005-9408009", "overlaps range 9408001-9408005"],
    );
    problem(
        "[[card]]\nsha256 = \"x\"\nreason = \"lost\"\npan = \"1\"\n",
        &["unknown field `pan`"],
    );
    problem("[[card]\n", &["line 1"]);
}
