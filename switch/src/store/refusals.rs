//! Forwards another node claimed first (issue 19): in cluster mode the
//! PostgreSQL writer inserts a claim for every forwarded request in the same
//! transaction as its record; when the claim is already another node's, the
//! request must not leave. The writer tells the core through the hook (which
//! answers the acquirer 94) and records the sequence number here, before the
//! durable mark moves, so that the driver's held forward, released by that
//! commit, sees [`crate::store::Store::refused`] and is dropped. The refused
//! transactions are kept too: a later record of one (a stand-in approval
//! decided after the refused forward, which was held for its commit, timed
//! out) is refused with it, in whichever batch it comes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// What the writer calls for a refused claim: (sequence number, issuer, the
/// switch's STAN toward it). It runs on the writer thread and must not block.
pub type ClaimRefusedHook = Box<dyn Fn(u64, &str, u32) + Send + Sync>;

/// How long a refused sequence number is remembered: its held forward is
/// released right after the commit, so a minute is far beyond need.
const KEEP: Duration = Duration::from_secs(60);

/// The refused sequence numbers and transactions, and the hook, shared by the
/// store and its writer.
#[derive(Default)]
pub struct Refusals {
    refused: Mutex<Refused>,
    hook: Mutex<Option<Arc<ClaimRefusedHook>>>,
}

/// What was refused within the last [`KEEP`], and when.
#[derive(Default)]
struct Refused {
    seqs: HashMap<u64, SystemTime>,
    txns: HashMap<i64, SystemTime>,
}

impl Refused {
    /// Forget what was refused [`KEEP`] ago or more (refusals being rare, the
    /// maps are empty again a minute after one).
    fn prune(&mut self, now: SystemTime) {
        let fresh = |at: &mut SystemTime| now.duration_since(*at).map_or(true, |age| age < KEEP);
        self.seqs.retain(|_, at| fresh(at));
        self.txns.retain(|_, at| fresh(at));
    }
}

impl Refusals {
    /// Install the hook (replacing any earlier one).
    pub fn set_hook(&self, hook: ClaimRefusedHook) {
        *self.hook.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(hook));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Refused> {
        self.refused.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record that `seq`'s claim (transaction `txn_id`'s) was refused, and
    /// call the hook. The metric counts requests: a transaction's second
    /// refused record (its stand-in approval after its forward) is not
    /// counted again.
    pub fn refuse(&self, seq: u64, txn_id: i64, issuer: &str, switch_stan: u32) {
        let first_of_txn = {
            let mut refused = self.lock();
            let now = SystemTime::now();
            refused.prune(now);
            refused.seqs.insert(seq, now);
            refused.txns.insert(txn_id, now).is_none()
        };
        if first_of_txn {
            metrics::counter!("switch_cluster_claims_refused_total").increment(1);
        }
        let hook = self.hook.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(hook) = hook {
            hook(seq, issuer, switch_stan);
        }
    }

    /// Whether `seq`'s claim was refused (within the last minute: the driver
    /// asks right after the commit).
    pub fn is_refused(&self, seq: u64) -> bool {
        self.lock().seqs.contains_key(&seq)
    }

    /// The transactions among `txns` refused within the last minute (none,
    /// nearly always: then nothing is looked up).
    pub fn txns_among(&self, txns: impl Iterator<Item = i64>) -> HashSet<i64> {
        let mut refused = self.lock();
        if refused.txns.is_empty() {
            return HashSet::new();
        }
        refused.prune(SystemTime::now());
        txns.filter(|t| refused.txns.contains_key(t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is refused is remembered by sequence number and by transaction,
    /// and forgotten a minute later, the maps empty again.
    #[test]
    fn refusals_are_remembered_by_record_and_transaction_for_a_minute() {
        let refusals = Refusals::default();
        assert!(refusals.txns_among([7].into_iter()).is_empty());
        refusals.refuse(3, 7, "940810", 1);
        assert!(refusals.is_refused(3));
        assert!(!refusals.is_refused(4));
        let among = refusals.txns_among([6, 7, 8].into_iter());
        assert_eq!(among, HashSet::from([7]));
        let later = SystemTime::now() + KEEP;
        let mut refused = refusals.lock();
        refused.prune(later);
        assert!(refused.seqs.is_empty() && refused.txns.is_empty());
    }
}
