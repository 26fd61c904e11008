//! The stand-in path: a request whose issuer cannot answer is decided here, by
//! the issuer's parameters, and the issuer is told afterwards.
//!
//! In order: the checks' inputs are gathered (the card, its expiry from field 14
//! or track 2, the currency, the negative file, the card's approvals today), the
//! decision is taken and, for an approval, counted (one lock for both); the
//! advice is queued with the card (durable before the acquirer hears: the issuer
//! must end holding exactly what the acquirer was told); an approval is
//! remembered for its reversals, which go to the issuer after the advice; the
//! journal records the decision, the check that decided, the entry and the
//! advice (the record is handed to the store before the advice, and both are
//! durable before the answer); the acquirer gets the answer with the indicator
//! field and, for an approval, an authorization code of the switch's range.

use std::borrow::Cow;

use codecs::Message;
use routing_rules::{Channel, StandInDecision, StandInRequest};
use rust_decimal::Decimal;

use super::super::inflight::{InFlightEntry, Purpose};
use super::super::journal::{FinalState, StandInNote};
use super::super::recent::AcquirerKeyRef;
use super::super::short_text::ShortText;
use super::super::tokens::payment::TokenUse;
use super::super::tokens::SecretPan;
use super::super::{
    answer, field90, hex, restore_acquirer_keys, reversal_of, Action, Actions, Core, LinkId, Millis,
};
use super::advice::{advice, AdviceContent};
use super::usage::UsageKey;

/// A request the switch decides in its issuer's place.
pub(crate) struct StandInCase<'a> {
    /// The acquirer's link (the answer goes there).
    pub(crate) acquirer_link: LinkId,
    /// The request as the acquirer sent it (a token payment's with its token).
    pub(crate) request: &'a Message,
    /// The issuer it was routed to.
    pub(crate) issuer: &'a str,
    /// The routing rule that decided the route, if any.
    pub(crate) rule: Option<ShortText>,
    /// Where it came from.
    pub(crate) channel: Channel,
    /// A token payment: the card it stands for.
    pub(crate) token: Option<&'a TokenUse>,
    /// After a timeout (or its link lost): the forwarded request's entry; its
    /// reversal is queued already and its journal row is completed here.
    pub(crate) timed_out: Option<&'a InFlightEntry>,
}

