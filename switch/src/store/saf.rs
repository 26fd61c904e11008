//! The store's side of store-and-forward: the core keeps the queue in memory and
//! hands every change a restart must see over as a [`StoreOp`]; here each becomes
//! a write for the writer thread. Messages are kept without card data (no PAN,
//! track, PIN block or ICC data): the core queues them that way, and they are
//! stripped here again so that no caller can store any. The one exception is a
//! stand-in advice, which the issuer cannot post without the card: its PAN is
//! kept apart, sealed under the vault's data key (AES-256-GCM, the item's id and
//! issuer as associated data), and put back in the message when the queue is
//! read at start.

use crate::core::tokens::SecretPan;
use crate::core::{without_card_data, StoreOp};

use super::vault::{hex, Vault};
use super::writer::{storage_spec, Op};
use super::Store;

impl Store {
    /// Queue `op` for the writer, its row stamped `unix_ms` (a push's queue
    /// time); returns its sequence number, to wait on for durability. None: not
    /// kept (a message that does not encode for storage: logged and counted; it
    /// lives in memory only, as if the store had confirmed it).
    pub fn apply(&self, op: StoreOp, unix_ms: i64) -> Option<u64> {
        let op = match op {
            StoreOp::SafPush {
                id,
                issuer,
                msg,
                card,
            } => {
                let msg = without_card_data(msg);
                let Some(message) = storage_spec().and_then(|s| s.encode_to_bytes(&msg).ok())
                else {
                    tracing::error!(%issuer, id, "store-and-forward message cannot be encoded for storage; kept in memory only");
                    metrics::counter!("switch_saf_not_persisted_total").increment(1);
                    return None;
                };
                let card = card.and_then(|pan| self.seal_card(id, &issuer, &pan));
                Op::SafPush {
                    id,
                    issuer,
                    message: message.to_vec(),
                    card,
                    queued_ms: unix_ms,
                }
            }
            StoreOp::SafAttempt { id, attempts } => Op::SafAttempt { id, attempts },
            StoreOp::SafAck { id } => Op::SafAck { id, at_ms: unix_ms },
            // Both delete the row.
            StoreOp::SafExpired { id } | StoreOp::SafWithdrawn { id } => Op::SafExpired { id },
            StoreOp::NegativeFile {
                issuer,
                digest,
                reason,
            } => Op::NegativeFile {
                issuer,
                digest: hex(&digest),
                reason: reason.map(|r| r.name()),
                at_ms: unix_ms,
            },
            token @ (StoreOp::TokenPut(_)
            | StoreOp::TokenStatus { .. }
            | StoreOp::TokenAtc { .. }) => self.vault_op(token)?,
        };
        Some(self.submit(op))
    }

    /// A stand-in advice's card sealed for its row; None (logged, counted) without
    /// a vault: the advice is then kept without it and a restart delivers it
    /// without field 2.
    fn seal_card(&self, id: u64, issuer: &str, pan: &SecretPan) -> Option<Vec<u8>> {
        let sealed = self
            .vault
            .as_ref()
            .and_then(|v| v.seal(pan.expose().as_bytes(), &card_aad(id, issuer)).ok());
        if sealed.is_none() {
            tracing::error!(
                id,
                "stand-in advice: its card cannot be sealed (no vault); stored without it"
            );
            metrics::counter!("switch_saf_card_not_sealed_total").increment(1);
        }
        sealed
    }
}

/// The associated data of item `id`'s sealed card, owed to `issuer`: a sealed
/// card copied onto another row, or its row moved to another issuer, does not
/// open.
fn card_aad(id: u64, issuer: &str) -> Vec<u8> {
    format!("saf {id} {issuer}").into_bytes()
}

/// The card sealed in the row of item `id` owed to `issuer`, None when it does
/// not open.
pub(super) fn open_card(vault: &Vault, id: u64, issuer: &str, sealed: &[u8]) -> Option<SecretPan> {
    let plain = vault.unseal(sealed, &card_aad(id, issuer))?;
    std::str::from_utf8(&plain).ok().and_then(SecretPan::new)
}
