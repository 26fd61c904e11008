//! What the core asks the store to keep, and what it is told back.
//!
//! The core owns the store-and-forward queue in memory ([`super::saf`]); every
//! change a restart must see leaves it as an [`Action::Store`] that the driver
//! hands to the store (stamping the wall-clock time of the row), and the driver
//! reports pushes made durable with [`Core::on_saf_durable`]. Until then an item
//! is not delivered (see `super::saf`). Journal records leave as
//! [`Action::Journal`]; the rule that a `Send` depending on a push waits for it
//! is the driver's ([`Action::SafBarrier`]).

use codecs::Message;

use super::saf::SafItem;
use super::tokens::{AtcWindow, SecretPan, TokenRecord, TokenStatus};
use super::{without_card_data, Action, Actions, Core, Millis};

/// One change to the stored store-and-forward queue.
#[derive(Debug)]
pub enum StoreOp {
    /// A message is owed to `issuer`: keep it until acknowledged. The core
    /// reports nothing else about item `id` until the driver has confirmed it.
    SafPush {
        /// Queue id.
        id: u64,
        /// The issuer bank it is owed to.
        issuer: String,
        /// The message, without card data (as the queue holds it).
        msg: Message,
        /// A stand-in advice's card (the store keeps it sealed under the vault's
        /// key; the issuer cannot post the advice without it).
        card: Option<SecretPan>,
    },
    /// Item `id` went out once more: `attempts` so far.
    SafAttempt {
        /// Queue id.
        id: u64,
        /// Delivery attempts so far.
        attempts: u32,
    },
    /// The issuer acknowledged item `id`: forget it.
    SafAck {
        /// Queue id.
        id: u64,
    },
    /// Item `id` expired undelivered (alerted and counted): forget it.
    SafExpired {
        /// Queue id.
        id: u64,
    },
    /// Item `id` is withdrawn unsent (a stand-in advice whose approval lost its
    /// cluster claim): forget it, whichever commit its push came in.
    SafWithdrawn {
        /// Queue id.
        id: u64,
    },
    /// An issuer's negative-file update (0302), kept as the PAN's digest.
    NegativeFile {
        /// The issuer bank.
        issuer: String,
        /// SHA-256 of the PAN's digits ([`routing_rules::pan_digest`]).
        digest: [u8; 32],
        /// Why the card is hot; None: taken off the file.
        reason: Option<routing_rules::HotReason>,
    },
    /// A token was issued: keep it (the store keeps the PAN and key encrypted).
    TokenPut(Box<TokenRecord>),
    /// A token's status changed.
    TokenStatus {
        /// The token number.
        token: String,
        /// Its new status.
        status: TokenStatus,
    },
    /// A token's counters moved (a payment used one): a replay after a restart is
    /// still refused.
    TokenAtc {
        /// The token number.
        token: String,
        /// The counters seen so far.
        atc: AtcWindow,
    },
}

impl StoreOp {
    /// The item a push queues (the driver confirms it once durable).
    pub fn pushed(&self) -> Option<u64> {
        match self {
            StoreOp::SafPush { id, .. } => Some(*id),
            _ => None,
        }
    }
}

impl Core {
    /// Owe `msg` to `issuer`: queued without card data (what is delivered after a
    /// restart is what would have been delivered before it), its push handed to
    /// the store. Delivered once the driver confirms the push is durable.
    pub(crate) fn queue_saf(&self, issuer: &str, msg: Message, now: Millis, actions: &mut Actions) {
        let msg = without_card_data(msg);
        let id = self.saf.push(issuer, msg.clone(), now);
        actions.push(Action::Store(StoreOp::SafPush {
            id,
            issuer: issuer.to_string(),
            msg,
            card: None,
        }));
    }

    /// Owe a stand-in advice carrying the card `pan` to `issuer`: the queue in
    /// memory keeps field 2 (the issuer posts to the card's account), the store
    /// gets the message without card data and the card apart, to seal. Returns
    /// the item's id (the journal names it).
    pub(crate) fn queue_saf_with_card(
        &self,
        issuer: &str,
        msg: Message,
        pan: SecretPan,
        now: Millis,
        actions: &mut Actions,
    ) -> u64 {
        let stored = without_card_data(msg.clone());
        let mut kept = stored.clone();
        kept.set(2, pan.expose());
        let id = self.saf.push_stand_in_advice(issuer, kept, now);
        actions.push(Action::Store(StoreOp::SafPush {
            id,
            issuer: issuer.to_string(),
            msg: stored,
            card: Some(pan),
        }));
        id
    }

    /// The pushes of SAF items `ids` are durable (or, without a store, were
    /// accepted): they may be delivered, and the windows of their issuers are
    /// filled now.
    pub fn on_saf_durable(&self, now: Millis, ids: &[u64]) -> Actions {
        let mut actions = Vec::new();
        // A stand-in advice's push is durable in the commit that held its
        // approval's claim (a refused one is never confirmed).
        self.stand_in.awaiting_claim.settled(ids);
        let issuers = self.saf.confirm(ids);
        for issuer in &issuers {
            self.deliver_saf_to(issuer, now, &mut actions);
        }
        if !issuers.is_empty() {
            // What no window could take now (no usable link, the window full) is
            // looked at again on the queue's pace, not at the next tick the
            // timer was armed for.
            self.note_deadline(now.after(super::timer::SAF_PASS));
        }
        actions
    }

    /// Store-and-forward items read back from the store at start (durable
    /// already); new items are numbered after `last_id` (the store's highest,
    /// counting rows it could not read back), so none overwrites a stored row.
    pub fn restore_saf(&self, items: Vec<SafItem>, last_id: u64) {
        self.saf.add_restored(items, last_id);
    }

    /// Store-and-forward items taken over from a cluster node whose lease
    /// expired (durable already, now this node's): queued in id order,
    /// delivered from the next pass; this node's own numbering goes on as it was.
    pub fn adopt_saf(&self, items: Vec<SafItem>) {
        self.saf.adopt(items);
    }

    /// Stop (true) or resume (false) store-and-forward delivery. A cluster node
    /// whose lease lapsed stops: another node may be taking its queue over, and
    /// an item must not reach an issuer from both. Items are still queued, and
    /// answers to deliveries already out are still taken.
    pub fn set_saf_paused(&self, paused: bool) {
        let was = self
            .saf_paused
            .swap(paused, std::sync::atomic::Ordering::Relaxed);
        if was != paused {
            tracing::warn!(paused, "store-and-forward delivery");
        }
    }
}
