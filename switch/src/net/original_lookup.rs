//! The driver's side of an unknown original (cluster mode): before the core
//! handles an acquirer's reversal or advice whose original another node
//! forwarded, the original is looked up in the shared journal and handed to the
//! core ([`Core::remember_forwarded`]), so that field 90 reaches the issuer in
//! its own terms. The acquirer's connection waits for it, at most
//! [`LOOKUP_WAIT`]: this happens only for such messages (rare: after a node's
//! death, its acquirers' reversals), and waiting keeps one connection from
//! piling up lookups. Whatever the lookup gives, the message is handled after
//! it, as before when nothing was found (to the card's issuer by BIN).

use std::time::Duration;

use codecs::Message;

use crate::core::{Core, LinkId};
use crate::store::Store;

/// The longest an acquirer's message waits for its original's lookup.
pub const LOOKUP_WAIT: Duration = Duration::from_millis(500);

/// Look `msg`'s original up when `core` does not know it (see
/// [`Core::unknown_original`]), and remember it if found. True: it waited for
/// a lookup (the caller's clock reading is stale).
pub(crate) async fn remember_unknown_original(
    core: &Core,
    store: &Store,
    id: LinkId,
    msg: &Message,
) -> bool {
    let Some(keys) = core.unknown_original(id, msg) else {
        return false;
    };
    let outcome = match tokio::time::timeout(LOOKUP_WAIT, store.find_forwarded(&keys)).await {
        Ok(Ok(Some(row))) => {
            core.remember_forwarded(&row);
            "found"
        }
        Ok(Ok(None)) => "unknown",
        Ok(Err(error)) => {
            tracing::warn!(link = id, %error, "original lookup failed; handled as unknown");
            "failed"
        }
        Err(_) => {
            tracing::warn!(link = id, wait = ?LOOKUP_WAIT, "original lookup timed out; handled as unknown");
            "failed"
        }
    };
    metrics::counter!("switch_cluster_original_lookups_total", "outcome" => outcome).increment(1);
    true
}
