//! How far the journal is durable, and what waits for it: tasks (a future that
//! resolves) and held work (a closure run as soon as its records are committed,
//! on the thread that learns it). Each commit releases only what its records
//! made durable (a broadcast would wake every waiting transaction at every
//! commit, most of them to wait again).
//!
//! Held work is how a strict switch answers: the message is encoded at once and
//! handed over, and the commit that makes its record durable queues it on its
//! link's writer. No task is spawned and woken per message, so a durable answer
//! costs one scheduling hop (the link's writer) instead of two.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// Work to run once its records are durable. It runs on the journal's writer
/// thread (or at once, on the caller's, if they already are) while the mark's
/// lock is held, so it must not block nor come back to the mark: queue a
/// message, notify a task.
pub type HeldWork = Box<dyn FnOnce() + Send>;

/// Something waiting for a sequence number.
enum Waiter {
    /// A task polling [`Reached`].
    Task(Waker),
    /// Work to run.
    Work(HeldWork),
}

/// The sequence number up to which everything is committed.
#[derive(Default)]
pub struct DurableMark {
    durable: AtomicU64,
    /// The writer is gone: nothing more will become durable.
    closed: AtomicBool,
    /// In the order they came: held work for one link runs in the order it was
    /// handed over.
    waiting: Mutex<Vec<(u64, Waiter)>>,
}

impl DurableMark {
    /// Everything up to here is committed.
    pub fn get(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// The writer committed everything up to `seq`: release whatever waited for it.
    pub fn advance(&self, seq: u64) {
        self.durable.fetch_max(seq, Ordering::AcqRel);
        self.release(|wanted| wanted <= seq);
    }

    /// The writer stopped: everything waiting is released (there is nothing left
    /// to wait for).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.release(|_| true);
    }

    fn release(&self, ready: impl Fn(u64) -> bool) {
        let woken = {
            let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            run_ready(&mut waiting, ready)
        };
        // Outside the lock: a woken task may poll at once on another thread.
        woken.into_iter().for_each(Waker::wake);
    }

    /// Resolves once everything up to `seq` is committed (or the writer is gone).
    pub fn reached(&self, seq: u64) -> Reached<'_> {
        Reached { mark: self, seq }
    }

    /// Run `work` once everything up to `seq` is committed (or the writer is
    /// gone): now, on this thread, if it already is, after any earlier work that
    /// is ready too (so that a message never overtakes one held before it).
    pub fn then(&self, seq: u64, work: HeldWork) {
        let woken = {
            let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            // Checked under the lock: `advance` stores before it takes the lock,
            // so a commit cannot slip between this check and the registration.
            if !self.is_reached(seq) {
                waiting.push((seq, Waiter::Work(work)));
                return;
            }
            // Durable already, but the commit's own release may not have run
            // yet: what it would release goes first.
            let woken = run_ready(&mut waiting, |wanted| self.is_reached(wanted));
            work();
            woken
        };
        woken.into_iter().for_each(Waker::wake);
    }

    fn is_reached(&self, seq: u64) -> bool {
        self.get() >= seq || self.closed.load(Ordering::Acquire)
    }
}

/// Take what `ready` says is released out of `waiting`: held work runs here, in
/// the order it was handed over, under the caller's lock (so that releases from
/// the writer and from [`DurableMark::then`] never interleave); the tasks to
/// wake are returned, to be woken outside it.
fn run_ready(waiting: &mut Vec<(u64, Waiter)>, ready: impl Fn(u64) -> bool) -> Vec<Waker> {
    // In place: what stays keeps its order and the list its allocation (a
    // commit releases a few entries of a list as long as the transactions in
    // flight).
    let mut woken = Vec::new();
    let mut at = 0;
    while at < waiting.len() {
        if !ready(waiting[at].0) {
            at += 1;
            continue;
        }
        match waiting.remove(at).1 {
            Waiter::Task(waker) => woken.push(waker),
            Waiter::Work(work) => work(),
        }
    }
    woken
}

/// The future of [`DurableMark::reached`].
pub struct Reached<'a> {
    mark: &'a DurableMark,
    seq: u64,
}

