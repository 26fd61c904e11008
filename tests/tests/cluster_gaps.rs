//! The gaps docs/cluster.md section 6 listed, closed (issue 19), against a
//! throwaway PostgreSQL: a dead node taken over once its lease has expired
//! (not a lease later), a commit fenced off once its node was taken over, a
//! retried batch meeting its own claim, an acquirer reversal whose original
//! another node forwarded found in the shared journal (the store's lookup, and
//! two nodes end to end; with the database down, left for the acquirer to
//! repeat rather than sent on in the acquirer's terms), and a node whose lease lapsed for 5 leases closing its acquirers'
//! connections until it renews. Each test skips (printed) when PostgreSQL is
//! not installed, unless `POSTGRES_REQUIRED=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

#[path = "../../switch/tests/journal_support/mod.rs"]
mod journal_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use journal_support::pg::{self, count, durable_within, now_ms, reader, PATIENCE};
use journal_support::{forwarded_for, record};
use switch::cluster::NodeIdentity;
use switch::config::SecretKey;
use switch::core::journal::{FinalState, JournalRecord};
use switch::store::{Recovered, Store};
use tests::postgres::ThrowawayPostgres;
use tests::{
    accept, acquirer_and_issuer, answer, pan, purchase, start_switch_with, wait_for_sign_on, Peer,
    Received,
};
use tokio::net::TcpListener;

/// The lease of these tests' nodes.
const LEASE: Duration = Duration::from_millis(1000);

fn node(name: &str, slot: u8) -> NodeIdentity {
    NodeIdentity {
        name: name.into(),
        slot,
        lease: LEASE,
    }
}

fn open(url: &str, node: &NodeIdentity) -> (Store, Recovered) {
    pg::open(url, Some(node))
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
    eprintln!("taken over {since:?} after its last renewal (lease {LEASE:?})");
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
    // A record handed over once the writer has stopped (it stops right after
    // the hook) is not written, and must not look durable either: it used to
    // get the number 0, which every durable mark has reached, so what was held
    // for it went out (the intermittent failure when `late` came after the
    // fenced commit of `held` alone).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = paused.journal(forwarded(1, 3), now_ms());
    // Nothing it held is released, and nothing of that batch is written.
    for seq in [held, late, after] {
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
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM journal WHERE claim_key IS NOT NULL"
        )
        .await,
        1
    );
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

#[tokio::test]
async fn the_original_another_node_forwarded_is_found_in_the_shared_journal() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("gaps_original");
    let (a, _) = open(&url, &node("node-a", 1));
    let (b, _) = open(&url, &node("node-b", 2));
    // Node A forwarded the acquirer's STAN 000031 (field 7 1125101010) under
    // its switch STAN 31, and the issuer approved it.
    let seq = a.journal(forwarded(1, 31), now_ms());
    durable_within(&a, seq).await;
    let mut approved = forwarded(1, 31);
    approved.state = FinalState::Approved;
    approved.forwarded = None;
    let seq = a.journal(approved, now_ms());
    durable_within(&a, seq).await;
    let key = |stan: u32, transmission: &str| switch::core::recent::AcquirerKey {
        acquirer: "940800".into(),
        stan,
        transmission: transmission.into(),
    };
    let started = Instant::now();
    // Field 90's keys first; the reversal's own keys name nothing.
    let found = b
        .find_forwarded(&[key(31, "1125101010"), key(32, "1125101111")])
        .await
        .unwrap()
        .expect("found on node B");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(
        (
            found.issuer.as_str(),
            found.switch_stan,
            found.stan.as_str(),
            found.mti.as_str()
        ),
        ("940810", 31, "000031", "0200")
    );
    // Keys that name nothing: nothing (handled as an unknown original).
    assert!(b
        .find_forwarded(&[key(33, "1125101010")])
        .await
        .unwrap()
        .is_none());
    a.close();
    b.close();
}

