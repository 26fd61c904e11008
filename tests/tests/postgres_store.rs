//! The PostgreSQL store against a throwaway server (`scripts/postgres.sh`):
//! strict commits durable, a database outage survived without losing a record,
//! recovery after a crash, two nodes' claims, take-over exactly once, the lease
//! lost, settlement and cutover seen alike from every node. Each test skips
//! (printed) when PostgreSQL is not installed, unless `POSTGRES_REQUIRED=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

#[path = "../../switch/tests/journal_support/mod.rs"]
mod journal_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use codecs::Mti;
use journal_support::pg::{
    config, count, durable_within, now_ms, open, open_gathering, reader, synchronous_standby,
    PATIENCE,
};
use journal_support::{forwarded_for, record};
use switch::cluster::NodeIdentity;
use switch::core::journal::{FinalState, JournalRecord};
use switch::store::{Op, OpenOptions, Store};
use tests::postgres::ThrowawayPostgres;

fn node(name: &str, slot: u8, lease_ms: u64) -> NodeIdentity {
    NodeIdentity {
        name: name.into(),
        slot,
        lease: Duration::from_millis(lease_ms),
    }
}

/// A forwarded record (owing its reversal) with id `id` and acquirer STAN `stan`.
fn forwarded(id: u64, stan: &str) -> JournalRecord {
    let mut r = record(id, "940800", "940810", stan, "10.00", FinalState::Forwarded);
    r.forwarded = Some(forwarded_for(id as u32 % 1_000_000));
    r.switch_stan = Some(id as u32 % 1_000_000);
    r
}

#[tokio::test]
async fn a_strict_commit_is_read_back_by_another_connection() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("durable");
    let (store, recovered) = open(&url, None);
    assert_eq!((recovered.last_txn_id, recovered.reversals_queued), (0, 0));
    store.journal(forwarded(1, "000001"), now_ms());
    store.journal(forwarded(2, "000002"), now_ms());
    let approved = record(
        2,
        "940800",
        "940810",
        "000002",
        "10.00",
        FinalState::Approved,
    );
    let last = store.journal(approved, now_ms());
    durable_within(&store, last).await;
    let db = reader(&url).await;
    let rows = db
        .query(
            "SELECT id, state, response_code, switch_stan,
                coalesce((SELECT f.reversal IS NOT NULL FROM in_flight f WHERE f.id = j.id), false),
                node
             FROM journal j ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let seen: Vec<(i64, String, String, Option<i64>, bool, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                1,
                "forwarded".into(),
                "00".into(),
                Some(1),
                true,
                String::new()
            ),
            (
                2,
                "approved".into(),
                "00".into(),
                Some(2),
                false,
                String::new()
            ),
        ]
    );
    assert!(store.available());
    store.close();
}

#[tokio::test]
async fn a_crash_leaves_exactly_one_reversal_per_forwarded_row() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("crash");
    let (store, _) = open(&url, None);
    let mut last = 0;
    for id in 1..=5u64 {
        last = store.journal(forwarded(id, &format!("{id:06}")), now_ms());
    }
    // Two of them complete; three are left forwarded.
    for id in [2u64, 4] {
        let done = record(
            id,
            "940800",
            "940810",
            &format!("{id:06}"),
            "10.00",
            FinalState::Approved,
        );
        last = store.journal(done, now_ms());
    }
    durable_within(&store, last).await;
    drop(store); // a crash: no close
    let (store, recovered) = open(&url, None);
    assert_eq!(recovered.reversals_queued, 3);
    assert_eq!(recovered.saf.len(), 3);
    assert_eq!(recovered.last_txn_id, 5);
    assert!(recovered.last_saf_id >= 3);
    let mut stans: Vec<u32> = recovered.saf.iter().filter_map(|i| i.msg.stan()).collect();
    stans.sort_unstable();
    assert_eq!(
        stans,
        vec![1, 3, 5],
        "one reversal for each row left forwarded"
    );
    assert!(recovered
        .saf
        .iter()
        .all(|i| i.msg.mti() == Mti::REVERSAL_ADVICE));
    drop(store);
    let (store, recovered) = open(&url, None);
    assert_eq!(recovered.reversals_queued, 0, "nothing queued twice");
    assert_eq!(recovered.saf.len(), 3, "still owed");
    store.close();
}

