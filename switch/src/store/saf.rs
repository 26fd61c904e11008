//! The durable store-and-forward queue: the in-memory queue for the switch's
//! reads, every change written through to the store. Messages are kept without
//! card data (no PAN, track, PIN block or ICC data), in memory as on disk, so what
//! is delivered after a restart is what would have been delivered before it;
//! issuers find the original by field 90.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use codecs::Message;

use super::writer::{storage_spec, Op};
use super::Store;
use crate::core::saf::{MemorySaf, SafItem, SafQueue};
use crate::core::{without_card_data, Millis};

/// The store-backed queue.
pub struct DurableSaf {
    memory: MemorySaf,
    store: Arc<Store>,
}

impl DurableSaf {
    /// A queue holding what the store recovered.
    pub fn new(store: Arc<Store>, recovered: Vec<SafItem>) -> DurableSaf {
        DurableSaf {
            memory: MemorySaf::restore(recovered),
            store,
        }
    }
}

impl SafQueue for DurableSaf {
    fn push(&self, issuer: &str, msg: Message, now: Millis) -> u64 {
        let msg = without_card_data(msg);
        let encoded = storage_spec().and_then(|s| s.encode_to_bytes(&msg).ok());
        let id = self.memory.push(issuer, msg, now);
        match encoded {
            Some(bytes) => {
                let queued_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                self.store.submit(Op::SafPush {
                    id,
                    issuer: issuer.to_string(),
                    message: bytes.to_vec(),
                    queued_ms,
                });
            }
            None => {
                tracing::error!(%issuer, id, "store-and-forward message cannot be encoded for storage; kept in memory only");
                metrics::counter!("switch_saf_not_persisted_total").increment(1);
            }
        }
        id
    }

    fn take_due(&self, issuer: &str, now: Millis, max: usize) -> Vec<SafItem> {
        self.memory.take_due(issuer, now, max)
    }

    fn next_due(&self, expiry: std::time::Duration) -> Option<Millis> {
        self.memory.next_due(expiry)
    }

    fn attempted(&self, issuer: &str, id: u64, retry_at: Millis) {
        self.memory.attempted(issuer, id, retry_at);
        if let Some(item) = self.memory.item(issuer, id) {
            self.store.submit(Op::SafAttempt {
                id,
                attempts: item.attempts,
            });
        }
    }

    fn released(&self, issuer: &str, id: u64) {
        // Nothing to store: after a restart every item is due, none out.
        self.memory.released(issuer, id);
    }

    fn acknowledge(&self, issuer: &str, id: u64) -> bool {
        let known = self.memory.acknowledge(issuer, id);
        if known {
            self.store.submit(Op::SafAck { id });
        }
        known
    }

    fn expire(&self, now: Millis, expiry: std::time::Duration) -> Vec<SafItem> {
        let gone = self.memory.expire(now, expiry);
        for item in &gone {
            self.store.submit(Op::SafAck { id: item.id });
        }
        gone
    }

    fn depth(&self) -> usize {
        self.memory.depth()
    }

    fn outstanding(&self) -> usize {
        self.memory.outstanding()
    }

    fn issuers(&self) -> Vec<String> {
        self.memory.issuers()
    }
}
