//! Reversals and advices from acquirers (0420/0421, 0120/0121, 0220/0221):
//! acknowledged at once, then owed to the original's issuer through
//! store-and-forward, with field 90 rewritten to the keys the issuer saw. A
//! reversal of a stand-in approval takes the same way (see `super::request`).

use std::sync::Arc;

use codecs::{Message, Mti, ResponseCode};

use super::duplicates::DuplicateKey;
use super::inflight::{InFlightEntry, Purpose};
use super::journal::FinalState;
use super::links::Link;
use super::request::OriginalTarget;
use super::response::original_keys;
use super::validate::{first_missing, REVERSAL_FIELDS};
use super::{reply, Action, Actions, Core, Millis};

impl Core {
    pub(crate) fn on_advice(&self, now: Millis, link: &Arc<Link>, msg: Message) -> Actions {
        let id = link.id;
        if let Some(field) = first_missing(&msg, &REVERSAL_FIELDS) {
            tracing::info!(link = %link.config.name, mti = %msg.mti(), field, "format error: mandatory field missing");
            return self.decline(now, id, &msg, ResponseCode::FORMAT_ERROR, None);
        }
        let acquirer = msg.text(32).map(|s| s.into_owned()).unwrap_or_default();
        if !link.config.acquirers.contains(&acquirer) {
            return self.decline(now, id, &msg, ResponseCode::BANK_NOT_SUPPORTED, None);
        }
        let original_mti = msg.mti().without_repeat();
        let text = |n: u8| msg.text(n).map(|s| s.into_owned()).unwrap_or_default();
        // A repeat (0421) of an advice already queued is acknowledged, not queued twice.
        let key = DuplicateKey {
            acquirer: acquirer.clone(),
            class: original_mti.as_bytes()[1] - b'0' + 10 * (original_mti.as_bytes()[2] - b'0'),
            transmission: text(7),
            stan: text(11),
            terminal: text(41),
        };
        if self.duplicates.check_and_insert(key, now) {
            // Acknowledged only once the first one's queued advice is durable:
            // the acquirer repeats when that acknowledgement is late, which is
            // when the store is slow; answered at once, a crash before the
            // commit would lose an advice the acquirer counts as delivered.
            let mut actions = vec![Action::DurableFence];
            actions.extend(reply(id, &msg, ResponseCode::APPROVED));
            return actions;
        }
        let Some(target) = self.original_of(&msg, &acquirer) else {
            return self.decline(now, id, &msg, ResponseCode::NO_SUCH_ISSUER, None);
        };
        self.counters.advices.add(original_mti);
        self.acknowledge_and_owe(now, link, &msg, target, normalize(original_mti))
    }

    /// Acknowledge `msg` (00) and owe it to the original's issuer as `owed_mti`
    /// through store-and-forward, with field 90 naming the original as the
    /// issuer knows it: an acquirer's advice, or a reversal of a stand-in
    /// approval (whose advice the issuer may not have yet: the queue keeps the
    /// reversal behind it). The owed message is durable before the acquirer
    /// hears of it; the journal counts it against the original in settlement.
    pub(crate) fn acknowledge_and_owe(
        &self,
        now: Millis,
        link: &Arc<Link>,
        msg: &Message,
        target: OriginalTarget,
        owed_mti: Mti,
    ) -> Actions {
        let mut actions = self.owe(now, link.id, msg, target, owed_mti);
        actions.extend(reply(link.id, msg, ResponseCode::APPROVED));
        actions
    }

    /// [`Self::acknowledge_and_owe`] without the acknowledgement: `msg`
    /// (from acquirer link `id`) queued to the original's issuer as
    /// `owed_mti`, and journaled. Also what the switch owes, on the
    /// acquirer's behalf, for an approval the acquirer never heard
    /// (`super::undelivered`).
    pub(crate) fn owe(
        &self,
        now: Millis,
        id: super::LinkId,
        msg: &Message,
        target: OriginalTarget,
        owed_mti: Mti,
    ) -> Actions {
        let mut owed = msg.clone();
        owed.set_mti(owed_mti);
        // Only the switch marks its own stand-in decisions: an acquirer's
        // message carrying the indicator would pass for one at the issuer (a
        // forced post) and keep the acquirer's STAN on the issuer link.
        let indicator = &self.settings.stand_in;
        if owed
            .get(indicator.indicator_field)
            .is_some_and(|f| *f.bytes() == *indicator.indicator_value.as_bytes())
        {
            owed.remove(indicator.indicator_field);
        }
        if let Some(f90) = &target.field90 {
            owed.set(90, f90);
        }
        owed.set(33, &self.settings.institution_id);
        owed.set(100, &target.issuer);
        let mut actions = Vec::with_capacity(4);
        self.queue_saf(&target.issuer, owed, now, &mut actions);
        let (channel, app) = self.channel_of(msg);
        let entry = InFlightEntry {
            txn_id: self.new_txn_id(),
            purpose: Purpose::Request,
            acquirer_link: id,
            forwarded: msg.clone(),
            acquirer_f7: None,
            acquirer_f11: None,
            acquirer_routing: None,
            issuer: target.issuer.into(),
            rule: None,
            started: now,
            deadline: now,
            channel,
            token: None,
        };
        actions.push(Action::SafBarrier);
        if self.settings.journal {
            let mut record = self.journal_record(
                msg,
                &entry,
                ResponseCode::APPROVED,
                FinalState::Approved,
                now,
            );
            record.reverses = original_keys(msg);
            record.app = app;
            actions.push(Action::Journal(Box::new(record)));
        }
        actions
    }
}

/// The first-transmission MTI of an advice.
fn normalize(mti: Mti) -> Mti {
    mti.without_repeat()
}