#[tokio::test]
async fn a_database_outage_makes_the_store_unavailable_and_loses_nothing() {
    let Some(mut pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("outage");
    let (store, _) = open(&url, None);
    let first = store.journal(forwarded(1, "000001"), now_ms());
    durable_within(&store, first).await;
    pg.stop();
    let mut last = 0;
    for id in 2..=20u64 {
        last = store.journal(forwarded(id, &format!("{id:06}")), now_ms());
    }
    let started = Instant::now();
    while store.available() {
        assert!(
            started.elapsed() < PATIENCE,
            "still available with the database down"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // More arrive while it is down.
    for id in 21..=40u64 {
        last = store.journal(forwarded(id, &format!("{id:06}")), now_ms());
    }
    pg.restart();
    durable_within(&store, last).await;
    assert!(store.available());
    let db = reader(&url).await;
    assert_eq!(
        count(&db, "SELECT count(*) FROM journal").await,
        40,
        "nothing lost"
    );
    store.close();
}

/// A refusal the hook saw: (seq, issuer, switch STAN).
type Seen = Arc<Mutex<Vec<(u64, String, u32)>>>;

fn watch_refusals(store: &Store) -> Seen {
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    store.set_claim_refused(Box::new(move |seq, issuer, stan| {
        sink.lock().unwrap().push((seq, issuer.to_string(), stan));
    }));
    seen
}

#[tokio::test]
async fn two_nodes_claiming_the_same_request_refuse_the_second() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("claims");
    let (a_node, b_node) = (node("node-a", 1, 3000), node("node-b", 2, 3000));
    let (a, ra) = open(&url, Some(&a_node));
    let (b, rb) = open(&url, Some(&b_node));
    assert_eq!(ra.last_txn_id, 1 << 48, "slot 1's ids start at its base");
    assert_eq!(rb.last_txn_id, 2 << 48);
    let (seen_a, seen_b) = (watch_refusals(&a), watch_refusals(&b));
    // The same acquirer request (fields 32, 7, 11, 41) reaches both nodes.
    let mut on_a = forwarded((1 << 48) + 1, "000777");
    on_a.switch_stan = Some(11);
    let seq_a = a.journal(on_a, now_ms());
    durable_within(&a, seq_a).await;
    let mut on_b = forwarded((2 << 48) + 1, "000777");
    on_b.switch_stan = Some(66_667);
    let seq_b = b.journal(on_b, now_ms());
    durable_within(&b, seq_b).await;
    assert!(!a.refused(seq_a));
    assert!(b.refused(seq_b), "the second node's forward is refused");
    assert!(seen_a.lock().unwrap().is_empty());
    assert_eq!(
        *seen_b.lock().unwrap(),
        vec![(seq_b, "940810".to_string(), 66_667)]
    );
    // A different request is not.
    let seq = b.journal(forwarded((2 << 48) + 2, "000778"), now_ms());
    durable_within(&b, seq).await;
    assert!(!b.refused(seq));
    a.close();
    b.close();
}

#[tokio::test]
async fn a_claim_past_the_duplicate_window_is_released_to_the_next_request() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("claim_window");
    let (a, _) = open(&url, Some(&node("node-a", 1, 3000)));
    let (b, _) = open(&url, Some(&node("node-b", 2, 3000)));
    let (seen_a, seen_b) = (watch_refusals(&a), watch_refusals(&b));
    // node-a forwarded the request 61 s ago (the stores' window is 60 s).
    let old = a.journal(forwarded((1 << 48) + 1, "000321"), now_ms() - 61_000);
    durable_within(&a, old).await;
    // The same keys reach node-b now: a new request, not a repeat.
    let again = b.journal(forwarded((2 << 48) + 1, "000321"), now_ms());
    durable_within(&b, again).await;
    assert!(!b.refused(again), "a key past the window is claimed again");
    let db = reader(&url).await;
    let holder: i64 = db
        .query_one(
            "SELECT id FROM journal WHERE claim_key IS NOT NULL AND stan = '000321'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(holder, (2 << 48) + 1, "the new request holds the key");
    // Within the window of node-b's, a repeat on node-a is refused.
    let repeat = a.journal(forwarded((1 << 48) + 2, "000321"), now_ms());
    durable_within(&a, repeat).await;
    assert!(a.refused(repeat));
    assert_eq!(seen_a.lock().unwrap().len(), 1);
    assert!(seen_b.lock().unwrap().is_empty());
    // Every row is journaled, the refused one without a key.
    assert_eq!(
        count(&db, "SELECT count(*) FROM journal WHERE stan = '000321'").await,
        3
    );
    a.close();
    b.close();
}

#[tokio::test]
async fn one_key_claimed_twice_in_a_batch_refuses_the_second() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("claim_twice");
    // A window long enough that both records go in one batch.
    let (a, _) = open_gathering(
        &url,
        Some(&node("node-a", 1, 3000)),
        Duration::from_millis(200),
    );
    let seen = watch_refusals(&a);
    let first = a.journal(forwarded((1 << 48) + 1, "000654"), now_ms());
    let second = a.journal(forwarded((1 << 48) + 2, "000654"), now_ms());
    durable_within(&a, second).await;
    assert!(!a.refused(first));
    assert!(a.refused(second));
    assert_eq!(seen.lock().unwrap().len(), 1);
    let db = reader(&url).await;
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM journal WHERE claim_key IS NOT NULL"
        )
        .await,
        1
    );
    a.close();
}

/// The stand-in approval that completes `forward` after its timeout: the
/// forward's row (its id and keys) under the decision's STAN, with its advice
/// queued as store-and-forward item `advice` (pushed by the caller).
fn approved_after_timeout(forward: &JournalRecord, advice: u64) -> JournalRecord {
    let mut r = forward.clone();
    r.state = FinalState::Approved;
    r.response_code = "00".into();
    r.switch_stan = Some(40_001);
    r.stand_in = Some(switch::core::journal::StandInNote {
        check: "within-limits",
        entry: None,
        advice_saf: Some(advice),
    });
    r
}

/// Queue the advice of a stand-in approval on `store` (item `id`).
fn push_advice(store: &Store, id: u64) -> u64 {
    store.submit(Op::SafPush {
        id,
        issuer: "940810".into(),
        message: vec![0],
        card: None,
        queued_ms: now_ms(),
    })
}

/// Node B holds the claim of the request that node A forwards and then, the
/// forward timing out (it waited for its commit: refused, never sent),
/// approves in stand-in. The approval completes the forward's row, which an
/// update never checks against the key: without the transaction's refusal
/// remembered, it stood, and both nodes approved one request. Now it is
/// refused with its forward (declined 94, its advice's row deleted), in the
/// batch after the forward's (`later`) as in the same batch.
async fn a_stand_in_approval_of_a_refused_forward_is_refused(same_batch: bool) {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("refused_approval");
    // A window long enough that the records handed over together (the
    // approval and its advice, and with `same_batch` the forward) go in one
    // batch, as the core's actions of one event do.
    let (a, _) = open_gathering(
        &url,
        Some(&node("node-a", 1, 3000)),
        Duration::from_millis(200),
    );
    let (b, _) = open(&url, Some(&node("node-b", 2, 3000)));
    let seen = watch_refusals(&a);
    let held = b.journal(forwarded((2 << 48) + 1, "000888"), now_ms());
    durable_within(&b, held).await;
    let forward = forwarded((1 << 48) + 1, "000888");
    let advice = (1 << 48) + 9;
    let commits_before = a.commits().unwrap();
    let on_a = a.journal(forward.clone(), now_ms());
    if !same_batch {
        durable_within(&a, on_a).await;
        assert!(a.refused(on_a), "the forward is refused");
    }
    let approval = a.journal(approved_after_timeout(&forward, advice), now_ms());
    let pushed = push_advice(&a, advice);
    durable_within(&a, pushed).await;
    let commits = a.commits().unwrap() - commits_before;
    assert_eq!(commits, if same_batch { 1 } else { 2 }, "the batches");
    assert!(a.refused(on_a));
    assert!(a.refused(approval), "the approval stood");
    let seen: Vec<(u64, u32)> = seen.lock().unwrap().iter().map(|s| (s.0, s.2)).collect();
    assert_eq!(seen, vec![(on_a, 1), (approval, 40_001)]);
    let db = reader(&url).await;
    let row = db
        .query_one(
            "SELECT state, response_code, claim_key IS NULL FROM journal WHERE id = $1",
            &[&((1i64 << 48) + 1)],
        )
        .await
        .unwrap();
    let row: (String, String, bool) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(row, ("declined".into(), "94".into(), true));
    let advices = "SELECT count(*) FROM saf WHERE node = 'node-a'";
    assert_eq!(count(&db, advices).await, 0, "the advice's row is deleted");
    let listed = "SELECT count(*) FROM in_flight WHERE node = 'node-a'";
    assert_eq!(count(&db, listed).await, 0, "nothing left to take over");
    a.close();
    b.close();
}

