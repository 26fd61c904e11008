//! Crash test: under load, `kill -9` the switch (strict journal), start it again,
//! let the store-and-forward queue drain, and check that nothing was lost or done
//! twice: the issuer's books (approvals net of reversals) equal the journal's
//! settlement for the bank pair, every approval the acquirer received is in the
//! journal, and no full PAN is in the database files or the switch's log.
//!
//! Short and bounded here (a few seconds of traffic at a few hundred TPS);
//! `CRASH_SECS` and `CRASH_TPS` make it longer (the README's long form).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use routing_rules::RoutingTable;
use rust_decimal::Decimal;
use simulators::acquirer::{self, AcquirerOptions};
use simulators::cards::CardBase;
use simulators::issuer::{self, IssuerOptions};
use switch::store::business_day::scheduled_day;
use switch::store::open_connection;
use switch::store::settlement::settle;

mod switch_process;
use switch_process::{free_port, wait_for_port, CrashConfig, RULES};

const ACQUIRER: &str = "940810";
const ISSUER: &str = "940820";
const SEED: u64 = 7;
const CARDS: usize = 200;

fn env_or(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn start_switch(config: &Path, log: &Path) -> Child {
    switch_process::start_switch(
        config,
        log,
        "info",
        &[("CRASH_TEST_PAN_KEY", "00112233445566778899aabbccddeeff")],
    )
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Rows still owed or unfinished: (store-and-forward messages, forwarded records).
fn outstanding(db: &Path) -> (i64, i64) {
    let conn = open_connection(db).unwrap();
    let saf = conn
        .query_row("SELECT count(*) FROM saf", [], |r| r.get(0))
        .unwrap();
    let fwd = conn
        .query_row(
            "SELECT count(*) FROM journal WHERE state = 'forwarded'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (saf, fwd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_nothing_and_reverses_once() {
    let secs = env_or("CRASH_SECS", 4.0);
    let tps = env_or("CRASH_TPS", 300.0);
    let dir = std::env::temp_dir().join(format!("switch-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("journal.db");
    let log = dir.join("switch.log");

    let (table, _) = RoutingTable::load(Path::new(RULES)).unwrap();
    // The issuer answers after 20-60 ms, so transactions are in flight at the kill.
    let issuer = issuer::start(
        IssuerOptions {
            rules: PathBuf::from(RULES),
            seed: SEED,
            cards_per_range: CARDS,
            latency: "uniform:20-60".parse().unwrap(),
            ..IssuerOptions::defaults(ISSUER).unwrap()
        },
        &table,
    )
    .await
    .unwrap();
    let port = free_port();
    let config = dir.join("switch.toml");
    std::fs::write(
        &config,
        CrashConfig {
            acquirer: ACQUIRER,
            acquirer_port: port,
            issuer: ISSUER,
            issuer_address: &issuer.addr.unwrap().to_string(),
            pan_key_var: "CRASH_TEST_PAN_KEY",
            switch_extra: "saf_retry_ms = 200\nshutdown_grace_ms = 3000",
            issuer_extra: "timeout_ms = 1000\ncash_timeout_ms = 1000",
            more: "",
        }
        .text(),
    )
    .unwrap();

    let mut switch = start_switch(&config, &log);
    wait_for_port(port).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // sign-on to the issuer

    let load = tokio::spawn(async move {
        acquirer::execute(
            &AcquirerOptions {
                rules: PathBuf::from(RULES),
                seed: SEED,
                cards_per_range: CARDS,
                issuers: vec![ISSUER.into()],
                connections: 2,
                rate: Some(tps),
                duration: Some(secs),
                mix: "purchase=80,cash=20".parse().unwrap(),
                timeout_ms: 1500,
                json: true,
                ..AcquirerOptions::defaults(&format!("127.0.0.1:{port}"), ACQUIRER).unwrap()
            },
            false,
        )
        .await
    });

    // Kill -9 in the middle of the traffic, then start again.
    tokio::time::sleep(Duration::from_secs_f64(secs * 0.4)).await;
    switch.kill().unwrap();
    switch.wait().unwrap();
    let (owed_at_kill, forwarded_at_kill) = outstanding(&db);
    // The test means something only if the kill caught transactions in flight:
    // each forwarded record owes a reversal once the switch is back.
    assert!(
        forwarded_at_kill > 0,
        "no transaction was in flight at the kill (store-and-forward held {owed_at_kill})"
    );
    let mut switch = start_switch(&config, &log);
    wait_for_port(port).await;

    let report = load.await.unwrap().unwrap();
    assert!(report.stats.sent > 0);
    assert!(report.stats.disconnects > 0, "the kill went unnoticed");

    // Everything owed is delivered and acknowledged.
    let mut drained = false;
    for _ in 0..300 {
        if outstanding(&db) == (0, 0) {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        drained,
        "store-and-forward did not drain: {:?}",
        outstanding(&db)
    );
    // A graceful stop (SIGTERM) flushes the journal.
    Command::new("kill")
        .args(["-TERM", &switch.id().to_string()])
        .status()
        .unwrap();
    let status = switch.wait().unwrap();
    assert!(status.success(), "switch exited with {status}");
    let standing = issuer.standing_approvals();
    let books = issuer.stop().await.unwrap();

    // The issuer's books equal the journal's settlement for the pair.
    let conn = open_connection(&db).unwrap();
    let today = scheduled_day(unix_ms(), 0);
    let mut settled = (0i64, Decimal::ZERO);
    for day in today - 1..=today {
        for p in settle(&conn, day, None).unwrap().pairs {
            assert_eq!((p.acquirer.as_str(), p.issuer.as_str()), (ACQUIRER, ISSUER));
            settled.0 += p.count;
            settled.1 += p.amount;
        }
    }
    let approved = books.approved.get(ACQUIRER).cloned().unwrap_or_default();
    let issuer_net = (
        approved.count as i64 - books.reversed.count as i64,
        approved.amount - books.reversed.amount,
    );
    assert_eq!(
        issuer_net, settled,
        "issuer books (approved {} / {}, reversed {} / {}) against the journal's settlement",
        approved.count, approved.amount, books.reversed.count, books.reversed.amount
    );
    // And transaction by transaction: the approvals standing at the issuer (not
    // reversed) are exactly the journal's approved originals that no approved
    // reversal cancels, with the same amounts. The issuer knows a transaction by
    // fields 32, 7 and 11 as it received them (11: the switch's STAN).
    let mut at_issuer: Vec<(u64, u32, Decimal)> = standing
        .iter()
        .map(|(key, amount)| {
            let (acquirer, transmission, stan) = key.parts();
            assert_eq!(acquirer.to_string(), ACQUIRER);
            (transmission, stan, amount.normalize())
        })
        .collect();
    at_issuer.sort();
    let mut in_journal: Vec<(u64, u32, Decimal)> = conn
        .prepare(
            "SELECT o.transmission, o.switch_stan, o.amount FROM journal o
             WHERE o.state = 'approved' AND o.reverses_stan IS NULL
               AND o.acquirer = ?1 AND o.issuer = ?2 AND o.switch_stan IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM journal r
                   WHERE r.acquirer = o.acquirer AND r.reverses_transmission = o.transmission
                     AND r.reverses_stan = o.stan AND r.state = 'approved')",
        )
        .unwrap()
        .query_map([ACQUIRER, ISSUER], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .unwrap()
        .map(|row| {
            let (transmission, stan, amount) = row.unwrap();
            (
                transmission.parse().unwrap(),
                u32::try_from(stan).unwrap(),
                amount.parse::<Decimal>().unwrap().normalize(),
            )
        })
        .filter(|(_, _, amount)| !amount.is_zero())
        .collect();
    in_journal.sort();
    let only_at_issuer: Vec<_> = at_issuer
        .iter()
        .filter(|t| in_journal.binary_search(t).is_err())
        .collect();
    let only_in_journal: Vec<_> = in_journal
        .iter()
        .filter(|t| at_issuer.binary_search(t).is_err())
        .collect();
    assert!(
        only_at_issuer.is_empty() && only_in_journal.is_empty(),
        "standing approvals differ: {} only at the issuer {:?}, {} only in the journal {:?}",
        only_at_issuer.len(),
        only_at_issuer.iter().take(5).collect::<Vec<_>>(),
        only_in_journal.len(),
        only_in_journal.iter().take(5).collect::<Vec<_>>()
    );
    // Every approval the acquirer received is journaled as approved.
    let seen = report.approved().get(ISSUER).cloned().unwrap_or_default();
    let journaled: (i64, f64) = conn
        .query_row(
            "SELECT count(*), coalesce(sum(CAST(amount AS REAL)), 0) FROM journal
             WHERE state = 'approved' AND acquirer = ?1 AND issuer = ?2 AND reverses_stan IS NULL",
            [ACQUIRER, ISSUER],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(
        seen.count as i64 <= journaled.0,
        "acquirer saw {} approvals, journal has {}",
        seen.count,
        journaled.0
    );
    let restarted: i64 = conn
        .query_row(
            "SELECT count(*) FROM journal WHERE state = 'reversed_at_restart'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        restarted, forwarded_at_kill,
        "each forwarded transaction is reversed once"
    );
    assert!(
        books.reversed.count > 0,
        "reversals were owed ({forwarded_at_kill} in flight at the kill, {owed_at_kill} queued) but none reached the issuer"
    );
    drop(conn);

    // No full PAN in the database files or the log.
    let cards = CardBase::generate(&table, SEED, CARDS);
    let pans: Vec<&str> = cards.cards().iter().map(|c| c.pan_str()).collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for pan in &pans {
            assert!(!text.contains(pan), "a full PAN is in {}", path.display());
        }
    }
    eprintln!(
        "crash test: sent {}, acquirer approved {}, journal approved {}, forwarded at the kill {}, queued at the kill {}, issuer reversed {}, standing approvals matched one by one {}",
        report.stats.sent, seen.count, journaled.0, forwarded_at_kill, owed_at_kill, books.reversed.count, at_issuer.len()
    );
    // For the whole suite's scan (scripts/test.sh), the switch's log is kept.
    if let Some(suite) = std::env::var_os("SUITE_LOG_DIR") {
        let _ = std::fs::copy(&log, std::path::Path::new(&suite).join("crash-switch.log"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
