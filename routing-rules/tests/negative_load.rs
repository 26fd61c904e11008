//! A negative file of a hundred thousand cards loads with the rules, and every card
//! in it (and none outside it) is found. Prints the load time; the release figure is
//! in the README (`cargo test --release -p routing-rules --test negative_load --
//! --nocapture`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::fmt::Write;

use routing_rules::{pan_digest, HotReason, RoutingTable};

mod common;
use common::BASE;

const CARDS: u64 = 100_000;

const RULES: &str = r#"
[[negative_file]]
issuer = "100"
path = "hot.toml"
"#;

fn card(i: u64) -> String {
    format!("9408{i:012}")
}

#[test]
// Measures load time on the wall clock; there is no core or paused clock here.
#[allow(clippy::disallowed_types)]
fn a_hundred_thousand_cards_load_and_are_found() {
    let dir = std::env::temp_dir().join(format!("rr-negative-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::with_capacity(CARDS as usize * 110);
    let reasons = ["lost", "stolen", "restricted"];
    // Even accounts only: the odd ones are the cards that must not be found.
    for i in 0..CARDS {
        let hex: String = pan_digest(card(2 * i).as_bytes()).iter().fold(
            String::with_capacity(64),
            |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            },
        );
        let _ = writeln!(
            text,
            "[[card]]\nsha256 = \"{hex}\"\nreason = \"{}\"",
            reasons[(i % 3) as usize]
        );
    }
    for r in 0..100u64 {
        let _ = writeln!(
            text,
            "[[range]]\nlow = \"95{:05}00\"\nhigh = \"95{:05}49\"\nreason = \"stolen\"",
            r, r
        );
    }
    std::fs::write(dir.join("hot.toml"), &text).unwrap();
    let origin = dir.join("net.toml");

    let start = std::time::Instant::now();
    let (table, _) =
        RoutingTable::from_toml(&format!("{BASE}\n{RULES}"), origin.to_str().unwrap()).unwrap();
    let took = start.elapsed();
    println!(
        "loaded {CARDS} cards and 100 ranges ({} bytes of TOML) in {took:?}",
        text.len()
    );

    let file = table.negative_file(0).unwrap();
    assert_eq!(
        (file.card_count(), file.ranges().len()),
        (CARDS as usize, 100)
    );
    for i in (0..CARDS).step_by(97) {
        let listed = card(2 * i);
        let absent = card(2 * i + 1);
        assert_eq!(
            file.lookup(listed.as_bytes(), &pan_digest(listed.as_bytes())),
            Some(HotReason::ALL[(i % 3) as usize])
        );
        assert_eq!(
            file.lookup(absent.as_bytes(), &pan_digest(absent.as_bytes())),
            None
        );
    }
    let in_range = b"9500042251234567";
    let between = b"9500042951234567";
    assert_eq!(
        file.lookup(in_range, &pan_digest(in_range)),
        Some(HotReason::Stolen)
    );
    assert_eq!(file.lookup(between, &pan_digest(between)), None);
    std::fs::remove_dir_all(&dir).unwrap();
    // Generous for an unoptimised build on a shared machine; release is far below.
    assert!(took.as_secs() < 20, "took {took:?}");
}