#[tokio::test]
async fn a_stand_in_approval_in_the_batch_after_its_refused_forward_is_refused() {
    a_stand_in_approval_of_a_refused_forward_is_refused(false).await;
}

#[tokio::test]
async fn a_stand_in_approval_in_the_batch_of_its_refused_forward_is_refused() {
    a_stand_in_approval_of_a_refused_forward_is_refused(true).await;
}

/// A commit abandoned by the writer (over its 2 s) that the server completes
/// anyway: the server waits, after its WAL flush, for a synchronous standby
/// that does not exist (`synchronous_standby_names`), so the transaction is
/// committed locally and visible once released, the writer long gone.
#[tokio::test]
async fn a_retried_batch_whose_first_commit_went_through_refuses_its_forward_again() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("claim_retried");
    let (a_node, b_node) = (node("node-a", 1, 60_000), node("node-b", 2, 60_000));
    let (a, _) = open(&url, Some(&a_node));
    let (b, _) = open(&url, Some(&b_node));
    let seen_b = watch_refusals(&b);
    let on_a = a.journal(forwarded((1 << 48) + 1, "000999"), now_ms());
    durable_within(&a, on_a).await;
    let admin = reader(&url).await;
    synchronous_standby(&admin, "phantom").await;
    // The same request on node B: its statement meets A's key and fails, so
    // the batch goes the contested way, which commits B's row without the
    // key, and that COMMIT waits for the standby past the writer's patience.
    let on_b = b.journal(forwarded((2 << 48) + 1, "000999"), now_ms());
    let started = Instant::now();
    while b.available() {
        assert!(started.elapsed() < PATIENCE, "B's commit did not time out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The premise: the abandoned COMMIT is still on the server, committed
    // locally, waiting for the standby.
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'";
    assert!(
        count(&admin, waiting).await >= 1,
        "no commit waits for the standby"
    );
    synchronous_standby(&admin, "").await;
    // The retry (its first attempt may have committed) refuses the forward
    // again: it never leaves, and the acquirer hears 94, once.
    durable_within(&b, on_b).await;
    assert!(b.refused(on_b), "the retried forward was let through");
    assert_eq!(
        *seen_b.lock().unwrap(),
        vec![(on_b, "940810".to_string(), 1)],
        "refused once"
    );
    let held = "SELECT count(*) FROM journal WHERE claim_key IS NOT NULL";
    assert_eq!(count(&admin, held).await, 1, "A's row alone holds the key");
    assert_eq!(count(&admin, "SELECT count(*) FROM journal").await, 2);
    a.close();
    b.close();
}

#[tokio::test]
async fn an_expired_node_is_taken_over_exactly_once_and_its_lease_is_lost() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("takeover");
    let lease_ms = 1000;
    let dead_node = node("node-a", 1, lease_ms);
    let (dead, recovered) = open(&url, Some(&dead_node));
    assert_eq!(recovered.epoch, 1);
    let mut last = 0;
    for n in 1..=4u64 {
        last = dead.journal(forwarded((1 << 48) + n, &format!("{n:06}")), now_ms());
    }
    durable_within(&dead, last).await;
    let dead_membership = dead.membership().expect("cluster mode");
    assert!(dead_membership.renew().await.unwrap());
    drop(dead); // killed: no leave, the lease runs out

    let (b, _) = open(&url, Some(&node("node-b", 2, lease_ms)));
    let (c, _) = open(&url, Some(&node("node-c", 3, lease_ms)));
    let (mb, mc) = (b.membership().unwrap(), c.membership().unwrap());
    // Nobody takes a node over before its lease has been expired for a lease.
    assert!(mb.take_over_expired().await.unwrap().is_empty());
    // The survivors renew (as their lease loops do, every lease/3) while the
    // dead node's lease runs out and then one more lease passes.
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_millis(2 * lease_ms + 300) {
        assert!(mb.renew().await.unwrap() && mc.renew().await.unwrap());
        tokio::time::sleep(Duration::from_millis(lease_ms / 3)).await;
    }
    let (by_b, by_c) = tokio::join!(mb.take_over_expired(), mc.take_over_expired());
    let adopted: Vec<_> = by_b.unwrap().into_iter().chain(by_c.unwrap()).collect();
    assert_eq!(adopted.len(), 1, "taken over exactly once");
    let taken = &adopted[0];
    assert_eq!((taken.node.as_str(), taken.epoch), ("node-a", 1));
    assert_eq!(taken.reversals_queued, 4);
    assert_eq!(taken.saf.len(), 4);
    assert_eq!(taken.forwarded.len(), 4);
    assert!(mb.take_over_expired().await.unwrap().is_empty());
    assert!(mc.take_over_expired().await.unwrap().is_empty());
    // The dead node, back from a pause, has lost its lease.
    assert!(!dead_membership.renew().await.unwrap());
    // Its queue is now the survivor's: a new start of node-a finds nothing owed.
    let db = reader(&url).await;
    assert_eq!(
        count(&db, "SELECT count(*) FROM saf WHERE node = 'node-a'").await,
        0
    );
    let (again, recovered) = open(&url, Some(&dead_node));
    assert_eq!((recovered.reversals_queued, recovered.saf.len()), (0, 0));
    assert_eq!(recovered.epoch, 3, "started, taken over, started");
    assert!(mb.renew().await.unwrap() && mc.renew().await.unwrap());
    again.close();
    b.close();
    c.close();
}

/// Journal `rows` forwarded rows of slot 1 (ids and STANs 1 to `rows`), and
/// wait until they are durable.
async fn journal_forwarded(store: &Store, rows: u64) {
    let mut last = 0;
    for n in 1..=rows {
        last = store.journal(forwarded((1 << 48) + n, &format!("{n:06}")), now_ms());
    }
    durable_within(store, last).await;
}

