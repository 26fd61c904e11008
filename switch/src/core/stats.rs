//! What the core counted and what it holds, read as a snapshot with
//! [`Core::stats`] (and issuer answer times drained with
//! [`Core::take_issuer_latencies`]). The core publishes no metrics itself: the
//! driver reads these once a second and publishes them (see `net::publish`); the
//! tests read them directly. Labels become text here, never on the request path.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::counters::{Decider, PinOutcome, SecurityEvent, Tally, Unavailable};
use super::{Core, LinkId, Millis};
use crate::config::Role;

/// A snapshot of one bank's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BankStats {
    /// Requests it sent as acquirer, by MTI (`switch_requests_total{mti,acquirer}`).
    pub requests: BTreeMap<String, u64>,
    /// Its requests (as issuer) that timed out (`switch_timeouts_total{issuer}`).
    pub timeouts: u64,
    /// Requests it could not take, by why (`switch_unavailable_total{issuer,why}`).
    pub unavailable: BTreeMap<&'static str, u64>,
    /// Store-and-forward messages for it expired undelivered
    /// (`switch_saf_expired_total{issuer}`).
    pub saf_expired: u64,
    /// Cutover requests from it refused (`switch_cutover_refused_total{bank}`).
    pub cutover_refused: u64,
    /// Its requests decided by the switch in stand-in: approved, declined
    /// (`switch_stand_in_total{issuer,decision}`).
    pub stand_in: (u64, u64),
    /// Answer times recorded but dropped because nobody drained them.
    pub latencies_dropped: u64,
    /// Answers to its requests as acquirer, by response code and who decided.
    pub answers_acquired: BTreeMap<(String, Decider), u64>,
    /// Answers to requests for its cards, by response code and who decided.
    pub answers_issued: BTreeMap<(String, Decider), u64>,
}

/// A snapshot of one live link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkStats {
    /// The connection's id (the driver's key for what it knows of it).
    pub id: LinkId,
    /// The link's configured name.
    pub name: String,
    /// The link's bank.
    pub bank: String,
    /// Its role.
    pub role: Role,
    /// 2 usable, 1 connected (not signed on), 0 down (`switch_link_state`).
    pub state: u8,
    /// Requests in flight on it (`switch_issuer_in_flight` for issuer links).
    pub in_flight: usize,
    /// When an echo last went through on it (core time), if one has.
    pub last_echo: Option<Millis>,
}

/// A snapshot of the core's counters and gauges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Answers dropped because their request had already timed out.
    pub late_responses: u64,
    /// Answers dropped because they matched nothing sent.
    pub unmatched_responses: u64,
    /// Messages dropped because the link's role does not send them.
    pub unexpected_messages: u64,
    /// Answers to acquirers by response code (`switch_responses_total{rc}`).
    pub responses: BTreeMap<String, u64>,
    /// Advices acknowledged and queued, by original MTI (`switch_advices_total{mti}`).
    pub advices: BTreeMap<String, u64>,
    /// PIN translations by outcome (`switch_pin_translations_total{outcome}`).
    pub pin_translations: BTreeMap<&'static str, u64>,
    /// PIN translations answered after their deadline, ignored
    /// (`switch_pin_late_answers_total`).
    pub pin_late_answers: u64,
    /// Messages refused for security (bad MAC, institution not bound to the
    /// certificate), by event.
    pub security_events: BTreeMap<&'static str, u64>,
    /// Duplicate or late-answer keys forgotten before their window was over
    /// (`switch_duplicate_window_shortened_total`).
    pub duplicate_window_shortened: u64,
    /// Counters per bank.
    pub banks: BTreeMap<String, BankStats>,
    /// The live links.
    pub links: Vec<LinkStats>,
    /// Requests and store-and-forward deliveries in flight.
    pub in_flight: usize,
    /// Messages waiting in store-and-forward.
    pub saf_depth: usize,
    /// Store-and-forward messages sent and not yet answered.
    pub saf_outstanding: usize,
    /// Store-and-forward messages whose push is not durable yet (not delivered
    /// until it is; `switch_saf_unconfirmed`): a slow store shows here.
    pub saf_unconfirmed: usize,
    /// Tokens in the vault, every status (`switch_tokens`).
    pub tokens: usize,
    /// Tokens issued since start (`switch_tokens_issued_total`).
    pub tokens_issued: u64,
    /// Cards with stand-in approvals in the business day
    /// (`switch_stand_in_cards`).
    pub stand_in_cards: usize,
    /// Negative-file updates the issuers sent, deletions included
    /// (`switch_negative_file_updates`).
    pub negative_file_updates: usize,
}

impl CoreStats {
    /// Live links of `role` (`switch_links_up{role}`).
    pub fn links_up(&self, role: Role) -> usize {
        self.links.iter().filter(|l| l.role == role).count()
    }

