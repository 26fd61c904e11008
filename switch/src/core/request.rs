//! Requests from acquirers (0100, 0200, 0400): validate, detect duplicates, route,
//! pick an issuer link, have the PIN block translated (see [`super::pin`]: the
//! request may wait for the security module's answer there), allocate the
//! switch's STAN, forward and start the clock.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use codecs::{Message, ResponseCode};
use routing_rules::{Channel, Transaction, Verdict};
use rust_decimal::Decimal;

use super::counters::{Decider, Unavailable};
use super::duplicates::DuplicateKeyRef;
use super::inflight::{AcquirerRouting, InFlightEntry, InFlightKey, Purpose};
use super::journal::FinalState;
use super::links::{Link, TimeoutClass};
use super::pin::PinPlan;
use super::recent::{AcquirerKey, AcquirerKeyRef};
use super::short_text::ShortText;
use super::stand_in::decide::StandInCase;
use super::stand_in::negative::NegativeUpdates;
use super::tokens::payment::{card_channel, Presented, Refusal, TokenUse};
use super::validate::{amount_problem, first_missing, REQUEST_FIELDS, REVERSAL_FIELDS};
use super::{field90, reply, reversal_source, Action, Actions, Core, Millis};

impl Core {
    pub(crate) fn on_request(&self, now: Millis, link: &Arc<Link>, msg: Message) -> Actions {
        let id = link.id;
        let mti = msg.mti();
        let class = mti.as_bytes()[1] - b'0';
        link.counters.requests.add(mti);

        let mandatory: &[u8] = if class == 4 {
            &REVERSAL_FIELDS
        } else {
            &REQUEST_FIELDS
        };
        if let Some(field) = first_missing(&msg, mandatory) {
            tracing::info!(link = %link.config.name, %mti, field, "format error: mandatory field missing");
            return self.decline(now, id, &msg, ResponseCode::FORMAT_ERROR, None);
        }
        if let Some(field) = amount_problem(&msg) {
            tracing::info!(link = %link.config.name, %mti, field, "format error: amount or currency");
            return self.decline(now, id, &msg, ResponseCode::FORMAT_ERROR, None);
        }
        // Borrowed from the message (text fields are checked at decode): no String
        // per request for the keys below.
        let acquirer = msg.text(32).unwrap_or_default();
        if !link.config.acquirers.iter().any(|a| **a == *acquirer) {
            tracing::warn!(link = %link.config.name, %acquirer, "field 32 is not an acquirer allowed on this link");
            return self.decline(now, id, &msg, ResponseCode::BANK_NOT_SUPPORTED, None);
        }
        let text = |n: u8| msg.text(n).unwrap_or_default();
        let (transmission, stan, terminal) = (text(7), text(11), text(41));
        let dup = DuplicateKeyRef {
            acquirer: &acquirer,
            class,
            transmission: &transmission,
            stan: &stan,
            terminal: &terminal,
        };
        if self.duplicates.check_and_insert(dup, now) {
            tracing::info!(link = %link.config.name, %mti, %stan, "duplicate transmission");
            // The original in flight is not disturbed; the repeat is journaled as
            // declined 94 beside it.
            return self.decline(now, id, &msg, ResponseCode::DUPLICATE, None);
        }

        let table = self.routing.current();
        // A token is checked (and its counter kept) before anything is routed.
        let mut kept = Vec::new();
        let (channel, token) = match self.presented(&table, &msg, class, now, &mut kept) {
            Presented::Card(channel) => (channel, None),
            Presented::Token(token) => (Channel::WalletQr, Some(token)),
            Presented::Refused(refusal) => return self.refuse_presented(now, link, &msg, refusal),
        };
        if class == 4 {
            return self.forward_reversal_request(now, link, msg, token);
        }

        let pan = msg.pan();
        let pan_digits = match &token {
            Some(t) => t.pan.expose().as_bytes(),
            None => pan.as_ref().map(|p| p.digits()).unwrap_or(&[]),
        };
        let tx = Transaction {
            pan: pan_digits,
            acquirer: acquirer.as_bytes(),
            mti,
            processing_code: msg.get(3).map(|f| f.wire()).unwrap_or(&[]),
            amount: msg.amount().ok().flatten().unwrap_or(Decimal::ZERO),
            currency: msg.currency().map(|c| c.numeric).unwrap_or(0),
            channel,
            app: token.as_ref().map(|t| t.app.as_str()),
        };
        let decision = table.decide(&tx);
        let rule = decision.rule.map(|r| ShortText::from(r.id.as_str()));
        if decision.verdict == Verdict::Decline {
            let rc = decision
                .response_code
                .unwrap_or(ResponseCode::SYSTEM_MALFUNCTION);
            tracing::debug!(link = %link.config.name, %mti, rc = %rc, rule = ?rule, step = decision.step.name(), channel = channel.name(), "declined by routing");
            let issuer = decision.issuer.map(|b| ShortText::from(b.id.as_str()));
            kept.extend(self.decline_presented(
                now,
                id,
                &msg,
                rc,
                issuer,
                rule,
                channel,
                token.as_deref(),
            ));
            return kept;
        }
        let Some(issuer) = decision.issuer.map(|b| ShortText::from(b.id.as_str())) else {
            return self.decline(now, id, &msg, ResponseCode::SYSTEM_MALFUNCTION, None);
        };
        // An issuer may have its hot cards declined while it is up too.
        if NegativeUpdates::applies_when_up(&table, &issuer) {
            if let Some(hot) = self.hot_card(&table, &issuer, pan_digits) {
                tracing::debug!(link = %link.config.name, %mti, rc = %hot.code(), "negative file (issuer up)");
                kept.extend(self.decline_presented(
                    now,
                    id,
                    &msg,
                    hot.response_code(),
                    Some(issuer),
                    Some(ShortText::from("negative-file")),
                    channel,
                    token.as_deref(),
                ));
                return kept;
            }
        }
        let cash = msg
            .processing_code()
            .is_some_and(|pc| pc.transaction_type == 1);
        let mut route = Route::new(issuer, rule, class, cash, channel);
        route.token = token;
        kept.extend(self.forward(now, link, msg, route));
        kept
    }

