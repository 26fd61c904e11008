//! Forwards another node claimed first (issue 19): in cluster mode the
//! PostgreSQL writer inserts a claim for every forwarded request in the same
//! transaction as its record; when the claim is already another node's, the
//! request must not leave. The writer tells the core through the hook (which
//! answers the acquirer 94) and records the sequence number here, before the
//! durable mark moves, so that the driver's held forward, released by that
//! commit, sees [`crate::store::Store::refused`] and is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// What the writer calls for a refused claim: (sequence number, issuer, the
/// switch's STAN toward it). It runs on the writer thread and must not block.
pub type ClaimRefusedHook = Box<dyn Fn(u64, &str, u32) + Send + Sync>;

/// How long a refused sequence number is remembered: its held forward is
/// released right after the commit, so a minute is far beyond need.
const KEEP: Duration = Duration::from_secs(60);

/// The refused sequence numbers and the hook, shared by the store and its writer.
#[derive(Default)]
pub struct Refusals {
    refused: Mutex<HashMap<u64, SystemTime>>,
    hook: Mutex<Option<Arc<ClaimRefusedHook>>>,
}

impl Refusals {
    /// Install the hook (replacing any earlier one).
    pub fn set_hook(&self, hook: ClaimRefusedHook) {
        *self.hook.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(hook));
    }

    /// Record that `seq`'s claim was refused, and call the hook.
    pub fn refuse(&self, seq: u64, issuer: &str, switch_stan: u32) {
        {
            let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
            let now = SystemTime::now();
            refused.retain(|_, at| now.duration_since(*at).map_or(true, |age| age < KEEP));
            refused.insert(seq, now);
        }
        metrics::counter!("switch_cluster_claims_refused_total").increment(1);
        let hook = self.hook.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(hook) = hook {
            hook(seq, issuer, switch_stan);
        }
    }

    /// Whether `seq`'s claim was refused (within the last minute).
    pub fn is_refused(&self, seq: u64) -> bool {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&seq)
    }
}
