//! The switch's decisions as a deterministic state machine.
//!
//! Events in: a decoded message from a link (with the driver's verdict on its MAC
//! and the peer's identity, [`verdict`]), a frame that would not decode, a link up
//! or down, the security module's answer, what the store made durable, a timer
//! tick; each with `now`. Actions out: send a message on a link, close a link,
//! record a journal entry, keep a store-and-forward change ([`store_op`]; the
//! store's answer comes back as an event), ask the security module. The core says
//! when it next needs a tick ([`Core::poll_timeout`], [`timer`]). No sockets, no
//! clock, no tokio, no store, no security module: the drivers in `net` move bytes,
//! apply what the store must keep, call the module and call in here, concurrently
//! (state lives in sharded maps).
//!
//! - [`request`]: 0100/0200/0400 from acquirers: validate, dedupe, route, forward;
//! - [`response`]: answers from issuers, matched and relayed;
//! - [`advice`]: reversals and advices from acquirers, acknowledged and queued;
//! - [`network`]: 0800 sign-on, sign-off and echo on both sides;
//! - [`pin`]: field 52 translated from the acquirer's PIN key to the issuer's, as
//!   a request to the security module and its answer ([`pin_pending`] holds the
//!   requests waiting);
//! - [`verdict`]: messages the driver found unauthenticated: answered 63 or dropped;
//! - [`saf`]: the store-and-forward queue, owned by the core;
//! - [`saf_delivery`]: store-and-forward messages out in a window per issuer link;
//! - [`store_op`]: what the store must keep of it, and the durable event back;
//! - [`tick`]: timeouts, echoes, sign-on retries, the periodic SAF delivery;
//! - [`timer`]: when the next tick is due;
//! - [`tokens`]: payment tokens: enrolment, the vault, QR payments, lifecycle;
//! - [`stand_in`]: decisions for an issuer that cannot answer, its advices, the
//!   negative file and its 0302 updates;
//! - [`counters`]: the live counters, bumped without allocating;
//! - [`stats`]: their snapshot, read by the driver (which publishes the metrics;
//!   the core publishes none) and the tests.

pub mod action;
pub mod advice;
pub mod claims;
pub mod counters;
pub mod duplicates;
pub(crate) mod field90;
pub mod fingerprint;
pub mod id_hash;
pub mod inflight;
pub mod journal;
pub mod links;
pub mod network;
pub mod pin;
pub mod pin_pending;
pub mod recent;
pub mod request;
pub mod response;
pub mod saf;
pub mod saf_delivery;
pub mod shards;
pub mod short_text;
pub mod stan_range;
pub mod stand_in;
pub mod stats;
pub mod store_health;
pub mod store_op;
pub mod tick;
pub mod time;
pub mod timer;
pub mod tokens;
pub mod undelivered;
pub mod unknown_original;
pub mod validate;
pub mod verdict;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use codecs::{Message, Mti, ResponseCode};
use routing_rules::SharedRoutingTable;

pub use action::{Action, Actions, LinkId};
pub use stats::CoreStats;
pub use store_op::StoreOp;
pub use time::Millis;
pub use verdict::Verdict;

use crate::config::{LinkConfig, Role};
use duplicates::Duplicates;
pub(crate) use field90::field90;
use inflight::{InFlight, InFlightKey, Purpose};
use journal::{FinalState, JournalRecord};
use links::{Link, Links};
use recent::Recent;
use saf::SafQueue;
use short_text::ShortText;

