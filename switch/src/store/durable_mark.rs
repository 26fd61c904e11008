//! How far the journal is durable, and the tasks waiting for it: each commit
//! wakes only the waiters whose records it made durable (a broadcast would wake
//! every waiting transaction at every commit, most of them to wait again).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// The sequence number up to which everything is committed.
#[derive(Default)]
pub struct DurableMark {
    durable: AtomicU64,
    /// The writer is gone: nothing more will become durable.
    closed: AtomicBool,
    waiting: Mutex<Vec<(u64, Waker)>>,
}

impl DurableMark {
    /// Everything up to here is committed.
    pub fn get(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// The writer committed everything up to `seq`: wake whoever waited for it.
    pub fn advance(&self, seq: u64) {
        self.durable.fetch_max(seq, Ordering::AcqRel);
        self.wake(|wanted| wanted <= seq);
    }

    /// The writer stopped: every waiter is released (there is nothing left to wait for).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake(|_| true);
    }

    fn wake(&self, ready: impl Fn(u64) -> bool) {
        let mut woken = Vec::new();
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            let mut i = 0;
            while i < waiting.len() {
                if ready(waiting[i].0) {
                    woken.push(waiting.swap_remove(i).1);
                } else {
                    i += 1;
                }
            }
        }
        for waker in woken {
            waker.wake();
        }
    }

    /// Resolves once everything up to `seq` is committed (or the writer is gone).
    pub fn reached(&self, seq: u64) -> Reached<'_> {
        Reached { mark: self, seq }
    }

    fn is_reached(&self, seq: u64) -> bool {
        self.get() >= seq || self.closed.load(Ordering::Acquire)
    }
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
        match waiting.iter_mut().find(|(_, w)| w.will_wake(cx.waker())) {
            Some(entry) => entry.0 = seq,
            None => waiting.push((seq, cx.waker().clone())),
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
