//! An approval the acquirer never heard. In strict durability its answer is
//! held until its journal record is durable; when that commit releases it,
//! the acquirer's connection may be gone (the acquirer left, or, in a cluster,
//! the lease gate closed its connections during a database outage), and the
//! answer is lost with it. The issuer approved and the journal says approved,
//! but the acquirer declined it at its timeout. As when the acquirer is gone
//! before the issuer's answer arrives ([`super::response`]), the switch takes
//! the approval back at the issuer, on the acquirer's behalf: a reversal
//! advice (0420, field 90 naming the original as the issuer knows it) through
//! the durable store-and-forward queue, journaled as a reversal of the
//! original, so that settlement nets it out. An acquirer that times out
//! reverses the approval too (on this node or another): the issuer
//! acknowledges a repeat without applying it again, and settlement counts a
//! reversal once per original. The acquirer hears nothing of this (its
//! connection is gone); the log says which issuer, never the card.

use codecs::{Message, Mti, ResponseCode};

use super::recent::AcquirerKeyRef;
use super::request::OriginalTarget;
use super::{reversal_of, Actions, Core, LinkId, Millis};

impl Core {
    /// The approval `answer` (an 0110 or 0210 as sent to the acquirer, on
    /// link `acquirer_link`) could not be delivered: reverse it at the issuer
    /// (see the module's doc). Nothing when it is not an approval, when the
    /// acquirer reversed it already, or when its original is no longer
    /// remembered (logged).
    pub fn on_answer_undelivered(
        &self,
        now: Millis,
        acquirer_link: LinkId,
        answer: &Message,
    ) -> Actions {
        if !is_approval(answer) {
            return Vec::new();
        }
        let (Some(acquirer), Some(f7), Some(f11)) =
            (answer.text(32), answer.text(7), answer.stan())
        else {
            tracing::warn!(mti = %answer.mti(), "approval not delivered, without its keys (32, 7, 11): not reversed");
            return Vec::new();
        };
        let key = AcquirerKeyRef {
            acquirer: &acquirer,
            stan: f11,
            transmission: &f7,
        };
        if self.recent.is_reversed(key) {
            tracing::info!(acquirer = %acquirer, "approval not delivered, reversed by the acquirer already");
            return Vec::new();
        }
        let Some(original) = self.recent.get_ref(key) else {
            tracing::warn!(acquirer = %acquirer, "approval not delivered and its original no longer remembered: not reversed");
            return Vec::new();
        };
        // The reversal a timeout would owe, made from the answer (its card or
        // token, amount, keys: the queue keeps no card number in the message);
        // `owe` names the original as the issuer knows it (field 90), and
        // the issuer and the switch (100, 33).
        let Some(reversal) = reversal_of(answer) else {
            return Vec::new();
        };
        self.recent.mark_reversed(key);
        tracing::warn!(
            acquirer = %acquirer,
            issuer = %original.issuer,
            "approval not delivered (the acquirer's connection is gone): reversed at the issuer"
        );
        metrics::counter!("switch_undelivered_approvals_reversed_total").increment(1);
        let target = OriginalTarget {
            issuer: original.issuer,
            field90: Some(original.field90),
            stand_in: original.stand_in,
        };
        self.owe(now, acquirer_link, &reversal, target, Mti::REVERSAL_ADVICE)
    }
}

/// Whether `answer` approves an authorization or a financial request: an
/// 0110 or 0210 answered 00 (not the acknowledgement of an advice, 0130 or
/// 0230, which approves nothing).
pub fn is_approval(answer: &Message) -> bool {
    let mti = *answer.mti().as_bytes();
    matches!(mti[1], b'1' | b'2')
        && mti[2] == b'1'
        && answer
            .response_code()
            .and_then(|rc| ResponseCode::new(&rc))
            .is_some_and(|rc| rc.is_approved())
}
