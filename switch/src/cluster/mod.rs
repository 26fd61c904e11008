//! Several switch nodes on one PostgreSQL database (issue 19): each node's
//! identity and lease, and what a surviving node takes over from one whose lease
//! expired. The database side ([`Membership`]) is the PostgreSQL store's; the
//! lease loop that drives it runs in the node's runtime.

pub mod ids;
pub mod lease;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::core::recent::ForwardedRow;
use crate::core::saf::SafItem;

/// The exit code of a node that lost its lease (a renewal found it taken, or a
/// commit was fenced off): another node took over what it owed, and it cannot
/// know what; a supervisor restarts it (it registers anew).
pub const LEASE_LOST_EXIT: i32 = 3;

/// A boxed future the membership calls return (object-safe, sendable).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who this node is in the cluster (`[cluster]` in the configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeIdentity {
    /// Its name, unique in the cluster.
    pub name: String,
    /// 1..=15: partitions transaction and store-and-forward ids
    /// (`slot << 48 | n`) and the STANs toward issuers.
    pub slot: u8,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
}

/// What the lease loop needs from the shared database (implemented by the
/// PostgreSQL store; a fake in tests).
pub trait Membership: Send + Sync + 'static {
    /// Renew this node's lease (this epoch). Ok(false): the lease is lost (another
    /// node took over, or a newer start of this node registered).
    fn renew(&self) -> BoxFuture<'_, Result<bool, String>>;
    /// Take over, exactly once, every node whose lease expired (on the database's
    /// clock; no margin beyond it: a node whose own view of its lease ended has
    /// paused its delivery, and its commits are fenced by epoch): queue the
    /// reversals its forwarded-without-outcome rows owe, move its
    /// store-and-forward rows to this node, and mark it taken over.
    fn take_over_expired(&self) -> BoxFuture<'_, Result<Vec<Adopted>, String>>;
    /// This node stops cleanly, its journal closed: stopped if it owes
    /// nothing; if it still owes store-and-forward items or forwarded rows,
    /// left live with its lease ended, for another node to take over.
    fn leave(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// What a take-over brought to this node.
#[derive(Debug)]
pub struct Adopted {
    /// The node whose lease expired.
    pub node: String,
    /// Its store-and-forward queue, decoded (sealed cards opened), now this node's,
    /// including the reversals just queued for its forwarded rows.
    pub saf: Vec<SafItem>,
    /// Its recent forwarded rows, newest first (acquirer reversals find them).
    pub forwarded: Vec<ForwardedRow>,
    /// Reversals queued for its transactions forwarded without an outcome.
    pub reversals_queued: usize,
    /// Its epoch when taken.
    pub epoch: i64,
}
