//! The journal's group-commit defaults follow its durability: a strict journal
//! commits as soon as it has a record (every strict answer waits for that commit),
//! a relaxed one gathers records for a short window; `group_commit_us` overrides
//! either.

#![allow(clippy::expect_used)] // a test fails by panicking

use std::path::Path;
use std::time::Duration;

use switch::config::{
    Config, Durability, DEFAULT_RELAXED_GROUP_COMMIT_US, DEFAULT_STRICT_GROUP_COMMIT_US,
};

/// The journal settings of a one-link configuration with these `[journal]` lines.
fn journal(lines: &str) -> (Durability, Duration) {
    let text = format!(
        "[switch]\ninstitution_id = \"940000\"\nrules = \"{}\"\n\n\
         [journal]\npath = \"j.db\"\npan_key = {{ env = \"JOURNAL_DEFAULTS_TEST_KEY\" }}\n{lines}\n\n\
         [[link]]\nname = \"a\"\nrole = \"acquirer\"\nbank = \"940857\"\ndirection = \"listen\"\naddress = \"127.0.0.1:0\"\n",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../routing-rules/rules/national.toml"),
    );
    let config = Config::parse(&text, Path::new("defaults.toml")).expect("loads");
    let j = config.journal.expect("a journal");
    (j.durability, j.group_commit_window)
}

#[test]
fn strict_commits_at_once_and_relaxed_gathers() {
    assert_eq!(
        journal(""),
        (
            Durability::Strict,
            Duration::from_micros(DEFAULT_STRICT_GROUP_COMMIT_US)
        )
    );
    assert_eq!(
        journal("durability = \"relaxed\""),
        (
            Durability::Relaxed,
            Duration::from_micros(DEFAULT_RELAXED_GROUP_COMMIT_US)
        )
    );
    assert_eq!(journal("").1, Duration::ZERO, "strict waits for no company");
    assert!(
        journal("durability = \"relaxed\"").1 > Duration::ZERO,
        "relaxed gathers"
    );
    assert_eq!(
        journal("durability = \"strict\"\ngroup_commit_us = 300").1,
        Duration::from_micros(300)
    );
}
