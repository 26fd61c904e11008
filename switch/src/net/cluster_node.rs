//! The runtime's side of a cluster node: the lease loop started when the store
//! gives a membership (PostgreSQL in cluster mode), the process stopped when the
//! lease is lost, and the node leaving the cluster on a graceful stop.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::runtime::Shared;
use crate::cluster::lease::{LeaseEnd, LeaseLoop};

pub use crate::cluster::LEASE_LOST_EXIT;

/// How long a stopping node waits for its lease loop to end.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// A running lease loop.
pub(crate) struct LeaseTask {
    lease: Arc<LeaseLoop>,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

/// Start the lease loop when the store is a cluster's (None otherwise).
pub(crate) fn start_lease(shared: &Arc<Shared>) -> Option<LeaseTask> {
    let membership = shared.store.as_ref()?.membership()?;
    let Some(cluster) = &shared.config.cluster else {
        tracing::error!(
            "the store has a cluster membership but the configuration no [cluster]; no lease loop"
        );
        return None;
    };
    // Weak: the loop lives in a task the switch owns; it must not keep the
    // switch's state alive past a stop.
    let gate = Arc::downgrade(shared);
    let lease_time = cluster.lease;
    let lease = Arc::new(
        LeaseLoop::new(membership, cluster.identity()).on_lapse(Box::new(move |lapsed| {
            if let Some(shared) = gate.upgrade() {
                super::lease_gate::on_lease(&shared, lapsed, lease_time);
            }
        })),
    );
    // Its own stop signal: the loop renews through the drain, which the
    // switch's stop signal begins.
    let (stop, stopped) = watch::channel(false);
    let handle = tokio::spawn({
        let (lease, shared) = (lease.clone(), shared.clone());
        async move {
            if lease.run(&shared.core, stopped).await == LeaseEnd::Lost {
                // Logged by the loop, naming this node. Nothing more may leave.
                std::process::exit(LEASE_LOST_EXIT);
            }
        }
    });
    Some(LeaseTask {
        lease,
        stop,
        handle,
    })
}

impl LeaseTask {
    /// Stop renewing and leave the cluster (stopped; or, still owing its queue or
    /// forwarded rows, its lease ended for another node to take them over).
    pub(crate) async fn leave(self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(STOP_WAIT, self.handle).await.is_err() {
            tracing::warn!("lease loop did not stop in time");
        }
        self.lease.leave().await;
    }
}
