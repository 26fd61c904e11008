//! The lease loop: a cluster node's heartbeat, and its take-over of nodes
//! whose heartbeat stopped. A task of the node's runtime, in cluster mode only.
//!
//! - Every lease/3 the node renews its lease. It counts itself valid until the
//!   start of its last successful renewal plus one lease (the database's clock
//!   decides for the others; starting from before the call keeps this node's
//!   view the more cautious). At that moment (a timer, not the next renewal)
//!   it pauses store-and-forward delivery: another node may take its queue
//!   over as soon as the database's lease ends. A renewal that succeeds again
//!   resumes it (nobody took over: the renewal checks the epoch).
//! - A renewal answered "lost" (another node took over, or a newer start of
//!   this node registered) ends the loop with [`LeaseEnd::Lost`]; the runtime
//!   then exits the process (code 3): it cannot know what was taken, so it must
//!   deliver nothing more.
//! - Every lease/3 too, but only once this node has renewed successfully for two
//!   leases in a row since its last failure, it takes over the nodes whose lease
//!   expired: after a database outage, every node's lease looks expired, and a
//!   node that has just come back must not take over a live one. A take-over
//!   runs beside the renewals (one at a time, never cut short: what it moved to
//!   this node in the database must reach the core), so a slow one cannot make
//!   this node's own lease lapse.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::{Adopted, Membership, NodeIdentity};
use crate::core::Core;

/// How the loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseEnd {
    /// The node is stopping (graceful shutdown): it leaves the cluster.
    Stopped,
    /// The lease was lost: the process must stop delivering anything at once.
    Lost,
}

/// Told when this node's lease lapses (true) and when a renewal brings it back
/// (false); the runtime closes and reopens its acquirer connections.
pub type LapseHook = Box<dyn Fn(bool) + Send + Sync>;

/// Runs a node's lease against `membership`.
pub struct LeaseLoop {
    membership: Arc<dyn Membership>,
    node: NodeIdentity,
    on_lapse: Option<LapseHook>,
}

/// Renewals in a row (as lease time) before this node may take over others.
const LEASES_BEFORE_TAKE_OVER: u32 = 2;

impl LeaseLoop {
    /// The loop of node `node`.
    pub fn new(membership: Arc<dyn Membership>, node: NodeIdentity) -> LeaseLoop {
        LeaseLoop {
            membership,
            node,
            on_lapse: None,
        }
    }

    /// Call `hook` when the lease lapses and when it is renewed again.
    pub fn on_lapse(mut self, hook: LapseHook) -> LeaseLoop {
        self.on_lapse = Some(hook);
        self
    }