/// node-a killed with `rows` forwarded rows (durable, owing their reversals),
/// and node-b (both with `lease_ms`), renewing as its lease loop would until
/// node-a's lease has expired: ready to take it over.
async fn survivor_of_a_dead_node(
    url: &str,
    lease_ms: u64,
    rows: u64,
) -> (Store, Arc<dyn switch::cluster::Membership>) {
    let (dead, _) = open(url, Some(&node("node-a", 1, lease_ms)));
    journal_forwarded(&dead, rows).await;
    drop(dead); // killed: no leave, the lease runs out
    let (b, _) = open(url, Some(&node("node-b", 2, lease_ms)));
    let mb = b.membership().unwrap();
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_millis(lease_ms + 300) {
        assert!(mb.renew().await.unwrap());
        tokio::time::sleep(Duration::from_millis(lease_ms / 3)).await;
    }
    (b, mb)
}

/// The lease loop runs a take-over beside the renewals: one held up (here by
/// a row lock on the dead node's forwarded rows, as a long recovery or a slow
/// database would) must not hold up the survivor's own renewal, or the
/// survivor's lease could lapse while it takes another node over.
#[tokio::test]
async fn a_slow_take_over_does_not_hold_up_the_survivors_renewal() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("slowtakeover");
    let lease_ms = 1000;
    let (b, mb) = survivor_of_a_dead_node(&url, lease_ms, 1).await;
    let mut holder = reader(&url).await;
    let hold = holder.transaction().await.unwrap();
    hold.execute(
        "SELECT id FROM journal WHERE node = 'node-a' FOR UPDATE",
        &[],
    )
    .await
    .unwrap();
    let taking = {
        let mb = mb.clone();
        tokio::spawn(async move { mb.take_over_expired().await })
    };
    let watcher = reader(&url).await;
    let started = Instant::now();
    while count(
        &watcher,
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
    )
    .await
        < 1
    {
        assert!(started.elapsed() < PATIENCE, "the take-over never waited");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let renewing = Instant::now();
    assert!(mb.renew().await.unwrap());
    let took = renewing.elapsed();
    assert!(
        took < Duration::from_millis(500),
        "the renewal waited {took:?} for the take-over"
    );
    hold.rollback().await.unwrap();
    let adopted = taking.await.unwrap().unwrap();
    assert_eq!(adopted.len(), 1);
    assert_eq!(
        (adopted[0].node.as_str(), adopted[0].reversals_queued),
        ("node-a", 1)
    );
    b.close();
}

/// A busy node's death can leave thousands of rows forwarded: the take-over
/// that reverses them must still finish within its bound (2 s), or it is
/// rolled back on every pass and nobody ever takes the node over.
#[tokio::test]
async fn a_take_over_of_thousands_of_forwarded_rows_finishes_within_its_bound() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("bigtakeover");
    let lease_ms = 1000;
    let rows = 5000u64;
    let (b, mb) = survivor_of_a_dead_node(&url, lease_ms, rows).await;
    let taking = Instant::now();
    let adopted = mb.take_over_expired().await.expect("taken over within 2 s");
    eprintln!("took {rows} forwarded rows over in {:?}", taking.elapsed());
    assert_eq!(adopted.len(), 1);
    assert_eq!(adopted[0].reversals_queued, rows as usize);
    assert_eq!(adopted[0].saf.len(), rows as usize);
    let db = reader(&url).await;
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM journal WHERE state = 'reversed_at_restart'"
        )
        .await,
        rows as i64
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM saf WHERE node = 'node-b'").await,
        rows as i64
    );
    b.close();
}

/// A take-over whose COMMIT went through after its 2 s bound (held back by a
/// synchronous standby that does not exist, then released) is adopted on the
/// next pass, even when the dead node restarted meanwhile: its queue is then
/// this node's in the database, and no later pass would select it again.
#[tokio::test]
async fn a_take_over_whose_commit_went_through_past_its_bound_is_adopted_on_the_next_pass() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("takeover_unknown");
    let lease_ms = 1000;
    let (b, mb) = survivor_of_a_dead_node(&url, lease_ms, 3).await;
    let admin = reader(&url).await;
    synchronous_standby(&admin, "phantom").await;
    let first = mb.take_over_expired().await;
    assert!(first.is_err(), "the take-over did not wait: {first:?}");
    // The premise: its COMMIT is still on the server, waiting for the standby.
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'";
    assert!(
        count(&admin, waiting).await >= 1,
        "no commit waits for the standby"
    );
    synchronous_standby(&admin, "").await;
    // The dead node restarts before the next pass: its row no longer names
    // node-b (a new epoch, no `taken_by`), but the queue the take-over moved
    // is node-b's.
    let (restarted, recovered) = open(&url, Some(&node("node-a", 1, lease_ms)));
    assert_eq!((recovered.reversals_queued, recovered.saf.len()), (0, 0));
    let adopted = mb.take_over_expired().await.unwrap();
    assert_eq!(
        adopted.len(),
        1,
        "the take-over that went through was not adopted"
    );
    assert_eq!(adopted[0].node, "node-a");
    assert_eq!((adopted[0].reversals_queued, adopted[0].saf.len()), (3, 3));
    assert_eq!(
        count(&admin, "SELECT count(*) FROM saf WHERE node = 'node-b'").await,
        3
    );
    assert!(mb.take_over_expired().await.unwrap().is_empty());
    restarted.close();
    b.close();
}

/// A node's lease starts again at the end of its registration: a recovery
/// longer than a lease (here 10,000 forwarded rows against a 100 ms lease)
/// must not commit the node already expired, for a survivor to take over
/// while it delivers the queue it just read back.
#[tokio::test]
async fn a_node_is_not_expired_when_its_long_recovery_commits() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("longrecovery");
    let (before, _) = open(&url, Some(&node("node-a", 1, 60_000)));
    journal_forwarded(&before, 10_000).await;
    drop(before); // killed
    let db = reader(&url).await;
    let opening = Instant::now();
    let (again, recovered) = open(&url, Some(&node("node-a", 1, 100)));
    let opened = opening.elapsed();
    eprintln!(
        "opened with {} reversals queued in {opened:?}",
        recovered.reversals_queued
    );
    assert_eq!(recovered.reversals_queued, 10_000);
    // The lease runs from the end of the registration (after the recovery),
    // not from its start (the row's `updated_ms`, stamped when it registered).
    let row = db
        .query_one(
            "SELECT lease_until_ms, updated_ms FROM nodes WHERE name = 'node-a'",
            &[],
        )
        .await
        .unwrap();
    let (until, registered): (i64, i64) = (row.get(0), row.get(1));
    assert!(
        until - 100 - registered >= 50,
        "the lease ran from the registration's start: {} ms after it, the open took {opened:?}",
        until - registered
    );
    again.close();
}

