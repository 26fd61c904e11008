//! The gaps docs/cluster.md section 6 listed, closed (issue 19), against a
//! throwaway PostgreSQL: a dead node taken over once its lease has expired
//! (not a lease later), a commit fenced off once its node was taken over, a
//! retried batch meeting its own claim, and an acquirer reversal whose original
//! another node forwarded found in the shared journal. Each test skips (printed)
//! when PostgreSQL is not installed, unless `POSTGRES_REQUIRED=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

#[path = "../../switch/tests/journal_support/mod.rs"]
mod journal_support;

use std::sync::{Arc, Mutex};
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

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.expect(sql).get(0)
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

#[tokio::test]
async fn a_commit_after_the_node_was_taken_over_is_rolled_back_and_releases_nothing() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("gaps_fence");
    let db = reader(&url).await;
    let (paused, _) = open(&url, &node("node-a", 1));
    let fenced: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = fenced.clone();
    paused.set_fenced(Box::new(move |by| {
        sink.lock().unwrap().push(by.to_string())
    }));
    let first = paused.journal(forwarded(1, 1), now_ms());
    durable_within(&paused, first).await;
    // The node stalls past its lease; another takes it over.
    let (survivor, _) = open(&url, &node("node-b", 2));
    let deadline = Instant::now() + PATIENCE;
    let taken = loop {
        let taken = survivor
            .membership()
            .unwrap()
            .take_over_expired()
            .await
            .unwrap();
        if !taken.is_empty() {
            break taken;
        }
        assert!(Instant::now() < deadline, "never taken over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(taken[0].node, "node-a");
    // It wakes and commits the completion it held ("approved") before any renewal.
    let mut approved = forwarded(1, 1);
    approved.state = FinalState::Approved;
    approved.forwarded = None;
    let held = paused.journal(approved, now_ms());
    let late = paused.journal(forwarded(1, 2), now_ms());
    let started = Instant::now();
    while fenced.lock().unwrap().is_empty() {
        assert!(started.elapsed() < PATIENCE, "the commit was not fenced");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*fenced.lock().unwrap(), vec!["node-b".to_string()]);
    // Nothing it held is released, and nothing of that batch is written.
    for seq in [held, late] {
        assert!(
            tokio::time::timeout(Duration::from_millis(500), paused.durable(seq))
                .await
                .is_err(),
            "a held answer was released"
        );
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM journal").await,
        1,
        "the batch rolled back"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM journal WHERE state = 'reversed_at_restart'"
        )
        .await,
        1,
        "the survivor's reversal stands"
    );
    survivor.close();
}

#[tokio::test]
async fn a_batch_committed_twice_meets_its_own_claim_and_is_not_refused() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("gaps_retry");
    let db = reader(&url).await;
    let (store, _) = open(&url, &node("node-a", 1));
    let refused: Arc<Mutex<Vec<u64>>> = Arc::default();
    let sink = refused.clone();
    store.set_claim_refused(Box::new(move |seq, _, _| sink.lock().unwrap().push(seq)));
    // A commit whose acknowledgement was lost (the server committed, the
    // writer timed out) is retried whole: the same records again.
    let first = store.journal(forwarded(1, 7), now_ms());
    durable_within(&store, first).await;
    let retried = store.journal(forwarded(1, 7), now_ms());
    durable_within(&store, retried).await;
    assert!(!store.refused(first) && !store.refused(retried));
    assert!(refused.lock().unwrap().is_empty(), "its own claim refused");
    assert_eq!(count(&db, "SELECT count(*) FROM claims").await, 1);
    assert_eq!(count(&db, "SELECT count(*) FROM journal").await, 1);
    // Another node's request with the same keys still is refused.
    let (other, _) = open(&url, &node("node-b", 2));
    let mut same_keys = forwarded(2, 9);
    same_keys.stan = forwarded(1, 7).stan;
    let seq = other.journal(same_keys, now_ms());
    durable_within(&other, seq).await;
    assert!(other.refused(seq));
    store.close();
    other.close();
}
