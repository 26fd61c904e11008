//! Journal records for the store's tests: an 0200 with a fixed transmission time,
//! terminal and masked PAN, and the fields a test varies given; and the strict
//! journal they open.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use switch::config::{Durability, JournalConfig, SecretKey};
use switch::core::journal::{FinalState, JournalRecord};

pub mod pg;

/// A strict journal at `path` committing at once, with a fixed PAN key.
#[allow(dead_code)] // not every test file that shares this module opens one
pub fn config(path: PathBuf) -> JournalConfig {
    JournalConfig {
        path,
        postgres: None,
        durability: Durability::Strict,
        pan_key: Some(SecretKey::new(vec![7; 32])),
        group_commit_max: 64,
        group_commit_window: Duration::ZERO,
        cutover_secs: 0,
    }
}

/// A financial request (0200, purchase) from `acquirer` to `issuer` in KPW.
pub fn record(
    id: u64,
    acquirer: &str,
    issuer: &str,
    stan: &str,
    amount: &str,
    state: FinalState,
) -> JournalRecord {
    JournalRecord {
        id,
        pan_hash: Some("ab".repeat(32)),
        reverses: None,
        forwarded: None,
        mti: "0200".into(),
        acquirer: acquirer.into(),
        issuer: Some(issuer.into()),
        transmission: "1125101010".into(),
        stan: stan.into(),
        rrn: "000000000001".into(),
        terminal: "TERM0001".into(),
        switch_stan: Some(id as u32),
        pan_masked: "940810******1234".into(),
        processing_code: "000000".into(),
        amount: Some(Decimal::from_str(amount).unwrap()),
        currency: Some(408),
        response_code: "00".into(),
        auth_code: Some("123456".into()),
        rule: None,
        state,
        elapsed_ms: 3,
        channel: routing_rules::Channel::Terminal,
        app: None,
        stand_in: None,
    }
}

/// A request as the switch forwarded it under its STAN `stan` (what a
/// `Forwarded` record carries; the store makes the owed reversal from it).
#[allow(dead_code)] // not every test file that shares this module needs one
pub fn forwarded_for(stan: u32) -> codecs::Message {
    let mut m = codecs::Message::new(codecs::Mti::new(b"0200").expect("an MTI"));
    m.set_stan(stan);
    m.set(7, "1125101010");
    m.set(32, "940800");
    m.set(33, "940000");
    m
}