/// Tunables of the core.
#[derive(Clone, Debug)]
pub struct CoreSettings {
    /// The switch's institution id (field 33 on forwarded messages).
    pub institution_id: String,
    /// Duplicate detection window.
    pub duplicate_window: Duration,
    /// First store-and-forward retry interval (doubling, capped at 60 s).
    pub saf_retry: Duration,
    /// Store-and-forward messages older than this are dropped with an alert.
    pub saf_expiry: Duration,
    /// Store-and-forward messages outstanding at once per issuer connection.
    pub saf_window: usize,
    /// Forwarded transactions remembered for later reversals.
    pub recent_capacity: usize,
    /// Timed-out keys remembered to recognise late responses.
    pub late_capacity: usize,
    /// Unix time in milliseconds at `Millis(0)`, for the date-time fields of
    /// messages the switch originates (0800). Tests pass a fixed value.
    pub epoch_unix_ms: u64,
    /// The first transaction id to assign (the journal's highest plus one).
    pub first_txn_id: u64,
    /// Key of the PAN's keyed hash in journal records (None: no hash).
    pub pan_key: Option<crate::config::SecretKey>,
    /// How long a PIN translation may take before the acquirer is answered 91.
    pub hsm_timeout: Duration,
    /// Whether anything keeps journal records. Without a journal the core builds
    /// none ([`Action::Journal`] never leaves it): two records per transaction,
    /// read from the messages field by field, that nobody would keep.
    pub journal: bool,
    /// Stand in for issuers that cannot answer (`enabled`; otherwise they are
    /// declined 91), marking the decisions so.
    pub stand_in: crate::config::StandInConfig,
    /// This node's cluster slot (`[cluster] slot`, 1..=15; 0: a single node):
    /// its STANs toward issuers come from the slot's range
    /// ([`stan_range::StanRange::of_slot`]).
    pub slot: u8,
}

impl Default for CoreSettings {
    fn default() -> Self {
        CoreSettings {
            institution_id: "940000".into(),
            duplicate_window: Duration::from_secs(300),
            saf_retry: Duration::from_secs(2),
            saf_expiry: Duration::from_secs(24 * 3600),
            saf_window: crate::config::DEFAULT_SAF_WINDOW,
            recent_capacity: 200_000,
            late_capacity: 100_000,
            epoch_unix_ms: 0,
            first_txn_id: 1,
            pan_key: None,
            hsm_timeout: Duration::from_millis(2000),
            journal: true,
            // Off unless the driver turns it on (it needs the vault).
            stand_in: crate::config::StandInConfig {
                enabled: false,
                ..Default::default()
            },
            slot: 0,
        }
    }
}

/// The switch core.
pub struct Core {
    pub(crate) settings: CoreSettings,
    pub(crate) routing: Arc<SharedRoutingTable>,
    pub(crate) links: Links,
    pub(crate) inflight: InFlight,
    pub(crate) duplicates: Duplicates,
    /// Store-and-forward, in memory; its changes leave as [`Action::Store`].
    pub(crate) saf: SafQueue,
    pub(crate) recent: Recent,
    pub(crate) late: duplicates::Duplicates,
    /// What [`Core::stats`] reports.
    pub(crate) counters: counters::Counters,
    /// The next transaction id.
    pub(crate) next_txn: AtomicU64,
    /// STAN sequences by link name (see [`links::Link`]).
    pub(crate) stans: dashmap::DashMap<String, Arc<std::sync::atomic::AtomicU32>>,
    /// Per issuer bank, the last STAN the journal shows the previous run used
    /// toward it: its links' sequences go on past it ([`Core::continue_stans_after`]).
    stan_floors: dashmap::DashMap<String, u32>,
    /// This node's STANs toward issuers (from `settings.slot`).
    pub(crate) stan_range: stan_range::StanRange,
    /// Requests waiting for the security module's PIN translation.
    pub(crate) pins: pin_pending::PendingPins,
    /// When the driver's timer is set to wake (see [`timer`]).
    pub(crate) timer: timer::TimerState,
    /// The PAN hash's HMAC with the key already absorbed (from `settings.pan_key`).
    pan_hmac: Option<hmac::Hmac<sha2::Sha256>>,
    /// The last cutover request honoured: (bank, field 7, field 11).
    pub(crate) last_cutover: std::sync::Mutex<Option<(String, String, String)>>,
    /// The token vault, in memory (see [`tokens`]).
    pub(crate) tokens: tokens::vault::TokenVault,
    /// Enrolments waiting for their issuer's account verification.
    pub(crate) enrolments: tokens::enrol::Enrolments,
    /// Stand-in's usage book and sequences.
    pub(crate) stand_in: stand_in::StandInState,
    /// The issuers' negative-file updates (0302).
    pub(crate) negative: stand_in::negative::NegativeUpdates,
    /// Whether the store can make records durable ([`store_health`]).
    store_available: std::sync::atomic::AtomicBool,
    /// Requests declined 96 while it could not.
    store_unavailable_declines: AtomicU64,
    /// Store-and-forward delivery stopped (a cluster node whose lease lapsed:
    /// what it owes may be another node's by now).
    pub(crate) saf_paused: std::sync::atomic::AtomicBool,
}

