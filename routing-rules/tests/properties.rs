//! Properties: the compiled BIN table agrees with a naive longest-match scan, and
//! the indexed rule search agrees with walking the rules in order (`explain`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::fmt::Write;

use codecs::luhn::luhn_check_digit;
use codecs::Mti;
use proptest::prelude::*;
use routing_rules::bins::{BinRange, BinTable};
use routing_rules::{Channel, RoutingTable, Transaction};
use rust_decimal::Decimal;

/// Naive: scan every range, keep the longest that contains the PAN.
fn naive(ranges: &[BinRange], pan: &[u8]) -> Option<u16> {
    ranges
        .iter()
        .filter(|r| r.contains(pan))
        .max_by_key(|r| r.len)
        .map(|r| r.product)
}

/// Random ranges concentrated under a few prefixes so they nest and touch; same-length
/// overlaps are dropped (the loader refuses them).
fn ranges_strategy() -> impl Strategy<Value = Vec<BinRange>> {
    // Mostly under 9408, sometimes far apart (so the table spans most of the key space).
    let base = prop_oneof![8 => Just(940_800u64), 1 => Just(100_000u64), 1 => Just(999_950u64)];
    proptest::collection::vec((6usize..=11, 0u64..40, 0u64..3, 0u16..50, base), 1..200).prop_map(
        |specs| {
            let mut out: Vec<BinRange> = Vec::new();
            for (len, offset, width, product, base) in specs {
                let scale = 10u64.pow(len as u32 - 6);
                let low = base * scale + offset * scale / 7 + offset;
                let high = low + width * (scale / 10 + 1);
                let high = high.min(10u64.pow(len as u32) - 1);
                let r = BinRange {
                    low,
                    high,
                    len: len as u8,
                    product,
                };
                if out
                    .iter()
                    .all(|o| o.len != r.len || o.high < r.low || r.high < o.low)
                {
                    out.push(r);
                }
            }
            out
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn bin_table_matches_naive_scan(ranges in ranges_strategy(), pans in proptest::collection::vec((0usize..200, 0u64..1_000_000_000, 0u8..6), 50)) {
        let table = BinTable::build(ranges.clone());
        for (pick, noise, mode) in pans {
            // PANs at range edges, inside ranges, and random ones.
            let r = &ranges[pick % ranges.len()];
            let prefix = match mode {
                0 => r.low.to_string(),
                1 => r.high.to_string(),
                // Just outside the range, on either side.
                2 => format!("{:0w$}", r.low.saturating_sub(1), w = r.len as usize),
                3 => format!("{:0w$}", r.high + 1, w = r.len as usize),
                4 => format!("{}", noise),
                _ => format!("9408{}", noise % 10_000_000),
            };
            let mut pan = format!("{prefix}{noise:0>9}");
            pan.truncate(15);
            let mut pan = pan.into_bytes();
            pan.push(luhn_check_digit(&pan).unwrap());
            let expected = naive(&ranges, &pan);
            prop_assert_eq!(table.lookup(&pan).map(|r| r.product), expected, "pan {}", String::from_utf8_lossy(&pan));
            prop_assert_eq!(table.lookup_product(&pan), expected, "pan {}", String::from_utf8_lossy(&pan));
        }
    }
}

const NETWORK: &str = r#"
[[region]]
id = "r0"
kind = "capital"
[[region]]
id = "r1"
kind = "provincial-capital"
[[region]]
id = "r2"
kind = "other"
[[bank]]
id = "10"
region = "r0"
roles = ["issuer", "acquirer"]
[[bank]]
id = "11"
region = "r1"
roles = ["issuer", "acquirer"]
[[bank]]
id = "12"
region = "r2"
roles = ["issuer", "acquirer"]
[[product]]
id = "p0"
issuer = "10"
category = "national-debit"
currencies = ["408", "840"]
[[product]]
id = "p1"
issuer = "11"
category = "enterprise-payroll"
home_region = "r1"
currencies = ["408", "840"]
limit = [{ currency = "408", purchase = "55", cash = "30.005" }, { currency = "840", other = "7.5" }]
[[product]]
id = "p2"
issuer = "12"
category = "privileged"
home_region = "r2"
currencies = ["408"]
limit = [{ currency = "408", purchase = "80.25", other = "0" }]
[[bin]]
low = "940800"
high = "940800"
product = "p0"
[[bin]]
low = "940801"
high = "940801"
product = "p1"
[[bin]]
low = "940802"
high = "940802"
product = "p2"
[[app]]
id = "a0"
requestor_id = "94000000000"
banks = ["10", "11"]
[[app]]
id = "a1"
requestor_id = "94000000001"
banks = ["12"]
"#;

/// A random rule in TOML.
fn rule_toml(i: usize, seed: &[u8]) -> String {
    let pick = |k: usize, options: &[&str]| options[seed[k] as usize % options.len()].to_string();
    let mut conds = Vec::new();
    let lists: [(&str, &[&str]); 9] = [
        ("acquirer", &["\"10\"", "\"11\"", "\"12\""]),
        ("acquirer_region", &["\"r0\"", "\"r1\"", "\"r2\""]),
        ("acquirer_region_kind", &["\"capital\"", "\"other\""]),
        ("issuer", &["\"10\"", "\"11\"", "\"12\""]),
        ("product", &["\"p0\"", "\"p1\"", "\"p2\""]),
        ("category", &["\"national-debit\"", "\"privileged\""]),
        ("transaction", &["\"purchase\"", "\"cash\"", "\"balance\""]),
        ("mti_class", &["\"authorization\"", "\"financial\""]),
        ("currency", &["\"408\"", "\"840\""]),
    ];
    for (k, (name, options)) in lists.iter().enumerate() {
        match seed[k] % 6 {
            0 => conds.push(format!("{name} = [{}]", pick(k + 9, options))),
            1 => conds.push(format!("{name}_not = [{}]", pick(k + 9, options))),
            _ => {}
        }
    }
    if seed[20] % 4 == 0 {
        conds.push(format!(
            "home_region = \"{}\"",
            pick(21, &["same", "different", "none"])
        ));
    }
    match seed[27] % 8 {
        0 => conds.push(format!(
            "channel = [{}]",
            pick(28, &["\"wallet-qr\"", "\"atm\"", "\"terminal\", \"atm\""])
        )),
        1 => conds.push(format!(
            "channel_not = [{}]",
            pick(28, &["\"wallet-qr\"", "\"terminal\""])
        )),
        2 => conds.push(format!("app = [{}]", pick(29, &["\"a0\"", "\"a1\""]))),
        3 => conds.push(format!("app_not = [{}]", pick(29, &["\"a0\"", "\"a1\""]))),
        4 => conds.push(format!(
            "issuer_joined_app = {}",
            pick(30, &["true", "false"])
        )),
        _ => {}
    }
    if seed[22] % 3 == 0 {
        conds.push(format!(
            "amount_{} = \"{}\"",
            pick(23, &["gt", "ge", "lt", "le"]),
            ["10", "20.5", "30.005", "0", "45.12345", "-1", "60", "70.99", "100", "5.5"]
                [seed[24] as usize % 10]
        ));
    }
    let then = match seed[25] % 3 {
        0 => "{ route = true }".to_string(),
        1 => format!("{{ route_to = \"{}\" }}", pick(26, &["10", "11", "12"])),
        _ => format!(
            "{{ decline = \"{}\" }}",
            pick(26, &["12", "13", "57", "58", "61", "62"])
        ),
    };
    format!(
        "[[rule]]\nid = \"r{i}\"\nwhen = {{ {} }}\nthen = {then}\n",
        conds.join(", ")
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn indexed_rules_match_a_linear_walk(
        rules in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 31), 1..80),
        txs in proptest::collection::vec((0u8..3, 0u8..3, 0u8..3, 0u8..2, 0u8..2, 0u32..120, any::<bool>(), 0u8..5), 40),
    ) {
        let mut text = NETWORK.to_string();
        for (i, seed) in rules.iter().enumerate() {
            text.push_str(&rule_toml(i, seed));
        }
        let (table, _) = RoutingTable::from_toml(&text, "random.toml").unwrap();
        for (product, acquirer, txn, mti, cur, amount, cents, how) in txs {
            // A card at a terminal or ATM, or a QR payment through either app.
            let (channel, app) = [
                (Channel::Terminal, None),
                (Channel::Atm, None),
                (Channel::WalletQr, Some("a0")),
                (Channel::WalletQr, Some("a1")),
                (Channel::Terminal, Some("a1")),
            ][how as usize];
            let mut pan = format!("94080{product}000000000").into_bytes();
            pan.push(luhn_check_digit(&pan).unwrap());
            let acquirer = format!("1{acquirer}");
            let pc = ["000000", "010000", "310000"][txn as usize];
            // Amounts of every scale: whole, cents, more decimals than the integer
            // fast path takes (those go the general way), and huge ones.
            let mut amount_text = String::new();
            let fraction = match (cents, amount % 5) {
                (false, _) => "",
                (true, 0) => ".5",
                (true, 1) => ".005",
                (true, 2) => ".00",
                (true, 3) => ".123456",
                _ => "000000000000000",
            };
            write!(amount_text, "{amount}{fraction}").unwrap();
            let tx = Transaction {
                pan: &pan,
                acquirer: acquirer.as_bytes(),
                mti: Mti::new(if mti == 0 { b"0100" } else { b"0200" }).unwrap(),
                processing_code: pc.as_bytes(),
                amount: amount_text.parse::<Decimal>().unwrap(),
                currency: if cur == 0 { 408 } else { 840 },
                channel,
                app,
            };
            let fast = table.decide(&tx);
            let slow = table.explain(&tx).decision;
            prop_assert_eq!(fast.rule.map(|r| &r.id), slow.rule.map(|r| &r.id));
            prop_assert_eq!(fast.verdict, slow.verdict);
            prop_assert_eq!(fast.response_code, slow.response_code);
            prop_assert_eq!(fast.issuer.map(|b| &b.id), slow.issuer.map(|b| &b.id));
            prop_assert_eq!(fast.product.map(|p| &p.id), slow.product.map(|p| &p.id));
            prop_assert_eq!(fast.step, slow.step);
        }
    }
}
