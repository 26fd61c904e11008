//! The lease loop against a fake membership, on the real clock with a short
//! lease (150 ms; every wait bounded): renewals, the pause when the lease
//! lapses, the take-over only after two leases of renewals, a lost lease.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use codecs::{Message, Mti};
use routing_rules::{RoutingTable, SharedRoutingTable};
use tokio::time::Instant;

use super::*;
use crate::cluster::BoxFuture;
use crate::core::saf::SafItem;
use crate::core::CoreSettings;

const LEASE: Duration = Duration::from_millis(150);

/// A database that answers as the test says.
#[derive(Default)]
struct FakeMembership {
    /// Unreachable: renewals fail.
    down: AtomicBool,
    /// Another node took over: renewals answer "lost".
    lost: AtomicBool,
    renewals: AtomicUsize,
    /// When the last renewal that succeeded was asked for.
    last_renewed: Mutex<Option<Instant>>,
    /// When each take-over ran.
    take_overs: Mutex<Vec<Instant>>,
    /// What the next take-over brings.
    to_adopt: Mutex<VecDeque<Adopted>>,
    /// Take-overs take two leases.
    slow: AtomicBool,
    left: AtomicBool,
}

impl FakeMembership {
    fn take_over_count(&self) -> usize {
        self.take_overs.lock().unwrap().len()
    }
}

impl Membership for FakeMembership {
    fn renew(&self) -> BoxFuture<'_, Result<bool, String>> {
        self.renewals.fetch_add(1, Ordering::SeqCst);
        let answer = if self.lost.load(Ordering::SeqCst) {
            Ok(false)
        } else if self.down.load(Ordering::SeqCst) {
            Err("connection refused".to_string())
        } else {
            *self.last_renewed.lock().unwrap() = Some(Instant::now());
            Ok(true)
        };
        Box::pin(async move { answer })
    }

    fn take_over_expired(&self) -> BoxFuture<'_, Result<Vec<Adopted>, String>> {
        self.take_overs.lock().unwrap().push(Instant::now());
        let adopted = self.to_adopt.lock().unwrap().pop_front();
        let slow = self.slow.load(Ordering::SeqCst);
        Box::pin(async move {
            if slow {
                tokio::time::sleep(LEASE * 2).await;
            }
            Ok(adopted.into_iter().collect())
        })
    }

    fn leave(&self) -> BoxFuture<'_, Result<(), String>> {
        self.left.store(true, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
}

fn core() -> Arc<Core> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../routing-rules/rules/national.toml"
    );
    let table = RoutingTable::load(Path::new(path)).expect("rules").0;
    Arc::new(Core::new(
        CoreSettings::default(),
        Arc::new(SharedRoutingTable::new(table)),
    ))
}

fn identity() -> NodeIdentity {
    NodeIdentity {
        name: "node-a".into(),
        slot: 1,
        lease: LEASE,
    }
}

/// The dead node's queue: one reversal.
fn dead_node() -> Adopted {
    let mut msg = Message::new(Mti::REVERSAL_ADVICE);
    msg.set(7, "1125103000");
    msg.set_stan(77);
    msg.set(32, "940810");
    Adopted {
        node: "node-b".into(),
        saf: vec![SafItem::durable((2 << 48) + 1, "940800", msg)],
        forwarded: Vec::new(),
        reversals_queued: 1,
        epoch: 4,
    }
}

/// Wait (at most 3 s) until `done`.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The loop running on `core` against `fake`, and its stop signal.
fn start(
    fake: &Arc<FakeMembership>,
    core: &Arc<Core>,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<LeaseEnd>) {
    let (stop, stopped) = watch::channel(false);
    let lease = LeaseLoop::new(fake.clone(), identity());
    let core = core.clone();
    let handle = tokio::spawn(async move { lease.run(&core, stopped).await });
    (stop, handle)
}

/// Stop the loop; how it ended (within 2 s).
async fn stopped(stop: watch::Sender<bool>, handle: tokio::task::JoinHandle<LeaseEnd>) -> LeaseEnd {
    stop.send(true).expect("the loop listens");
    tokio::time::timeout(Duration::from_secs(2), handle)
        .await
        .expect("stops in time")
        .expect("no panic")
}

#[tokio::test]
async fn take_over_waits_for_two_leases_of_renewals_and_hands_what_it_brings_to_the_core() {
    let fake = Arc::new(FakeMembership::default());
    fake.to_adopt.lock().unwrap().push_back(dead_node());
    let core = core();
    let started = Instant::now();
    let (stop, handle) = start(&fake, &core);
    until("a take-over", || fake.take_over_count() > 0).await;
    let first = fake.take_overs.lock().unwrap()[0];
    assert!(first >= started + LEASE * 2, "after {:?}", first - started);
    assert!(fake.renewals.load(Ordering::SeqCst) >= 6);
    until("the adopted queue", || core.saf_depth() == 1).await;
    assert!(!core.saf_paused.load(Ordering::SeqCst));
    assert_eq!(stopped(stop, handle).await, LeaseEnd::Stopped);
}