/// Response to `req` with `rc`, echoing the fields an acquirer matches on.
pub(crate) fn answer(req: &Message, rc: ResponseCode) -> Option<Message> {
    const ECHOED: [u8; 15] = [2, 3, 4, 7, 11, 12, 13, 32, 33, 37, 41, 42, 49, 70, 90];
    let mti = req.mti().response()?;
    // Room for the echoed fields and 39, so that building it does not regrow.
    let mut m = Message::with_capacity(mti, ECHOED.len() + 1, 160);
    for n in ECHOED {
        if let Some(f) = req.get(n) {
            m.copy_field(f);
        }
    }
    m.set_response_code(rc.as_str());
    Some(m)
}

impl Core {
    /// A core routing with `routing`, owing nothing yet (see [`Core::restore_saf`]).
    pub fn new(settings: CoreSettings, routing: Arc<SharedRoutingTable>) -> Core {
        use hmac::Mac;
        let pan_hmac = settings
            .pan_key
            .as_ref()
            .and_then(|key| hmac::Hmac::<sha2::Sha256>::new_from_slice(key.expose()).ok());
        let stan_range = stan_range::StanRange::of_slot(settings.slot);
        let stand_in = stand_in::StandInState::seeded(settings.epoch_unix_ms, stan_range);
        Core {
            pan_hmac,
            last_cutover: std::sync::Mutex::new(None),
            duplicates: Duplicates::new(settings.duplicate_window, 1_000_000),
            late: Duplicates::new(Duration::from_secs(600), settings.late_capacity),
            counters: counters::Counters::default(),
            recent: Recent::new(settings.recent_capacity),
            next_txn: AtomicU64::new(settings.first_txn_id.max(1)),
            stans: dashmap::DashMap::new(),
            stan_floors: dashmap::DashMap::new(),
            stan_range,
            settings,
            routing,
            links: Links::default(),
            inflight: InFlight::default(),
            saf: SafQueue::default(),
            pins: pin_pending::PendingPins::default(),
            timer: timer::TimerState::default(),
            tokens: Default::default(),
            enrolments: Default::default(),
            stand_in,
            negative: Default::default(),
            store_available: std::sync::atomic::AtomicBool::new(true),
            store_unavailable_declines: AtomicU64::new(0),
            saf_paused: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The live routing table (replace it to reload).
    pub fn routing(&self) -> &SharedRoutingTable {
        &self.routing
    }

    /// Requests and SAF deliveries in flight.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Acquirer requests waiting for an issuer's answer or for their PIN block's
    /// translation.
    pub fn pending_requests(&self) -> usize {
        self.inflight.requests() + self.pins.len()
    }

    /// Shutdown: every request still in flight takes the timeout path now (RC 91
    /// to the acquirer, reversal queued); those waiting for the security module
    /// are declined 91.
    pub fn expire_all_requests(&self, now: Millis) -> Actions {
        let mut actions = Vec::new();
        self.expire_all_pins(now, &mut actions);
        for key in self.inflight.request_keys() {
            if let Some(entry) = self.inflight.take(&key) {
                self.expire_entry(now, key, entry, &mut actions);
            }
        }
        actions
    }

    /// Remember a transaction the switch forwarded before a restart (from the
    /// journal), so reversals and advices for it reach its issuer with the keys the
    /// issuer knows.
    pub fn remember_forwarded(&self, row: &recent::ForwardedRow) {
        let Ok(stan) = row.stan.parse() else {
            return;
        };
        // A stand-in approval is known to the issuer by its advice (0120/0220).
        let mti = match Mti::new(row.mti.as_bytes()) {
            Some(request) if row.stand_in => stand_in::advice::advice_mti(request).to_string(),
            _ => row.mti.clone(),
        };
        let field90 = field90::field90_of(
            &mti,
            row.switch_stan,
            &row.transmission,
            &row.acquirer,
            &self.settings.institution_id,
        );
        self.recent.insert(
            recent::AcquirerKey {
                acquirer: row.acquirer.clone(),
                stan,
                transmission: row.transmission.clone(),
            },
            recent::Forwarded {
                issuer: row.issuer.clone(),
                field90,
                stand_in: row.stand_in,
            },
        );
    }

    /// Messages waiting in store-and-forward.
    pub fn saf_depth(&self) -> usize {
        self.saf.depth()
    }

    /// Whether a link is usable for requests (issuer links: connected and signed on).
    pub fn link_usable(&self, id: LinkId) -> bool {
        self.links.get(id).is_some_and(|l| l.usable())
    }

    /// The journal shows `last` as the last STAN the previous run used toward
    /// `issuer`: that bank's links, when they come up, number on from past it
    /// (by [`STAN_MARGIN`], for what the run used after its last record), so an
    /// issuer does not see the STANs of the minutes before a restart again.
    pub fn continue_stans_after(&self, issuer: &str, last: u32) {
        self.stan_floors.entry(issuer.to_string()).or_insert(last);
    }

    /// A connection came up. Issuer links get a sign-on.
    pub fn on_link_up(&self, now: Millis, id: LinkId, config: Arc<LinkConfig>) -> Actions {
        let role = config.role;
        let stan = self
            .stans
            .entry(config.name.clone())
            .or_insert_with(|| {
                // Past the last run's STANs toward this bank when the journal
                // knows them; else from the epoch second, where a restart is
                // unlikely to meet them.
                let range = self.stan_range;
                let first = match self.stan_floors.get(config.bank.as_str()) {
                    Some(last) => range.after(*last, STAN_MARGIN),
                    None => range.seed(self.settings.epoch_unix_ms / 1000),
                };
                Arc::new(std::sync::atomic::AtomicU32::new(first))
            })
            .clone();
        let counters = self.counters.bank(&config.bank);
        let link = Arc::new(Link::new(id, config, now, stan, self.stan_range, counters));
        self.links.add(link.clone());
        if role == Role::Issuer {
            return vec![self.network_request(&link, "001", now)];
        }
        Vec::new()
    }

    /// A connection went down. Requests forwarded on it take the timeout path at
    /// once; requests it sent stay in flight and are reversed if approved later.
    pub fn on_link_down(&self, now: Millis, id: LinkId) -> Actions {
        let Some(link) = self.links.remove(id) else {
            return Vec::new();
        };
        // Before the sweep below: a forward racing it either is swept or sees
        // the link down (see `track_in_flight`).
        link.up.store(false, Ordering::SeqCst);
        link.signed_on.store(false, Ordering::Relaxed);
        let mut actions = Vec::new();
        link.drain_deadlines();
        for key in self.inflight.keys_on(id) {
            if let Some(entry) = self.inflight.take(&key) {
                self.expire_entry(now, key, entry, &mut actions);
            }
        }
        actions
    }

    /// A message arrived on a link.
    pub fn on_message(&self, now: Millis, id: LinkId, msg: Message) -> Actions {
        let Some(link) = self.links.get(id) else {
            return Vec::new();
        };
        link.last_received.store(now.0, Ordering::Relaxed);
        link.missed_echoes.store(0, Ordering::Relaxed);
        let mti = msg.mti();
        let class = mti.class();
        use codecs::mti::MessageClass as C;
        if class == C::NetworkManagement {
            return self.on_network(now, &link, msg);
        }
        match link.config.role {
            Role::Acquirer if mti.is_request() => match (class, mti.function()) {
                (C::Authorization | C::Financial, codecs::mti::Function::Request) => {
                    self.on_request(now, &link, msg)
                }
                (C::Reversal, codecs::mti::Function::Request) => self.on_request(now, &link, msg),
                (C::Reversal | C::Authorization | C::Financial, codecs::mti::Function::Advice) => {
                    self.on_advice(now, &link, msg)
                }
                _ => self.decline(now, id, &msg, ResponseCode::INVALID_TRANSACTION, None),
            },
            Role::Issuer if mti.is_response() => self.on_response(now, &link, msg),
            Role::Issuer
                if class == C::FileAction && mti.function() == codecs::mti::Function::Request =>
            {
                self.on_file_update(&link, msg)
            }
            Role::Issuer if mti.is_request() => {
                // Issuers do not originate transactions through the switch.
                self.decline(now, id, &msg, ResponseCode::INVALID_TRANSACTION, None)
            }
            _ => {
                tracing::warn!(link = %link.config.name, %mti, "unexpected message; dropped");
                self.counters.dropped(counters::Dropped::Unexpected);
                Vec::new()
            }
        }
    }

    /// A frame arrived that did not decode. A request whose MTI and STAN could be
    /// read gets RC 30 (and, from an acquirer, a journal record); anything else is
    /// dropped (and counted by the driver).
    pub fn on_malformed(&self, now: Millis, id: LinkId, mti: Mti, stan: Option<u32>) -> Actions {
        let Some(link) = self.links.get(id) else {
            return Vec::new();
        };
        let Some(resp_mti) = mti.response() else {
            return Vec::new();
        };
        if link.config.role != Role::Acquirer
            && mti.class() != codecs::mti::MessageClass::NetworkManagement
        {
            return Vec::new();
        }
        // A STAN that cannot be read (the bitmap itself is broken) still gets its
        // answer: the host learns its message was refused, not that the switch
        // went quiet (it would time out and reverse something never forwarded).
        if mti.class() == codecs::mti::MessageClass::NetworkManagement {
            let mut m = Message::new(resp_mti);
            if let Some(stan) = stan {
                m.set_stan(stan);
            }
            m.set_response_code(ResponseCode::FORMAT_ERROR.as_str());
            return vec![Action::Send { link: id, msg: m }];
        }
        // A transaction all the same: journaled as declined 30 under what could be
        // read (its MTI and STAN, from the acquirer bank of its link).
        let mut read = Message::new(mti);
        if let Some(stan) = stan {
            read.set_stan(stan);
        }
        read.set(32, &link.config.bank);
        self.decline(now, id, &read, ResponseCode::FORMAT_ERROR, None)
    }

    /// Track `entry` as in flight on `link` under `key`. A link can go down on
    /// another thread between the moment a forward picked it and this insert;
    /// its sweep of in-flight entries (`on_link_down`) then missed this one, and
    /// nothing would ever time it out (its deadline went with the link). So when
    /// the link is found down after the insert, the entry is taken back (exactly
    /// one of the sweep and this check gets it) and takes the timeout path now.
    /// Otherwise its deadline is queued on the link under `timeout` (after the
    /// insert: the tick prunes deadlines whose key is not in flight) and only
    /// then announced to the timer, where `poll_timeout` finds it (a tick that
    /// began between an announcement and the push would arm past it).
    pub(crate) fn track_in_flight(
        &self,
        now: Millis,
        link: &Link,
        key: InFlightKey,
        entry: inflight::InFlightEntry,
        timeout: links::TimeoutClass,
        actions: &mut Actions,
    ) {
        let deadline = entry.deadline;
        self.inflight.insert(key, entry);
        if !link.up.load(Ordering::SeqCst) {
            if let Some(entry) = self.inflight.take(&key) {
                tracing::info!(link = %link.config.name, stan = key.stan, "the link went down while this was forwarded; timed out now");
                self.expire_entry(now, key, entry, actions);
                return;
            }
        }
        link.push_deadline(timeout, (deadline, key.class, key.stan));
        self.note_deadline(deadline);
    }

    /// Request → timeout path: RC 91 to the acquirer, a reversal for the issuer.
    fn expire_entry(
        &self,
        now: Millis,
        key: InFlightKey,
        entry: inflight::InFlightEntry,
        actions: &mut Actions,
    ) {
        if let Some(link) = self.links.get(key.link) {
            link.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        self.late.check_and_insert(late_key(&key), now);
        if let Purpose::Saf { item } = entry.purpose {
            // Its window slot is free again; the item goes again after its backoff.
            self.saf_delivery_lapsed(key.link, &entry.issuer, item);
            return;
        }
        if let Purpose::Enrolment { request } = entry.purpose {
            // An account verification moves no money: nothing to reverse.
            actions.extend(self.on_enrolment_lapsed(now, request, &entry));
            return;
        }
        self.counters
            .bank(&entry.issuer)
            .timeouts
            .fetch_add(1, Ordering::Relaxed);
        // The reversal is queued before the acquirer hears of the timeout.
        if matches!(key.class, 1 | 2) {
            let reversal = reversal_of(&entry.forwarded);
            let reversed_here = reversal.is_some();
            if let Some(rev) = reversal {
                self.queue_saf(&entry.issuer, rev, now, actions);
                actions.push(Action::SafBarrier);
            }
            // The switch stands in, the acquirer still there to hear it: the
            // decision's advice goes to the issuer after that reversal. Not for
            // a request the acquirer has reversed meanwhile (the issuer would
            // post what the acquirer holds reversed), nor without a reversal
            // (the advice would name a request never taken back), nor while
            // the store is unavailable: the forward may never have left (it
            // waits for its record), so the issuer is not known to be down, and
            // in a cluster its claim may yet be refused, which an approval
            // decided now would not follow (see `store_health`).
            if reversed_here
                && self.store_available()
                && entry.purpose == Purpose::Request
                && !self.reversed_by_acquirer(&entry)
                && self.links.get(entry.acquirer_link).is_some()
            {
                let case = stand_in::decide::StandInCase {
                    acquirer_link: entry.acquirer_link,
                    request: &entry.forwarded,
                    issuer: &entry.issuer,
                    rule: entry.rule.clone(),
                    channel: entry.channel,
                    token: entry.token.as_deref(),
                    timed_out: Some(&entry),
                };
                if self.stand_in(now, case, actions) {
                    return;
                }
            }
        }
        self.finish_unanswered(
            now,
            key.stan,
            &entry,
            (ResponseCode::ISSUER_INOPERATIVE, FinalState::TimedOut),
            actions,
        );
    }

    /// A forwarded request ends without the issuer's answer: its journal row
    /// completed with `outcome` (the switch's STAN kept), its acquirer answered
    /// with the outcome's code and its own keys.
    pub(crate) fn finish_unanswered(
        &self,
        now: Millis,
        switch_stan: u32,
        entry: &inflight::InFlightEntry,
        outcome: (ResponseCode, FinalState),
        actions: &mut Actions,
    ) {
        let (rc, state) = outcome;
        self.count_answer(
            entry.acquirer_link,
            Some(&entry.issuer),
            rc,
            counters::Decider::Switch,
        );
        if self.settings.journal {
            let mut record = self.completion_record(&entry.forwarded, entry, rc, state, now);
            record.switch_stan = Some(switch_stan);
            actions.push(Action::Journal(Box::new(record)));
        }
        if let Some(acq) = self.links.get(entry.acquirer_link) {
            if let Some(mut resp) = answer(&entry.forwarded, rc) {
                restore_acquirer_keys(&mut resp, entry);
                actions.push(Action::Send {
                    link: acq.id,
                    msg: resp,
                });
            }
        }
    }
}

impl Core {
    /// Count an answer to the request that came on `acquirer_link` for the
    /// acquirer's bank and `issuer` (None or empty: not routed), by who decided
    /// it (the console's response codes per bank).
    pub(crate) fn count_answer(
        &self,
        acquirer_link: LinkId,
        issuer: Option<&str>,
        rc: ResponseCode,
        decider: counters::Decider,
    ) {
        let acquirer = self.links.get(acquirer_link);
        let issuer = issuer
            .filter(|i| !i.is_empty())
            .map(|i| self.counters.bank(i));
        self.counters.answered(
            acquirer.as_ref().map(|a| &*a.counters),
            issuer.as_deref(),
            rc,
            decider,
        );
    }

    /// Field 7 (MMDDhhmmss, UTC) at `now`.
    pub(crate) fn transmission_at(&self, now: Millis) -> String {
        let unix = (self.settings.epoch_unix_ms + now.0) / 1000;
        let f = codecs::datetime::fields_at_unix(unix);
        String::from_utf8_lossy(&f.transmission).into_owned()
    }
}

/// The acquirer's view of an answer: its own 7, 11, 32, 37 and 41 in place of
/// whatever the issuer's side carries, and fields 33, 90 and 100 exactly as the
/// acquirer sent them (absent when it sent none): the switch's own forwarding
/// institution, the original's keys in the issuer's terms and the receiving
/// institution belong to the issuer's side only. The request's processing
/// code, amount, card acceptor and currency (3, 4, 42, 49) fill an answer that
/// left them out (an issuer that echoes little): the acquirer matches on them,
/// and a reversal made from the answer (an approval the acquirer never heard,
/// [`undelivered`]) must carry the amount. An amount the issuer answered with
/// (a partial approval's) is kept.
pub(crate) fn restore_acquirer_keys(msg: &mut Message, entry: &inflight::InFlightEntry) {
    // The issuer usually echoes what it was sent (7, 32, 37, 41): a field is set
    // only where the answer differs, which on the usual answer is field 11 alone.
    // Compared as the values' characters (`Field::bytes`, borrowed for text),
    // not as checked `&str`s.
    let echoed = |msg: &Message, n: u8, own: &[u8]| {
        msg.get(n)
            .is_some_and(|f| !f.is_binary() && *f.bytes() == *own)
    };
    let restore = |msg: &mut Message, n: u8, own: &str| {
        if !echoed(msg, n, own.as_bytes()) {
            msg.set(n, own);
        }
    };
    if let Some(f7) = &entry.acquirer_f7 {
        restore(msg, 7, f7);
    }
    if let Some(f11) = &entry.acquirer_f11 {
        restore(msg, 11, f11);
    }
    for n in [32u8, 37, 41] {
        let Some(sent) = entry.forwarded.get(n) else {
            continue;
        };
        if sent.is_binary() || !echoed(msg, n, &sent.bytes()) {
            msg.copy_field(sent);
        }
    }
    for n in ECHO_FILLED {
        if msg.has(n) {
            continue;
        }
        if let Some(sent) = entry.forwarded.get(n) {
            msg.copy_field(sent);
        }
    }
    for n in inflight::ROUTING_FIELDS {
        match entry.acquirer_routing.as_ref().and_then(|r| r.field(n)) {
            Some(own) => restore(msg, n, own),
            None => {
                msg.remove(n);
            }
        }
    }
    if let Some(token) = &entry.token {
        token.restore(msg);
    }
}

/// The request's fields an answer without them is given ([`restore_acquirer_keys`]).
const ECHO_FILLED: [u8; 4] = [3, 4, 42, 49];

/// A 0420 reversal advice for a forwarded request (field 90 = its keys). Built
/// only when owed (a timeout, an approval the acquirer cannot hear, a restart
/// with the request unanswered), not per forwarded request.
pub(crate) fn reversal_of(forwarded: &Message) -> Option<Message> {
    let f90 = field90(forwarded)?;
    // Room for the copied fields, 39 and 90.
    let mut m = Message::with_capacity(Mti::REVERSAL_ADVICE, COPIED.len() + 2, 192);
    for n in COPIED {
        if let Some(v) = forwarded.text(n) {
            m.set(n, &v);
        }
    }
    m.set(39, ResponseCode::RESPONSE_TOO_LATE.as_str());
    m.set(90, f90.as_str());
    Some(m)
}

/// The fields of a forwarded request that its reversal copies ([`reversal_of`]).
const COPIED: [u8; 12] = [2, 3, 4, 7, 11, 32, 33, 37, 41, 42, 49, 100];

/// What the journal keeps of a forwarded request for the reversal owed should the
/// switch restart before the answer: the fields [`reversal_of`] reads, without
/// the PAN; no other field of the request (its expiry date, say) is stored.
pub(crate) fn reversal_source(mut forwarded: Message) -> Message {
    loop {
        let strip = forwarded
            .field_numbers()
            .find(|n| *n == 2 || !COPIED.contains(n));
        let Some(n) = strip else {
            break;
        };
        forwarded.remove(n);
    }
    forwarded
}

/// `msg` without card data (PAN, track data, PIN block, ICC data), for storage.
pub(crate) fn without_card_data(mut msg: Message) -> Message {
    for n in [2u8, 35, 36, 45, 52, 55] {
        msg.remove(n);
    }
    msg
}

pub(crate) fn late_key(key: &InFlightKey) -> duplicates::DuplicateKey {
    duplicates::DuplicateKey {
        acquirer: String::new(),
        class: key.class,
        transmission: key.link.to_string(),
        stan: key.stan.to_string(),
        terminal: String::new(),
    }
}

/// How far past the last journaled STAN a restarted switch starts numbering:
/// more than the requests, echoes and store-and-forward deliveries a run can send
/// after its last record reaches the journal.
pub const STAN_MARGIN: u32 = 10_000;

/// Lowercase hex of `bytes` (the journal's PAN hash).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        hex.push(char::from(DIGITS[usize::from(b >> 4)]));
        hex.push(char::from(DIGITS[usize::from(b & 0x0F)]));
    }
    hex
}

/// A reply from the switch itself on the link the request came from.
pub(crate) fn reply(link: LinkId, req: &Message, rc: ResponseCode) -> Actions {
    match answer(req, rc) {
        Some(msg) => vec![Action::Send { link, msg }],
        None => Vec::new(),
    }
}

/// The metrics label for a role.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Acquirer => "acquirer",
        Role::Issuer => "issuer",
    }
}

