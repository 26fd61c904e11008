//! Every load problem names the file, the entry and what is wrong.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use routing_rules::RoutingTable;

const BASE: &str = r#"
[[region]]
id = "cap"
kind = "capital"
[[bank]]
id = "100"
region = "cap"
roles = ["issuer", "acquirer"]
[[product]]
id = "debit"
issuer = "100"
category = "national-debit"
currencies = ["408"]
[[bin]]
low = "940800"
high = "940809"
product = "debit"
"#;

/// Load BASE plus `extra`; return all error lines.
fn errors(extra: &str) -> Vec<String> {
    match RoutingTable::from_toml(&format!("{BASE}\n{extra}"), "net.toml") {
        Ok(_) => Vec::new(),
        Err(e) => e.0.errors.iter().map(|p| p.to_string()).collect(),
    }
}

fn assert_error(extra: &str, expected: &[&str]) {
    let errs = errors(extra);
    assert!(
        errs.iter().any(|e| expected.iter().all(|x| e.contains(x))),
        "expected an error containing {expected:?}, got {errs:?}"
    );
    assert!(errs.iter().all(|e| e.starts_with("net.toml: ")), "{errs:?}");
}

#[test]
fn the_base_loads() {
    assert!(errors("").is_empty());
}

#[test]
fn unknown_references() {
    assert_error(
        "[[bank]]\nid = \"200\"\nregion = \"nowhere\"\nroles = [\"acquirer\"]",
        &["bank 200", "unknown region \"nowhere\""],
    );
    assert_error("[[product]]\nid = \"p\"\nissuer = \"999\"\ncategory = \"privileged\"\ncurrencies = [\"408\"]", &["product p", "unknown issuer bank \"999\""]);
    assert_error(
        "[[bin]]\nlow = \"941000\"\nhigh = \"941000\"\nproduct = \"nope\"",
        &["bin 941000-941000", "unknown product \"nope\""],
    );
    assert_error(
        "[[rule]]\nid = \"r\"\nwhen = { acquirer = [\"555\"] }\nthen = { route = true }",
        &["rule r", "acquirer: unknown value \"555\""],
    );
    assert_error(
        "[[rule]]\nid = \"r\"\nwhen = { category_not = [\"gold\"] }\nthen = { route = true }",
        &["rule r", "category_not: unknown value \"gold\""],
    );
    assert_error(
        "[[rule]]\nid = \"r\"\nthen = { route_to = \"555\" }",
        &["rule r", "route_to: unknown bank \"555\""],
    );
    assert_error("[[product]]\nid = \"p\"\nissuer = \"100\"\ncategory = \"privileged\"\nhome_region = \"x\"\ncurrencies = [\"408\"]", &["product p", "unknown home region"]);
    assert_error("[[product]]\nid = \"p\"\nissuer = \"100\"\ncategory = \"privileged\"\ncurrencies = [\"ZZZ\"]", &["product p", "unknown currency"]);
}

#[test]
fn invalid_codes_and_values() {
    assert_error(
        "[[rule]]\nid = \"r\"\nthen = { decline = \"05\" }",
        &["rule r", "response code \"05\""],
    );
    assert_error(
        "[[rule]]\nid = \"r\"\nthen = { decline = \"5\" }",
        &["rule r", "response code"],
    );
    assert_error(
        "[[rule]]\nid = \"r\"\nthen = { }",
        &["rule r", "exactly one"],
    );
    assert_error(
        "[[rule]]\nid = \"r\"\nthen = { route = true, decline = \"57\" }",
        &["rule r", "exactly one"],
    );
    assert_error(
        "[[rule]]\nid = \"r\"\nwhen = { amount_gt = \"ten\" }\nthen = { route = true }",
        &["rule r", "amount_gt"],
    );
    assert_error(
        "[[rule]]\nid = \"r\"\nwhen = { home_region = \"near\" }\nthen = { route = true }",
        &["rule r", "home_region"],
    );
    assert_error(
        "[[rule]]\nid = \"r\"\nwhen = { transaction = [\"refund\"] }\nthen = { route = true }",
        &["rule r", "transaction: unknown value \"refund\""],
    );
    assert_error(
        "[[region]]\nid = \"x\"\nkind = \"village\"",
        &["region x", "kind"],
    );
    assert_error(
        "[[bank]]\nid = \"12a\"\nregion = \"cap\"\nroles = [\"acquirer\"]",
        &["bank 12a", "1-11 digits"],
    );
    assert_error(
        "[[bank]]\nid = \"300\"\nregion = \"cap\"\nroles = [\"lender\"]",
        &["bank 300", "role \"lender\""],
    );
    assert_error("[[bank]]\nid = \"300\"\nregion = \"cap\"\nroles = [\"acquirer\"]\n[[product]]\nid = \"p\"\nissuer = \"300\"\ncategory = \"privileged\"\ncurrencies = [\"408\"]", &["product p", "issuer role"]);
    assert_error("[[product]]\nid = \"p\"\nissuer = \"100\"\ncategory = \"privileged\"\ncurrencies = [\"408\"]\n[[product.limit]]\ncurrency = \"408\"\ncash = \"-5\"", &["product p", "limit cash"]);
}