#[tokio::test]
async fn a_slow_take_over_neither_stops_the_renewals_nor_loses_what_it_brings() {
    let fake = Arc::new(FakeMembership::default());
    fake.slow.store(true, Ordering::SeqCst);
    fake.to_adopt.lock().unwrap().push_back(dead_node());
    let core = core();
    let (stop, handle) = start(&fake, &core);
    until("a take-over", || fake.take_over_count() > 0).await;
    let renewed = fake.renewals.load(Ordering::SeqCst);
    // Half-way through the take-over: renewed every lease/3 meanwhile (about
    // 3), not held up by it, and no second take-over begun.
    tokio::time::sleep(LEASE).await;
    assert!(fake.renewals.load(Ordering::SeqCst) >= renewed + 2);
    assert!(!core.saf_paused.load(Ordering::SeqCst));
    assert_eq!(fake.take_over_count(), 1, "one at a time");
    until("the adopted queue", || core.saf_depth() == 1).await;
    assert_eq!(stopped(stop, handle).await, LeaseEnd::Stopped);
}

#[tokio::test]
async fn an_outage_pauses_delivery_once_the_lease_lapses_and_delays_the_next_take_over() {
    let fake = Arc::new(FakeMembership::default());
    let core = core();
    let (stop, handle) = start(&fake, &core);
    until("a take-over", || fake.take_over_count() > 0).await;
    let down_at = Instant::now();
    fake.down.store(true, Ordering::SeqCst);
    until("the pause", || core.saf_paused.load(Ordering::SeqCst)).await;
    // Not before the lease has passed since the last renewal before the outage.
    assert!(
        Instant::now() >= down_at + LEASE - LEASE / 3,
        "paused too early"
    );
    let taken_before = fake.take_over_count();
    tokio::time::sleep(LEASE).await;
    assert_eq!(
        fake.take_over_count(),
        taken_before,
        "no take-over while down"
    );
    let up_at = Instant::now();
    fake.down.store(false, Ordering::SeqCst);
    until("the resume", || !core.saf_paused.load(Ordering::SeqCst)).await;
    until("a take-over after the outage", || {
        fake.take_over_count() > taken_before
    })
    .await;
    let next = fake.take_overs.lock().unwrap()[taken_before];
    assert!(
        next >= up_at + LEASE * 2,
        "only {:?} after the outage",
        next - up_at
    );
    assert_eq!(stopped(stop, handle).await, LeaseEnd::Stopped);
}

#[tokio::test]
async fn a_lost_lease_ends_the_loop_with_delivery_paused_and_leave_is_called_on_a_stop() {
    let fake = Arc::new(FakeMembership::default());
    let core = core();
    let (_stop, handle) = start(&fake, &core);
    until("a renewal", || fake.renewals.load(Ordering::SeqCst) > 0).await;
    fake.lost.store(true, Ordering::SeqCst);
    let end = tokio::time::timeout(Duration::from_secs(2), handle)
        .await
        .expect("ends in time")
        .expect("no panic");
    assert_eq!(end, LeaseEnd::Lost);
    assert!(core.saf_paused.load(Ordering::SeqCst));
    assert!(fake.take_overs.lock().unwrap().is_empty());
    // A graceful stop leaves the cluster.
    LeaseLoop::new(fake.clone(), identity()).leave().await;
    assert!(fake.left.load(Ordering::SeqCst));
}

#[tokio::test]
async fn delivery_pauses_when_the_lease_lapses_not_at_the_next_renewal() {
    let fake = Arc::new(FakeMembership::default());
    let core = core();
    let (stop, handle) = start(&fake, &core);
    until("two renewals", || fake.renewals.load(Ordering::SeqCst) >= 2).await;
    fake.down.store(true, Ordering::SeqCst);
    until("the pause", || core.saf_paused.load(Ordering::SeqCst)).await;
    let paused_at = Instant::now();
    let last = fake.last_renewed.lock().unwrap().expect("renewed");
    // A survivor may take over as soon as the database's lease ends, which is
    // one lease after the database stamped the last renewal: this node must
    // have stopped delivering by then, not a renewal period (lease/3) later.
    assert!(
        paused_at <= last + LEASE + LEASE / 6,
        "paused {:?} after the last renewal (lease {LEASE:?})",
        paused_at - last
    );
    assert_eq!(stopped(stop, handle).await, LeaseEnd::Stopped);
}

#[tokio::test]
async fn the_lapse_hook_is_told_when_the_lease_lapses_and_when_it_is_renewed() {
    let fake = Arc::new(FakeMembership::default());
    let core = core();
    let told: Arc<Mutex<Vec<bool>>> = Arc::default();
    let (stop, stop_rx) = watch::channel(false);
    let sink = told.clone();
    let lease = LeaseLoop::new(fake.clone(), identity())
        .on_lapse(Box::new(move |lapsed| sink.lock().unwrap().push(lapsed)));
    let handle = {
        let core = core.clone();
        tokio::spawn(async move { lease.run(&core, stop_rx).await })
    };
    until("a renewal", || fake.renewals.load(Ordering::SeqCst) > 0).await;
    assert!(told.lock().unwrap().is_empty(), "nothing while it holds");
    fake.down.store(true, Ordering::SeqCst);
    until("the lapse", || !told.lock().unwrap().is_empty()).await;
    fake.down.store(false, Ordering::SeqCst);
    until("the renewal", || told.lock().unwrap().len() == 2).await;
    assert_eq!(*told.lock().unwrap(), [true, false]);
    assert_eq!(stopped(stop, handle).await, LeaseEnd::Stopped);
}