/// Node `slot` of a cluster on `url`: acquirer 940810 listening, issuer 940800
/// dialled at `issuer` (the test plays it), strict journal on PostgreSQL.
async fn start_node(
    url: &str,
    issuer: std::net::SocketAddr,
    slot: u8,
) -> switch::net::RunningSwitch {
    start_node_standing_in(url, issuer, slot, false).await
}

/// [`start_node`], standing in for the issuer when `stand_in` (its advices'
/// cards sealed under a test KEK).
async fn start_node_standing_in(
    url: &str,
    issuer: std::net::SocketAddr,
    slot: u8,
    stand_in: bool,
) -> switch::net::RunningSwitch {
    let mut links = acquirer_and_issuer(issuer, 5000, "read_timeout_ms = 1000");
    if stand_in {
        links = links.replace("[stand_in]\nenabled = false", "[stand_in]\nenabled = true");
    }
    let text = format!(
        "{links}\n[journal]\nurl = \"{url}\"\ndurability = \"strict\"\n\
         pan_key = {{ env = \"CLUSTER_GAPS_UNSET_VARIABLE\" }}\n\n\
         [cluster]\nnode = \"node-{slot}\"\nslot = {slot}\nlease_ms = {}\n",
        LEASE.as_millis()
    );
    start_switch_with(&text, |options| {
        options.config.journal.as_mut().unwrap().pan_key = Some(SecretKey::new(vec![7; 32]));
        if stand_in {
            options.vault_kek = Some(card_security::KeyMaterial::new(vec![0x7E; 32]));
        }
    })
    .await
}

/// The issuer's side of a node's link: accepted, signed on.
async fn signed_on_issuer(listener: &TcpListener) -> Peer {
    let mut issuer = accept(listener, PATIENCE).await;
    let signon = issuer.recv(PATIENCE).await.expect("sign-on");
    assert_eq!(signon.mti().as_str(), "0800");
    issuer.send(&answer(&signon, "00")).await;
    issuer
}

/// Two nodes on one database, each linked to the issuer the test plays, after
/// node A forwarded a purchase (acquirer STAN 4711) that the issuer approved.
struct ApprovedOnNodeA {
    node_a: switch::net::RunningSwitch,
    node_b: switch::net::RunningSwitch,
    /// Kept open: node A's link to the issuer.
    _issuer_of_a: Peer,
    issuer_of_b: Peer,
    original: codecs::Message,
    /// Node A's STAN toward the issuer.
    switch_stan: u32,
}

async fn approved_on_node_a(url: &str) -> ApprovedOnNodeA {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer_addr = listener.local_addr().unwrap();
    let node_a = start_node(url, issuer_addr, 1).await;
    let mut issuer_of_a = signed_on_issuer(&listener).await;
    let node_b = start_node(url, issuer_addr, 2).await;
    let issuer_of_b = signed_on_issuer(&listener).await;
    let mut acquirer = Peer::connect(node_a.listening["morning-star"]).await;
    let original = purchase(&pan("9408010000001"), "940810", 4711, 150_000);
    acquirer.send(&original).await;
    let forwarded = issuer_of_a.recv(PATIENCE).await.expect("forwarded");
    let switch_stan = forwarded.stan().unwrap();
    assert_ne!(switch_stan, 4711);
    issuer_of_a.send(&answer(&forwarded, "00")).await;
    let approved = acquirer.recv(PATIENCE).await.expect("answered");
    assert_eq!(approved.text(39).unwrap(), "00");
    ApprovedOnNodeA {
        node_a,
        node_b,
        _issuer_of_a: issuer_of_a,
        issuer_of_b,
        original,
        switch_stan,
    }
}

impl ApprovedOnNodeA {
    /// The acquirer's `mti` (0400, 0420, ...) reversing the original, naming it
    /// in field 90 by the acquirer's own keys.
    fn reversal(&self, mti: codecs::Mti) -> codecs::Message {
        let mut reversal = self.original.clone();
        reversal.set_mti(mti);
        reversal.set(7, "1125103100");
        reversal.set_stan(4712);
        reversal.set(
            90,
            &format!("0200004711{}{:0>11}{:0>11}", "1125103000", "940810", ""),
        );
        reversal
    }