#[test]
fn bin_ranges() {
    assert_error(
        "[[bin]]\nlow = \"941009\"\nhigh = \"941000\"\nproduct = \"debit\"",
        &["bin 941009-941000", "low > high"],
    );
    assert_error(
        "[[bin]]\nlow = \"94100\"\nhigh = \"94100\"\nproduct = \"debit\"",
        &["6-11 digits"],
    );
    assert_error(
        "[[bin]]\nlow = \"941000000000\"\nhigh = \"941000000000\"\nproduct = \"debit\"",
        &["6-11 digits"],
    );
    assert_error(
        "[[bin]]\nlow = \"9410000\"\nhigh = \"941001\"\nproduct = \"debit\"",
        &["same length"],
    );
    assert_error(
        "[[bin]]\nlow = \"940805\"\nhigh = \"940812\"\nproduct = \"debit\"",
        &["bin 940805-940812", "overlaps bin 940800-940809"],
    );
    // A longer range inside a shorter one is fine.
    assert!(
        errors("[[bin]]\nlow = \"9408050\"\nhigh = \"9408059\"\nproduct = \"debit\"").is_empty()
    );
}

#[test]
fn duplicate_ids() {
    assert_error(
        "[[region]]\nid = \"cap\"\nkind = \"other\"",
        &["region cap", "duplicate id"],
    );
    assert_error(
        "[[bank]]\nid = \"100\"\nregion = \"cap\"\nroles = [\"acquirer\"]",
        &["bank 100", "duplicate id"],
    );
    assert_error("[[product]]\nid = \"debit\"\nissuer = \"100\"\ncategory = \"privileged\"\ncurrencies = [\"408\"]", &["product debit", "duplicate id"]);
    assert_error("[[rule]]\nid = \"r\"\nthen = { route = true }\n[[rule]]\nid = \"r\"\nthen = { decline = \"57\" }", &["rule r", "duplicate id"]);
}

#[test]
fn syntax_and_unknown_keys() {
    assert_error(
        "[[rule]]\nid = \"r\"\nwhen = { acquirer_regoin = [\"cap\"] }\nthen = { route = true }",
        &["acquirer_regoin"],
    );
    assert_error("[[bank]\n", &["line"]);
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let errs = errors("[[bin]]\nlow = \"941009\"\nhigh = \"941000\"\nproduct = \"debit\"\n[[rule]]\nid = \"r\"\nthen = { decline = \"99\" }");
    assert_eq!(errs.len(), 2, "{errs:?}");
}

#[test]
fn shadowed_rules_are_warnings() {
    let extra = r#"
[[rule]]
id = "broad"
when = { transaction = ["cash"] }
then = { decline = "61" }
[[rule]]
id = "narrow"
when = { transaction = ["cash"], amount_gt = "100" }
then = { decline = "57" }
[[rule]]
id = "other"
when = { transaction = ["purchase"], amount_gt = "100" }
then = { decline = "61" }
[[rule]]
id = "narrower"
when = { transaction = ["purchase"], amount_gt = "200", acquirer = ["100"] }
then = { decline = "57" }
"#;
    let (_, warnings) = RoutingTable::from_toml(&format!("{BASE}\n{extra}"), "net.toml").unwrap();
    let w: Vec<String> = warnings.iter().map(|p| p.to_string()).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains("rule narrow") && w[0].contains("rule broad"),
        "{w:?}"
    );
    assert!(
        w[1].contains("rule narrower") && w[1].contains("rule other"),
        "{w:?}"
    );
}