    /// Pick an issuer link and send `msg` there with the switch's STAN.
    fn forward(&self, now: Millis, acq: &Arc<Link>, msg: Message, route: Route) -> Actions {
        // Declined here, a token payment keeps its channel and app in the journal.
        let decline = |rc, route: Route| {
            let Route {
                issuer,
                rule,
                channel,
                token,
                ..
            } = route;
            self.decline_presented(
                now,
                acq.id,
                &msg,
                rc,
                Some(issuer),
                rule,
                channel,
                token.as_deref(),
            )
        };
        // The store cannot keep the forward's record (nor, in a cluster, its
        // claim): 96 now rather than a forward held until the acquirer gives up.
        if matches!(route.class, 1 | 2)
            && route.purpose == Purpose::Request
            && !self.store_available()
        {
            return self.unheld(decline(ResponseCode::SYSTEM_MALFUNCTION, route));
        }
        let issuer_link = match self.pick_issuer_link(&route.issuer) {
            Ok(l) => l,
            Err(rc) => {
                // The issuer cannot take it: the switch stands in where it may.
                if matches!(route.class, 1 | 2) && route.purpose == Purpose::Request {
                    let mut actions = Vec::new();
                    let case = StandInCase {
                        acquirer_link: acq.id,
                        request: &msg,
                        issuer: &route.issuer,
                        rule: route.rule.clone(),
                        channel: route.channel,
                        token: route.token.as_deref(),
                        timed_out: None,
                    };
                    if self.stand_in(now, case, &mut actions) {
                        return actions;
                    }
                }
                return decline(rc, route);
            }
        };
        // Field 52 re-enciphered for the issuer before anything is committed.
        match self.pin_plan(acq, &issuer_link, &msg) {
            PinPlan::Unchanged => self.dispatch(now, acq.id, &issuer_link, msg, route, None, now),
            PinPlan::Decline(rc) => decline(rc, route),
            PinPlan::Translate(from, to) => {
                self.park_for_pin(now, acq, issuer_link, msg, route, (from, to))
            }
        }
    }

    /// [`Core::forward`] of a message the switch originates itself (no acquirer
    /// link, no PIN block): an enrolment's account verification.
    pub(crate) fn forward_from(
        &self,
        now: Millis,
        acquirer: crate::core::LinkId,
        msg: Message,
        route: Route,
    ) -> Actions {
        match self.pick_issuer_link(&route.issuer) {
            Ok(issuer_link) => self.dispatch(now, acquirer, &issuer_link, msg, route, None, now),
            Err(rc) => match route.purpose {
                Purpose::Enrolment { request } => self.enrolment_refused(request, rc),
                _ => Vec::new(),
            },
        }
    }