    /// Renew, pause, take over, until `stop` turns true or the lease is lost.
    /// What a take-over brings goes to `core`.
    pub async fn run(&self, core: &Core, mut stop: watch::Receiver<bool>) -> LeaseEnd {
        let lease = self.node.lease;
        let period = lease / 3;
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Registration (at the store's open) was a renewal.
        let mut valid_until = Instant::now() + lease;
        // Since when renewals have succeeded without a failure (None: the last failed).
        let mut renewing_since: Option<Instant> = None;
        let mut paused = false;
        // The take-over in progress, if any.
        let mut taking: Option<JoinHandle<TakeOver>> = None;
        metrics::gauge!("switch_cluster_lease_ok").set(1.0);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                // The lease lapses between renewals: pause at that moment, not at
                // the next renewal's end (a survivor may take over as soon as the
                // database's lease ends, which is after this node's view ends).
                _ = tokio::time::sleep_until(valid_until), if !paused => {
                    paused = true;
                    self.lapsed(core, true);
                    continue;
                }
                taken = until_taken(&mut taking) => {
                    taking = None;
                    self.adopt_all(core, taken);
                    continue;
                }
                _ = stop.changed() => {
                    if *stop.borrow() {
                        // What a take-over in progress moves here reaches the core.
                        if let Some(handle) = taking.take() {
                            self.adopt_all(core, handle.await);
                        }
                        return LeaseEnd::Stopped;
                    }
                    continue;
                }
            }
            let started = Instant::now();
            // A renewal slower than the period counts as failed: the next is due.
            match tokio::time::timeout(period, self.membership.renew()).await {
                Ok(Ok(true)) => {
                    valid_until = started + lease;
                    renewing_since.get_or_insert(started);
                }
                Ok(Ok(false)) => {
                    metrics::gauge!("switch_cluster_lease_ok").set(0.0);
                    core.set_saf_paused(true);
                    tracing::error!(
                        node = %self.node.name,
                        "cluster lease lost: another node took over this node's obligations \
                         (or a newer start of this node registered); stopping"
                    );
                    return LeaseEnd::Lost;
                }
                Ok(Err(error)) => {
                    renewing_since = None;
                    tracing::warn!(node = %self.node.name, %error, "cluster lease not renewed");
                }
                Err(_) => {
                    renewing_since = None;
                    tracing::warn!(node = %self.node.name, ?period, "cluster lease renewal timed out");
                }
            }
            let now = Instant::now();
            let valid = now < valid_until;
            if valid == paused {
                // Lapsed: pause; valid again: resume.
                paused = !valid;
                self.lapsed(core, paused);
            }
            let steady = renewing_since
                .is_some_and(|since| now.duration_since(since) >= lease * LEASES_BEFORE_TAKE_OVER);
            if valid && steady && taking.is_none() {
                let membership = self.membership.clone();
                taking = Some(tokio::spawn(
                    async move { membership.take_over_expired().await },
                ));
            }
        }
    }

    /// This node's view of its lease ended (`lapsed`), or a renewal brought it
    /// back: store-and-forward delivery paused or resumed, and the hook told.
    fn lapsed(&self, core: &Core, lapsed: bool) {
        core.set_saf_paused(lapsed);
        if let Some(hook) = &self.on_lapse {
            hook(lapsed);
        }
        metrics::gauge!("switch_cluster_lease_ok").set(if lapsed { 0.0 } else { 1.0 });
        if lapsed {
            tracing::error!(node = %self.node.name, "cluster lease lapsed: store-and-forward delivery paused");
        } else {
            tracing::info!(node = %self.node.name, "cluster lease renewed: store-and-forward delivery resumed");
        }
    }

    /// What a take-over brought goes to `core`.
    fn adopt_all(&self, core: &Core, taken: Result<TakeOver, tokio::task::JoinError>) {
        match taken {
            Ok(Ok(adopted)) => {
                for node in adopted {
                    adopt(core, &self.node.name, node);
                }
            }
            Ok(Err(error)) => tracing::warn!(node = %self.node.name, %error, "take-over failed"),
            Err(error) => tracing::error!(node = %self.node.name, %error, "take-over task failed"),
        }
    }

    /// The node leaves the cluster cleanly (a graceful stop), within a lease.
    pub async fn leave(&self) {
        match tokio::time::timeout(self.node.lease, self.membership.leave()).await {
            Ok(Ok(())) => tracing::info!(node = %self.node.name, "left the cluster"),
            Ok(Err(error)) => {
                tracing::warn!(node = %self.node.name, %error, "could not leave the cluster")
            }
            Err(_) => tracing::warn!(node = %self.node.name, "leaving the cluster timed out"),
        }
    }
}

/// A take-over's answer.
type TakeOver = Result<Vec<Adopted>, String>;

/// The end of the take-over in progress (pending forever when there is none).
async fn until_taken(
    taking: &mut Option<JoinHandle<TakeOver>>,
) -> Result<TakeOver, tokio::task::JoinError> {
    match taking {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}

/// What one dead node owed, now `me`'s: its queue to deliver, its forwarded
/// transactions for the reversals and advices acquirers send here.
fn adopt(core: &Core, me: &str, node: Adopted) {
    let saf = node.saf.len();
    tracing::warn!(
        node = %me,
        dead = %node.node,
        epoch = node.epoch,
        saf,
        reversals = node.reversals_queued,
        forwarded = node.forwarded.len(),
        "took over a node whose lease expired"
    );
    metrics::counter!("switch_cluster_takeovers_total", "node" => node.node.clone()).increment(1);
    // The reversals are in the queue too: counted apart.
    let reversals = node.reversals_queued.min(saf);
    metrics::counter!("switch_cluster_adopted_total", "kind" => "saf")
        .increment((saf - reversals) as u64);
    metrics::counter!("switch_cluster_adopted_total", "kind" => "reversal")
        .increment(reversals as u64);
    core.adopt_saf(node.saf);
    // Oldest first, so the newest stay when the index is full.
    for row in node.forwarded.iter().rev() {
        core.remember_forwarded(row);
    }
}

#[cfg(test)]
mod tests;
