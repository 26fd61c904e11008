//! The PostgreSQL journal for the store's tests on a throwaway server: its
//! configuration, a node's store, the test's own connection to read back what
//! was committed, and bounded waits.

#![allow(dead_code)] // not every test file that shares this module uses each

use std::time::Duration;

use switch::cluster::NodeIdentity;
use switch::config::{Durability, JournalConfig, PostgresConfig, SecretKey};
use switch::store::{OpenOptions, Recovered, Store};

/// Any bounded wait of these tests.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A strict journal on the database at `url` (no password), with a fixed PAN key.
pub fn config(url: &str) -> JournalConfig {
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

/// The store of `node` (a single node when None) on the database at `url`.
pub fn open(url: &str, node: Option<&NodeIdentity>) -> (Store, Recovered) {
    open_gathering(url, node, Duration::ZERO)
}

/// [`open`], its writer letting records gather for `window` once it has one
/// (so that records submitted together form one batch).
pub fn open_gathering(
    url: &str,
    node: Option<&NodeIdentity>,
    window: Duration,
) -> (Store, Recovered) {
    Store::open_with(
        &JournalConfig {
            group_commit_window: window,
            ..config(url)
        },
        &OpenOptions {
            now_ms: now_ms(),
            remember: 100,
            node,
            duplicate_window: Duration::from_secs(60),
            ..OpenOptions::default()
        },
    )
    .expect("store opens")
}

/// A connection of the test's own.
pub async fn reader(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

/// The one number `sql` selects.
pub async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.expect(sql).get(0)
}

/// Wait (at most [`PATIENCE`]) until `seq` is durable.
pub async fn durable_within(store: &Store, seq: u64) {
    tokio::time::timeout(PATIENCE, store.durable(seq))
        .await
        .expect("durable in time");
}

/// Make every commit wait for a synchronous standby named `names` (none
/// exists: a commit is then flushed locally and waits, past any client's
/// patience, until the setting is cleared with ""), as a server whose commits
/// go through after their client gave up.
pub async fn synchronous_standby(admin: &tokio_postgres::Client, names: &str) {
    // (ALTER SYSTEM cannot share a transaction with the reload.)
    let set = format!("ALTER SYSTEM SET synchronous_standby_names = '{names}'");
    admin.batch_execute(&set).await.unwrap();
    admin
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();
    // Every backend reads the new setting before its next command.
    tokio::time::sleep(Duration::from_millis(500)).await;
}
