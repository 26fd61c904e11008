//! The core's statistics published as metrics: once a second the driver reads
//! [`Core::stats`] and sets the counters to their absolute values (so they stay
//! monotonic without delta bookkeeping) and the gauges to theirs, and records the
//! issuer answer times drained from the core in the latency histogram, and the
//! time the switch added per hop since the last time ([`super::added_latency`]).
//! Labels are built here, once a second, never per request.

use std::collections::BTreeMap;
use std::time::Duration;

use super::added_latency::{AddedLatency, Published};
use crate::config::{LinkConfig, Role};
use crate::core::{role_name, Core, CoreStats};
use crate::store::business_day::day_as_number;
use crate::store::Store;

/// How often the statistics are published.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Publishes a core's statistics; knows every link so that one never up (a
/// dialled issuer whose host was down at start, a listener nobody connected
/// to) and one that went away are shown down rather than absent or frozen at
/// their last state.
#[derive(Debug, Default)]
pub struct Publisher {
    /// The role of every link, by (link, bank): the configured ones from the
    /// start, any other once seen live.
    known: BTreeMap<(String, String), Role>,
    /// The added latency counted so far.
    added: Published,
}

impl Publisher {
    /// A publisher that shows every one of `links` from its first publish.
    pub fn new(links: &[LinkConfig]) -> Publisher {
        Publisher {
            known: links
                .iter()
                .map(|l| ((l.name.clone(), l.bank.clone()), l.role))
                .collect(),
            added: Published::default(),
        }
    }

    /// Publish `core`'s statistics now; returns them and the issuer answer
    /// times drained (the console's windows take them next).
    pub fn publish(
        &mut self,
        core: &Core,
        added: &AddedLatency,
    ) -> (CoreStats, Vec<(String, Vec<u32>)>) {
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
        let latencies = core.take_issuer_latencies();
        for (issuer, samples) in &latencies {
            let histogram =
                metrics::histogram!("switch_issuer_latency_seconds", "issuer" => issuer.clone());
            for ms in samples {
                histogram.record(f64::from(*ms) / 1000.0);
            }
        }
        (stats, latencies)
    }

    fn publish_links(&mut self, stats: &CoreStats) {
        for role in [Role::Acquirer, Role::Issuer] {
            metrics::gauge!("switch_links_up", "role" => role_name(role))
                .set(stats.links_up(role) as f64);
        }
        // A link's state is its best connection's (a listener may have several).
        let mut best: BTreeMap<(String, String), u8> = BTreeMap::new();
        for link in &stats.links {
            let key = (link.name.clone(), link.bank.clone());
            if link.role == Role::Issuer {
                let labels = [("link", key.0.clone()), ("bank", key.1.clone())];
                metrics::gauge!("switch_issuer_in_flight", &labels).set(link.in_flight as f64);
            }
            self.known.entry(key.clone()).or_insert(link.role);
            let state = best.entry(key).or_insert(0);
            *state = (*state).max(link.state);
        }
        for (key, role) in &self.known {
            let state = best.get(key).copied().unwrap_or(0);
            let (name, bank) = key;
            let labels = [
                ("link", name.clone()),
                ("bank", bank.clone()),
                ("role", role_name(*role).to_string()),
            ];
            metrics::gauge!("switch_link_state", &labels).set(f64::from(state));
        }
    }
}

/// Publish the store's gauges (either backend) and the business day: when
/// it began (`switch_business_day_opened_timestamp_seconds`, for the alert on
/// a day left open) and which it is (`switch_business_day`, `YYYYMMDD`).
/// Returns the day in force at `unix_ms`.
pub fn publish_store(store: &Store, core: &Core, unix_ms: i64) -> i64 {
    metrics::gauge!("switch_store_backlog").set(store.backlog() as f64);
    metrics::counter!("switch_store_unavailable_declines_total")
        .absolute(core.store_unavailable_declines());
    let (day, opened_ms) = store.business_day_opened(unix_ms);
    metrics::gauge!("switch_business_day_opened_timestamp_seconds").set(opened_ms as f64 / 1000.0);
    metrics::gauge!("switch_business_day").set(day_as_number(day) as f64);
    day
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
        // The console's per-bank answers, as counters: counted on the request
        // path already (two tally increments per answer), labelled here.
        for (name, side, answers) in [
            (
                "switch_answers_by_acquirer_total",
                "acquirer",
                &b.answers_acquired,
            ),
            (
                "switch_answers_by_issuer_total",
                "issuer",
                &b.answers_issued,
            ),
        ] {
            for ((rc, decider), n) in answers {
                let labels = [
                    (side, bank.clone()),
                    ("rc", rc.clone()),
                    ("decided_by", decider.label().to_string()),
                ];
                metrics::counter!(name, &labels).absolute(*n);
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
