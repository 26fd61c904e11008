//! Stand-in approvals of a cluster node waiting for their cross-node claim.
//! A stand-in approval takes the same claim as a forward (its journal record's
//! duplicate key, in the same transaction): a repeat of the request sent to
//! another node, forwarded or decided in stand-in there, holds the key, and the
//! second approval must not stand. The store then declines the row 94 and
//! deletes the advice's row in that transaction, the driver drops the held
//! answer and keeps the advice's push unconfirmed, and the core, told here,
//! answers the acquirer 94, takes the advice out of its queue (the issuer never
//! hears of it) and the approval out of the card's usage.
//!
//! An entry lives from the decision until its advice's push is durable (the
//! claim held) or its claim is refused: as long as a commit, and only in a
//! cluster (a single node's approvals are never refused). A reversal the
//! acquirer sent while the approval was decided stays owed: the issuer gets a
//! reversal of something it never saw, and acknowledges it as such.

use std::collections::HashMap;
use std::sync::Mutex;

use codecs::{Message, ResponseCode};
use rust_decimal::Decimal;

use super::super::recent::AcquirerKeyRef;
use super::super::store_op::StoreOp;
use super::super::{Actions, Core, LinkId};
use super::usage::UsageKey;
use crate::core::Action;

/// What undoing one approval takes.
#[derive(Debug)]
pub(crate) struct AwaitingClaim {
    /// Its issuer and its decision's STAN (what a refusal names).
    pub(crate) issuer: Box<str>,
    pub(crate) stan: u32,
    /// Where the 94 goes, and the 94 itself (built with the approval).
    pub(crate) acquirer_link: LinkId,
    pub(crate) duplicate: Message,
    /// The card's usage it counted.
    pub(crate) usage: UsageKey,
    pub(crate) amount: Decimal,
    /// The recent-originals entry it made: acquirer (32), STAN (11), field 7,
    /// and the field 90 that names the advice.
    pub(crate) remembered: Option<(String, u32, String, String)>,
}

/// The approvals waiting, by their advice's queue id.
#[derive(Debug, Default)]
pub(crate) struct AwaitingClaims {
    by_advice: Mutex<HashMap<u64, AwaitingClaim>>,
}

impl AwaitingClaims {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, AwaitingClaim>> {
        self.by_advice.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An approval whose advice is queue item `advice`.
    pub(crate) fn insert(&self, advice: u64, awaiting: AwaitingClaim) {
        self.lock().insert(advice, awaiting);
    }

    /// The pushes `ids` are durable: the approvals they advise held their claim.
    pub(crate) fn settled(&self, ids: &[u64]) {
        let mut g = self.lock();
        if g.is_empty() {
            return;
        }
        for id in ids {
            g.remove(id);
        }
    }

    /// The approval `issuer` knows by STAN `stan`, taken out.
    fn take(&self, issuer: &str, stan: u32) -> Option<(u64, AwaitingClaim)> {
        let mut g = self.lock();
        let advice = g
            .iter()
            .find(|(_, a)| &*a.issuer == issuer && a.stan == stan)
            .map(|(id, _)| *id)?;
        g.remove(&advice).map(|a| (advice, a))
    }

    /// Approvals waiting (a test's look).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Core {
    /// Whether this node's stand-in approvals take a cluster claim: a cluster
    /// node's with a journal (the claim is the journal record's).
    pub(crate) fn stand_in_claims(&self) -> bool {
        self.settings.slot != 0 && self.settings.journal
    }

    /// The stand-in approval `issuer` would know by STAN `stan` lost its claim
    /// to another node: undone here (the store declined its row 94 and deleted
    /// its advice's row). False when no approval waits under that STAN.
    pub(crate) fn on_stand_in_claim_refused(
        &self,
        issuer: &str,
        stan: u32,
        actions: &mut Actions,
    ) -> bool {
        let Some((advice, awaiting)) = self.stand_in.awaiting_claim.take(issuer, stan) else {
            return false;
        };
        tracing::info!(%issuer, stan, "stand-in approval claimed by another node: duplicate transmission");
        self.saf.discard(issuer, advice);
        // The store deleted the advice's row with the refusal if its push came
        // in the same commit; a push the writer took in a later one is deleted
        // by this (handed over after it, so applied after it).
        actions.push(Action::Store(StoreOp::SafWithdrawn { id: advice }));
        // The 94 goes once nothing of the approval is left in the store.
        actions.push(Action::SafBarrier);
        self.stand_in.usage.uncount(awaiting.usage, awaiting.amount);
        if let Some((acquirer, f11, f7, f90)) = &awaiting.remembered {
            let key = AcquirerKeyRef {
                acquirer,
                stan: *f11,
                transmission: f7,
            };
            self.recent.forget(key, f90);
        }
        self.counters.responses.add(ResponseCode::DUPLICATE);
        actions.push(Action::Send {
            link: awaiting.acquirer_link,
            msg: awaiting.duplicate,
        });
        true
    }

    /// Stand-in approvals waiting for their claim (a test's look).
    #[cfg(test)]
    pub(crate) fn stand_in_awaiting_claims(&self) -> usize {
        self.stand_in.awaiting_claim.len()
    }
}
