//! Answers from issuers: matched by (link, MTI class, STAN), relayed to the
//! acquirer with its own keys restored; store-and-forward acknowledgements; late
//! and unmatched answers logged (masked) and dropped.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use codecs::{Message, ResponseCode};

use super::counters::{Decider, Dropped};
use super::inflight::{InFlightEntry, InFlightKey, Purpose};
use super::journal::FinalState;
use super::links::Link;
use super::short_text::ShortText;
use super::{late_key, restore_acquirer_keys, reversal_of, Action, Actions, Core, Millis};

impl Core {
    pub(crate) fn on_response(&self, now: Millis, link: &Arc<Link>, msg: Message) -> Actions {
        let mti = msg.mti();
        let Some(stan) = msg.stan() else {
            tracing::warn!(link = %link.config.name, %mti, "response without STAN; dropped");
            return Vec::new();
        };
        let key = InFlightKey {
            link: link.id,
            class: mti.as_bytes()[1] - b'0',
            stan,
        };
        let Some(entry) = self.inflight.take(&key) else {
            // Late: its request timed out here (an answer to nothing the switch
            // sent is not remembered, so a repeat of it is still unmatched).
            let late = self.late.contains(&late_key(&key), now);
            let (what, why) = if late {
                ("late", Dropped::Late)
            } else {
                ("unmatched", Dropped::Unmatched)
            };
            self.counters.dropped(why);
            tracing::info!(link = %link.config.name, %mti, stan, what, response = %msg, "response dropped");
            return Vec::new();
        };
        link.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Purpose::Saf { item } = entry.purpose {
            return self.on_saf_answer(now, link, &entry.issuer, item);
        }
        let rc = msg
            .response_code()
            .and_then(|rc| ResponseCode::new(&rc))
            .unwrap_or(ResponseCode::SYSTEM_MALFUNCTION);
        if let Purpose::Enrolment { request } = entry.purpose {
            return self.on_enrolment_answer(now, request, &entry, rc);
        }
        self.counters.responses.add(rc);
        let acquirer = self.links.get(entry.acquirer_link);
        // The link's bank is the entry's issuer (links are picked by bank).
        self.counters.answered(
            acquirer.as_ref().map(|a| &*a.counters),
            Some(&link.counters),
            rc,
            Decider::Issuer,
        );
        link.counters
            .latency(now.since(entry.started).as_millis() as u64);
        let mut actions = Vec::with_capacity(2);
        let mut resp = msg;
        // A PIN block under the issuer's key means nothing to the acquirer.
        resp.remove(52);
        restore_acquirer_keys(&mut resp, &entry);
        let acquirer_alive = acquirer.is_some();
        let state = match (acquirer_alive, rc.is_approved()) {
            (true, true) => FinalState::Approved,
            (true, false) => FinalState::Declined,
            (false, true) => FinalState::Reversed,
            (false, false) => FinalState::Declined,
        };
        if state == FinalState::Reversed && key.class != 4 {
            // The acquirer cannot hear the approval: take it back at the issuer.
            if let Some(rev) = reversal_of(&entry.forwarded) {
                self.queue_saf(&entry.issuer, rev, now, &mut actions);
            }
            tracing::info!(issuer = %entry.issuer, stan, "acquirer gone; approved transaction queued for reversal");
        }
        if self.settings.journal {
            let mut record = self.completion_record(&entry.forwarded, &entry, rc, state, now);
            if key.class == 4 {
                record.reverses = forwarded_original_keys(&entry);
            }
            record.switch_stan = Some(stan);
            record.auth_code = resp.text(38).map(|s| ShortText::from(&*s));
            actions.push(Action::Journal(Box::new(record)));
        }
        if acquirer_alive {
            actions.push(Action::Send {
                link: entry.acquirer_link,
                msg: resp,
            });
        }
        actions
    }
}

/// The original's fields 7 and 11 in the acquirer's terms for a reversal or advice
/// from an acquirer: from its field 90, or else its own 7 and 11 (a reversal
/// without field 90 repeats its original's keys).
pub(crate) fn original_keys(msg: &Message) -> Option<(ShortText, ShortText)> {
    match msg.text(90) {
        Some(f90) => keys_in_field90(&f90),
        None => Some((
            ShortText::from(&*msg.text(7)?),
            ShortText::from(&*msg.text(11)?),
        )),
    }
}

/// [`original_keys`] of the acquirer's reversal that `entry` forwarded (the
/// forwarded message carries field 90 in the issuer's terms; the entry keeps the
/// acquirer's own).
fn forwarded_original_keys(entry: &InFlightEntry) -> Option<(ShortText, ShortText)> {
    match entry.acquirer_routing.as_ref().and_then(|r| r.f90.as_ref()) {
        Some(f90) => keys_in_field90(f90),
        None => Some((entry.acquirer_f7.clone()?, entry.acquirer_f11.clone()?)),
    }
}

/// The original's field 7 and 11 in the acquirer's terms, from a reversal's field 90
/// (MTI 4, STAN 6, transmission 10, acquirer 11, forwarding 11).
pub(crate) fn reversed_keys(msg: &Message) -> Option<(ShortText, ShortText)> {
    keys_in_field90(&msg.text(90)?)
}

/// Fields 7 and 11 of the original that field 90 `f90` names.
fn keys_in_field90(f90: &str) -> Option<(ShortText, ShortText)> {
    let stan = ShortText::from(f90.get(4..10)?);
    let transmission = ShortText::from(f90.get(10..20)?);
    Some((transmission, stan))
}
