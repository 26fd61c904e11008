//! The periodic work: requests past their deadline take the timeout path (and
//! answered requests' deadlines are pruned), as do PIN translations past
//! theirs; issuer links are echoed when idle, marked down after missed echoes
//! and signed on again; store-and-forward windows are filled
//! (`super::saf_delivery`) and expired messages dropped with an alert; old
//! entries are forgotten. When it is next needed: [`super::timer`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::inflight::InFlightKey;
use super::links::Link;
use super::{Action, Actions, Core, Millis, StoreOp};
use crate::config::Role;

impl Core {
    /// Run the periodic work for `now`: at the time [`Core::poll_timeout`]
    /// gives (earlier is harmless).
    pub fn on_tick(&self, now: Millis) -> Actions {
        self.timer_fired(now);
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
            link.prune(|&(_, class, stan)| {
                self.inflight.contains(&InFlightKey {
                    link: link.id,
                    class,
                    stan,
                })
            });
            if link.config.role == Role::Issuer && link.up.load(Ordering::Relaxed) {
                self.keep_alive(now, &link, &mut actions);
            }
        }
        self.expire_pins(now, &mut actions);
        self.deliver_saf(now, &mut actions);
        // While paused (a lapsed cluster lease) the queue may be another node's:
        // nothing is dropped from it either.
        let expired = if self.saf_paused.load(Ordering::Relaxed) {
            Vec::new()
        } else {
            self.saf.expire(now, self.settings.saf_expiry)
        };
        for item in expired {
            tracing::error!(issuer = %item.issuer, mti = %item.msg.mti(), attempts = item.attempts, "ALERT: store-and-forward message expired undelivered");
            self.counters
                .bank(&item.issuer)
                .saf_expired
                .fetch_add(1, Ordering::Relaxed);
            actions.push(Action::Store(StoreOp::SafExpired { id: item.id }));
        }
        self.duplicates.expire(now);
        self.late.expire(now);
        actions
    }

    fn keep_alive(&self, now: Millis, link: &Link, actions: &mut Actions) {
        let interval = link.config.echo_interval;
        let pending = link.pending_network.load(Ordering::Acquire);
        let sent = Millis(link.pending_network_at.load(Ordering::Relaxed));
        if pending != 0 {
            if now.since(sent) < network_wait(link) {
                return;
            }
            // Unanswered. A sign-on's answer may still come: remembered.
            if link.pending_network_code.load(Ordering::Relaxed) == 1 {
                link.superseded_sign_on.store(pending, Ordering::Relaxed);
            }
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
            // A refused sign-on (or a sign-off) is followed by another, paced.
            if pending != 0 || now.since(sent) >= sign_on_retry(link) {
                actions.push(self.network_request(link, "001", now));
            }
            return;
        }
        let idle = now.since(Millis(link.last_received.load(Ordering::Relaxed)));
        if idle >= interval {
            actions.push(self.network_request(link, "301", now));
        }
    }
}

impl Core {
    /// When [`Core::on_tick`] next has keep-alive work on `link` (an issuer link
    /// that is up): the outstanding echo or sign-on given up on, a sign-on
    /// again, or an echo once idle. Mirrors `keep_alive`.
    pub(crate) fn keep_alive_due(&self, link: &Link) -> Option<Millis> {
        if link.config.role != Role::Issuer || !link.up.load(Ordering::Relaxed) {
            return None;
        }
        let sent = Millis(link.pending_network_at.load(Ordering::Relaxed));
        if link.pending_network.load(Ordering::Acquire) != 0 {
            return Some(sent.after(network_wait(link)));
        }
        if !link.signed_on.load(Ordering::Relaxed) {
            return Some(sent.after(sign_on_retry(link)));
        }
        let received = Millis(link.last_received.load(Ordering::Relaxed));
        Some(received.after(link.config.echo_interval))
    }

    /// The timer is told when `link`'s keep-alive work is next due: after a
    /// refused sign-on or a sign-off, the next sign-on comes sooner than the
    /// answer's wait the timer was armed for.
    pub(crate) fn note_keep_alive(&self, link: &Link) {
        if let Some(due) = self.keep_alive_due(link) {
            self.note_deadline(due);
        }
    }
}

/// How long an echo's or sign-on's answer is awaited: as long as a request's
/// (the link's timeout), and never longer than the echo interval or 10 s: until
/// a sign-on whose answer was lost goes again, the issuer takes no traffic.
pub(crate) fn network_wait(link: &Link) -> Duration {
    link.config
        .echo_interval
        .min(Duration::from_secs(10))
        .min(link.config.timeout)
}

/// How soon a sign-on follows a refused one (or the issuer's sign-off): a
/// second at most (the fixed 10 ms tick sent one every tick).
fn sign_on_retry(link: &Link) -> Duration {
    network_wait(link).min(Duration::from_secs(1))
}
