//! A cluster node whose lease lapsed (its own view: no renewal for a lease)
//! stops serving acquirers once the lapse has lasted [`CLOSE_AFTER_LEASES`]
//! leases: it closes their connections and refuses new ones until a renewal
//! succeeds. Until then it answers what it cannot make durable with 96, as any
//! node does while its store is unavailable.
//!
//! Why both. A node cannot tell a database outage (every node lapses) from its
//! own partition (only it does). In an outage the acquirers are best served by
//! a prompt 96 on the connection they have (the documented code; nothing
//! can be made durable anywhere, so nothing is approved), and most outages are
//! short (a restart, a failover of the database). In a partition the node
//! would answer 96 for as long as it lasts while its acquirers, their link up,
//! never move: after a few leases it closes them, and they fail over to a node
//! that holds its lease (every acquirer host has every node's address). Issuer
//! links stay up: the node still delivers what it holds once its store and
//! lease are back, and its issuer links serve nobody else.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::runtime::Shared;
use crate::config::{LinkConfig, Role};

/// How many leases a lapse lasts before the node closes its acquirers.
pub(crate) const CLOSE_AFTER_LEASES: u32 = 5;

/// The lease loop's news (`lapsed`, or renewed): a lapse closes the acquirer
/// connections after `lease` × [`CLOSE_AFTER_LEASES`] unless a renewal comes
/// first; a renewal takes them back at once.
pub(crate) fn on_lease(shared: &Arc<Shared>, lapsed: bool, lease: Duration) {
    // Every change starts a new lapse generation: a timer of an earlier lapse
    // (renewed meanwhile) finds its generation gone and does nothing.
    let generation = shared.lapse_generation.fetch_add(1, Ordering::SeqCst) + 1;
    if !lapsed {
        set_lapsed(shared, false);
        return;
    }
    let gate: Weak<Shared> = Arc::downgrade(shared);
    tokio::spawn(async move {
        tokio::time::sleep(lease * CLOSE_AFTER_LEASES).await;
        if let Some(shared) = gate.upgrade() {
            if shared.lapse_generation.load(Ordering::SeqCst) == generation {
                set_lapsed(&shared, true);
            }
        }
    });
}

/// The lease lapsed long enough (`lapsed`) or was renewed: on lapse, every
/// acquirer connection is closed; new ones are refused while it lasts ([`refuses`]).
fn set_lapsed(shared: &Shared, lapsed: bool) {
    if shared.lease_lapsed.swap(lapsed, Ordering::SeqCst) == lapsed {
        return;
    }
    if !lapsed {
        tracing::info!("cluster lease renewed: acquirer connections accepted again");
        return;
    }
    let mut closed = 0usize;
    for handle in shared.links.iter() {
        let acquirer = shared
            .core
            .links
            .get(*handle.key())
            .is_some_and(|link| link.config.role == Role::Acquirer);
        if acquirer {
            handle.close.notify_one();
            closed += 1;
        }
    }
    tracing::error!(
        closed,
        "cluster lease lapsed: acquirer connections closed, new ones refused until it is renewed"
    );
}

/// Whether a connection on `link` is refused now (an acquirer link while the
/// lease is lapsed).
pub(crate) fn refuses(shared: &Shared, link: &LinkConfig) -> bool {
    link.role == Role::Acquirer && shared.lease_lapsed.load(Ordering::SeqCst)
}
