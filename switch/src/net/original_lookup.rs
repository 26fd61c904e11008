//! The driver's side of an unknown original (cluster mode): before the core
//! handles an acquirer's reversal or advice whose original another node
//! forwarded, the original is looked up in the shared journal and handed to the
//! core ([`Core::remember_forwarded`]), so that field 90 reaches the issuer in
//! its own terms. The acquirer's connection waits for it, at most
//! [`LOOKUP_WAIT`]: this happens only for such messages (rare: after a node's
//! death, its acquirers' reversals), and waiting keeps one connection from
//! piling up lookups. Found or not found, the message is handled after it (not
//! found: to the card's issuer by BIN, as before). A lookup that fails or does
//! not answer in time says nothing about the original: the message is then not
//! handled as unknown but left for the acquirer to send again
//! ([`Core::original_unreadable`]).

use std::time::Duration;

use codecs::Message;

use crate::core::{Core, LinkId};
use crate::store::Store;

/// The longest an acquirer's message waits for its original's lookup.
pub const LOOKUP_WAIT: Duration = Duration::from_millis(500);

/// What became of an acquirer's message before the core handles it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Its original is known here, or it names none: no lookup.
    NotNeeded,
    /// Looked up (found and remembered, or not in the journal): handle it.
    Done,
    /// The shared journal did not answer: do not handle it as unknown.
    Unreadable,
}

/// Look `msg`'s original up when `core` does not know it (see
/// [`Core::unknown_original`]), and remember it if found.
pub(crate) async fn remember_unknown_original(
    core: &Core,
    store: &Store,
    id: LinkId,
    msg: &Message,
) -> Lookup {
    let Some(keys) = core.unknown_original(id, msg) else {
        return Lookup::NotNeeded;
    };
    let (outcome, lookup) = match tokio::time::timeout(LOOKUP_WAIT, store.find_forwarded(&keys))
        .await
    {
        Ok(Ok(Some(row))) => {
            core.remember_forwarded(&row);
            ("found", Lookup::Done)
        }
        Ok(Ok(None)) => ("unknown", Lookup::Done),
        Ok(Err(error)) => {
            tracing::warn!(link = id, %error, "original lookup failed; left for the acquirer to send again");
            ("failed", Lookup::Unreadable)
        }
        Err(_) => {
            tracing::warn!(link = id, wait = ?LOOKUP_WAIT, "original lookup timed out; left for the acquirer to send again");
            ("failed", Lookup::Unreadable)
        }
    };
    metrics::counter!("switch_cluster_original_lookups_total", "outcome" => outcome).increment(1);
    lookup
}
