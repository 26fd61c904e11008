//! The gaps docs/cluster.md section 6 listed, closed (issue 19), against a
//! throwaway PostgreSQL: a dead node taken over once its lease has expired
//! (not a lease later), a commit fenced off once its node was taken over, a
//! retried batch meeting its own claim, and an acquirer reversal whose original
//! another node forwarded found in the shared journal. Each test skips (printed)
//! when PostgreSQL is not installed, unless `POSTGRES_REQUIRED=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

#[path = "../../switch/tests/journal_support/mod.rs"]
mod journal_support;

use std::time::Duration;

use tokio::time::Instant;

use journal_support::{forwarded_for, record};
use switch::cluster::NodeIdentity;
use switch::config::{Durability, JournalConfig, PostgresConfig, SecretKey};
use switch::core::journal::{FinalState, JournalRecord};
use switch::store::{OpenOptions, Recovered, Store};
use tests::postgres::ThrowawayPostgres;

/// Any bounded wait in these tests.
const PATIENCE: Duration = Duration::from_secs(30);

/// The lease of these tests' nodes.
const LEASE: Duration = Duration::from_millis(1000);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A strict journal on the database at `url`.
fn config(url: &str) -> JournalConfig {
    JournalConfig {
        path: Default::default(),
        postgres: Some(PostgresConfig {
            url: url.into(),
            password_env: "SWITCH_PG_TEST_PASSWORD_UNSET".into(),
            connect_timeout: Duration::from_secs(2),
        }),
        durability: Durability::Strict,
        pan_key: Some(SecretKey::new(vec![7; 32])),
        group_commit_max: 1024,
        group_commit_window: Duration::ZERO,
        cutover_secs: 0,
    }
}

fn node(name: &str, slot: u8) -> NodeIdentity {
    NodeIdentity {
        name: name.into(),
        slot,
        lease: LEASE,
    }
}

fn open(url: &str, node: &NodeIdentity) -> (Store, Recovered) {
    Store::open_with(
        &config(url),
        &OpenOptions {
            now_ms: now_ms(),
            remember: 100,
            node: Some(node),
            duplicate_window: Duration::from_secs(60),
            ..OpenOptions::default()
        },
    )
    .expect("store opens")
}

/// A forwarded record (owing its reversal) of slot `slot`, number `n`.
fn forwarded(slot: u8, n: u64) -> JournalRecord {
    let id = (u64::from(slot) << 48) + n;
    let stan = format!("{n:06}");
    let mut r = record(
        id,
        "940800",
        "940810",
        &stan,
        "10.00",
        FinalState::Forwarded,
    );
    let switch_stan = u32::from(slot - 1) * 66_666 + n as u32;
    r.forwarded = Some(forwarded_for(switch_stan));
    r.switch_stan = Some(switch_stan);
    r
}

/// A connection of the test's own.
async fn reader(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

async fn durable_within(store: &Store, seq: u64) {
    tokio::time::timeout(PATIENCE, store.durable(seq))
        .await
        .expect("durable in time");
}

/// How long `name`'s lease runs on (negative: expired that long ago), on the
/// database's clock.
async fn lease_left_ms(db: &tokio_postgres::Client, name: &str) -> i64 {
    db.query_one(
        "SELECT lease_until_ms - (extract(epoch from clock_timestamp()) * 1000)::bigint
         FROM nodes WHERE name = $1",
        &[&name],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test]
async fn a_dead_node_is_taken_over_as_soon_as_its_lease_has_expired() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("gaps_expiry");
    let db = reader(&url).await;
    let (dead, _) = open(&url, &node("node-a", 1));
    let seq = dead.journal(forwarded(1, 1), now_ms());
    durable_within(&dead, seq).await;
    assert!(dead.membership().unwrap().renew().await.unwrap());
    let renewed = Instant::now();
    drop(dead); // killed: no leave, no more renewals
    let (survivor, _) = open(&url, &node("node-b", 2));
    let membership = survivor.membership().unwrap();
    // Before the lease ends: nothing to take.
    assert!(lease_left_ms(&db, "node-a").await > 0);
    assert!(membership.take_over_expired().await.unwrap().is_empty());
    // Just past it (the lease loop's next pass comes within lease/3).
    let deadline = Instant::now() + PATIENCE;
    while lease_left_ms(&db, "node-a").await >= 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let taken = membership.take_over_expired().await.unwrap();
    let since = renewed.elapsed();
    assert_eq!(taken.len(), 1, "taken over at the lease's end");
    assert_eq!(taken[0].reversals_queued, 1);
    assert!(
        since < LEASE + LEASE / 3,
        "taken {since:?} after its last renewal"
    );
    survivor.close();
}