    /// An issuer link of bank `issuer` that can take a request, or the code to
    /// answer (91: no link signed on, or all at their in-flight cap; counted).
    fn pick_issuer_link(&self, issuer: &str) -> Result<Arc<Link>, ResponseCode> {
        self.links.pick_issuer(issuer).map_err(|full| {
            let counters = self.counters.bank(issuer);
            let (why, counter) = if full {
                (Unavailable::Full, &counters.unavailable_full)
            } else {
                (Unavailable::NoLink, &counters.unavailable_no_link)
            };
            counter.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%issuer, why = why.label(), "issuer unavailable");
            ResponseCode::ISSUER_INOPERATIVE
        })
    }

    /// Send `msg` to `issuer_link` (picked for it) with the switch's STAN and
    /// `pin_block` in field 52 when translated, journal it and start its clock.
    /// `started`: when the request arrived.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn dispatch(
        &self,
        now: Millis,
        acquirer: crate::core::LinkId,
        issuer_link: &Arc<Link>,
        msg: Message,
        route: Route,
        pin_block: Option<Vec<u8>>,
        started: Millis,
    ) -> Actions {
        let Route {
            issuer,
            rule,
            class,
            cash,
            original,
            purpose,
            token,
            channel,
        } = route;
        let stan = issuer_link.next_stan(|s| {
            self.inflight.contains(&InFlightKey {
                link: issuer_link.id,
                class,
                stan: s,
            })
        });
        let key = InFlightKey {
            link: issuer_link.id,
            class,
            stan,
        };
        let acquirer_f7 = msg.text(7).map(|s| ShortText::from(&*s));
        let acquirer_f11 = msg.text(11).map(|s| ShortText::from(&*s));
        let acquirer_routing = AcquirerRouting::of(&msg);
        let mut out = msg;
        // The issuer gets the card for the token (the entry keeps what the
        // acquirer's answer gets back).
        if let Some(token) = &token {
            token.apply(&mut out);
        }
        if let Some(block) = pin_block {
            out.set_binary(52, &block);
        }
        // A reversal names its original as the issuer knows it.
        if let Some(f90) = original.as_ref().and_then(|o| o.issuer_f90.as_deref()) {
            out.set(90, f90);
        }
        out.set_stan(stan);
        out.set(33, &self.settings.institution_id);
        out.set(100, &issuer);
        let timeout_class = if cash {
            TimeoutClass::Cash
        } else {
            TimeoutClass::Pos
        };
        let timeout = match timeout_class {
            TimeoutClass::Cash => issuer_link.config.cash_timeout,
            TimeoutClass::Pos => issuer_link.config.timeout,
        };
        let deadline = now.after(timeout);
        // Field 90 is made once, here; a reversal owed later makes its own from
        // the entry's `forwarded`.
        if let (Some(f7), Some(f11), Some(acq_id), Some(f90)) = (
            acquirer_f7.as_deref(),
            acquirer_f11.as_ref().and_then(|s| s.parse::<u32>().ok()),
            out.text(32),
            field90(&out),
        ) {
            let key = AcquirerKeyRef {
                acquirer: &acq_id,
                stan: f11,
                transmission: f7,
            };
            self.recent.insert_ref(key, &issuer, f90.as_str());
        }
        issuer_link.in_flight.fetch_add(1, Ordering::Relaxed);
        let txn_id = self.new_txn_id();
        let entry = InFlightEntry {
            txn_id,
            purpose,
            acquirer_link: acquirer,
            forwarded: out.clone(),
            acquirer_f7,
            acquirer_f11,
            acquirer_routing,
            issuer,
            rule,
            started,
            deadline,
            channel,
            token,
        };
        let mut actions = Vec::with_capacity(2);
        // Journaled before it goes out, with what the store needs for the reversal
        // owed should the switch restart before the answer (the store derives the
        // 0420 only then).
        if self.settings.journal {
            let mut record = self.journal_record(
                &out,
                &entry,
                ResponseCode::APPROVED,
                FinalState::Forwarded,
                now,
            );
            record.response_code = ShortText::default();
            record.switch_stan = Some(stan);
            // An enrolment's account verification moves no money: nothing to
            // reverse should the switch restart before its answer.
            if matches!(class, 1 | 2) && entry.purpose == Purpose::Request {
                record.forwarded = Some(reversal_source(out.clone()));
            } else {
                // In the acquirer's terms, as the journal keys its originals.
                record.reverses = original.and_then(|o| o.acquirer_keys);
            }
            actions.push(Action::Journal(Box::new(record)));
        }
        actions.push(Action::Send {
            link: issuer_link.id,
            msg: out,
        });
        self.track_in_flight(now, issuer_link, key, entry, timeout_class, &mut actions);
        actions
    }

    /// 0400 from an acquirer: forward to the original's issuer with field 90 as
    /// the issuer knows the original, and relay the 0410.
    /// A reversal of a token payment (`token`) goes to the card's issuer with the
    /// card in place of the token, whatever became of the token since.
    fn forward_reversal_request(
        &self,
        now: Millis,
        link: &Arc<Link>,
        msg: Message,
        token: Option<Box<TokenUse>>,
    ) -> Actions {
        let target = self.original_of(&msg, &msg.text(32).unwrap_or_default());
        let Some(target) = target else {
            return self.decline(now, link.id, &msg, ResponseCode::NO_SUCH_ISSUER, None);
        };
        if target.stand_in {
            // The issuer knows the original from an advice that may still be
            // queued: the reversal is answered here and owed after it.
            return self.acknowledge_and_owe(now, link, &msg, target, codecs::Mti::REVERSAL_ADVICE);
        }
        let channel = match token {
            Some(_) => Channel::WalletQr,
            None => card_channel(&msg),
        };
        let mut route = Route::new(ShortText::from(target.issuer), None, 4, false, channel);
        route.original = Some(Original {
            acquirer_keys: super::response::original_keys(&msg),
            issuer_f90: target.field90,
        });
        route.token = token;
        self.forward(now, link, msg, route)
    }

    /// Answer the acquirer with `rc` and journal the decline.
    pub(crate) fn decline(
        &self,
        now: Millis,
        link: crate::core::LinkId,
        msg: &Message,
        rc: ResponseCode,
        issuer: Option<ShortText>,
    ) -> Actions {
        self.decline_presented(now, link, msg, rc, issuer, None, card_channel(msg), None)
    }

    /// [`Core::decline`] naming the routing rule that decided it, of a request presented on `channel` (by an
    /// app's token: the journal names the app). The acquirer's own message is
    /// answered: a token payment's answer carries the token, never the card.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn decline_presented(
        &self,
        now: Millis,
        link: crate::core::LinkId,
        msg: &Message,
        rc: ResponseCode,
        issuer: Option<ShortText>,
        rule: Option<ShortText>,
        channel: Channel,
        token: Option<&TokenUse>,
    ) -> Actions {
        let mut actions = reply(link, msg, rc);
        self.counters.responses.add(rc);
        let decider = if rule.is_some() {
            Decider::RegionRule
        } else {
            Decider::Switch
        };
        self.count_answer(link, issuer.as_deref(), rc, decider);
        if !self.settings.journal {
            return actions;
        }
        let entry = InFlightEntry {
            txn_id: self.new_txn_id(),
            purpose: Purpose::Request,
            acquirer_link: link,
            forwarded: msg.clone(),
            acquirer_f7: None,
            acquirer_f11: None,
            acquirer_routing: None,
            issuer: issuer.unwrap_or_default(),
            rule,
            started: now,
            deadline: now,
            channel,
            token: None,
        };
        let mut record = self.journal_record(msg, &entry, rc, FinalState::Declined, now);
        record.app = token.map(|t| t.app.clone());
        if let Some(t) = token {
            // The card's hash, as its payments at terminals have.
            record.pan_hash = self.pan_hash_of(t.pan.expose().as_bytes());
        }
        if msg.mti().class() == codecs::mti::MessageClass::Reversal {
            record.reverses = super::response::reversed_keys(msg);
        }
        if record.issuer.as_deref() == Some("") {
            record.issuer = None;
        }
        actions.push(Action::Journal(Box::new(record)));
        actions
    }

    /// A token (or a QR entry) refused before routing: answered with the
    /// refusal's code, journaled, and counted as a security event where it is one
    /// (the driver logs it, paced).
    fn refuse_presented(
        &self,
        now: Millis,
        link: &Arc<Link>,
        msg: &Message,
        refusal: Refusal,
    ) -> Actions {
        let mut actions = Vec::with_capacity(3);
        if let Some(event) = refusal.event {
            self.counters.security(event);
            actions.push(Action::SecurityEvent {
                link: link.id,
                event: event.label(),
                reason: refusal.reason,
            });
        } else {
            tracing::info!(link = %link.config.name, mti = %msg.mti(), reason = refusal.reason, rc = %refusal.rc, "token refused");
        }
        actions.extend(self.decline_presented(
            now,
            link.id,
            msg,
            refusal.rc,
            None,
            None,
            Channel::WalletQr,
            None,
        ));
        actions
    }
}

