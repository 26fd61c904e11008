//! The core's statistics published as metrics: once a second the driver reads
//! [`Core::stats`] and sets the counters to their absolute values (so they stay
//! monotonic without delta bookkeeping) and the gauges to theirs, and records the
//! issuer answer times drained from the core in the latency histogram, and the
//! time the switch added per hop since the last time ([`super::added_latency`]).
//! Labels are built here, once a second, never per request.

use std::collections::BTreeSet;
use std::time::Duration;

use super::added_latency::{AddedLatency, Published};
use crate::config::Role;
use crate::core::{role_name, Core, CoreStats};

/// How often the statistics are published.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Publishes a core's statistics; remembers the links it has shown so that a link
/// that went away is shown down rather than frozen at its last state.
#[derive(Debug, Default)]
pub struct Publisher {
    /// (link, bank) of every link published so far.
    shown: BTreeSet<(String, String)>,
    /// The added latency counted so far.
    added: Published,
}

impl Publisher {
    /// Publish `core`'s statistics now.
    pub fn publish(&mut self, core: &Core, added: &AddedLatency) {
        self.added.publish(added);
        let stats = core.stats();
        publish_counters(&stats);
        self.publish_links(&stats);
        metrics::gauge!("switch_in_flight").set(stats.in_flight as f64);
        metrics::gauge!("switch_saf_depth").set(stats.saf_depth as f64);
        metrics::gauge!("switch_saf_outstanding").set(stats.saf_outstanding as f64);
        metrics::gauge!("switch_saf_unconfirmed").set(stats.saf_unconfirmed as f64);
        metrics::gauge!("switch_tokens").set(stats.tokens as f64);
        metrics::gauge!("switch_stand_in_cards").set(stats.stand_in_cards as f64);
        metrics::gauge!("switch_negative_file_updates").set(stats.negative_file_updates as f64);
        metrics::counter!("switch_tokens_issued_total").absolute(stats.tokens_issued);
        for (issuer, samples) in core.take_issuer_latencies() {
            let histogram =
                metrics::histogram!("switch_issuer_latency_seconds", "issuer" => issuer);
            for ms in samples {
                histogram.record(f64::from(ms) / 1000.0);
            }
        }
    }

    fn publish_links(&mut self, stats: &CoreStats) {
        for role in [Role::Acquirer, Role::Issuer] {
            metrics::gauge!("switch_links_up", "role" => role_name(role))
                .set(stats.links_up(role) as f64);
        }
        let mut live = BTreeSet::new();
        for link in &stats.links {
            let labels = [("link", link.name.clone()), ("bank", link.bank.clone())];
            metrics::gauge!("switch_link_state", &labels).set(f64::from(link.state));
            if link.role == Role::Issuer {
                metrics::gauge!("switch_issuer_in_flight", &labels).set(link.in_flight as f64);
            }
            live.insert((link.name.clone(), link.bank.clone()));
        }
        for (name, bank) in self.shown.difference(&live) {
            let labels = [("link", name.clone()), ("bank", bank.clone())];
            metrics::gauge!("switch_link_state", &labels).set(0.0);
        }
        self.shown.extend(live);
    }
}

/// The counters, as absolute values; a series appears once it is non-zero (as it
/// did when the core incremented it).
fn publish_counters(stats: &CoreStats) {
    for (rc, n) in &stats.responses {
        metrics::counter!("switch_responses_total", "rc" => rc.clone()).absolute(*n);
    }
    for (mti, n) in &stats.advices {
        metrics::counter!("switch_advices_total", "mti" => mti.clone()).absolute(*n);
    }
    for (outcome, n) in &stats.pin_translations {
        metrics::counter!("switch_pin_translations_total", "outcome" => *outcome).absolute(*n);
    }
    for (reason, n) in [
        ("unexpected", stats.unexpected_messages),
        ("late", stats.late_responses),
        ("unmatched", stats.unmatched_responses),
    ] {
        if n > 0 {
            metrics::counter!("switch_dropped_total", "reason" => reason).absolute(n);
        }
    }
    if stats.pin_late_answers > 0 {
        metrics::counter!("switch_pin_late_answers_total").absolute(stats.pin_late_answers);
    }
    if stats.duplicate_window_shortened > 0 {
        metrics::counter!("switch_duplicate_window_shortened_total")
            .absolute(stats.duplicate_window_shortened);
    }
    for (bank, b) in &stats.banks {
        for (mti, n) in &b.requests {
            metrics::counter!("switch_requests_total", "mti" => mti.clone(), "acquirer" => bank.clone())
                .absolute(*n);
        }
        for (why, n) in &b.unavailable {
            metrics::counter!("switch_unavailable_total", "issuer" => bank.clone(), "why" => *why)
                .absolute(*n);
        }
        for (name, label, n) in [
            ("switch_timeouts_total", "issuer", b.timeouts),
            ("switch_saf_expired_total", "issuer", b.saf_expired),
            ("switch_cutover_refused_total", "bank", b.cutover_refused),
        ] {
            if n > 0 {
                metrics::counter!(name, label => bank.clone()).absolute(n);
            }
        }
        for (decision, n) in [("approved", b.stand_in.0), ("declined", b.stand_in.1)] {
            if n > 0 {
                metrics::counter!("switch_stand_in_total", "issuer" => bank.clone(), "decision" => decision)
                    .absolute(n);
            }
        }
    }
}