#[test]
fn directories_load_in_name_order() {
    let dir = std::env::temp_dir().join(format!("rr-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a-network.toml"), BASE).unwrap();
    std::fs::write(
        dir.join("b-rules.toml"),
        "[[rule]]\nid = \"x\"\nwhen = { transaction = [\"cash\"] }\nthen = { decline = \"57\" }\n",
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
    let (t, _) = RoutingTable::load(&dir).unwrap();
    assert_eq!(t.rules().len(), 1);
    assert!(t.rules()[0].source.ends_with("b-rules.toml"));
    std::fs::write(
        dir.join("c-bad.toml"),
        "[[rule]]\nid = \"y\"\nthen = { decline = \"00\" }\n",
    )
    .unwrap();
    let e = RoutingTable::load(&dir).unwrap_err();
    assert!(
        e.0.errors[0].to_string().contains("c-bad.toml: rule y"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An app entry with these fields (an issuer bank 100 and an acquirer-only 300 exist).
fn app(id: &str, requestor_id: &str, banks: &str) -> String {
    format!("[[app]]\nid = \"{id}\"\nrequestor_id = \"{requestor_id}\"\nbanks = [{banks}]\n")
}

const ACQUIRER_ONLY: &str = "[[bank]]\nid = \"300\"\nregion = \"cap\"\nroles = [\"acquirer\"]\n";

#[test]
fn apps() {
    assert!(errors(&app("pay", "94000000001", "\"100\"")).is_empty());
    assert_error(
        &format!(
            "{}{}",
            app("pay", "94000000001", "\"100\""),
            app("pay", "94000000002", "\"100\"")
        ),
        &["app pay", "duplicate id"],
    );
    assert_error(
        &format!(
            "{}{}",
            app("pay", "94000000001", "\"100\""),
            app("wallet", "94000000001", "\"100\"")
        ),
        &[
            "app wallet",
            "requestor_id 94000000001 is already app pay's",
        ],
    );
    for bad in ["9400000001", "940000000011", "9400000000x"] {
        assert_error(
            &app("pay", bad, "\"100\""),
            &["app pay", "must be 11 digits"],
        );
    }
    assert_error(
        &app("Koryo Pay", "94000000001", "\"100\""),
        &["app Koryo Pay", "lowercase"],
    );
    assert_error(
        &app("pay", "94000000001", "\"555\""),
        &["app pay", "unknown bank \"555\""],
    );
    assert_error(
        &format!("{ACQUIRER_ONLY}{}", app("pay", "94000000001", "\"300\"")),
        &["app pay", "bank 300 does not have the issuer role"],
    );
    // A misspelt key is an error, not an ignored line.
    assert_error(
        "[[app]]\nid = \"pay\"\nrequestor_id = \"94000000001\"\nbanks = []\nbank = \"100\"",
        &["unknown field `bank`"],
    );
}

#[test]
fn token_ranges() {
    let range =
        |low: &str, high: &str| format!("[[token_range]]\nlow = \"{low}\"\nhigh = \"{high}\"\n");
    assert!(errors(&range("940899", "940899")).is_empty());
    assert_error(
        &range("940899", "940890"),
        &["token_range 940899-940890", "low > high"],
    );
    assert_error(
        &range("94089", "94089"),
        &["token_range 94089-94089", "6-11 digits"],
    );
    assert_error(&range("94089x", "940899"), &["6-11 digits"]);
    assert_error(&range("9408990", "940899"), &["same length"]);
    // The BIN 940800-940809 covers these: a token would look like a card.
    assert_error(
        &range("940809", "940810"),
        &[
            "token_range 940809-940810",
            "overlaps bin 940800-940809 (net.toml)",
        ],
    );
    assert_error(
        &range("94080512", "94080512"),
        &[
            "token_range 94080512-94080512",
            "overlaps bin 940800-940809",
        ],
    );
    assert_error(
        &range("940700", "940800"),
        &["token_range 940700-940800", "overlaps bin"],
    );
}

#[test]
fn app_conditions() {
    let pay = app("pay", "94000000001", "\"100\"");
    let rule = |when: &str| {
        format!("{pay}[[rule]]\nid = \"r\"\nwhen = {{ {when} }}\nthen = {{ decline = \"57\" }}\n")
    };
    for ok in [
        "channel = [\"wallet-qr\", \"atm\", \"terminal\"]",
        "channel_not = [\"wallet-qr\"]",
        "app = [\"pay\"]",
        "app_not = [\"pay\"]",
        "issuer_joined_app = false",
    ] {
        assert!(errors(&rule(ok)).is_empty(), "{ok}");
    }
    assert_error(
        &rule("channel = [\"qr\"]"),
        &["rule r", "channel: unknown value \"qr\""],
    );
    assert_error(
        &rule("channel_not = [\"pos\"]"),
        &["rule r", "channel_not: unknown value \"pos\""],
    );
    assert_error(
        &rule("app = [\"koryo-pay\"]"),
        &["rule r", "app: unknown value \"koryo-pay\""],
    );
    assert_error(
        &rule("app_not = [\"nope\"]"),
        &["rule r", "app_not: unknown value \"nope\""],
    );
    assert_error(&rule("app = []"), &["rule r", "app: empty list"]);
    assert_error(&rule("issuer_joined_app = \"no\""), &["expected a boolean"]);
}

#[test]
fn channel_rules_shadow_only_within_their_channel() {
    let extra = r#"
[[rule]]
id = "no-cash-by-app"
when = { channel = ["wallet-qr"], transaction = ["cash"] }
then = { decline = "57" }
[[rule]]
id = "cash-limit"
when = { transaction = ["cash"], amount_gt = "100" }
then = { decline = "61" }
[[rule]]
id = "big-app-cash"
when = { channel = ["wallet-qr"], transaction = ["cash"], amount_gt = "100" }
then = { decline = "61" }
"#;
    let (_, warnings) = RoutingTable::from_toml(&format!("{BASE}\n{extra}"), "net.toml").unwrap();
    let w: Vec<String> = warnings.iter().map(|p| p.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("rule big-app-cash") && w[0].contains("rule no-cash-by-app"),
        "{w:?}"
    );
}
