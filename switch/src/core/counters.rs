//! The core's live counters: atomics the request path bumps without allocating.
//! Closed label sets (drop reasons, PIN outcomes, why an issuer is unavailable)
//! are fixed fields; small open ones (response codes, MTIs) are maps keyed by the
//! `Copy` code itself, so a label is only turned into text when [`Core::stats`]
//! takes a snapshot; per-bank counters are created once per bank and found by
//! `&str` afterwards.
//!
//! [`Core::stats`]: super::Core::stats

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use dashmap::DashMap;

/// Samples of issuer latency kept per issuer between two drains; past this they
/// are dropped (counted), so a driver that never drains cannot grow memory.
pub(crate) const LATENCY_SAMPLES_MAX: usize = 65_536;

/// A counter per key of a small set, keyed by a `Copy` value (an MTI, a response
/// code): the first sighting of a key inserts it, later ones only look it up.
#[derive(Debug)]
pub(crate) struct Tally<K: Eq + Hash>(DashMap<K, AtomicU64>);

impl<K: Eq + Hash> Default for Tally<K> {
    fn default() -> Self {
        Tally(DashMap::new())
    }
}

impl<K: Eq + Hash + Copy> Tally<K> {
    /// Count one `key`.
    pub(crate) fn add(&self, key: K) {
        if let Some(c) = self.0.get(&key) {
            c.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.0
            .entry(key)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Every key seen and its count.
    pub(crate) fn snapshot(&self) -> Vec<(K, u64)> {
        self.0
            .iter()
            .map(|e| (*e.key(), e.value().load(Ordering::Relaxed)))
            .collect()
    }
}

/// Why an answer from an issuer, or a message on a link, was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dropped {
    /// A message the link's role does not send.
    Unexpected,
    /// An answer after its request timed out.
    Late,
    /// An answer to nothing the switch sent.
    Unmatched,
}

/// How a PIN translation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PinOutcome {
    Translated = 0,
    NoKey = 1,
    Format = 2,
    Undecipherable = 3,
    Unavailable = 4,
    /// The module did not answer within `CoreSettings::hsm_timeout`.
    TimedOut = 5,
}

impl PinOutcome {
    /// The metric label (as published before the core stopped publishing).
    pub(crate) fn label(self) -> &'static str {
        match self {
            PinOutcome::Translated => "translated",
            PinOutcome::NoKey => "no key",
            PinOutcome::Format => "format",
            PinOutcome::Undecipherable => "undecipherable",
            PinOutcome::Unavailable => "unavailable",
            PinOutcome::TimedOut => "timed out",
        }
    }

    pub(crate) const ALL: [PinOutcome; 6] = [
        PinOutcome::Translated,
        PinOutcome::NoKey,
        PinOutcome::Format,
        PinOutcome::Undecipherable,
        PinOutcome::Unavailable,
        PinOutcome::TimedOut,
    ];
}

/// Why a message was refused for security (see [`super::verdict`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SecurityEvent {
    MacMissing = 0,
    MacMisplaced = 1,
    MacMismatch = 2,
    MacUnchecked = 3,
    IdentityMismatch = 4,
    TokenReplay = 5,
    TokenCryptogram = 6,
    TokenDomain = 7,
}

impl SecurityEvent {
    /// The label (as the driver's `switch_security_events_total{event}`).
    pub(crate) fn label(self) -> &'static str {
        match self {
            SecurityEvent::MacMissing => "mac missing",
            SecurityEvent::MacMisplaced => "mac misplaced",
            SecurityEvent::MacMismatch => "mac mismatch",
            SecurityEvent::MacUnchecked => "mac unchecked",
            SecurityEvent::IdentityMismatch => "identity mismatch",
            SecurityEvent::TokenReplay => "token counter replayed",
            SecurityEvent::TokenCryptogram => "token cryptogram wrong",
            SecurityEvent::TokenDomain => "token outside its domain",
        }
    }

    pub(crate) const ALL: [SecurityEvent; 8] = [
        SecurityEvent::MacMissing,
        SecurityEvent::MacMisplaced,
        SecurityEvent::MacMismatch,
        SecurityEvent::MacUnchecked,
        SecurityEvent::IdentityMismatch,
        SecurityEvent::TokenReplay,
        SecurityEvent::TokenCryptogram,
        SecurityEvent::TokenDomain,
    ];
}

/// Why no issuer link could take a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// Every signed-on link is at its in-flight limit.
    Full,
    /// No link of the issuer is signed on.
    NoLink,
}

impl Unavailable {
    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Unavailable::Full => "in-flight limit reached",
            Unavailable::NoLink => "no signed-on link",
        }
    }
}

/// Who decided an answer to an acquirer: what the console shows beside each
/// response code, so a region-rule decline or a stand-in decision is not taken
/// for the issuer's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Decider {
    /// The issuer answered.
    Issuer,
    /// The switch: validation, routing, a duplicate, a timeout or no link.
    Switch,
    /// A rule of the routing rules declined it (the region rules and the
    /// general ones, e.g. `known-transaction-types`).
    RegionRule,
    /// The switch decided it in stand-in for the issuer.
    StandIn,
}

impl Decider {
    /// Its name in the status API (`docs/status-api.md`).
    pub fn label(self) -> &'static str {
        match self {
            Decider::Issuer => "issuer",
            Decider::Switch => "switch",
            Decider::RegionRule => "region-rule",
            Decider::StandIn => "stand-in",
        }
    }
}