impl Core {
    /// A fresh transaction id.
    pub(crate) fn new_txn_id(&self) -> u64 {
        self.next_txn.fetch_add(1, Ordering::Relaxed)
    }

    /// HMAC-SHA-256 of the message's PAN under the configured key, hex.
    pub(crate) fn pan_hash(&self, msg: &Message) -> Option<String> {
        self.pan_hash_of(msg.pan()?.digits())
    }

    /// The keyed hash of the PAN `digits`, hex.
    pub(crate) fn pan_hash_of(&self, digits: &[u8]) -> Option<String> {
        self.pan_tag(digits).map(|tag| hex(&tag))
    }

    /// HMAC-SHA-256 of the PAN `digits` under the configured key (None: no key).
    pub(crate) fn pan_tag(&self, digits: &[u8]) -> Option<[u8; 32]> {
        use hmac::Mac;
        let keyed = self.pan_hmac.as_ref()?;
        // The keyed state (the key's inner and outer blocks) is prepared once.
        let mut mac = keyed.clone();
        mac.update(digits);
        Some(mac.finalize().into_bytes().into())
    }

    /// A journal record for `msg` as forwarded/answered, with the PAN's keyed hash:
    /// the record that creates the transaction's journal row.
    pub(crate) fn journal_record(
        &self,
        msg: &Message,
        entry: &inflight::InFlightEntry,
        rc: ResponseCode,
        state: FinalState,
        now: Millis,
    ) -> JournalRecord {
        let mut record = journal_record(msg, entry, rc, state, now);
        record.pan_hash = self.pan_hash(msg);
        record
    }