/// Where a request goes: the issuer, the rule that decided, and what the
/// forwarding needs to know of the request.
pub(crate) struct Route {
    pub(crate) issuer: ShortText,
    rule: Option<ShortText>,
    /// MTI class digit (1, 2 or 4).
    class: u8,
    /// A cash withdrawal (its own, longer timeout).
    cash: bool,
    /// For a reversal: the original it reverses.
    original: Option<Original>,
    /// An acquirer's request, or the switch's own enrolment check.
    pub(crate) purpose: Purpose,
    /// A token payment: the card to forward, and what the answer gets back.
    pub(crate) token: Option<Box<TokenUse>>,
    /// Where the transaction comes from (a terminal, an ATM, an app's QR code).
    channel: Channel,
}

impl Route {
    /// An acquirer's request to `issuer`.
    pub(crate) fn new(
        issuer: ShortText,
        rule: Option<ShortText>,
        class: u8,
        cash: bool,
        channel: Channel,
    ) -> Route {
        Route {
            issuer,
            rule,
            class,
            cash,
            original: None,
            purpose: Purpose::Request,
            token: None,
            channel,
        }
    }

    /// This route for `purpose` instead.
    pub(crate) fn with_purpose(mut self, purpose: Purpose) -> Route {
        self.purpose = purpose;
        self
    }
}

