//! Store-and-forward delivery: which owed messages go out, on which issuer
//! connection, and when. The queue ([`super::saf`]) keeps the order that matters
//! and each item's backoff; this module keeps the windows.
//!
//! - Each usable connection to an issuer carries up to `saf_window` SAF messages
//!   at once. They count inside the connection's `max_in_flight`, and SAF only
//!   takes slots while fewer than half of that cap (rounded up) are in use, so
//!   live requests always keep at least the other half.
//! - An answer frees its slot and refills the window at once, in the same call;
//!   so does the driver's word that new items' pushes are durable
//!   (`Core::on_saf_durable`: none goes out before), and the tick fills windows
//!   too (items past their backoff).
//! - A delivery that times out (or whose link is lost) frees its slot; the item
//!   goes again as a repeat (0421, 0121, 0221) once its backoff has passed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use codecs::Mti;

use super::inflight::{InFlightEntry, InFlightKey, Purpose};
use super::links::{Link, TimeoutClass};
use super::saf::SafItem;
use super::{Action, Actions, Core, LinkId, Millis, StoreOp};

/// Longest store-and-forward retry interval.
const MAX_SAF_BACKOFF: Duration = Duration::from_secs(60);

impl Core {
    /// Fill every issuer's windows with what is due (the periodic delivery).
    pub(crate) fn deliver_saf(&self, now: Millis, actions: &mut Actions) {
        for issuer in self.saf.issuers() {
            self.deliver_saf_to(&issuer, now, actions);
        }
    }

    /// An issuer answered SAF item `item` on `link` (whatever its response code,
    /// the message was delivered): done with it, and the freed slot refilled now.
    pub(crate) fn on_saf_answer(
        &self,
        now: Millis,
        link: &Link,
        issuer: &str,
        item: u64,
    ) -> Actions {
        link.saf_in_flight.fetch_sub(1, Ordering::Relaxed);
        let acknowledged = self.saf.acknowledge(issuer, item);
        tracing::debug!(%issuer, item, acknowledged, "store-and-forward acknowledged");
        let mut actions = Vec::new();
        if acknowledged {
            actions.push(Action::Store(StoreOp::SafAck { id: item }));
        }
        self.deliver_saf_to(issuer, now, &mut actions);
        actions
    }

    /// The delivery of SAF item `item` on link `link` ended unanswered (timeout,
    /// link lost): its slot is free and the item may go again once due. The
    /// link's `in_flight` is the caller's (it counts requests too).
    pub(crate) fn saf_delivery_lapsed(&self, link: LinkId, issuer: &str, item: u64) {
        if let Some(link) = self.links.get(link) {
            link.saf_in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        self.saf.released(issuer, item);
    }

    /// Fill the free slots of `issuer`'s usable links with due items.
    pub(crate) fn deliver_saf_to(&self, issuer: &str, now: Millis, actions: &mut Actions) {
        if self.saf_paused.load(Ordering::Relaxed) {
            return;
        }
        for link in self.links.usable_issuer_links(issuer) {
            let reserved = self.reserve_saf_slots(&link);
            if reserved == 0 {
                continue;
            }
            let items = self.saf.take_due(issuer, now, reserved);
            let unused = reserved - items.len();
            if unused > 0 {
                link.saf_in_flight.fetch_sub(unused, Ordering::Relaxed);
                link.in_flight.fetch_sub(unused, Ordering::Relaxed);
            }
            for item in items {
                self.send_saf(&link, issuer, item, now, actions);
            }
            if unused > 0 {
                return; // nothing more is due for this issuer
            }
        }
    }

    /// Take as many of `link`'s free SAF slots as may be used now: up to the
    /// window, and only below half the link's in-flight cap (rounded up). Both
    /// counters are raised by what is granted, each bound checked atomically, so
    /// concurrent callers (the tick, answers on several links) never exceed them.
    fn reserve_saf_slots(&self, link: &Link) -> usize {
        let window = self.settings.saf_window.max(1);
        let cap = link.config.max_in_flight;
        let saf_cap = cap - cap / 2;
        let mut wanted = 0;
        // The closures always return Some: neither update can fail.
        let _ = link
            .saf_in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |out| {
                wanted = window.saturating_sub(out);
                Some(out + wanted)
            });
        if wanted == 0 {
            return 0;
        }
        let mut granted = 0;
        let _ = link
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |load| {
                granted = wanted.min(saf_cap.saturating_sub(load));
                Some(load + granted)
            });
        if granted < wanted {
            link.saf_in_flight
                .fetch_sub(wanted - granted, Ordering::Relaxed);
        }
        granted
    }

    /// Send `item` on `link`, whose slot is already reserved: a repeat MTI after
    /// the first attempt, the switch's own STAN, a deadline, the next attempt
    /// recorded (with its backoff) before the message leaves.
    fn send_saf(
        &self,
        link: &Arc<Link>,
        issuer: &str,
        item: SafItem,
        now: Millis,
        actions: &mut Actions,
    ) {
        let mut msg = item.msg;
        if item.attempts > 0 {
            let first = msg.mti();
            let b = first.as_bytes();
            if let Some(rep) = Mti::new(&[b[0], b[1], b[2], b'1']) {
                msg.set_mti(rep);
            }
        }
        let class = msg.mti().as_bytes()[1] - b'0';
        let in_flight = |s: u32| {
            self.inflight.contains(&InFlightKey {
                link: link.id,
                class,
                stan: s,
            })
        };
        // A stand-in advice keeps its STAN on every attempt: the issuer knows
        // the decision by it (a repeat is the same decision, posted once). In the
        // rare case that a request on this link holds that STAN now, it waits
        // for the next pass.
        let stan = match msg.stan().filter(|_| item.stand_in_advice) {
            Some(kept) if in_flight(kept) => {
                link.in_flight.fetch_sub(1, Ordering::Relaxed);
                self.saf_delivery_lapsed(link.id, issuer, item.id);
                return;
            }
            Some(kept) => kept,
            None => link.next_stan(in_flight),
        };
        msg.set_stan(stan);
        let deadline = now.after(link.config.timeout);
        let backoff = self
            .settings
            .saf_retry
            .saturating_mul(1 << item.attempts.min(8))
            .min(MAX_SAF_BACKOFF);
        // Not again before this attempt has had its answer's time, nor before
        // the backoff; until then the item is out and not offered anyway.
        let retry_at = now.after(backoff.max(link.config.timeout));
        if let Some(attempts) = self.saf.attempted(issuer, item.id, retry_at) {
            actions.push(Action::Store(StoreOp::SafAttempt {
                id: item.id,
                attempts,
            }));
        }
        tracing::debug!(%issuer, item = item.id, attempt = item.attempts + 1, "store-and-forward delivery");
        actions.push(Action::Send {
            link: link.id,
            msg: msg.clone(),
        });
        let key = InFlightKey {
            link: link.id,
            class,
            stan,
        };
        self.track_in_flight(
            now,
            link,
            key,
            InFlightEntry {
                txn_id: 0,
                purpose: Purpose::Saf { item: item.id },
                acquirer_link: 0,
                forwarded: msg,
                acquirer_f7: None,
                acquirer_f11: None,
                acquirer_routing: None,
                issuer: issuer.into(),
                rule: None,
                started: now,
                deadline,
                channel: routing_rules::Channel::Terminal,
                token: None,
            },
            TimeoutClass::Pos,
            actions,
        );
    }
}
