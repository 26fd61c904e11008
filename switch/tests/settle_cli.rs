//! `switch settle` without `--date`, as an operator runs it: on a journal where no
//! day with transactions has been closed it says which day it settled, that the
//! day has no transactions, which day is open and the two ways to settle that
//! (`switch cutover`, `--date`), and exits 0; after a cutover it settles the day
//! just closed and says so, also when it runs right after `switch cutover`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod journal_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use switch::config::Config;
use switch::core::journal::{FinalState, JournalRecord};
use switch::store::business_day::format_day;
use switch::store::{open_connection, Store};

use journal_support::record;

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A configuration with a journal in `dir` whose scheduled cutover is about 12
/// hours away, so that no business day ends while the test runs.
fn write_config(dir: &Path) -> PathBuf {
    let hour = (unix_ms() / 3_600_000 + 12) % 24;
    let text = format!(
        "[switch]\ninstitution_id = \"940000\"\nrules = \"{rules}\"\n\n\
         [journal]\npath = \"{journal}\"\npan_key = {{ env = \"SETTLE_CLI_TEST_UNSET_KEY\" }}\n\
         cutover = \"{hour:02}:00\"\n\n\
         [[link]]\nname = \"a\"\nrole = \"acquirer\"\nbank = \"940800\"\ndirection = \"listen\"\naddress = \"127.0.0.1:0\"\n",
        rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../routing-rules/rules/national.toml"),
        journal = dir.join("journal.db").display(),
    );
    let path = dir.join("switch.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `switch settle --config CONFIG`: (success, standard output, standard error).
fn settle(config: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switch"))
        .args(["settle", "--config", config.to_str().unwrap()])
        .output()
        .expect("switch runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An approved purchase of 25.00 KPW from bank 940800 on a card of 940810's.
fn purchase(id: u64) -> JournalRecord {
    record(
        id,
        "940800",
        "940810",
        &format!("{id:06}"),
        "25.00",
        FinalState::Approved,
    )
}

#[tokio::test]
async fn settle_without_a_date_names_its_day_and_the_way_to_the_open_one() {
    let dir = std::env::temp_dir().join(format!("settle-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config_path = write_config(&dir);
    let config = Config::load(&config_path).unwrap_or_else(|e| panic!("{e:?}"));
    let journal = config.journal.clone().expect("a journal");
    // A fresh journal, as the switch leaves it when it has started once.
    drop(open_connection(&journal.path).unwrap());
    let (store, _) = Store::open(&journal, unix_ms()).unwrap();
    let open = store.business_day(unix_ms());
    store.close();

    let (ok, out, err) = settle(&config_path);
    let said = format!("{out}{err}");
    assert!(ok, "an empty day is not an error: {said}");
    let (closed, open_text) = (format_day(open - 1), format_day(open));
    let config_text = config_path.display().to_string();
    for needed in [
        format!("business day {closed}, the last closed one, has NO TRANSACTIONS"),
        format!("The open business day is {open_text}"),
        format!("switch cutover --config {config_text}"),
        format!("--date {open_text}"),
        "No business day with transactions has been closed yet".to_string(),
    ] {
        assert!(err.contains(&needed), "missing {needed:?} in:\n{said}");
    }
    assert!(
        out.contains(&format!("Settlement of business day {closed}")),
        "{said}"
    );
    assert!(out.contains("No transactions to settle"), "{said}");

    // Transactions on the open day, then a cutover: settle takes the day just
    // closed, says which, and shows its figures.
    let (store, _) = Store::open(&journal, unix_ms()).unwrap();
    let mut last = 0;
    for id in 1..=2 {
        last = store.journal(purchase(id), unix_ms());
    }
    assert_eq!(store.cutover(unix_ms()), open + 1);
    store.durable(last).await;
    store.close();
    let (ok, out, err) = settle(&config_path);
    let said = format!("{out}{err}");
    assert!(ok, "{said}");
    assert!(
        err.contains(&format!(
            "settled business day {open_text} (the last closed one"
        )),
        "{said}"
    );
    assert!(
        err.contains(&format!(
            "The open business day is {}",
            format_day(open + 1)
        )),
        "{said}"
    );
    assert!(!said.contains("NO TRANSACTIONS"), "{said}");
    let pair = out
        .lines()
        .find(|l| l.starts_with("940800") && l.contains("940810"))
        .unwrap_or_else(|| panic!("no 940800 -> 940810 line:\n{said}"));
    let columns: Vec<&str> = pair.split_whitespace().collect();
    assert_eq!(
        columns[..5],
        ["940800", "940810", "408", "2", "50.00"],
        "{pair}"
    );

    // While the switch runs (its journal writer carries out cutover requests),
    // `switch cutover` then `switch settle` settles the day the cutover closed.
    let (store, _) = Store::open(&journal, unix_ms()).unwrap();
    let seq = store.journal(purchase(3), unix_ms());
    store.durable(seq).await;
    let cutover = Command::new(env!("CARGO_BIN_EXE_switch"))
        .args(["cutover", "--config", config_path.to_str().unwrap()])
        .output()
        .expect("switch runs");
    assert!(cutover.status.success(), "{cutover:?}");
    let (ok, out, err) = tokio::task::spawn_blocking(move || settle(&config_path))
        .await
        .unwrap();
    store.close();
    let said = format!("{out}{err}");
    assert!(ok, "{said}");
    let closed = format_day(open + 1);
    assert!(
        err.contains(&format!(
            "settled business day {closed} (the last closed one"
        )),
        "{said}"
    );
    assert!(!said.contains("not carried out"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