    /// Answers with response code `rc` so far.
    pub fn responses_with(&self, rc: &str) -> u64 {
        self.responses.get(rc).copied().unwrap_or(0)
    }

    /// `bank`'s counters (zeros if it was never seen).
    pub fn bank(&self, bank: &str) -> BankStats {
        self.banks.get(bank).cloned().unwrap_or_default()
    }
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// A tally of answers with its codes as text.
fn answers(t: &Tally<(codecs::ResponseCode, Decider)>) -> BTreeMap<(String, Decider), u64> {
    t.snapshot()
        .into_iter()
        .map(|((rc, decider), n)| ((rc.to_string(), decider), n))
        .collect()
}

impl Core {
    /// The core's counters and gauges now. Allocates: call it once a second, not
    /// per request.
    pub fn stats(&self) -> CoreStats {
        let c = &self.counters;
        let banks = c
            .banks()
            .into_iter()
            .map(|(name, b)| {
                let stats = BankStats {
                    requests: b
                        .requests
                        .snapshot()
                        .into_iter()
                        .map(|(mti, n)| (mti.to_string(), n))
                        .collect(),
                    timeouts: load(&b.timeouts),
                    unavailable: [
                        (Unavailable::Full, &b.unavailable_full),
                        (Unavailable::NoLink, &b.unavailable_no_link),
                    ]
                    .into_iter()
                    .filter(|(_, n)| load(n) > 0)
                    .map(|(why, n)| (why.label(), load(n)))
                    .collect(),
                    saf_expired: load(&b.saf_expired),
                    cutover_refused: load(&b.cutover_refused),
                    stand_in: (load(&b.stand_in_approved), load(&b.stand_in_declined)),
                    latencies_dropped: load(&b.latencies_dropped),
                    answers_acquired: answers(&b.answers_acquired),
                    answers_issued: answers(&b.answers_issued),
                };
                (name, stats)
            })
            .collect();
        let links = self
            .links
            .all()
            .into_iter()
            .map(|link| LinkStats {
                id: link.id,
                name: link.config.name.clone(),
                bank: link.config.bank.clone(),
                role: link.config.role,
                state: if link.usable() {
                    2
                } else if link.up.load(Ordering::Relaxed) {
                    1
                } else {
                    0
                },
                in_flight: link.in_flight.load(Ordering::Relaxed),
                last_echo: match load(&link.last_echo) {
                    0 => None,
                    at => Some(Millis(at - 1)),
                },
            })
            .collect();
        CoreStats {
            late_responses: load(&c.late_responses),
            unmatched_responses: load(&c.unmatched_responses),
            unexpected_messages: load(&c.unexpected),
            responses: c
                .responses
                .snapshot()
                .into_iter()
                .map(|(rc, n)| (rc.to_string(), n))
                .collect(),
            advices: c
                .advices
                .snapshot()
                .into_iter()
                .map(|(mti, n)| (mti.to_string(), n))
                .collect(),
            pin_translations: PinOutcome::ALL
                .into_iter()
                .filter(|o| load(&c.pin[*o as usize]) > 0)
                .map(|o| (o.label(), load(&c.pin[o as usize])))
                .collect(),
            pin_late_answers: load(&c.pin_late),
            security_events: SecurityEvent::ALL
                .into_iter()
                .filter(|e| load(&c.security[*e as usize]) > 0)
                .map(|e| (e.label(), load(&c.security[e as usize])))
                .collect(),
            duplicate_window_shortened: self.duplicates.shortened() + self.late.shortened(),
            banks,
            links,
            in_flight: self.inflight.len(),
            saf_depth: self.saf.depth(),
            saf_outstanding: self.saf.outstanding(),
            saf_unconfirmed: self.saf.unconfirmed(),
            tokens: self.tokens.len(),
            tokens_issued: load(&c.tokens_issued),
            stand_in_cards: self.stand_in.usage.len(),
            negative_file_updates: self.negative.len(),
        }
    }

    /// Each issuer's store-and-forward queue at `now`: depth and how long its
    /// oldest item has waited (ms). A scan of the queues' fronts: once a second.
    pub fn saf_by_issuer(&self, now: Millis) -> BTreeMap<String, (usize, u64)> {
        self.saf.per_issuer(now)
    }

    /// Answer times (ms) of each issuer recorded since the last call, for the
    /// driver's `switch_issuer_latency_seconds{issuer}` histogram.
    pub fn take_issuer_latencies(&self) -> Vec<(String, Vec<u32>)> {
        self.counters
            .banks()
            .into_iter()
            .map(|(name, b)| (name, b.take_latencies()))
            .filter(|(_, samples)| !samples.is_empty())
            .collect()
    }
}
