//! A forward another node of the cluster claimed first. Every forwarded
//! request's duplicate key is claimed in the shared database in the same
//! transaction as its journal record; when another node holds the key (the
//! acquirer sent the same request to both), the store refuses the claim, the
//! driver drops the held forward (it never reaches the issuer) and tells the
//! core here: the acquirer hears 94, as a repeat on one node does, and the
//! journal row completes as declined 94. A stand-in approval's refusal is
//! undone in `stand_in::claimed`.

use std::sync::atomic::Ordering;

use codecs::ResponseCode;

use super::inflight::{InFlightEntry, InFlightKey, Purpose};
use super::journal::FinalState;
use super::recent::AcquirerKeyRef;
use super::{field90, Actions, Core, Millis};
use crate::config::Role;

impl Core {
    /// The request forwarded to `issuer` under the switch's STAN `switch_stan`
    /// was claimed by another node: 94 to its acquirer, its journal row
    /// completed declined 94, nothing to the issuer. Nothing happens if it is no
    /// longer in flight (its link went down: it took the timeout path).
    pub fn on_claim_refused(&self, now: Millis, issuer: &str, switch_stan: u32) -> Actions {
        let mut actions = Vec::new();
        // A stand-in approval waiting for its commit, under its decision's STAN?
        // (Decision STANs start half the slot's range away from the links', so
        // one meets a forward's in flight only after some 33,000 of them.)
        if self.on_stand_in_claim_refused(issuer, switch_stan, &mut actions) {
            return actions;
        }
        let issuer_links = self
            .links
            .all()
            .into_iter()
            .filter(|l| l.config.role == Role::Issuer && l.config.bank == issuer);
        for link in issuer_links {
            // Claims are taken for authorizations and financial requests only.
            for class in [1u8, 2] {
                let key = InFlightKey {
                    link: link.id,
                    class,
                    stan: switch_stan,
                };
                let Some(entry) = self.inflight.take(&key) else {
                    continue;
                };
                if entry.purpose != Purpose::Request {
                    // Not an acquirer's request (an enrolment's check): left as is.
                    self.inflight.insert(key, entry);
                    continue;
                }
                link.in_flight.fetch_sub(1, Ordering::Relaxed);
                tracing::info!(%issuer, stan = switch_stan, "claimed by another node: duplicate transmission");
                self.counters.responses.add(ResponseCode::DUPLICATE);
                self.forget_forwarded(&entry);
                self.finish_unanswered(
                    now,
                    switch_stan,
                    &entry,
                    (ResponseCode::DUPLICATE, FinalState::Declined),
                    &mut actions,
                );
                return actions;
            }
        }
        tracing::debug!(%issuer, stan = switch_stan, "claim refused for a request no longer in flight");
        actions
    }

    /// Forget where a later reversal of `entry`'s request would go: its issuer
    /// never saw this forward (the node that holds the claim knows the original).
    fn forget_forwarded(&self, entry: &InFlightEntry) {
        let acquirer = entry.forwarded.text(32).unwrap_or_default();
        let stan = entry.acquirer_f11.as_ref().and_then(|s| s.parse().ok());
        let (Some(f7), Some(stan), Some(f90)) = (
            entry.acquirer_f7.as_deref(),
            stan,
            field90(&entry.forwarded),
        ) else {
            return;
        };
        let key = AcquirerKeyRef {
            acquirer: &acquirer,
            stan,
            transmission: f7,
        };
        self.recent.forget(key, f90.as_str());
    }
}
