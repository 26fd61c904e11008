//! Reversals and advices whose original this node does not know (cluster
//! mode): another node forwarded it, before or after a take-over (a dead
//! node's forwarded rows reach the survivor's index only at the take-over, and
//! a live node's never do). Sent to the issuer by BIN with the acquirer's field
//! 90, such a message names an original the issuer cannot match, so the driver
//! first looks the original up in the shared journal, off the hot path (only for
//! these), hands the row to [`Core::remember_forwarded`], and only then has the
//! core handle the message: field 90 then reaches the issuer in its own terms
//! (the other node's switch STAN). This module says when that lookup is due and
//! by which keys, and what becomes of the message when the shared journal
//! cannot be read ([`Core::original_unreadable`]); the lookup itself is the
//! store's.

use codecs::mti::{Function, MessageClass};
use codecs::{Message, ResponseCode};

use super::recent::AcquirerKey;
use super::request::keys_naming_original;
use super::{Actions, Core, LinkId, Millis};
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

    /// `msg` (an acquirer's reversal or advice from link `id`, whose original
    /// this node does not know) could not be looked up: the shared journal did
    /// not answer (the database down, restarting or slow). It is not handled as
    /// unknown: sent with the acquirer's field 90, it would name an original the
    /// issuer cannot match, and the issuer would keep an approval the journal
    /// nets out (books apart). Instead the acquirer is made to send it again:
    /// an advice (0420, 0120, 0220 and their repeats) is left unanswered, and
    /// the acquirer repeats it until acknowledged; a reversal request (0400,
    /// 0401) is declined 96 at once (not reversed: its acquirer sends it again,
    /// or advises it). By the repeat the journal answers again, and the
    /// original is found.
    pub fn original_unreadable(&self, now: Millis, id: LinkId, msg: &Message) -> Actions {
        let mti = msg.mti();
        if mti.class() == MessageClass::Reversal && mti.function() == Function::Request {
            let declined = self.decline(now, id, msg, ResponseCode::SYSTEM_MALFUNCTION, None);
            return self.unheld(declined);
        }
        Vec::new()
    }
}