impl Core {
    /// Decide `case` in stand-in and answer it; false (nothing done) when the
    /// switch does not stand in (off, or a request without a card number): the
    /// caller declines 91 as before.
    pub(crate) fn stand_in(
        &self,
        now: Millis,
        case: StandInCase<'_>,
        actions: &mut Actions,
    ) -> bool {
        let config = &self.settings.stand_in;
        if !config.enabled {
            return false;
        }
        // The request as it went (or would have gone) to the issuer: the card in
        // field 2.
        let toward_issuer: Cow<'_, Message> = match (case.timed_out, case.token) {
            (Some(entry), _) => Cow::Borrowed(&entry.forwarded),
            (None, Some(token)) => {
                let mut m = case.request.clone();
                token.apply(&mut m);
                Cow::Owned(m)
            }
            (None, None) => Cow::Borrowed(case.request),
        };
        let Some(pan) = toward_issuer.pan().and_then(|p| {
            std::str::from_utf8(p.digits())
                .ok()
                .and_then(SecretPan::new)
        }) else {
            return false;
        };
        let table = self.routing.current();
        let card = pan.expose().as_bytes();
        let transaction_type = toward_issuer
            .processing_code()
            .map_or(u8::MAX, |pc| pc.transaction_type);
        let amount = toward_issuer
            .amount()
            .ok()
            .flatten()
            .unwrap_or(Decimal::ZERO);
        let currency = toward_issuer.currency().map_or(0, |c| c.numeric);
        // The card's keyed hash (its usage key and the journal's hash), and its
        // digest only where a negative file could name it (or no key is set).
        let tag = self.pan_tag(card);
        let digest = (tag.is_none() || self.negative.may_hold(&table, case.issuer))
            .then(|| routing_rules::pan_digest(card));
        let request = StandInRequest {
            pan: card,
            expiry: expiry_of(&toward_issuer),
            today: self.year_month_at(now),
            transaction_type,
            amount,
            currency,
            hot: digest
                .as_ref()
                .and_then(|d| self.negative.lookup(&table, case.issuer, card, d)),
            used: Default::default(),
        };
        let key = UsageKey {
            card: tag.or(digest).unwrap_or_default(),
            currency,
            cash: transaction_type == 1,
        };
        let decision: StandInDecision<'_> =
            self.stand_in.usage.decide_and_count(key, amount, |used| {
                let d = routing_rules::decide_stand_in(&table, &StandInRequest { used, ..request });
                (d, d.approve)
            });
        // Not allowed (no [[stand_in]] entry for the product, or a kind never
        // approved in stand-in): the switch does not stand in; 91 as before,
        // nothing advised, no card sealed in the queue.
        if decision.check == routing_rules::StandInCheck::NotAllowed {
            return false;
        }
        let rc = decision.response_code;
        let stan = self.stand_in.next_stan();
        let auth_code = decision.approve.then(|| {
            self.stand_in
                .next_auth_code(config.auth_code_low, config.auth_code_high)
        });
        let reversed_first = case
            .timed_out
            .and_then(|e| field90(&e.forwarded))
            .map(|f| f.as_str().to_string());
        let indicator = (config.indicator_field, config.indicator_value.as_str());
        let msg = advice(&AdviceContent {
            request: &toward_issuer,
            stan,
            institution: &self.settings.institution_id,
            issuer: case.issuer,
            response_code: rc.as_str(),
            auth_code: auth_code.as_deref(),
            indicator,
            reversed_first: reversed_first.as_deref(),
        });
        // A reversal of the decision names the advice as the issuer knows it: its
        // MTI, the decision's STAN, the acquirer's 7 and 32, the switch (33).
        let decision_f90 = field90(&msg);
        // The acquirer's keys: its own message's, or those the entry kept.
        let (acq_f7, acq_f11) = match case.timed_out {
            Some(e) => (
                e.acquirer_f7.as_deref().map(Cow::Borrowed),
                e.acquirer_f11.as_deref().map(Cow::Borrowed),
            ),
            None => (case.request.text(7), case.request.text(11)),
        };
        let acquirer = case.request.text(32).unwrap_or_default();
        // A later reversal of the approval goes to the issuer after the advice,
        // naming the decision as the issuer knows it. One that reached the
        // forwarded request while this timeout was being decided (it found the
        // original before this entry replaced it) is owed here: after the
        // advice, so that the issuer ends with neither.
        let mut reversed_meanwhile = false;
        let mut remembered = None;
        if decision.approve {
            if let (Some(f7), Some(f11), Some(f90)) = (
                acq_f7.as_deref(),
                acq_f11.as_deref().and_then(|s| s.parse::<u32>().ok()),
                decision_f90.as_ref(),
            ) {
                let key = AcquirerKeyRef {
                    acquirer: &acquirer,
                    stan: f11,
                    transmission: f7,
                };
                reversed_meanwhile = self.recent.insert_stand_in(key, case.issuer, f90.as_str());
                remembered = Some((
                    acquirer.to_string(),
                    f11,
                    f7.to_string(),
                    f90.as_str().to_string(),
                ));
            }
        }
        let owed_reversal = reversed_meanwhile.then(|| reversal_of(&msg)).flatten();
        // Queued now (its id goes in the journal), handed to the store after the
        // journal record: see the end.
        let mut advised = Vec::with_capacity(1);
        let advice_saf = self.queue_saf_with_card(case.issuer, msg, pan.clone(), now, &mut advised);
        // The acquirer's answer, with code `rc`: to its own request, or after
        // a timeout built from the forward, with the acquirer's keys back.
        let answer_with = |rc| match case.timed_out {
            Some(entry) => answer(&entry.forwarded, rc).map(|mut r| {
                restore_acquirer_keys(&mut r, entry);
                r
            }),
            None => answer(case.request, rc),
        };
        // In a cluster the approval stands only if its claim does (a repeat sent
        // to another node may hold it). After a timeout the claim is the
        // forward's, under the same transaction; the forward may still have
        // been waiting for its commit (never sent), and its claim refused then
        // refuses the approval with it (the store refuses every claiming
        // record of a refused transaction).
        let duplicate = (decision.approve && self.stand_in_claims())
            .then(|| answer_with(codecs::ResponseCode::DUPLICATE))
            .flatten();
        if let Some(duplicate) = duplicate {
            let awaiting = super::claimed::AwaitingClaim {
                issuer: case.issuer.into(),
                stan,
                acquirer_link: case.acquirer_link,
                duplicate,
                usage: key,
                amount,
                remembered,
            };
            self.stand_in.awaiting_claim.insert(advice_saf, awaiting);
        }
        if let Some(rev) = owed_reversal {
            tracing::info!(issuer = case.issuer, "stand-in approval reversed by the acquirer meanwhile: its reversal owed after the advice");
            self.queue_saf(case.issuer, rev, now, &mut advised);
        }
        self.counters.responses.add(rc);
        self.counters.stand_in(case.issuer, decision.approve);
        self.count_answer(
            case.acquirer_link,
            Some(case.issuer),
            rc,
            crate::core::counters::Decider::StandIn,
        );
        tracing::info!(
            issuer = case.issuer,
            rc = %rc,
            check = decision.check.name(),
            entry = decision.entry.unwrap_or("-"),
            after_timeout = case.timed_out.is_some(),
            "stand-in decision"
        );
        let note = StandInNote {
            check: decision.check.name(),
            entry: decision.entry.map(ShortText::from),
            advice_saf: Some(advice_saf),
        };
        let state = if decision.approve {
            FinalState::Approved
        } else {
            FinalState::Declined
        };
        if self.settings.journal {
            let mut record = match case.timed_out {
                Some(entry) => self.completion_record(&entry.forwarded, entry, rc, state, now),
                None => {
                    let entry = InFlightEntry {
                        txn_id: self.new_txn_id(),
                        purpose: Purpose::Request,
                        acquirer_link: case.acquirer_link,
                        forwarded: case.request.clone(),
                        acquirer_f7: None,
                        acquirer_f11: None,
                        acquirer_routing: None,
                        issuer: ShortText::from(case.issuer),
                        rule: case.rule.clone(),
                        started: now,
                        deadline: now,
                        channel: case.channel,
                        token: None,
                    };
                    let mut record = self.completion_record(case.request, &entry, rc, state, now);
                    // The card's hash (a token payment's too, as its payments
                    // at terminals have), computed once above.
                    record.pan_hash = tag.as_ref().map(|t| hex(t));
                    record.app = case.token.map(|t| t.app.clone());
                    record
                }
            };
            record.switch_stan = Some(stan);
            record.auth_code = auth_code.as_deref().map(ShortText::from);
            record.stand_in = Some(note);
            actions.push(Action::Journal(Box::new(record)));
        }
        // The record first, then the advice: a crash between the two leaves a
        // decision nobody heard (the acquirer reverses it) and no advice, never
        // an advice without its record. In strict durability both are durable
        // before the acquirer hears of the decision; in relaxed, as any answer,
        // it does not wait for them (a crash may lose the last batch, the
        // operator's choice of that mode).
        actions.append(&mut advised);
        actions.push(Action::DecisionFence);
        if let Some(mut resp) = answer_with(rc) {
            if let Some(code) = &auth_code {
                resp.set(38, code);
            }
            resp.set(indicator.0, indicator.1);
            actions.push(Action::Send {
                link: case.acquirer_link,
                msg: resp,
            });
        }
        true
    }
}

