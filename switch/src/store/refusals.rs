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

impl Refusals {
    /// Install the hook (replacing any earlier one).
    pub fn set_hook(&self, hook: ClaimRefusedHook) {
        *self.hook.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(hook));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Refused> {
        self.refused.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record that `seq`'s claim (transaction `txn_id`'s) was refused, and
    /// call the hook.
    pub fn refuse(&self, seq: u64, txn_id: i64, issuer: &str, switch_stan: u32) {
        {
            let mut refused = self.lock();
            let now = SystemTime::now();
            let fresh =
                |at: &mut SystemTime| now.duration_since(*at).map_or(true, |age| age < KEEP);
            refused.seqs.retain(|_, at| fresh(at));
            refused.txns.retain(|_, at| fresh(at));
            refused.seqs.insert(seq, now);
            refused.txns.insert(txn_id, now);
        }
        metrics::counter!("switch_cluster_claims_refused_total").increment(1);
        let hook = self.hook.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(hook) = hook {
            hook(seq, issuer, switch_stan);
        }
    }

    /// Whether `seq`'s claim was refused (within the last minute).
    pub fn is_refused(&self, seq: u64) -> bool {
        self.lock().seqs.contains_key(&seq)
    }

    /// The transactions among `txns` refused within the last minute (none,
    /// nearly always: nothing is looked up then).
    pub fn txns_among(&self, txns: impl Iterator<Item = i64>) -> HashSet<i64> {
        let refused = self.lock();
        if refused.txns.is_empty() {
            return HashSet::new();
        }
        txns.filter(|t| refused.txns.contains_key(t)).collect()
    }
}
