//! The store's side of store-and-forward: the core keeps the queue in memory and
//! hands every change a restart must see over as a [`StoreOp`]; here each becomes
//! a write for the writer thread. Messages are kept without card data (no PAN,
//! track, PIN block or ICC data): the core queues them that way, and they are
//! stripped here again so that no caller can store any.

use crate::core::{without_card_data, StoreOp};

use super::writer::{storage_spec, Op};
use super::Store;

impl Store {
    /// Queue `op` for the writer, its row stamped `unix_ms` (a push's queue
    /// time); returns its sequence number, to wait on for durability. None: not
    /// kept (a message that does not encode for storage: logged and counted; it
    /// lives in memory only, as if the store had confirmed it).
    pub fn apply(&self, op: StoreOp, unix_ms: i64) -> Option<u64> {
        let op = match op {
            StoreOp::SafPush { id, issuer, msg } => {
                let msg = without_card_data(msg);
                let Some(message) = storage_spec().and_then(|s| s.encode_to_bytes(&msg).ok())
                else {
                    tracing::error!(%issuer, id, "store-and-forward message cannot be encoded for storage; kept in memory only");
                    metrics::counter!("switch_saf_not_persisted_total").increment(1);
                    return None;
                };
                Op::SafPush {
                    id,
                    issuer,
                    message: message.to_vec(),
                    queued_ms: unix_ms,
                }
            }
            StoreOp::SafAttempt { id, attempts } => Op::SafAttempt { id, attempts },
            StoreOp::SafAck { id } | StoreOp::SafExpired { id } => Op::SafAck { id },
            token @ (StoreOp::TokenPut(_)
            | StoreOp::TokenStatus { .. }
            | StoreOp::TokenAtc { .. }) => self.vault_op(token)?,
        };
        Some(self.submit(op))
    }
}
