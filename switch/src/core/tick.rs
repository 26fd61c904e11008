//! The periodic work: requests past their deadline take the timeout path; issuer
//! links are echoed when idle, marked down after missed echoes and signed on
//! again; store-and-forward messages are delivered in order, one outstanding per
//! issuer, repeated with backoff; old entries are forgotten.

use std::sync::atomic::Ordering;
use std::time::Duration;

use codecs::Mti;

use super::inflight::{InFlightEntry, InFlightKey, Purpose};
use super::links::TimeoutClass;
use super::{Action, Actions, Core, Millis};
use crate::config::Role;

/// Longest store-and-forward retry interval.
const MAX_SAF_BACKOFF: Duration = Duration::from_secs(60);

impl Core {
    /// Run the periodic work for `now`. Call it every few milliseconds.
    pub fn on_tick(&self, now: Millis) -> Actions {
        let mut actions = Vec::new();
        for link in self.links.all() {
            for (_, class, stan) in link.expired(now) {
                let key = InFlightKey {
                    link: link.id,
                    class,
                    stan,
                };
                if let Some(entry) = self.inflight.take_if_expired(&key, now) {
                    self.expire_entry(now, key, entry, &mut actions);
                }
            }
            if link.config.role == Role::Issuer && link.up.load(Ordering::Relaxed) {
                self.keep_alive(now, &link, &mut actions);
            }
        }
        self.deliver_saf(now, &mut actions);
        for item in self.saf.expire(now, self.settings.saf_expiry) {
            tracing::error!(issuer = %item.issuer, mti = %item.msg.mti(), attempts = item.attempts, "ALERT: store-and-forward message expired undelivered");
            metrics::counter!("switch_saf_expired_total", "issuer" => item.issuer.clone())
                .increment(1);
        }
        self.duplicates.expire(now);
        self.late.expire(now);
        metrics::gauge!("switch_in_flight").set(self.inflight.len() as f64);
        for link in self.links.all() {
            let state = if link.usable() {
                2.0
            } else if link.up.load(Ordering::Relaxed) {
                1.0
            } else {
                0.0
            };
            let labels = [
                ("link", link.config.name.clone()),
                ("bank", link.config.bank.clone()),
            ];
            metrics::gauge!("switch_link_state", &labels).set(state);
            if link.config.role == Role::Issuer {
                metrics::gauge!("switch_issuer_in_flight", &labels)
                    .set(link.in_flight.load(Ordering::Relaxed) as f64);
            }
        }
        metrics::gauge!("switch_saf_depth").set(self.saf.depth() as f64);
        actions
    }

    fn keep_alive(&self, now: Millis, link: &super::links::Link, actions: &mut Actions) {
        let interval = link.config.echo_interval;
        let pending = link.pending_network.load(Ordering::Acquire);
        if pending != 0 {
            let sent = Millis(link.pending_network_at.load(Ordering::Relaxed));
            if now.since(sent) < interval.min(Duration::from_secs(10)) {
                return;
            }
            // Unanswered.
            link.pending_network.store(0, Ordering::Release);
            let missed = link.missed_echoes.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(link = %link.config.name, missed, "network management request unanswered");
            if missed >= link.config.max_missed_echoes {
                link.signed_on.store(false, Ordering::Relaxed);
                tracing::error!(link = %link.config.name, bank = %link.config.bank, "link marked down after missed echoes");
                actions.push(Action::Close {
                    link: link.id,
                    reason: "missed echoes",
                });
                return;
            }
        }
        if !link.signed_on.load(Ordering::Relaxed) {
            actions.push(self.network_request(link, "001", now));
            return;
        }
        let idle = now.since(Millis(link.last_received.load(Ordering::Relaxed)));
        if idle >= interval {
            actions.push(self.network_request(link, "301", now));
        }
    }

    fn deliver_saf(&self, now: Millis, actions: &mut Actions) {
        for issuer in self.saf.issuers() {
            let Some(item) = self.saf.due(&issuer, now) else {
                continue;
            };
            let Ok(link) = self.links.pick_issuer(&issuer) else {
                continue;
            };
            let mut msg = item.msg.clone();
            if item.attempts > 0 {
                let m = msg.mti();
                let b = m.as_bytes();
                if let Some(rep) = Mti::new(&[b[0], b[1], b[2], b'1']) {
                    msg.set_mti(rep);
                }
            }
            let class = msg.mti().as_bytes()[1] - b'0';
            let stan = link.next_stan(|s| {
                self.inflight.contains(&InFlightKey {
                    link: link.id,
                    class,
                    stan: s,
                })
            });
            msg.set_stan(stan);
            let deadline = now.after(link.config.timeout);
            let backoff = self
                .settings
                .saf_retry
                .saturating_mul(1 << item.attempts.min(8))
                .min(MAX_SAF_BACKOFF);
            // The next attempt waits at least for this one's answer.
            self.saf.attempted(
                &issuer,
                item.id,
                now.after(backoff.max(link.config.timeout)),
            );
            link.in_flight.fetch_add(1, Ordering::Relaxed);
            link.push_deadline(TimeoutClass::Pos, (deadline, class, stan));
            self.inflight.insert(
                InFlightKey {
                    link: link.id,
                    class,
                    stan,
                },
                InFlightEntry {
                    txn_id: 0,
                    purpose: Purpose::Saf { item: item.id },
                    acquirer_link: 0,
                    forwarded: msg.clone(),
                    acquirer_f7: None,
                    acquirer_f11: None,
                    acquirer_routing: None,
                    issuer: issuer.as_str().into(),
                    rule: None,
                    started: now,
                    deadline,
                },
            );
            tracing::debug!(%issuer, item = item.id, attempt = item.attempts + 1, "store-and-forward delivery");
            actions.push(Action::Send { link: link.id, msg });
        }
    }
}