impl Future for Reached<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let (mark, seq) = (self.mark, self.seq);
        if mark.is_reached(seq) {
            return Poll::Ready(());
        }
        let mut waiting = mark.waiting.lock().unwrap_or_else(|p| p.into_inner());
        // Checked again under the lock: `advance` stores before it takes the lock,
        // so a commit cannot slip between this check and the registration.
        if mark.is_reached(seq) {
            return Poll::Ready(());
        }
        let known = waiting.iter_mut().find_map(|(wanted, w)| match w {
            Waiter::Task(waker) if waker.will_wake(cx.waker()) => Some(wanted),
            _ => None,
        });
        match known {
            Some(wanted) => *wanted = seq,
            None => waiting.push((seq, Waiter::Task(cx.waker().clone()))),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn waiters_resolve_when_their_sequence_is_committed() {
        let mark = Arc::new(DurableMark::default());
        let early = tokio::spawn({
            let mark = mark.clone();
            async move { mark.reached(3).await }
        });
        let late = tokio::spawn({
            let mark = mark.clone();
            async move { mark.reached(10).await }
        });
        tokio::task::yield_now().await;
        mark.advance(5);
        tokio::time::timeout(std::time::Duration::from_secs(5), early)
            .await
            .expect("seq 3 is durable at 5")
            .unwrap();
        assert!(!late.is_finished(), "seq 10 is not durable at 5");
        assert_eq!(mark.waiting.lock().unwrap().len(), 1);
        mark.advance(10);
        tokio::time::timeout(std::time::Duration::from_secs(5), late)
            .await
            .expect("seq 10 is durable at 10")
            .unwrap();
        mark.reached(7).await; // already durable: no wait
    }

    /// What held work ran, in order, and how to make work that notes its tag.
    fn recorder() -> (
        Arc<Mutex<Vec<&'static str>>>,
        impl Fn(&'static str) -> HeldWork,
    ) {
        let ran = Arc::new(Mutex::new(Vec::new()));
        let log = ran.clone();
        let note = move |tag: &'static str| -> HeldWork {
            let log = log.clone();
            Box::new(move || log.lock().unwrap().push(tag))
        };
        (ran, note)
    }

    #[test]
    fn held_work_runs_in_order_once_its_records_are_durable() {
        let mark = DurableMark::default();
        let (ran, note) = recorder();
        mark.then(4, note("a"));
        mark.then(9, note("late"));
        mark.then(2, note("b"));
        assert!(ran.lock().unwrap().is_empty(), "nothing is durable yet");
        mark.advance(5);
        assert_eq!(
            *ran.lock().unwrap(),
            ["a", "b"],
            "handed-over order, up to 5 only"
        );
        mark.then(3, note("now"));
        assert_eq!(
            ran.lock().unwrap().last(),
            Some(&"now"),
            "already durable: runs at once"
        );
        mark.advance(9);
        assert_eq!(*ran.lock().unwrap(), ["a", "b", "now", "late"]);
        assert!(mark.waiting.lock().unwrap().is_empty());
    }

    #[test]
    fn work_handed_over_after_a_commit_does_not_overtake_what_the_commit_releases() {
        let mark = DurableMark::default();
        let (ran, note) = recorder();
        mark.then(1, note("first"));
        // The commit of 1..2 is stored, its release not yet run (the writer is
        // between the two), when the next message is handed over.
        mark.durable.store(2, Ordering::Release);
        mark.then(2, note("second"));
        assert_eq!(*ran.lock().unwrap(), ["first", "second"]);
        mark.advance(2);
        assert_eq!(ran.lock().unwrap().len(), 2, "nothing runs twice");
    }

    #[test]
    fn closing_runs_held_work() {
        let mark = DurableMark::default();
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        mark.then(1, Box::new(move || flag.store(true, Ordering::SeqCst)));
        mark.close();
        assert!(ran.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn closing_releases_every_waiter() {
        let mark = Arc::new(DurableMark::default());
        let waiter = tokio::spawn({
            let mark = mark.clone();
            async move { mark.reached(1).await }
        });
        tokio::task::yield_now().await;
        mark.close();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("released")
            .unwrap();
    }
}
