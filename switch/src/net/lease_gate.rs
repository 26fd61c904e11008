//! A cluster node whose lease lapsed (its own view: no renewal for a lease)
//! stops serving acquirers: it closes their connections and refuses new ones
//! until a renewal succeeds. A node cut off from the database would otherwise
//! answer 96 for as long as the partition lasts while its acquirers, their
//! link up, never move; closed, they fail over to a node that holds its lease
//! (every acquirer host has every node's address). In a database outage every
//! node's lease lapses and every node closes: the acquirers then see refused
//! connections instead of 96 answers (the same service: nothing can be made
//! durable, so nothing is approved), and reconnect once the nodes renew.
//! Issuer links stay up: the node still delivers what it holds once its store
//! and lease are back, and its issuer links serve nobody else.

use std::sync::atomic::Ordering;

use super::runtime::Shared;
use crate::config::{LinkConfig, Role};

/// The lease lapsed (`lapsed`) or was renewed: on lapse, every acquirer
/// connection is closed; new ones are refused while it lasts ([`refuses`]).
pub(crate) fn set_lapsed(shared: &Shared, lapsed: bool) {
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
