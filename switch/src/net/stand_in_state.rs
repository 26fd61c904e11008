//! Stand-in's state from the store: at start, the business day, each card's
//! approvals of it and the issuers' negative-file updates; in a cluster, about
//! once a second after that, the other nodes' approvals of the day and every
//! update any node received (0302), so that a card's daily stand-in limits and
//! an issuer's hot cards hold across the nodes within about a second.

use std::sync::Arc;
use std::time::Duration;

use crate::core::stand_in::CardUsage;
use crate::core::Core;
use crate::store::stand_in::{digest_of_hex, Elsewhere, NegativeRow, UsageRow};

use super::runtime::Shared;

/// How often a cluster node reads the other nodes' stand-in state (as the
/// writer reads the business day).
const POLL: Duration = Duration::from_secs(1);

/// A read that takes longer is abandoned (tried again at the next poll).
const POLL_TIMEOUT: Duration = Duration::from_secs(2);

/// What the store read back at start.
pub(crate) struct Restored {
    pub(crate) day: i64,
    /// This node's approvals of the day (a single node: every approval).
    pub(crate) usage: Vec<UsageRow>,
    /// A cluster node: the other nodes'.
    pub(crate) elsewhere: Vec<UsageRow>,
    pub(crate) negative: Vec<NegativeRow>,
}

/// The rows as the core counts them (a row whose hash does not decode is
/// skipped, logged).
fn cards(rows: Vec<UsageRow>) -> Vec<CardUsage> {
    rows.into_iter()
        .filter_map(|row| match digest_of_hex(&row.pan_hash) {
            Some(card) => Some(CardUsage {
                card,
                currency: row.currency,
                cash: row.cash,
                amount: row.amount,
                count: row.count,
            }),
            None => {
                tracing::warn!(
                    "stand-in usage: a journal row's PAN hash is not 64 hex digits; skipped"
                );
                None
            }
        })
        .collect()
}

/// Hand what the store read back at start to the core.
pub(crate) fn restore(core: &Core, restored: Restored) {
    core.set_business_day(restored.day);
    let own = cards(restored.usage);
    let cards_restored = own.len();
    for c in own {
        core.restore_stand_in_usage(c.card, c.currency, c.cash, c.amount, c.count);
    }
    core.set_stand_in_usage_elsewhere(restored.day, cards(restored.elsewhere));
    let updates = restored.negative.len();
    apply_negative(core, restored.negative);
    if cards_restored > 0 || updates > 0 {
        tracing::info!(
            cards = cards_restored,
            updates,
            "stand-in usage and negative-file updates restored"
        );
    }
}

fn apply_negative(core: &Core, rows: Vec<NegativeRow>) {
    for row in rows {
        core.restore_negative_update(&row.issuer, row.digest, row.reason);
    }
}

/// A cluster node's poll of the other nodes' stand-in state, until the switch
/// stops. A failed read leaves the last one in force (logged at debug: the
/// database's outages are the writer's to report).
pub(crate) async fn poll_loop(shared: Arc<Shared>) {
    let Some(store) = shared.store.clone() else {
        return;
    };
    let mut stop = shared.stop.subscribe();
    let mut every = tokio::time::interval(POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => return,
        }
        let day = shared.core.stand_in_day();
        match tokio::time::timeout(POLL_TIMEOUT, store.stand_in_elsewhere(day)).await {
            Ok(None) => return, // not a cluster's store
            Ok(Some(Ok(Elsewhere { usage, negative }))) => {
                shared.core.set_stand_in_usage_elsewhere(day, cards(usage));
                apply_negative(&shared.core, negative);
            }
            Ok(Some(Err(error))) => {
                tracing::debug!(%error, "stand-in: the other nodes' usage not read")
            }
            Err(_) => tracing::debug!("stand-in: the other nodes' usage not read in time"),
        }
    }
}
