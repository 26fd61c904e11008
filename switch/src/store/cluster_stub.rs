//! STUB until the `pg` branch is merged (the lead reconciles: delete this file
//! and the `claim_refused` field, keep the PostgreSQL store's versions). The
//! cluster hooks the runtime calls on the store, with what SQLite gives: always
//! available, never a refused claim, no cluster membership.

use std::sync::Arc;

use super::Store;

/// Called by the writer when another node holds the claim of a forwarded
/// record: (its sequence number, the issuer, the switch's STAN).
pub type ClaimRefusedHook = Box<dyn Fn(u64, &str, u32) + Send + Sync>;

impl Store {
    /// Whether the store can make records durable now.
    pub fn available(&self) -> bool {
        true
    }

    /// Install the hook the writer calls for a refused claim.
    pub fn set_claim_refused(&self, hook: ClaimRefusedHook) {
        *self.claim_refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// Whether the claim of the record submitted as `seq` was refused.
    pub fn refused(&self, _seq: u64) -> bool {
        false
    }

    /// The cluster membership (PostgreSQL in cluster mode only).
    pub fn membership(&self) -> Option<Arc<dyn crate::cluster::Membership>> {
        None
    }
}