    /// Assert that `to_issuer` names the original as the issuer saw it.
    fn names_node_a_stan(&self, to_issuer: &codecs::Message) {
        let f90 = to_issuer.text(90).unwrap();
        assert_eq!(
            &f90[..20],
            format!("0200{:06}1125103000", self.switch_stan),
            "field 90 in the issuer's terms: node A's STAN"
        );
    }

    async fn shutdown(self) {
        self.node_b.shutdown().await;
        self.node_a.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reversal_sent_to_another_node_reaches_the_issuer_with_its_own_keys() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let mut run = approved_on_node_a(&pg.new_database("gaps_reversal")).await;
    // The acquirer moves to node B (A died, or its link dropped) and reverses.
    let mut acquirer = Peer::connect(run.node_b.listening["morning-star"]).await;
    acquirer
        .send(&run.reversal(codecs::Mti::REVERSAL_REQUEST))
        .await;
    let to_issuer = run
        .issuer_of_b
        .recv(PATIENCE)
        .await
        .expect("reversal forwarded");
    assert_eq!(to_issuer.mti().as_str(), "0400");
    run.names_node_a_stan(&to_issuer);
    run.issuer_of_b.send(&answer(&to_issuer, "00")).await;
    let acked = acquirer.recv(PATIENCE).await.expect("reversal answered");
    assert_eq!(acked.text(39).unwrap(), "00");
    run.shutdown().await;
}

/// The database stops after node A forwarded a purchase the issuer approved,
/// and the acquirer, moved to node B, advises its reversal (0420). B cannot
/// read the shared journal: the advice must not go on with the acquirer's
/// field 90, which names an original the issuer cannot match (the issuer would
/// keep the approval the journal nets out: issue 19's books apart). It is left
/// unanswered; once the database is back, the acquirer's repeat finds the
/// original, and the issuer gets the reversal in its own terms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reversal_advised_to_another_node_while_the_database_is_down_waits_for_its_original() {
    let Some(mut pg) = ThrowawayPostgres::start() else {
        return;
    };
    let mut run = approved_on_node_a(&pg.new_database("gaps_reversal_outage")).await;
    pg.stop();
    let mut acquirer = Peer::connect(run.node_b.listening["morning-star"]).await;
    acquirer
        .send(&run.reversal(codecs::Mti::REVERSAL_ADVICE))
        .await;
    acquirer
        .expect_silence(
            Duration::from_millis(1500),
            "an advice acknowledged with the database down",
        )
        .await;
    pg.restart();

    // The acquirer repeats its advice (0421) until it is acknowledged.
    let repeat = run.reversal(codecs::Mti::REVERSAL_ADVICE_REPEAT);
    let deadline = Instant::now() + PATIENCE;
    loop {
        acquirer.send(&repeat).await;
        if let Some(ack) = acquirer.recv(Duration::from_millis(500)).await {
            assert_eq!(ack.mti().as_str(), "0430");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the advice was never acknowledged"
        );
    }
    // What the issuer gets names the original by node A's STAN.
    let to_issuer = loop {
        let m = run
            .issuer_of_b
            .recv(PATIENCE)
            .await
            .expect("reversal delivered");
        if m.mti().as_str() != "0800" {
            break m;
        }
        run.issuer_of_b.send(&answer(&m, "00")).await;
    };
    assert!(
        matches!(to_issuer.mti().as_str(), "0420" | "0421"),
        "{}",
        to_issuer.mti()
    );
    run.names_node_a_stan(&to_issuer);
    run.issuer_of_b.send(&answer(&to_issuer, "00")).await;
    run.shutdown().await;
}

