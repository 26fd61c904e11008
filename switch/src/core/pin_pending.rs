//! Requests parked while the security module translates their PIN block: what
//! the core needs to go on once the answer comes ([`super::pin`]), keyed by the
//! token of the [`super::Action::TranslatePin`] it emitted, each with its own
//! deadline.
//!
//! With the software module the driver answers within the same event, so the
//! map is empty between events; with an asynchronous HSM it holds the requests
//! waiting on it (a few hundred at most: each leaves by its answer or its
//! deadline). A scan for the earliest deadline or the expired ones is then cheap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use codecs::Message;
use dashmap::DashMap;

use super::action::LinkId;
use super::links::Link;
use super::request::Route;
use super::time::Millis;

/// A request waiting for its PIN block's translation.
pub(crate) struct PendingPin {
    /// Past this, the acquirer is answered 91 and a late answer is ignored.
    pub(crate) deadline: Millis,
    /// When the request arrived (the journal's elapsed time counts from it).
    pub(crate) started: Millis,
    /// The acquirer connection to answer.
    pub(crate) acquirer: LinkId,
    /// The issuer link picked before the translation (its key is the target).
    pub(crate) issuer_link: Arc<Link>,
    /// The request as the acquirer sent it.
    pub(crate) msg: Message,
    /// Where it goes.
    pub(crate) route: Route,
}

/// The parked requests.
#[derive(Default)]
pub(crate) struct PendingPins {
    map: DashMap<u64, PendingPin>,
    next_token: AtomicU64,
}

impl PendingPins {
    /// Park `pending`; returns its token.
    pub(crate) fn park(&self, pending: PendingPin) -> u64 {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed) + 1;
        self.map.insert(token, pending);
        token
    }

    /// Take the request of `token` (exactly one of the answer and the deadline
    /// gets it).
    pub(crate) fn take(&self, token: u64) -> Option<PendingPin> {
        self.map.remove(&token).map(|(_, p)| p)
    }

    /// Take every request whose deadline is at or before `now`.
    pub(crate) fn expired(&self, now: Millis) -> Vec<(u64, PendingPin)> {
        let tokens: Vec<u64> = self
            .map
            .iter()
            .filter(|e| e.value().deadline <= now)
            .map(|e| *e.key())
            .collect();
        tokens
            .into_iter()
            .filter_map(|t| {
                self.map
                    .remove_if(&t, |_, p| p.deadline <= now)
                    .map(|(_, p)| (t, p))
            })
            .collect()
    }

    /// Every parked request's token (shutdown).
    pub(crate) fn tokens(&self) -> Vec<u64> {
        self.map.iter().map(|e| *e.key()).collect()
    }

    /// The earliest deadline, if any request is parked.
    pub(crate) fn next_deadline(&self) -> Option<Millis> {
        self.map.iter().map(|e| e.value().deadline).min()
    }

    /// Requests parked.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