/// Counters of one bank, in whichever role it appears (acquirer, issuer, agent).
#[derive(Debug, Default)]
pub(crate) struct BankCounters {
    /// Answers to its requests as acquirer, by response code and who decided.
    pub(crate) answers_acquired: Tally<(codecs::ResponseCode, Decider)>,
    /// Answers to requests for its cards (as issuer), by code and who decided.
    pub(crate) answers_issued: Tally<(codecs::ResponseCode, Decider)>,
    /// Requests it sent as acquirer, by MTI.
    pub(crate) requests: Tally<codecs::Mti>,
    /// Its requests (as issuer) that timed out.
    pub(crate) timeouts: AtomicU64,
    /// Requests declined because it had no link with room ([`Unavailable::Full`]).
    pub(crate) unavailable_full: AtomicU64,
    /// Requests declined because it had no signed-on link.
    pub(crate) unavailable_no_link: AtomicU64,
    /// Store-and-forward messages for it that expired undelivered.
    pub(crate) saf_expired: AtomicU64,
    /// Cutover requests from it refused (it is not the settlement agent).
    pub(crate) cutover_refused: AtomicU64,
    /// Its requests approved by the switch in stand-in.
    pub(crate) stand_in_approved: AtomicU64,
    /// Its requests declined by the switch in stand-in.
    pub(crate) stand_in_declined: AtomicU64,
    /// Its answer times (ms) since the last drain.
    pub(crate) latencies: Mutex<Vec<u32>>,
    /// Latency samples dropped because nobody drained them.
    pub(crate) latencies_dropped: AtomicU64,
}

impl BankCounters {
    /// Record one answer time.
    pub(crate) fn latency(&self, ms: u64) {
        let mut samples = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() < LATENCY_SAMPLES_MAX {
            samples.push(u32::try_from(ms).unwrap_or(u32::MAX));
        } else {
            self.latencies_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The answer times recorded since the last call.
    pub(crate) fn take_latencies(&self) -> Vec<u32> {
        std::mem::take(&mut *self.latencies.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The live counters of a core.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Answers that came after their request had timed out.
    pub(crate) late_responses: AtomicU64,
    /// Answers to nothing the switch sent (or forgot long ago).
    pub(crate) unmatched_responses: AtomicU64,
    /// Messages a link's role does not send, dropped.
    pub(crate) unexpected: AtomicU64,
    /// Answers to acquirers by response code (relayed and the switch's own).
    pub(crate) responses: Tally<codecs::ResponseCode>,
    /// Advices and reversal advices acknowledged and queued, by original MTI.
    pub(crate) advices: Tally<codecs::Mti>,
    /// PIN translations by outcome (indexed by [`PinOutcome`] as `usize`).
    pub(crate) pin: [AtomicU64; 6],
    /// PIN translations answered after their deadline (ignored).
    pub(crate) pin_late: AtomicU64,
    /// Messages refused for security, by [`SecurityEvent`] as `usize`.
    pub(crate) security: [AtomicU64; 8],
    /// Tokens issued since start.
    pub(crate) tokens_issued: AtomicU64,
    /// Per-bank counters, created at a bank's first sighting.
    banks: DashMap<Box<str>, Arc<BankCounters>>,
}

impl Counters {
    /// Count one dropped message.
    pub(crate) fn dropped(&self, why: Dropped) {
        let counter = match why {
            Dropped::Unexpected => &self.unexpected,
            Dropped::Late => &self.late_responses,
            Dropped::Unmatched => &self.unmatched_responses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Count one PIN translation answered too late.
    pub(crate) fn pin_late(&self) {
        self.pin_late.fetch_add(1, Ordering::Relaxed);
    }

    /// Count one message refused for security.
    pub(crate) fn security(&self, event: SecurityEvent) {
        self.security[event as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Count one PIN translation.
    pub(crate) fn pin(&self, outcome: PinOutcome) {
        self.pin[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters of `bank` (created on its first sighting: the only allocation,
    /// once per bank).
    pub(crate) fn bank(&self, bank: &str) -> Arc<BankCounters> {
        if let Some(b) = self.banks.get(bank) {
            return b.clone();
        }
        self.banks.entry(Box::from(bank)).or_default().clone()
    }

    /// A stand-in decision for `issuer`'s card.
    pub(crate) fn stand_in(&self, issuer: &str, approved: bool) {
        let bank = self.bank(issuer);
        let counter = if approved {
            &bank.stand_in_approved
        } else {
            &bank.stand_in_declined
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// One answer to an acquirer, counted for its bank (when its link is
    /// known) and the issuer's (when routed). Two map look-ups of a `Copy` key.
    pub(crate) fn answered(
        &self,
        acquirer: Option<&BankCounters>,
        issuer: Option<&BankCounters>,
        rc: codecs::ResponseCode,
        decider: Decider,
    ) {
        if let Some(a) = acquirer {
            a.answers_acquired.add((rc, decider));
        }
        if let Some(i) = issuer {
            i.answers_issued.add((rc, decider));
        }
    }

    /// Every bank's counters.
    pub(crate) fn banks(&self) -> Vec<(String, Arc<BankCounters>)> {
        self.banks
            .iter()
            .map(|e| (e.key().to_string(), e.value().clone()))
            .collect()
    }
}