    /// The final record of a transaction whose `Forwarded` record is already
    /// written: it completes that row, which keeps the PAN's hash (not recomputed).
    pub(crate) fn completion_record(
        &self,
        msg: &Message,
        entry: &inflight::InFlightEntry,
        rc: ResponseCode,
        state: FinalState,
        now: Millis,
    ) -> JournalRecord {
        journal_record(msg, entry, rc, state, now)
    }
}

/// A journal record for `msg` as forwarded/answered (no PAN hash).
fn journal_record(
    msg: &Message,
    entry: &inflight::InFlightEntry,
    rc: ResponseCode,
    state: FinalState,
    now: Millis,
) -> JournalRecord {
    let text = |n: u8| {
        msg.text(n)
            .map_or_else(ShortText::default, |s| ShortText::from(&*s))
    };
    JournalRecord {
        id: entry.txn_id,
        pan_hash: None,
        reverses: None,
        forwarded: None,
        mti: ShortText::from(msg.mti().as_str()),
        acquirer: text(32),
        issuer: Some(entry.issuer.clone()),
        transmission: entry.acquirer_f7.clone().unwrap_or_else(|| text(7)),
        stan: entry.acquirer_f11.clone().unwrap_or_else(|| text(11)),
        rrn: text(37),
        terminal: text(41),
        switch_stan: None,
        pan_masked: msg
            .pan()
            .map_or_else(ShortText::default, |p| ShortText::from(p.masked())),
        processing_code: text(3),
        amount: msg.amount().ok().flatten(),
        currency: msg.currency().ok().map(|c| c.numeric),
        response_code: ShortText::from(rc.as_str()),
        auth_code: None,
        rule: entry.rule.clone(),
        state,
        elapsed_ms: now.since(entry.started).as_millis() as u64,
        channel: entry.channel,
        app: entry.token.as_ref().map(|t| t.app.clone()),
        stand_in: None,
    }
}

#[cfg(test)]
mod tests;