/// A node that stops cleanly while it still owes store-and-forward items is
/// taken over like a dead one (its lease ended at once), so that its queue
/// reaches the issuers without a process of the same name; one that owes
/// nothing is stopped, and nobody takes it over.
#[tokio::test]
async fn a_node_that_leaves_owing_its_queue_is_taken_over_and_one_owing_nothing_is_not() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("leave");
    let lease_ms = 1000;
    let (a, _) = open(&url, Some(&node("node-a", 1, lease_ms)));
    let queued = a.apply(
        switch::core::StoreOp::SafPush {
            id: (1 << 48) + 7,
            issuer: "940810".into(),
            msg: forwarded_for(7),
            card: None,
        },
        now_ms(),
    );
    durable_within(&a, queued.expect("kept")).await;
    let ma = a.membership().unwrap();
    a.close();
    ma.leave().await.unwrap();
    let (b, _) = open(&url, Some(&node("node-b", 2, lease_ms)));
    let mb = b.membership().unwrap();
    let adopted = mb.take_over_expired().await.unwrap();
    assert_eq!(adopted.len(), 1, "the queue was left to nobody");
    assert_eq!(adopted[0].node, "node-a");
    assert_eq!(adopted[0].saf.len(), 1);
    let db = reader(&url).await;
    assert_eq!(
        count(&db, "SELECT count(*) FROM saf WHERE node = 'node-b'").await,
        1
    );
    // node-c owes nothing: it leaves stopped, and nobody takes it over.
    let (c, _) = open(&url, Some(&node("node-c", 3, lease_ms)));
    let mc = c.membership().unwrap();
    c.close();
    mc.leave().await.unwrap();
    let state: String = db
        .query_one("SELECT state FROM nodes WHERE name = 'node-c'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "stopped");
    assert!(mb.take_over_expired().await.unwrap().is_empty());
    b.close();
}

#[tokio::test]
async fn a_cutover_on_one_node_holds_on_the_other_within_two_seconds() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("cutover");
    let (a, _) = open(&url, Some(&node("node-a", 1, 3000)));
    let (b, _) = open(&url, Some(&node("node-b", 2, 3000)));
    let now = now_ms();
    let before = b.business_day(now);
    let next = a.cutover(now);
    assert_eq!(next, before + 1);
    let started = Instant::now();
    while b.business_day(now_ms()) < next {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the other node still on the old day"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.close();
    b.close();
}

/// A configuration whose journal is `journal` (a `path = ...` or `url = ...`
/// line), written in `dir` as `name`.
fn write_config(dir: &std::path::Path, name: &str, journal: &str) -> switch::config::Config {
    let text = format!(
        "[switch]\ninstitution_id = \"940000\"\nrules = \"{rules}\"\n\n\
         [journal]\n{journal}\npan_key = {{ env = \"PG_STORE_TEST_UNSET_KEY\" }}\n\n\
         [[link]]\nname = \"a\"\nrole = \"acquirer\"\nbank = \"940800\"\ndirection = \"listen\"\naddress = \"127.0.0.1:0\"\n",
        rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../routing-rules/rules/national.toml"),
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    switch::config::Config::load(&path).expect("valid configuration")
}

/// The day's approvals, a reversal and a decline, as the journal holds them.
fn day_of_records(base: u64) -> Vec<JournalRecord> {
    let mut out = Vec::new();
    for n in 1..=6u64 {
        let stan = format!("{:06}", base % 1000 * 10 + n);
        let issuer = if n % 2 == 0 { "940810" } else { "940820" };
        let state = if n == 6 {
            FinalState::Declined
        } else {
            FinalState::Approved
        };
        out.push(record(
            base + n,
            "940800",
            issuer,
            &stan,
            &format!("{n}.25"),
            state,
        ));
    }
    // A reversal of the first approval, acknowledged.
    let mut reversal = record(
        base + 7,
        "940800",
        "940820",
        &format!("{:06}", base % 1000 * 10 + 7),
        "1.25",
        FinalState::Approved,
    );
    reversal.mti = "0420".into();
    reversal.reverses = Some((
        "1125101010".into(),
        format!("{:06}", base % 1000 * 10 + 1).into(),
    ));
    out.push(reversal);
    out
}

#[tokio::test]
async fn settle_gives_the_same_answer_from_either_node_and_as_on_sqlite() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("settle");
    let dir = std::env::temp_dir().join(format!("pg-settle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, _) = open(&url, Some(&node("node-a", 1, 3000)));
    let (b, _) = open(&url, Some(&node("node-b", 2, 3000)));
    let sqlite_path = dir.join("journal.db");
    let (lite, _) = Store::open(&journal_support::config(sqlite_path.clone()), now_ms()).unwrap();
    let now = now_ms();
    let day = switch::store::business_day::format_day(a.business_day(now));
    // Node A's and node B's records in PostgreSQL; all of them in SQLite.
    for (store, base) in [(&a, 1u64 << 48), (&b, 2u64 << 48)] {
        let mut last = 0;
        for r in day_of_records(base) {
            lite.journal(r.clone(), now);
            last = store.journal(r, now);
        }
        durable_within(store, last).await;
    }
    lite.durable(lite.submitted()).await;
    lite.close();
    // The command as `switch settle` runs it: outside any runtime.
    let settle = |config: switch::config::Config| {
        let day = day.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let report =
                    switch::store::commands::settlement(&config, Some(&day)).expect("settles");
                (
                    report.settlement.to_json(),
                    report.settlement.to_table(),
                    report.day_records,
                )
            })
            .await
            .unwrap()
        }
    };
    let on_a = settle(write_config(&dir, "a.toml", &format!("url = \"{url}\""))).await;
    let on_b = settle(write_config(&dir, "b.toml", &format!("url = \"{url}\""))).await;
    let on_sqlite = settle(write_config(
        &dir,
        "lite.toml",
        &format!("path = \"{}\"", sqlite_path.display()),
    ))
    .await;
    assert_eq!(on_a, on_b, "the same answer from either node");
    assert_eq!(
        on_a, on_sqlite,
        "the same answer as SQLite for the same journal"
    );
    assert_eq!(on_a.2, 14);
    assert!(!on_a.0["pairs"].as_array().unwrap().is_empty());
    a.close();
    b.close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_vault_key_is_shared_by_the_nodes_and_a_wrong_kek_is_refused() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("vault");
    let kek = |hex: &str| card_security::KeyMaterial::from_hex(&hex.repeat(32)).unwrap();
    let (right, wrong) = (kek("0A"), kek("0B"));
    let open_with = |kek: &card_security::KeyMaterial, node: &NodeIdentity| {
        Store::open_with(
            &config(&url),
            &OpenOptions {
                now_ms: now_ms(),
                vault: Some((kek, "SWITCH_KEK")),
                node: Some(node),
                ..OpenOptions::default()
            },
        )
    };
    let (a, _) = open_with(&right, &node("node-a", 1, 3000)).expect("first node makes the key");
    let (b, _) = open_with(&right, &node("node-b", 2, 3000)).expect("second node unwraps it");
    let refused = open_with(&wrong, &node("node-c", 3, 3000))
        .err()
        .expect("wrong KEK refused");
    assert!(refused.to_string().contains("SWITCH_KEK"), "{refused}");
    a.close();
    b.close();
}