/// One node on `url`, signed on to the issuer the test plays, after its
/// acquirer's purchase (STAN 4711) reached the issuer, not yet answered.
struct Forwarded {
    node: switch::net::RunningSwitch,
    issuer: Peer,
    acquirer: Peer,
    /// The purchase as the issuer got it.
    forwarded: codecs::Message,
}

async fn forwarded_by_one_node(url: &str) -> Forwarded {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let node = start_node(url, listener.local_addr().unwrap(), 1).await;
    let mut issuer = signed_on_issuer(&listener).await;
    wait_for_sign_on(&node, 1, PATIENCE).await;
    let mut acquirer = Peer::connect(node.listening["morning-star"]).await;
    acquirer
        .send(&purchase(&pan("9408010000001"), "940810", 4711, 150_000))
        .await;
    let forwarded = issuer.recv(PATIENCE).await.expect("forwarded");
    Forwarded {
        node,
        issuer,
        acquirer,
        forwarded,
    }
}

/// docs/cluster.md section 6, point 5: an approval's answer held for its
/// commit while the database is down, and the acquirer's connection gone
/// before the database is back (the acquirer left, or the lease gate closed
/// it). Released onto the closed connection, the approval was never heard,
/// while the issuer and the journal kept it; an acquirer that gave up
/// reversing left the books apart. The node now reverses it at the issuer
/// itself, naming the original by its own STAN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_released_after_its_acquirer_left_is_reversed_at_the_issuer() {
    let Some(mut pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("gaps_undelivered");
    let Forwarded {
        node,
        mut issuer,
        mut acquirer,
        forwarded,
    } = forwarded_by_one_node(&url).await;
    let switch_stan = forwarded.stan().unwrap();
    // The database stops before the answer's record can be committed.
    pg.stop();
    issuer.send(&answer(&forwarded, "00")).await;
    acquirer
        .expect_silence(
            Duration::from_millis(500),
            "an answer released before its record was durable",
        )
        .await;
    drop(acquirer);
    pg.restart();
    // Once committed, the answer meets the closed connection: the issuer gets
    // a reversal of the approval, by the switch's keys.
    let deadline = Instant::now() + PATIENCE;
    let reversal = loop {
        let m = issuer.recv(PATIENCE).await;
        let m = m
            .filter(|_| Instant::now() < deadline)
            .expect("the undelivered approval was never reversed");
        if m.mti().as_str() != "0800" {
            break m;
        }
        issuer.send(&answer(&m, "00")).await;
    };
    assert!(
        matches!(reversal.mti().as_str(), "0420" | "0421"),
        "{}",
        reversal.mti()
    );
    let f90 = reversal.text(90).unwrap();
    assert_eq!(&f90[..10], format!("0200{switch_stan:06}"));
    issuer.send(&answer(&reversal, "00")).await;
    // The journal keeps the reversal beside the approval: settlement nets it.
    let db = reader(&url).await;
    let reversals = "SELECT count(*) FROM journal WHERE mti = '0420' AND reverses_stan = '004711'";
    let deadline = Instant::now() + PATIENCE;
    while count(&db, reversals).await != 1 {
        assert!(Instant::now() < deadline, "the reversal was not journaled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.shutdown().await;
}

/// A graceful stop while an approval's answer waits for its commit (the
/// database slow to flush): the stop waits for the store before it closes the
/// links, so the acquirer hears its approval. Before, the links closed 150 ms
/// into the stop, whatever was still held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_sends_the_answers_still_waiting_for_their_commit() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("gaps_stop_flush");
    let Forwarded {
        node,
        mut issuer,
        mut acquirer,
        forwarded,
    } = forwarded_by_one_node(&url).await;
    // Commits now wait (for a standby that does not exist) until released.
    let admin = reader(&url).await;
    pg::synchronous_standby(&admin, "phantom").await;
    issuer.send(&answer(&forwarded, "00")).await;
    acquirer
        .expect_silence(
            Duration::from_millis(300),
            "an answer sent before its record was durable",
        )
        .await;
    let stopping = tokio::spawn(node.shutdown());
    // Well past the 150 ms after which the links used to close (and well
    // within the stop's 2 s and the commit's 2 s).
    tokio::time::sleep(Duration::from_millis(700)).await;
    pg::synchronous_standby(&admin, "").await;
    let approved = acquirer
        .recv(PATIENCE)
        .await
        .expect("the stop closed the connection before the answer was sent");
    assert_eq!(approved.text(39).as_deref(), Some("00"));
    stopping.await.unwrap();
}

/// An echo from an acquirer host (0800, field 70 = 301).
fn echo(stan: u32) -> codecs::Message {
    let mut m = codecs::Message::new(codecs::Mti::NETWORK_REQUEST);
    m.set(7, "1125103000");
    m.set_stan(stan);
    m.set(70, "301");
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_lease_lapsed_closes_its_acquirers_and_takes_them_back_once_renewed() {
    let Some(mut pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("gaps_gate");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let node = start_node(&url, listener.local_addr().unwrap(), 1).await;
    let _issuer = signed_on_issuer(&listener).await;
    let address = node.listening["morning-star"];
    let mut acquirer = Peer::connect(address).await;
    acquirer.send(&echo(1)).await;
    assert!(acquirer.recv(PATIENCE).await.is_some(), "served");
    // The database goes away: renewals fail and the lease lapses after about a
    // lease. While the lapse is young (it may be a short outage for every node)
    // the node keeps its acquirers and answers them; once the lapse has lasted
    // 5 leases (lease_gate::CLOSE_AFTER_LEASES) it closes their connections.
    let stopped = Instant::now();
    pg.stop();
    assert!(
        !acquirer.closed_within(LEASE * 3).await,
        "closed before the lapse had lasted"
    );
    acquirer.send(&echo(3)).await;
    assert!(
        acquirer.recv(PATIENCE).await.is_some(),
        "still served while the lapse is young"
    );
    assert!(
        acquirer.closed_within(LEASE * 8).await,
        "the acquirer's connection stayed open"
    );
    let lapsed_after = stopped.elapsed();
    // New connections are closed at once while it lasts.
    let mut refused = Peer::connect(address).await;
    assert!(refused.closed_within(Duration::from_secs(1)).await);
    // The database is back: the node renews and serves acquirers again.
    pg.restart();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut again = Peer::connect(address).await;
        again.send(&echo(2)).await;
        // Closed at once while still lapsed; answered once renewed.
        if let Received::Message(..) = again.next_frame(Duration::from_millis(500)).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acquirers still refused after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "acquirer connections closed {lapsed_after:?} after the database stopped (lease {LEASE:?})"
    );
    node.shutdown().await;
}

/// A loopback address where nothing listens: an issuer host that is down, so
/// the nodes stand in for it.
fn down_host() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Send `req` and return the answer's response code and field 60 (the
/// stand-in indicator).
async fn ask(acquirer: &mut Peer, req: &codecs::Message) -> (String, Option<String>) {
    acquirer.send(req).await;
    let resp = acquirer.recv(PATIENCE).await.expect("an answer");
    assert_eq!(resp.stan(), req.stan());
    (
        resp.text(39).expect("field 39").into_owned(),
        resp.text(60).map(|v| v.into_owned()),
    )
}

/// How long the other nodes' stand-in state may take to reach a node: its
/// poll every second, a read, and margin for a loaded machine.
const STAND_IN_POLL: Duration = Duration::from_millis(2500);

/// Two nodes standing in for issuer 940800 (down for both), and an acquirer
/// connection to each.
async fn two_nodes_standing_in(
    url: &str,
) -> (
    switch::net::RunningSwitch,
    switch::net::RunningSwitch,
    Peer,
    Peer,
) {
    let a = start_node_standing_in(url, down_host(), 1, true).await;
    let b = start_node_standing_in(url, down_host(), 2, true).await;
    let to_a = Peer::connect(a.listening["morning-star"]).await;
    let to_b = Peer::connect(b.listening["morning-star"]).await;
    (a, b, to_a, to_b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_decided_in_stand_in_on_two_nodes_is_approved_once() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("gaps_stand_in_repeat");
    let db = reader(&url).await;
    let (a, b, mut to_a, mut to_b) = two_nodes_standing_in(&url).await;
    let request = purchase(&pan("9408010000005"), "940810", 5101, 150_000);
    let first = ask(&mut to_a, &request).await;
    assert_eq!(first, ("00".to_string(), Some("STANDIN".to_string())));
    // The acquirer sends the same request to the other node (it moved, or it
    // repeats on every connection): the claim node A took refuses it.
    let (rc, _) = ask(&mut to_b, &request).await;
    assert_eq!(rc, "94", "approved twice across nodes");
    let approved =
        "SELECT count(*) FROM journal WHERE stand_in = 'within-limits' AND state = 'approved'";
    assert_eq!(count(&db, approved).await, 1);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM journal WHERE state = 'declined' AND response_code = '94'"
        )
        .await,
        1,
        "node B's row declined 94"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM saf").await,
        1,
        "one advice owed to the issuer"
    );
    // Node B's usage does not count the approval it withdrew: the card's next
    // request there is decided afresh (approved).
    let next = purchase(&pan("9408010000005"), "940810", 5102, 150_000);
    assert_eq!(ask(&mut to_b, &next).await.0, "00");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cards_daily_stand_in_limits_hold_across_nodes_within_about_a_second() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("gaps_stand_in_limits");
    let (a, b, mut to_a, to_b) = two_nodes_standing_in(&url).await;
    // National debit cards: 2 cash withdrawals a day in stand-in.
    let card = pan("9408010000007");
    let cash = |stan: u32| {
        let mut m = purchase(&card, "940810", stan, 50_000);
        m.set(3, "010000");
        m
    };
    assert_eq!(ask(&mut to_a, &cash(5201)).await.0, "00");
    assert_eq!(ask(&mut to_a, &cash(5202)).await.0, "00");
    drop(to_b); // idle past the read timeout: closed by the node
    tokio::time::sleep(STAND_IN_POLL).await;
    let mut to_b = Peer::connect(b.listening["morning-star"]).await;
    let third = ask(&mut to_b, &cash(5203)).await;
    assert_eq!(
        third,
        ("65".to_string(), Some("STANDIN".to_string())),
        "a third withdrawal on the other node"
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_card_sent_to_one_node_is_declined_by_the_other_within_about_a_second() {
    let Some(pg) = ThrowawayPostgres::start() else {
        return;
    };
    let url = pg.new_database("gaps_stand_in_hot");
    // Node A's issuer link is up (the update arrives there); node B's is down.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = start_node_standing_in(&url, listener.local_addr().unwrap(), 1, true).await;
    let mut issuer = signed_on_issuer(&listener).await;
    let b = start_node_standing_in(&url, down_host(), 2, true).await;
    let hot = pan("9408010000009");
    let mut update = codecs::Message::new(codecs::Mti::new(b"0302").unwrap());
    update.set(2, &hot);
    update.set(7, "1206120000");
    update.set_stan(1);
    update.set(91, "1");
    update.set(101, "NEGATIVE");
    issuer.send(&update).await;
    let answered = issuer.recv(PATIENCE).await.expect("the 0312");
    assert_eq!(
        (answered.mti().as_str(), answered.text(39).as_deref()),
        ("0312", Some("00"))
    );
    tokio::time::sleep(STAND_IN_POLL).await;
    let mut to_b = Peer::connect(b.listening["morning-star"]).await;
    let decided = ask(&mut to_b, &purchase(&hot, "940810", 5301, 10_000)).await;
    assert_eq!(
        decided,
        ("41".to_string(), Some("STANDIN".to_string())),
        "the hot card approved on the other node"
    );
    a.shutdown().await;
    b.shutdown().await;
}
