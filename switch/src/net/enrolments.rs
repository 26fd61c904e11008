//! Enrolments waiting for their issuer: the token API's request task waits on a
//! oneshot while the core checks the card with the issuer; the core's
//! [`crate::core::Action::EnrolmentDone`] completes it.

use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::oneshot;

use crate::core::tokens::EnrolOutcome;

/// The enrolments in progress, by the driver's request id.
#[derive(Default)]
pub(crate) struct PendingEnrolments {
    next: AtomicU64,
    waiting: DashMap<u64, oneshot::Sender<EnrolOutcome>>,
}

impl PendingEnrolments {
    /// A new request id and the receiver its outcome arrives on.
    pub(crate) fn begin(&self) -> (u64, oneshot::Receiver<EnrolOutcome>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(id, tx);
        (id, rx)
    }

    /// Hand `outcome` to request `id` (dropped if its caller went away).
    pub(crate) fn finish(&self, id: u64, outcome: EnrolOutcome) {
        if let Some((_, tx)) = self.waiting.remove(&id) {
            let _ = tx.send(outcome);
        }
    }

    /// Forget request `id` (its caller gave up).
    pub(crate) fn abandon(&self, id: u64) {
        self.waiting.remove(&id);
    }
}