/// Records per second `store` makes durable with `writers` submitters each
/// waiting for its record before the next (as strict answers do), `total`
/// records in all (bounded by [`PATIENCE`]).
async fn strict_rate(store: Arc<Store>, writers: u64, total: u64, base: u64) -> f64 {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.spawn(async move {
            for n in 0..total / writers {
                let id = base + w * 1_000_000 + n + 1;
                let seq = store.journal(
                    record(
                        id,
                        "940800",
                        "940810",
                        &format!("{:06}", id % 1_000_000),
                        "1.00",
                        FinalState::Approved,
                    ),
                    now_ms(),
                );
                durable_within(&store, seq).await;
            }
        });
    }
    tokio::time::timeout(PATIENCE, async {
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
    })
    .await
    .expect("the load finished in time");
    (total / writers * writers) as f64 / started.elapsed().as_secs_f64()
}

/// The median and the spread (min..max) of `runs`.
fn median_and_spread(mut runs: Vec<f64>) -> String {
    runs.sort_by(f64::total_cmp);
    format!(
        "median {:.0}/s (min {:.0}, max {:.0}, {} runs)",
        runs[runs.len() / 2],
        runs[0],
        runs[runs.len() - 1],
        runs.len()
    )
}

/// For the lead's notes: strict commits per second, PostgreSQL against SQLite
/// on this machine (`cargo test --release -p tests --test postgres_store --
/// --ignored --nocapture strict_commit_rate`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn strict_commit_rate_postgresql_against_sqlite() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let (writers, total) = (64, 20_000);
    let mut on_pg = Vec::new();
    let mut on_sqlite = Vec::new();
    for run in 0..3u64 {
        let url = pg.new_database(&format!("rate{run}"));
        let (store, _) = open(&url, None);
        let store = Arc::new(store);
        on_pg.push(strict_rate(store.clone(), writers, total, 0).await);
        store.close();
        let path = std::env::temp_dir().join(format!("pg-rate-{}-{run}.db", std::process::id()));
        let (store, _) = Store::open(&journal_support::config(path.clone()), now_ms()).unwrap();
        let store = Arc::new(store);
        on_sqlite.push(strict_rate(store.clone(), writers, total, 0).await);
        store.close();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    println!("strict commits, {writers} submitters, {total} records a run");
    println!("  PostgreSQL: {}", median_and_spread(on_pg));
    println!("  SQLite:     {}", median_and_spread(on_sqlite));
}

#[tokio::test]
async fn an_idle_store_notices_the_outage_and_the_return_by_itself() {
    let Some(mut pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("idle");
    let (store, _) = open(&url, None);
    assert!(store.available());
    pg.stop();
    // No record is submitted: the writer's own poll (about once a second) sees it.
    let wait_for = |want: bool| {
        let store = &store;
        async move {
            let started = Instant::now();
            while store.available() != want {
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "available() still {}",
                    !want
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for(false).await;
    pg.restart();
    wait_for(true).await;
    let seq = store.journal(forwarded(1, "000001"), now_ms());
    durable_within(&store, seq).await;
    store.close();
}

#[tokio::test]
async fn a_commit_stuck_over_two_seconds_counts_as_failed_and_is_retried() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("stuck");
    let (store, _) = open(&url, None);
    let mut locker = reader(&url).await;
    let lock = locker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE journal IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let seq = store.journal(forwarded(1, "000001"), now_ms());
    let started = Instant::now();
    while store.available() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a commit blocked for over 2 s did not count as failed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "not before the 2 s"
    );
    lock.rollback().await.unwrap();
    durable_within(&store, seq).await;
    assert!(store.available());
    let db = reader(&url).await;
    assert_eq!(
        count(&db, "SELECT count(*) FROM journal").await,
        1,
        "written once"
    );
    store.close();
}

#[tokio::test]
async fn a_slot_stays_held_by_an_expired_node_until_it_is_taken_over() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("slot_held");
    let lease_ms = 1000;
    let (paused, _) = open(&url, Some(&node("node-a", 1, lease_ms)));
    let paused_membership = paused.membership().expect("cluster mode");
    // node-a stops renewing (paused, or cut off): its lease expires, and no
    // survivor has taken it over yet.
    tokio::time::sleep(Duration::from_millis(lease_ms + 500)).await;
    let another = Store::open_with(
        &config(&url),
        &OpenOptions {
            now_ms: now_ms(),
            remember: 100,
            node: Some(&node("node-b", 1, lease_ms)),
            duplicate_window: Duration::from_secs(60),
            ..OpenOptions::default()
        },
    );
    // node-a is not fenced (its epoch is unchanged): it wakes and renews, and
    // would number its journal rows, queue items and STANs in the same range
    // as node-b.
    assert!(
        paused_membership.renew().await.unwrap(),
        "node-a wakes and renews"
    );
    assert!(
        another.is_err(),
        "a second node must not register in the slot of a node not taken over"
    );
    // Once node-a has stopped and left, its slot is free.
    paused.close();
    paused_membership.leave().await.unwrap();
    let (b, _) = open(&url, Some(&node("node-b", 1, lease_ms)));
    b.close();
}

#[tokio::test]
async fn the_original_looked_up_is_the_forward_the_issuer_saw_not_a_refused_one() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("lookup_refused");
    let (a, _) = open(&url, Some(&node("node-a", 1, 3000)));
    let (b, _) = open(&url, Some(&node("node-b", 2, 3000)));
    // The same acquirer request reaches node-a (forwarded, approved) and
    // node-b (its claim refused: never forwarded, answered and journaled 94).
    let mut on_a = forwarded((1 << 48) + 1, "000777");
    on_a.switch_stan = Some(11);
    let seq = a.journal(on_a.clone(), now_ms());
    durable_within(&a, seq).await;
    on_a.state = FinalState::Approved;
    on_a.forwarded = None;
    let seq = a.journal(on_a, now_ms());
    durable_within(&a, seq).await;
    let mut on_b = forwarded((2 << 48) + 1, "000777");
    on_b.switch_stan = Some(66_667);
    let seq_b = b.journal(on_b.clone(), now_ms());
    durable_within(&b, seq_b).await;
    assert!(b.refused(seq_b));
    on_b.state = FinalState::Declined;
    on_b.response_code = "94".into();
    on_b.auth_code = None;
    on_b.forwarded = None;
    let seq = b.journal(on_b, now_ms());
    durable_within(&b, seq).await;
    // The acquirer reverses it on node-b: the original the issuer knows is
    // node-a's forward (switch STAN 11), not node-b's refused one.
    let key = switch::core::recent::AcquirerKey {
        acquirer: "940800".into(),
        stan: 777,
        transmission: "1125101010".into(),
    };
    let found = b
        .find_forwarded(&[key])
        .await
        .unwrap()
        .expect("the original is found");
    assert_eq!(
        (found.issuer.as_str(), found.switch_stan),
        ("940810", 11),
        "field 90 must name the forward the issuer saw"
    );
    a.close();
    b.close();
}