/// The original transaction a reversal names.
pub(crate) struct Original {
    /// Its fields 7 and 11 in the acquirer's terms (as the journal keys it).
    acquirer_keys: Option<(ShortText, ShortText)>,
    /// Field 90 as the issuer knows the original, when it went through the switch.
    issuer_f90: Option<String>,
}

/// Where a reversal or advice for an original must go.
pub(crate) struct OriginalTarget {
    pub(crate) issuer: String,
    /// Field 90 in the issuer's terms, when the original is known.
    pub(crate) field90: Option<String>,
    /// The original was approved by the switch in stand-in.
    pub(crate) stand_in: bool,
}

/// The keys a reversal or advice names its original by, in the acquirer's
/// terms, in the order they are tried: field 90's (the original's STAN and
/// transmission time), then its own fields 11 and 7 (a repeat of the original's).
pub(crate) fn keys_naming_original(msg: &Message, acquirer: &str) -> [Option<AcquirerKey>; 2] {
    let key_from_90 = msg.get(90).and_then(|f| {
        let v = f.bytes();
        if v.len() != 42 {
            return None;
        }
        let stan = std::str::from_utf8(&v[4..10]).ok()?.parse().ok()?;
        Some(AcquirerKey {
            acquirer: acquirer.to_string(),
            stan,
            transmission: std::str::from_utf8(&v[10..20]).ok()?.to_string(),
        })
    });
    let key_from_fields = msg.stan().zip(msg.text(7)).map(|(stan, f7)| AcquirerKey {
        acquirer: acquirer.to_string(),
        stan,
        transmission: f7.into_owned(),
    });
    [key_from_90, key_from_fields]
}

impl Core {
    /// Find the original of a reversal/advice: by field 90, else by its own keys,
    /// else (unknown original) the card's issuer by BIN.
    pub(crate) fn original_of(&self, msg: &Message, acquirer: &str) -> Option<OriginalTarget> {
        let found = keys_naming_original(msg, acquirer)
            .into_iter()
            .flatten()
            .find_map(|k| self.recent.get(&k).map(|f| (k, f)));
        if let Some((k, f)) = found {
            // A reversal: should the original still be in flight, its timeout
            // must not approve it in stand-in.
            if msg.mti().class() == codecs::mti::MessageClass::Reversal {
                self.recent.mark_reversed(k.key_ref());
            }
            return Some(OriginalTarget {
                issuer: f.issuer,
                field90: Some(f.field90),
                stand_in: f.stand_in,
            });
        }
        let table = self.routing.current();
        let pan = msg.pan()?;
        // A token's payments are known by their card's BIN.
        let card = table
            .is_token(pan.digits())
            .then(|| self.card_of_token(pan.digits()))
            .flatten();
        let digits = card
            .as_ref()
            .map_or(pan.digits(), |c| c.expose().as_bytes());
        let range = table.bins().lookup(digits)?;
        let product = table.products().get(range.product as usize)?;
        let issuer = table.banks().get(product.issuer as usize)?;
        Some(OriginalTarget {
            issuer: issuer.id.clone(),
            field90: None,
            stand_in: false,
        })
    }
}
