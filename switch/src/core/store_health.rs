//! What the core does while the store cannot make anything durable (a
//! PostgreSQL database down or unreachable; the driver says so with
//! [`Core::set_store_available`]).
//!
//! In strict mode a forward waits for its journal record (and, in a cluster,
//! for its cross-node claim): with the store down it would wait until the
//! acquirer gave up and reversed. So a new acquirer request that would be
//! forwarded is answered 96 at once and never forwarded; its journal record is
//! still handed to the store ([`Action::JournalUnheld`]: kept once the store is
//! back, and the answer not held for it). Stand-in does not apply: the issuer is
//! fine, the switch's store is not; nor does it to a request that times out
//! meanwhile (its forward may still wait for its record, never sent, and in a
//! cluster its claim may yet be refused): answered 91, its reversal queued, as
//! any timeout. Reversals and advices are unchanged: they
//! are acknowledged from the durable queue as always, which delivers once the
//! store is back.

use std::sync::atomic::Ordering;

use super::{Action, Actions, Core};

impl Core {
    /// The store can (true) or cannot (false) make records durable now: while
    /// false, requests that would be forwarded are declined 96 at once.
    pub fn set_store_available(&self, available: bool) {
        let was = self.store_available.swap(available, Ordering::Relaxed);
        if was && !available {
            tracing::error!("store unavailable: requests that would be forwarded are declined 96 until it is back");
        } else if !was && available {
            tracing::warn!("store available again: forwarding resumes");
        }
    }

    /// Whether the store was last said to be available.
    pub fn store_available(&self) -> bool {
        self.store_available.load(Ordering::Relaxed)
    }

    /// Requests declined 96 so far because the store was unavailable
    /// (`switch_store_unavailable_declines_total`).
    pub fn store_unavailable_declines(&self) -> u64 {
        self.store_unavailable_declines.load(Ordering::Relaxed)
    }

    /// A decline made because the store is unavailable: counted, and its journal
    /// records not waited for (the answer goes out now).
    pub(crate) fn unheld(&self, actions: Actions) -> Actions {
        self.store_unavailable_declines
            .fetch_add(1, Ordering::Relaxed);
        actions
            .into_iter()
            .map(|a| match a {
                Action::Journal(record) => Action::JournalUnheld(record),
                other => other,
            })
            .collect()
    }
}