/// The writer has two batches in flight at once, but never two that write the
/// same row: a completion submitted while the batch inserting its forwarded
/// row is still in flight waits for that batch. Sent beside it, its UPDATE
/// would find no committed row and its `INSERT ... ON CONFLICT DO NOTHING`
/// would wait for the first batch, then do nothing: the completion lost.
#[tokio::test]
async fn a_completion_submitted_while_its_forward_is_in_flight_is_not_lost() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("overlap");
    let (schema, _) = open(&url, None);
    schema.close();
    // The test holds store-and-forward item 5 (inserted, not committed): the
    // batch that forwards transaction 1 and queues item 5 inserts row 1, then
    // waits on item 5, in flight.
    let mut holder = reader(&url).await;
    let hold = holder.transaction().await.unwrap();
    hold.execute(
        "INSERT INTO saf (id, issuer, message, queued_ms) VALUES (5, '940810', '\\x00', 0)",
        &[],
    )
    .await
    .unwrap();
    let watcher = reader(&url).await;
    // The store opens last: its writer polls the business day at its start,
    // and not again (draining what is in flight first) for a second, well
    // after the completion below has had its chance to go out. A window, so
    // that the forward and the queued item below form one batch.
    let (store, _) = open_gathering(&url, None, Duration::from_millis(50));
    store.journal(forwarded(1, "000001"), now_ms());
    store.submit(Op::SafPush {
        id: 5,
        issuer: "940810".into(),
        message: vec![0],
        card: None,
        queued_ms: now_ms(),
    });
    let started = Instant::now();
    while count(
        &watcher,
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
    )
    .await
        < 1
    {
        assert!(started.elapsed() < PATIENCE, "the batch never waited");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let approved = record(
        1,
        "940800",
        "940810",
        "000001",
        "10.00",
        FinalState::Approved,
    );
    let last = store.journal(approved, now_ms());
    // Time for the completion's batch to go out (it must not), well within
    // the commit timeout of the batch in flight.
    tokio::time::sleep(Duration::from_millis(300)).await;
    hold.rollback().await.unwrap();
    durable_within(&store, last).await;
    let state: String = watcher
        .query_one("SELECT state FROM journal WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "approved", "the completion was lost");
    store.close();
}

/// A database of schema version 1 (before the fence function, the BRIN index
/// and the in-flight list) is migrated to the current version by the first
/// node that starts on it: its forwarded rows are listed (so its recovery
/// finds them and queues their reversals), and its fenced commits work.
#[tokio::test]
async fn a_version_1_database_is_migrated_and_its_forwarded_rows_recovered() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("migrate");
    let (store, _) = open(&url, Some(&node("node-a", 1, 3000)));
    let left = store.journal(forwarded(1 << 48 | 1, "000001"), now_ms());
    durable_within(&store, left).await;
    drop(store); // a crash: row 1 is left forwarded
    let db = reader(&url).await;
    db.batch_execute(
        "DROP FUNCTION switch_refuse_commit(TEXT, BIGINT);
         DROP INDEX journal_day_brin;
         CREATE INDEX journal_day ON journal(business_day);
         ALTER TABLE journal ADD COLUMN reversal BYTEA;
         UPDATE journal j SET reversal = f.reversal FROM in_flight f WHERE f.id = j.id;
         DROP TABLE in_flight;
         CREATE INDEX journal_forwarded ON journal(node) WHERE state = 'forwarded';
         ALTER TABLE journal RESET (fillfactor);
         CREATE TABLE claims (key TEXT PRIMARY KEY, node TEXT NOT NULL,
             txn_id BIGINT NOT NULL, created_ms BIGINT NOT NULL);
         CREATE INDEX claims_created ON claims(created_ms);
         INSERT INTO claims SELECT claim_key, node, id, created_ms FROM journal
             WHERE claim_key IS NOT NULL;
         ALTER TABLE journal DROP COLUMN claim_key;
         UPDATE schema_version SET version = 1",
    )
    .await
    .unwrap();
    let (store, recovered) = open(&url, Some(&node("node-a", 1, 3000)));
    assert_eq!(
        count(&db, "SELECT max(version)::bigint FROM schema_version").await,
        5
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM journal WHERE claim_key IS NOT NULL"
        )
        .await,
        1,
        "the claim is carried over to its row"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'claims'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'journal'
               AND indexname IN ('journal_day', 'journal_day_brin')
               AND indexdef LIKE '%USING brin%'"
        )
        .await,
        1,
        "the business day's B-tree is replaced by the BRIN index"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%state%'"
        )
        .await,
        0,
        "no index names the state (the completion's update can be HOT)"
    );
    assert_eq!(
        recovered.reversals_queued, 1,
        "the row forwarded before the migration is found"
    );
    let seq = store.journal(forwarded(1 << 48 | 2, "000002"), now_ms());
    durable_within(&store, seq).await;
    assert_eq!(count(&db, "SELECT count(*) FROM journal").await, 2);
    store.close();
}