/// YYMM of the card's expiry: field 14, else the four digits after track 2's
/// separator. None when the request carries neither (or they are not digits).
fn expiry_of(msg: &Message) -> Option<[u8; 4]> {
    let yymm = |b: &[u8]| -> Option<[u8; 4]> {
        let four: [u8; 4] = b.get(..4)?.try_into().ok()?;
        four.iter().all(u8::is_ascii_digit).then_some(four)
    };
    if let Some(f14) = msg.get(14) {
        return yymm(&f14.bytes());
    }
    let track = msg.get(35)?;
    let bytes = track.bytes();
    let sep = bytes.iter().position(|b| matches!(b, b'=' | b'D' | b'd'))?;
    yymm(&bytes[sep + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use codecs::Mti;

    #[test]
    fn expiry_comes_from_field_14_else_from_track_2() {
        let mut m = Message::new(Mti::FINANCIAL_REQUEST);
        assert_eq!(expiry_of(&m), None);
        m.set(35, "9408101234567893=2912101");
        assert_eq!(expiry_of(&m), Some(*b"2912"));
        m.set(14, "2701");
        assert_eq!(expiry_of(&m), Some(*b"2701"));
        m.remove(14);
        m.set(35, "9408101234567893=29");
        assert_eq!(expiry_of(&m), None, "too short to hold a date");
    }
}
