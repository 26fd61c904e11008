//! Reversals and advices whose original this node does not know (cluster
//! mode): another node forwarded it, before or after a take-over (a dead
//! node's forwarded rows reach the survivor's index only at the take-over, and
//! a live node's never do). Sent to the issuer by BIN with the acquirer's field
//! 90, such a message names an original the issuer cannot match, so the driver
//! first looks the original up in the shared journal, off the hot path (only for
//! these), hands the row to [`Core::remember_forwarded`], and only then has the
//! core handle the message: field 90 then reaches the issuer in its own terms
//! (the other node's switch STAN). This module says when that lookup is due and
//! by which keys; the lookup itself is the store's.

use codecs::mti::{Function, MessageClass};
use codecs::Message;

use super::recent::AcquirerKey;
use super::request::keys_naming_original;
use super::{Core, LinkId};
use crate::config::Role;

impl Core {
    /// The keys to look `msg`'s original up by in the shared journal, when `msg`
    /// (from link `id`) is an acquirer's reversal or advice whose original this
    /// node does not know, in a cluster; None otherwise (a single node's index
    /// holds what its own journal does).
    pub fn unknown_original(&self, id: LinkId, msg: &Message) -> Option<Vec<AcquirerKey>> {
        if self.settings.slot == 0 || !self.settings.journal {
            return None;
        }
        let link = self.links.get(id)?;
        if link.config.role != Role::Acquirer {
            return None;
        }
        let mti = msg.mti();
        let names_an_original = matches!(
            (mti.class(), mti.function()),
            (MessageClass::Reversal, Function::Request | Function::Advice)
                | (
                    MessageClass::Authorization | MessageClass::Financial,
                    Function::Advice
                )
        );
        if !names_an_original {
            return None;
        }
        let acquirer = msg.text(32)?;
        let keys: Vec<AcquirerKey> = keys_naming_original(msg, &acquirer)
            .into_iter()
            .flatten()
            .collect();
        if keys.is_empty() || keys.iter().any(|k| self.recent.get(k).is_some()) {
            return None;
        }
        Some(keys)
    }
}