/// The journal's list of forwarded rows follows the rows (a forward listed, a
/// completion unlisted, in the batch that writes it), and the completions'
/// updates are HOT: no index entry written again.
#[tokio::test]
async fn completions_unlist_their_rows_and_update_them_in_place() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("hot");
    let (store, _) = open(&url, None);
    let db = reader(&url).await;
    let mut last = 0;
    for id in 1..=20u64 {
        last = store.journal(forwarded(id, &format!("{id:06}")), now_ms());
    }
    durable_within(&store, last).await;
    assert_eq!(count(&db, "SELECT count(*) FROM in_flight").await, 20);
    for id in 1..=20u64 {
        let stan = format!("{id:06}");
        let done = record(id, "940800", "940810", &stan, "10.00", FinalState::Approved);
        last = store.journal(done, now_ms());
    }
    durable_within(&store, last).await;
    assert_eq!(count(&db, "SELECT count(*) FROM in_flight").await, 0);
    assert_eq!(
        count(&db, "SELECT count(*) FROM journal WHERE state = 'approved'").await,
        20
    );
    let (updated, hot) = table_stats(
        &db,
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'journal'",
        20,
    )
    .await;
    assert_eq!(updated, 20, "each completion updates its row once");
    assert!(
        hot >= 18,
        "the completions' updates are HOT: {hot} of {updated}"
    );
    store.close();
}

/// The batch statement takes its completed rows off `in_flight` through the
/// primary key, even when the planner last saw the list empty (a queue is
/// nearly empty whenever it is vacuumed): a sequential scan would read every
/// version deleted since the last vacuum, on every batch. The list is vacuumed
/// empty after the store opens, before any batch is planned; no statement of
/// the writer may then read a row of it by scanning.
#[tokio::test]
async fn completions_find_their_listed_rows_by_key_when_the_list_was_vacuumed_empty() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("unlist");
    let (store, _) = open(&url, None);
    let db = reader(&url).await;
    db.batch_execute("VACUUM ANALYZE in_flight").await.unwrap();
    // Rounds of forwards and their completions, each a batch of its own, more
    // than the five a prepared statement is planned for before its plan is
    // kept.
    let mut last = 0;
    for round in 0..8u64 {
        let ids = round * 10 + 1..=round * 10 + 10;
        for id in ids.clone() {
            last = store.journal(forwarded(id, &format!("{id:06}")), now_ms());
        }
        durable_within(&store, last).await;
        for id in ids {
            let stan = format!("{id:06}");
            let done = record(id, "940800", "940810", &stan, "10.00", FinalState::Approved);
            last = store.journal(done, now_ms());
        }
        durable_within(&store, last).await;
    }
    let (deleted, scanned) = table_stats(
        &db,
        "SELECT n_tup_del, coalesce(seq_tup_read, 0) FROM pg_stat_user_tables
         WHERE relname = 'in_flight'",
        80,
    )
    .await;
    assert_eq!(deleted, 80, "each completion takes its row off the list");
    assert_eq!(scanned, 0, "no listed row read by a sequential scan");
    store.close();
}

/// Two counters of `pg_stat_user_tables` (`sql` selects them), read once the
/// first reaches `expected` or after 20 s: the server's statistics reach the
/// view some time after the writer's transactions (a backend idle since its
/// last report may hold them for up to 10 s).
async fn table_stats(db: &tokio_postgres::Client, sql: &str, expected: i64) -> (i64, i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row = db.query_one(sql, &[]).await.unwrap();
        let (first, second): (i64, i64) = (row.get(0), row.get(1));
        if first >= expected || Instant::now() > deadline {
            return (first, second);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `[journal] url` may list several hosts with `target_session_attrs`, as a
/// PostgreSQL cluster with a standby is addressed (docs/cluster.md section 4):
/// the store tries them in order and writes on the first that accepts writes.
/// Here the first host refuses connections and the second is the server.
#[tokio::test]
async fn a_url_with_several_hosts_writes_on_the_one_that_answers() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("hosts");
    // A loopback port nobody listens on: bound, then let go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (user, rest) = url
        .strip_prefix("postgres://")
        .and_then(|u| u.split_once('@'))
        .unwrap();
    let several = format!("postgres://{user}@{closed},{rest}?target_session_attrs=read-write");
    let (store, _) = open(&several, None);
    let seq = store.journal(forwarded(1, "000001"), now_ms());
    durable_within(&store, seq).await;
    let db = reader(&url).await;
    assert_eq!(count(&db, "SELECT count(*) FROM journal").await, 1);
    store.close();
}

/// Two final records for one forwarded transaction in one batch (a group
/// commit window of 200 ms gathers them): the first completes the row and the
/// second leaves it, as on SQLite; the batch's upsert never meets its row twice
/// (PostgreSQL refuses a statement that does, and the batch would never
/// commit).
#[tokio::test]
async fn the_first_of_two_completions_in_a_batch_wins() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("twice");
    let (store, _) = open_gathering(&url, None, Duration::from_millis(200));
    let seq = store.journal(forwarded(1, "000001"), now_ms());
    durable_within(&store, seq).await;
    let outcome = |state| record(1, "940800", "940810", "000001", "10.00", state);
    store.journal(outcome(FinalState::Approved), now_ms());
    let last = store.journal(outcome(FinalState::Declined), now_ms());
    durable_within(&store, last).await;
    let db = reader(&url).await;
    let state: String = db
        .query_one("SELECT state FROM journal WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "approved");
    assert_eq!(count(&db, "SELECT count(*) FROM journal").await, 1);
    store.close();
}
