//! Shared driver state and the switch's lifecycle: start every listener and
//! dialer, run the tick loop, execute the core's actions (sealing what goes to a
//! MAC link with a fresh MAC), drain on shutdown, reload the routing rules on
//! request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use codecs::{Message, Spec};
use dashmap::DashMap;
use routing_rules::{LoadError, RoutingTable, SharedRoutingTable};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::dialer::TlsDialer;
use super::listener::TlsListener;
use super::writer::Outgoing;
use crate::config::{Config, Direction, Durability, Role};
use crate::core::journal::JournalRecord;
use crate::core::saf::SafItem;
use crate::core::undelivered::is_approval;
use crate::core::{Action, Actions, Core, CoreSettings, LinkId, Millis};
use crate::error::{Classify, MessageError, StartError};
use crate::security::message::{prepare_seal_owned, strip_mac};
use crate::security::{SecurityModule, SoftwareSecurityModule};
use crate::store::durable_mark::HeldWork;
use crate::store::journal::StoreJournal;
use crate::store::Store;

/// Where journal records go.
pub trait JournalSink: Send + Sync {
    /// Record one outcome; returns the store's sequence number to wait on for
    /// durability (0: nothing to wait for).
    fn record(&self, record: JournalRecord) -> u64;
}

/// Keeps nothing; logs at debug level.
pub struct LogJournal;

impl JournalSink for LogJournal {
    fn record(&self, r: JournalRecord) -> u64 {
        tracing::debug!(mti = %r.mti, acquirer = %r.acquirer, issuer = ?r.issuer, pan = %r.pan_masked, rc = %r.response_code, state = ?r.state, "journal");
        0
    }
}

/// How to start the switch.
pub struct SwitchOptions {
    /// The validated configuration.
    pub config: Config,
    /// The routing table (already loaded).
    pub routing: RoutingTable,
    /// Store-and-forward messages owed at start, beside what the journal's
    /// store holds (default: none).
    pub saf: Option<Vec<SafItem>>,
    /// Journal sink (default: debug log).
    pub journal: Option<Arc<dyn JournalSink>>,
    /// The token vault's key-encryption key, when not from the environment
    /// (`[switch.security] kek_env`): a demo's or a test's, made for its run.
    pub vault_kek: Option<card_security::KeyMaterial>,
}

impl SwitchOptions {
    /// `config` and `routing` alone: nothing owed beyond the store, records to
    /// the configured journal (or the debug log), the KEK from the environment.
    pub fn new(config: Config, routing: RoutingTable) -> SwitchOptions {
        SwitchOptions {
            config,
            routing,
            saf: None,
            journal: None,
            vault_kek: None,
        }
    }
}

/// A connection's writer and its close signal.
pub(crate) struct LinkHandle {
    pub(crate) spec: Arc<Spec>,
    pub(crate) frames: mpsc::Sender<Outgoing>,
    pub(crate) close: Arc<Notify>,
    /// A MAC link: what is sent is queued unsealed and sealed by the link's
    /// writer (see `super::writer`).
    pub(crate) sealed: bool,
    /// On a TLS link, the certificate identity the peer presented (the console
    /// shows it).
    pub(crate) certificate: Option<String>,
}

/// State shared by every driver task.
pub(crate) struct Shared {
    pub(crate) core: Core,
    pub(crate) config: Config,
    pub(crate) start: Instant,
    pub(crate) next_link: AtomicU32,
    pub(crate) links: DashMap<LinkId, LinkHandle>,
    pub(crate) journal: Arc<dyn JournalSink>,
    /// The durable store, when configured.
    pub(crate) store: Option<Arc<Store>>,
    /// Store-and-forward pushes made durable, from the store's writer thread to
    /// [`saf_durable_loop`], which tells the core.
    pub(crate) saf_durable: mpsc::UnboundedSender<Vec<u64>>,
    /// Approvals whose held answer found the acquirer's connection gone (or
    /// could not be encoded for it), to [`undelivered_loop`], which has the
    /// core reverse them (`crate::core::undelivered`).
    pub(crate) undelivered: mpsc::UnboundedSender<(LinkId, Message)>,
    /// Set when a drain begins: acquirer links stop reading new requests.
    pub(crate) draining: AtomicBool,
    /// A cluster node's lease lapsed: acquirers are refused (see `super::lease_gate`).
    pub(crate) lease_lapsed: AtomicBool,
    /// Each lease lapse or renewal numbers a new generation
    /// ([`super::lease_gate::on_lease`]: a lapse closes acquirers only if it lasts).
    pub(crate) lapse_generation: std::sync::atomic::AtomicU64,
    /// Tells listeners and dialers to stop.
    pub(crate) stop: watch::Sender<bool>,
    /// Time the switch adds per hop (decode, decide, encode, queue).
    pub(crate) added_latency: super::added_latency::AddedLatency,
    /// MAC and PIN keys: the software module or an HSM adapter.
    pub(crate) security: Arc<dyn SecurityModule>,
    /// The module answers at once (the software one): PIN translations are
    /// done within the event that asks, not from a task (see `super::pin`).
    pub(crate) security_inline: bool,
    /// This state itself, for the tasks that wait on an HSM's answer.
    pub(crate) me: std::sync::Weak<Shared>,
    /// Wakes the tick loop when an event brought the next tick closer.
    pub(crate) timer: Notify,
    /// Calls an HSM adapter may have in progress at once (see `super::pin`).
    pub(crate) hsm_calls: Arc<tokio::sync::Semaphore>,
    /// Token enrolments waiting for their issuer's account verification.
    pub(crate) enrolments: super::enrolments::PendingEnrolments,
    /// The console's windows, fed once a second beside the metrics publish.
    pub(crate) history: std::sync::Mutex<crate::admin::history::History>,
    /// Links whose dialer is connecting (or handshaking) now.
    pub(crate) dialing: dashmap::DashSet<String>,
}

impl Shared {
    /// The core's clock: milliseconds since start.
    pub(crate) fn now(&self) -> Millis {
        Millis(self.start.elapsed().as_millis() as u64)
    }

    /// `at` on the core's clock (rounded up: a timer set for it is not early).
    fn millis_at(&self, at: Instant) -> Millis {
        let d = at.saturating_duration_since(self.start);
        Millis(d.as_millis() as u64 + u64::from(d.subsec_nanos() % 1_000_000 != 0))
    }

    /// Carry out the core's actions, in order, and then those of the
    /// store-and-forward pushes confirmed at once (without a store, or a message
    /// the store cannot keep). The tick loop is woken when the event brought the
    /// core's next deadline closer.
    pub(crate) async fn execute(&self, actions: Actions) {
        self.execute_with(actions, Room::Wait).await;
    }

    /// [`Shared::execute`] for the switch's own loops (the timer, the store's
    /// confirmations): a `Send` to a link whose queue is full is handed to a
    /// task instead of awaited, so one issuer that stops reading cannot stop
    /// every other link's timeouts, echoes and store-and-forward. What such a
    /// loop sends is bounded (timeouts, echoes, SAF windows).
    pub(crate) async fn execute_detached(&self, actions: Actions) {
        self.execute_with(actions, Room::Detach).await;
    }

    async fn execute_with(&self, actions: Actions, room: Room) {
        let mut actions = actions;
        loop {
            if self.core.take_wake() {
                self.timer.notify_one();
            }
            let confirmed = self.execute_batch(actions, room).await;
            if confirmed.is_empty() {
                // A deadline noted while the batch ran (a PIN translation
                // answered within it forwards its request) wakes the timer too.
                if self.core.take_wake() {
                    self.timer.notify_one();
                }
                return;
            }
            actions = self.core.on_saf_durable(self.now(), &confirmed);
        }
    }

    /// Carry out one batch of the core's actions. A `Send` goes out only once what
    /// it depends on is durable: store-and-forward changes queued by the same
    /// event before a `SafBarrier` always, journal records in strict mode. Such a
    /// message is encoded now and held by the store, which queues it on its
    /// link's writer from the commit that makes it durable (a `Close` after it is
    /// held the same way); nothing here waits for a commit, so the connection that
    /// brought the event goes on reading (one issuer link carries every answer
    /// from that issuer). The store's pushes are reported to the core from that
    /// commit too ([`saf_durable_loop`]); returns the pushes confirmed at once.
    async fn execute_batch(&self, actions: Actions, room: Room) -> Vec<u64> {
        let strict = self
            .store
            .as_ref()
            .is_some_and(|s| s.durability() == Durability::Strict);
        let mut wait_for = 0u64;
        // The last store operation of this batch, and the pushes it made.
        let mut stored = 0u64;
        // The forwarded record the next `Send` (its forward) depends on: in a
        // cluster, another node may hold the request's claim (see `hold_forward`).
        let mut claimed: Option<u64> = None;
        // Stand-in approvals journaled in this batch that claim their request:
        // (record, advice). A refused one's advice is never confirmed.
        let mut decisions: Vec<(u64, u64)> = Vec::new();
        let mut pushed = Vec::new();
        let mut confirmed = Vec::new();
        let mut actions = std::collections::VecDeque::from(actions);
        while let Some(action) = actions.pop_front() {
            let held = self.store.as_ref().filter(|_| wait_for > 0);
            match action {
                Action::Send { link, msg } => {
                    // Only the `Send` right after its record is the forward.
                    let claim = claimed.take();
                    match held {
                        Some(store) => {
                            // An approval kept aside until released: should its
                            // acquirer be gone by then, the core reverses it.
                            let approval = is_approval(&msg).then(|| msg.clone());
                            let gone = approval.map(|answer| self.undelivered_work(link, answer));
                            // A forward (or stand-in approval) another node
                            // claimed is neither sent nor reversed: undone.
                            let hold = |work| match claim {
                                Some(seq) => hold_forward(store.clone(), seq, work),
                                None => work,
                            };
                            let work = match self.encode_for(link, msg) {
                                Some((frames, outgoing)) => {
                                    Some(deliver_when_released(frames, outgoing, gone))
                                }
                                // The link is gone already (or its dialect
                                // cannot carry the answer): never delivered.
                                None => gone,
                            };
                            if let Some(work) = work {
                                store.when_durable(wait_for, hold(work));
                            }
                        }
                        None => match room {
                            Room::Wait => self.send(link, msg).await,
                            Room::Detach => {
                                if let Some((frames, outgoing)) = self.encode_for(link, msg) {
                                    deliver_when_released(frames, outgoing, None)();
                                }
                            }
                        },
                    }
                }
                Action::Store(op) => {
                    let push = op.pushed();
                    // The row's wall-clock time is the driver's: the core has none.
                    let seq = self.store.as_ref().and_then(|s| s.apply(op, unix_ms()));
                    match (seq, push) {
                        (Some(seq), Some(id)) => {
                            stored = seq;
                            pushed.push(id);
                        }
                        (Some(seq), None) => stored = seq,
                        (None, Some(id)) => confirmed.push(id),
                        (None, None) => {}
                    }
                }
                Action::SafBarrier => wait_for = wait_for.max(stored),
                Action::DurableFence => {
                    if let Some(store) = &self.store {
                        wait_for = wait_for.max(store.submitted());
                    }
                }
                Action::DecisionFence => {
                    if let Some(store) = &self.store {
                        if strict {
                            wait_for = wait_for.max(store.submitted());
                        } else {
                            store.hold_to_one_batch(store.submitted()).await;
                        }
                    }
                }
                Action::Cutover => {
                    if let Some(store) = &self.store {
                        let day = store.cutover(unix_ms());
                        self.core.set_business_day(day);
                    } else {
                        tracing::warn!("cutover requested, but no journal is configured");
                    }
                }
                Action::Close { link, reason } => {
                    let close = self.links.get(&link).map(|h| h.close.clone());
                    let close_now = move || {
                        tracing::warn!(link, reason, "closing link");
                        if let Some(close) = close {
                            close.notify_one();
                        }
                    };
                    match held {
                        Some(store) => store.when_durable(wait_for, Box::new(close_now)),
                        None => close_now(),
                    }
                }
                Action::Journal(record) => {
                    // Only a cluster node's store claims forwards (a single node's
                    // forwards are never refused: no wrapping, no lookup).
                    // A stand-in approval claims too: its `Send` (the answer,
                    // after its advice) is held the same way.
                    let claims = record.takes_cluster_claim() && self.config.cluster.is_some();
                    let advice = record.stand_in.as_ref().and_then(|n| n.advice_saf);
                    let seq = self.journal.record(*record);
                    if claims && seq > 0 {
                        claimed = Some(seq);
                        decisions.extend(advice.map(|id| (seq, id)));
                    }
                    if strict {
                        wait_for = wait_for.max(seq);
                    } else if let Some(store) = &self.store {
                        store.hold_to_one_batch(seq).await;
                    }
                }
                Action::JournalUnheld(record) => {
                    // Handed to the store (kept once it is back); nothing waits.
                    self.journal.record(*record);
                }
                Action::EnrolmentDone { request, outcome } => {
                    // The app hears of its token once the token is kept.
                    let finish = {
                        let me = self.me.clone();
                        move || {
                            if let Some(shared) = me.upgrade() {
                                shared.enrolments.finish(request, *outcome);
                            }
                        }
                    };
                    match held {
                        Some(store) => store.when_durable(wait_for, Box::new(finish)),
                        None => finish(),
                    }
                }
                Action::SecurityEvent {
                    link,
                    event,
                    reason,
                } => self.security_event(link, event, reason),
                Action::TranslatePin(request) => {
                    // Answered at once: what the answer brings goes next.
                    for action in self.translate_pin(request).into_iter().rev() {
                        actions.push_front(action);
                    }
                }
            }
        }
        if let (Some(store), false) = (&self.store, pushed.is_empty()) {
            let tell = self.saf_durable.clone();
            let refusals = store.clone();
            // On the writer thread: a send on an unbounded channel, never blocking.
            store.when_durable(
                stored,
                Box::new(move || {
                    // The advice of an approval whose claim was refused stays
                    // unconfirmed (its row is gone): the core withdraws it.
                    for (seq, advice) in decisions {
                        if refusals.refused(seq) {
                            pushed.retain(|id| *id != advice);
                        }
                    }
                    let _ = tell.send(pushed);
                }),
            );
        }
        confirmed
    }

    /// Log (paced per link and kind) and count a security event the core found
    /// (a forged or replayed dynamic code, a token outside its domain).
    fn security_event(&self, link: LinkId, event: &'static str, reason: &'static str) {
        let name = self
            .core
            .links
            .get(link)
            .map(|l| l.config.name.clone())
            .unwrap_or_default();
        if let Some(suppressed) = super::event_budget::may_log(&name, event) {
            tracing::warn!(
                target: "switch::security",
                link = %name,
                event,
                reason,
                suppressed,
                "security event: token payment refused"
            );
        }
        metrics::counter!("switch_security_events_total", "link" => name, "event" => event)
            .increment(1);
    }

    /// Send `msg` on `link` now (waiting for room on the link's queue).
    async fn send(&self, link: LinkId, msg: Message) {
        if let Some((frames, outgoing)) = self.encode_for(link, msg) {
            if frames.send(outgoing).await.is_err() {
                tracing::debug!(link, "writer closed; message not sent");
            }
        }
    }

    /// What runs when the held approval `answer` for acquirer link `link`
    /// cannot be delivered: hand it to [`undelivered_loop`] (on the writer
    /// thread: a send on an unbounded channel, never blocking).
    fn undelivered_work(&self, link: LinkId, answer: Message) -> HeldWork {
        let tell = self.undelivered.clone();
        Box::new(move || {
            let _ = tell.send((link, answer));
        })
    }

    /// `msg` encoded for `link` (unsealed for a MAC link: its writer seals it),
    /// with the link's queue; None if the link is gone or the message does not
    /// encode for it (logged).
    fn encode_for(
        &self,
        link: LinkId,
        mut msg: Message,
    ) -> Option<(mpsc::Sender<Outgoing>, Outgoing)> {
        let (spec, frames, sealed) = match self.links.get(&link) {
            Some(h) => (h.spec.clone(), h.frames.clone(), h.sealed),
            None => {
                tracing::debug!(link, mti = %msg.mti(), "link gone; message not sent");
                return None;
            }
        };
        // A MAC that came with the message belongs to the link it came from: it
        // is dropped, and a MAC link gets one of its own, computed by the link's
        // writer with whatever else is queued there (see `super::writer`).
        let mti = msg.mti();
        let encoded = if sealed {
            prepare_seal_owned(&spec, msg)
                .map(Outgoing::Unsealed)
                .map_err(|error| MessageError::Seal { error, mti })
        } else {
            strip_mac(&mut msg);
            spec.encode_to_bytes(&msg)
                .map(Outgoing::Ready)
                .map_err(|error| MessageError::Encode { error, mti })
        };
        match encoded {
            Ok(outgoing) => Some((frames, outgoing)),
            Err(e) => {
                // Names the field, never its content; a request left unsent
                // times out (`crate::error`).
                tracing::error!(link, error = %e, action = %e.disposition(), "cannot encode for this link");
                metrics::counter!("switch_encode_errors_total").increment(1);
                None
            }
        }
    }
}

/// Work that queues `outgoing` on a link's writer, run once released (a held
/// message) or at once (from the switch's own loops): at once
/// if the queue has room (the usual case), else from a task that waits for room,
/// so the thread that releases it never blocks. `gone` runs instead when the
/// link's writer is gone (its connection closed): a held approval's reversal.
fn deliver_when_released(
    frames: mpsc::Sender<Outgoing>,
    outgoing: Outgoing,
    gone: Option<HeldWork>,
) -> HeldWork {
    let runtime = tokio::runtime::Handle::try_current().ok();
    let not_sent = |gone: Option<HeldWork>| {
        tracing::debug!("writer closed; message not sent");
        if let Some(gone) = gone {
            gone();
        }
    };
    Box::new(move || match frames.try_send(outgoing) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Closed(_)) => not_sent(gone),
        Err(mpsc::error::TrySendError::Full(outgoing)) => match runtime {
            Some(runtime) => {
                runtime.spawn(async move {
                    if frames.send(outgoing).await.is_err() {
                        not_sent(gone);
                    }
                });
            }
            None => tracing::error!("link queue full and no runtime to wait on; message not sent"),
        },
    })
}

/// A forward held for its journal record `seq`, released only if the store did
/// not refuse the record's cluster claim: another node holds the same request
/// (the store's refusal hook has told the core, which answers the acquirer 94).
/// The store records a refusal before the commit's durable mark moves, so it is
/// known when this runs.
fn hold_forward(store: Arc<Store>, seq: u64, deliver: HeldWork) -> HeldWork {
    Box::new(move || {
        if store.refused(seq) {
            tracing::debug!(seq, "forward dropped: another node claimed the request");
        } else {
            deliver();
        }
    })
}

/// Whether a batch's `Send`s wait for room on a full link queue (a connection's
/// own reader: back-pressure on the peer that brought the event) or hand the
/// message to a task (the switch's own loops, which serve every link).
#[derive(Clone, Copy)]
enum Room {
    Wait,
    Detach,
}

/// A running switch.
pub struct RunningSwitch {
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
    /// Bound address of each listening link, by link name.
    pub listening: HashMap<String, SocketAddr>,
    /// The cluster lease loop (cluster mode only), kept to leave on a graceful stop.
    lease: Option<super::cluster_node::LeaseTask>,
}

impl RunningSwitch {
    /// Bind every listener, start dialers and the tick loop. MAC and PIN keys come
    /// from the configuration, held by the software security module.
    pub async fn start(opts: SwitchOptions) -> Result<RunningSwitch, StartError> {
        let security = Arc::new(SoftwareSecurityModule::from_config(&opts.config.security));
        RunningSwitch::start_inner(opts, security, true).await
    }

    /// [`RunningSwitch::start`] with another security module (an HSM adapter),
    /// asked from tasks (it may take its time; the core's `hsm_timeout` bounds
    /// a PIN translation). Every link that requires a MAC or translates PIN
    /// blocks must have its key in it, or the switch does not start.
    pub async fn start_with_security(
        opts: SwitchOptions,
        security: Arc<dyn SecurityModule>,
    ) -> Result<RunningSwitch, StartError> {
        RunningSwitch::start_inner(opts, security, false).await
    }

    /// Start with `security`, asked within the event (`inline`) or from tasks.
    async fn start_inner(
        opts: SwitchOptions,
        security: Arc<dyn SecurityModule>,
        inline: bool,
    ) -> Result<RunningSwitch, StartError> {
        // A cluster node: the store registers it and recovers only its own rows.
        let node = opts.config.cluster.as_ref().map(|c| c.identity());
        for link in &opts.config.links {
            let missing = if link.security.mac.is_some() && !security.has_mac_key(&link.name) {
                Some("MAC")
            } else if link.security.pin.is_some() && !security.has_pin_key(&link.name) {
                Some("PIN")
            } else {
                None
            };
            if let Some(purpose) = missing {
                return Err(StartError::MissingKey {
                    link: link.name.clone(),
                    module: security.name().to_string(),
                    purpose,
                });
            }
        }
        let epoch_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut settings = CoreSettings {
            institution_id: opts.config.institution_id.clone(),
            duplicate_window: opts.config.duplicate_window,
            saf_retry: opts.config.saf_retry,
            saf_expiry: opts.config.saf_expiry,
            saf_window: opts.config.saf_window,
            hsm_timeout: opts.config.hsm_timeout,
            epoch_unix_ms,
            ..CoreSettings::default()
        };
        // The durable store, when configured: the journal, the SAF queue, and the
        // reversals owed for what the last run left in flight.
        let mut store = None;
        let mut remembered = Vec::new();
        let mut owed = opts.saf.unwrap_or_default();
        let mut last_saf_id = 0;
        let mut journal = opts.journal;
        let mut stand_in_state = None;
        // Stand-in keeps the card of its advices sealed under the vault's key: with
        // a journal it needs the vault (the KEK); without one nothing is kept.
        let mut stand_in_possible = opts.config.journal.is_none();
        if let Some(jc) = &opts.config.journal {
            // Without its key the journal could not hash PANs: do not start.
            let pan_key = jc.pan_key.as_ref().ok_or(StartError::JournalKeyMissing)?;
            let remember = settings.recent_capacity;
            // The store keeps the token vault under the KEK whenever there is
            // one: tokens issued while token APIs were configured still pay
            // (and keep their counters) when the APIs are not. Token APIs
            // require it; without a KEK and without them the vault stays shut
            // (and the start fails below if the database holds tokens).
            let kek = match &opts.vault_kek {
                Some(kek) => Some(kek.clone()),
                None => match crate::store::vault::kek_from_config(&opts.config.security) {
                    Ok(kek) => Some(kek),
                    Err(e) if !opts.config.token_apis.is_empty() => return Err(e.into()),
                    Err(_) => None,
                },
            };
            stand_in_possible = kek.is_some();
            // The vault's tokens are kept on SQLite only: token APIs on a
            // PostgreSQL journal would lose every token they issue.
            if let (Some(pg), false) = (&jc.postgres, opts.config.token_apis.is_empty()) {
                return Err(crate::store::StoreError::Database {
                    url: pg.url.clone(),
                    message: "token APIs ([[token_api]]) need the journal on SQLite ([journal] path): the token vault is not kept on PostgreSQL".into(),
                }
                .into());
            }
            let (opened, mut recovered) = Store::open_with(
                jc,
                &crate::store::OpenOptions {
                    now_ms: epoch_unix_ms as i64,
                    remember,
                    vault: kek
                        .as_ref()
                        .map(|kek| (kek, opts.config.security.kek_var())),
                    node: node.as_ref(),
                    duplicate_window: opts.config.duplicate_window,
                },
            )?;
            let opened = Arc::new(opened);
            tracing::info!(
                backend = %jc.backend(),
                node = node.as_ref().map_or("", |n| n.name.as_str()),
                epoch = recovered.epoch,
                durability = ?jc.durability,
                last_txn_id = recovered.last_txn_id,
                saf_depth = recovered.saf.len(),
                reversals_queued = recovered.reversals_queued,
                "journal open"
            );
            if recovered.reversals_queued > 0 {
                tracing::warn!(
                    count = recovered.reversals_queued,
                    "transactions left in flight by the last run: reversals queued"
                );
            }
            settings.first_txn_id = recovered.last_txn_id + 1;
            remembered = std::mem::take(&mut recovered.forwarded);
            settings.pan_key = Some(pan_key.clone());
            owed.append(&mut recovered.saf);
            last_saf_id = recovered.last_saf_id;
            stand_in_state = Some(super::stand_in_state::Restored {
                day: recovered.business_day,
                usage: std::mem::take(&mut recovered.stand_in_usage),
                elsewhere: std::mem::take(&mut recovered.stand_in_usage_elsewhere),
                negative: std::mem::take(&mut recovered.negative_updates),
            });
            journal.get_or_insert_with(|| Arc::new(StoreJournal::new(opened.clone())));
            store = Some(opened);
        }
        // A cluster node numbers its transactions, store-and-forward items and
        // STANs inside its slot's ranges (the store recovered its own highest ids).
        if let Some(cluster) = &opts.config.cluster {
            settings.slot = cluster.slot;
            let last_txn_id = settings.first_txn_id.saturating_sub(1);
            (settings.first_txn_id, last_saf_id) =
                crate::cluster::ids::continue_in_slot(cluster.slot, last_txn_id, last_saf_id);
        }
        // Without a sink (the debug log would be the only reader) the core builds
        // no journal records at all.
        settings.journal = journal.is_some();
        settings.stand_in = stand_in_settings(&opts.config, &opts.routing, stand_in_possible);
        let core = Core::new(settings, Arc::new(SharedRoutingTable::new(opts.routing)));
        core.restore_saf(owed, last_saf_id);
        if let Some(restored) = stand_in_state {
            super::stand_in_state::restore(&core, restored);
        }
        if let Some(store) = &store {
            let tokens = store.load_tokens()?;
            if !tokens.is_empty() || !opts.config.token_apis.is_empty() {
                tracing::info!(tokens = tokens.len(), "token vault loaded");
            }
            core.restore_tokens(tokens);
        }
        // Oldest first, so the newest stay when the index is full.
        for f in remembered.iter().rev() {
            core.remember_forwarded(f);
        }
        // Newest first: each issuer's last STAN from its links' sequence (a
        // stand-in decision's comes from another).
        for f in remembered.iter().filter(|f| !f.stand_in) {
            core.continue_stans_after(&f.issuer, f.switch_stan);
        }
        let (stop, _) = watch::channel(false);
        let added_latency = super::added_latency::AddedLatency::new()?;
        let (saf_durable, durable_saf) = mpsc::unbounded_channel();
        let (undelivered, undelivered_rx) = mpsc::unbounded_channel();
        let shared = Arc::new_cyclic(|me| Shared {
            core,
            config: opts.config,
            start: Instant::now(),
            next_link: AtomicU32::new(1),
            links: DashMap::new(),
            journal: journal.unwrap_or_else(|| Arc::new(LogJournal)),
            store,
            saf_durable,
            undelivered,
            draining: AtomicBool::new(false),
            lease_lapsed: AtomicBool::new(false),
            lapse_generation: Default::default(),
            stop,
            added_latency,
            security,
            security_inline: inline,
            me: me.clone(),
            timer: Notify::new(),
            hsm_calls: Arc::new(tokio::sync::Semaphore::new(super::pin::HSM_CALLS)),
            enrolments: Default::default(),
            history: std::sync::Mutex::new(crate::admin::history::History::new(Instant::now())),
            dialing: Default::default(),
        });
        let mut tasks = JoinSet::new();
        let mut listening = HashMap::new();
        for link in shared.config.links.clone() {
            let link = Arc::new(link);
            // A TLS link that could never come up stops the start, as a missing key does.
            let tls_error = |source| StartError::Tls {
                link: link.name.clone(),
                source,
            };
            match link.direction {
                Direction::Listen => {
                    let tls = TlsListener::for_link(&shared.config, &link).map_err(tls_error)?;
                    let cannot_listen = |source| StartError::Listen {
                        link: link.name.clone(),
                        address: link.address,
                        source,
                    };
                    let listener = listen(link.address).map_err(cannot_listen)?;
                    let addr = listener.local_addr().map_err(cannot_listen)?;
                    tracing::info!(link = %link.name, %addr, role = ?link.role, "listening");
                    listening.insert(link.name.clone(), addr);
                    tasks.spawn(super::listener::accept_loop(
                        shared.clone(),
                        link,
                        listener,
                        tls,
                    ));
                }
                Direction::Dial => {
                    let tls = TlsDialer::for_link(&shared.config, &link).map_err(tls_error)?;
                    tasks.spawn(super::dialer::dial_loop(shared.clone(), link, tls));
                }
            }
        }
        super::token_listeners::serve_all(&shared, &mut tasks, &mut listening)?;
        tasks.spawn(tick_loop(shared.clone()));
        tasks.spawn(saf_durable_loop(shared.clone(), durable_saf));
        tasks.spawn(undelivered_loop(shared.clone(), undelivered_rx));
        if let Some(store) = &shared.store {
            let (refused, claims) = mpsc::unbounded_channel();
            store.set_claim_refused(Box::new(move |_seq, issuer: &str, stan| {
                // On the writer thread: a send on an unbounded channel, never blocking.
                let _ = refused.send((issuer.to_string(), stan));
            }));
            tasks.spawn(claim_refused_loop(shared.clone(), claims));
            if shared.config.cluster.is_some() {
                tasks.spawn(super::stand_in_state::poll_loop(shared.clone()));
            }
        }
        let lease = super::cluster_node::start_lease(&shared);
        Ok(RunningSwitch {
            shared,
            tasks,
            listening,
            lease,
        })
    }

    /// Per-hop time the switch added so far (microseconds): decode, decide,
    /// encode and queue for each message it relayed or answered.
    pub fn added_latency(&self) -> hdrhistogram::Histogram<u64> {
        self.shared.added_latency.histogram()
    }

    /// Serve the admin address (console, status API, metrics) until the
    /// switch stops; returns the address bound.
    pub fn serve_admin(
        &mut self,
        options: crate::admin::AdminOptions,
    ) -> Result<SocketAddr, StartError> {
        let address = options.address;
        let (bound, serving) = crate::admin::server::bind(self.shared.clone(), options)
            .map_err(|source| StartError::Admin { address, source })?;
        tracing::info!(%bound, "admin address: console at http://{bound}/, status at /api/status, metrics at /metrics");
        self.tasks.spawn(serving);
        Ok(bound)
    }

    /// The journal writer's commits since the start (None without a journal):
    /// `switch-compare --compare store` divides a run's transactions by them.
    pub fn journal_commits(&self) -> Option<u64> {
        self.shared.store.as_ref().and_then(|s| s.commits())
    }

    /// The core (for tests and metrics).
    pub fn core(&self) -> &Core {
        &self.shared.core
    }

    /// Replace the routing table from the configured rules path. In-flight
    /// transactions finish on the table they started with.
    pub fn reload(&self) -> Result<usize, LoadError> {
        match RoutingTable::load(&self.shared.config.rules) {
            Ok((table, warnings)) => {
                for w in &warnings {
                    tracing::warn!(%w, "routing rules warning");
                }
                let rules = table.rules().len();
                self.shared.core.routing().replace(table);
                tracing::info!(rules, path = %self.shared.config.rules.display(), "routing rules reloaded");
                Ok(rules)
            }
            Err(e) => {
                for p in &e.0.errors {
                    tracing::error!(%p, "routing rules not reloaded");
                }
                Err(e)
            }
        }
    }

    /// Drain and stop: stop accepting and reading new requests, wait up to the grace
    /// period for in-flight responses, answer the rest with RC 91 (their reversals
    /// queued), then close everything.
    pub async fn shutdown(mut self) {
        let shared = self.shared.clone();
        shared.draining.store(true, Ordering::SeqCst);
        let _ = shared.stop.send(true);
        let grace = shared.config.shutdown_grace;
        let deadline = Instant::now() + grace;
        while shared.core.pending_requests() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = shared.core.pending_requests();
        if left > 0 {
            tracing::warn!(
                left,
                ?grace,
                "grace period over: answering the rest with RC 91"
            );
        }
        let actions = shared.core.expire_all_requests(shared.now());
        shared.execute(actions).await;
        // Answers held for their records go out as those commit: wait until
        // everything handed to the store is durable, so that they are released
        // while their links are still open (and an approval whose acquirer is
        // gone meanwhile is reversed by `undelivered_loop` before the loops
        // stop). Bounded: a store that cannot commit (its database down, or
        // the node fenced off) never would.
        if let Some(store) = &shared.store {
            let everything = store.durable(store.submitted());
            if tokio::time::timeout(SHUTDOWN_FLUSH, everything)
                .await
                .is_err()
            {
                tracing::warn!(
                    backlog = store.backlog(),
                    "the journal did not commit within {SHUTDOWN_FLUSH:?}: answers still held for it are not sent"
                );
            }
        }
        // Let writers flush what was queued.
        tokio::time::sleep(Duration::from_millis(100)).await;
        for h in shared.links.iter() {
            h.close.notify_one();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        if let Some(store) = &shared.store {
            let took = store.close();
            tracing::info!(?took, "journal flushed");
        }
        // Renewed through the drain and the last commit (another node must not
        // take over a node still delivering, and a commit is fenced unless its
        // node is live); now the node leaves. What it still owes (its queue,
        // the reversals of the requests expired above among it) is left to
        // another node's take-over, its lease ended at once.
        if let Some(lease) = self.lease.take() {
            lease.leave().await;
        }
        tracing::info!(saf_depth = shared.core.saf_depth(), "switch stopped");
    }
}

/// How long a graceful shutdown waits for the journal to commit what it was
/// handed (the answers held for it), before closing the links: a commit's own
/// bound (`store::pg::writer::COMMIT_TIMEOUT`).
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);

/// Connections the kernel may hold for a listener before it accepts them (the
/// kernel caps it at `net.core.somaxconn`). The accept loop drains the queue at
/// once, but a burst larger than the queue (a flood, or every bank reconnecting
/// after an outage) would make the excess wait for a SYN retransmission (1 s).
const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket on `addr` with [`LISTEN_BACKLOG`] (address reuse on, as
/// for tokio's `TcpListener::bind`, so a restart does not wait out TIME_WAIT).
pub(crate) fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Unix time in milliseconds.
pub(crate) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Tell the core which store-and-forward pushes became durable (they may be
/// delivered now) and carry out the deliveries that follow.
async fn saf_durable_loop(shared: Arc<Shared>, mut durable: mpsc::UnboundedReceiver<Vec<u64>>) {
    while let Some(ids) = durable.recv().await {
        let actions = shared.core.on_saf_durable(shared.now(), &ids);
        shared.execute_detached(actions).await;
    }
}

/// Tell the core of approvals whose answer never reached the acquirer, and
/// queue the reversals that follow (`crate::core::undelivered`).
async fn undelivered_loop(
    shared: Arc<Shared>,
    mut undelivered: mpsc::UnboundedReceiver<(LinkId, Message)>,
) {
    while let Some((link, answer)) = undelivered.recv().await {
        let actions = shared
            .core
            .on_answer_undelivered(shared.now(), link, &answer);
        shared.execute_detached(actions).await;
    }
}

/// Tell the core of requests whose cluster claim the store refused (another
/// node holds them) and send the 94s that follow.
async fn claim_refused_loop(
    shared: Arc<Shared>,
    mut refused: mpsc::UnboundedReceiver<(String, u32)>,
) {
    while let Some((issuer, stan)) = refused.recv().await {
        let actions = shared.core.on_claim_refused(shared.now(), &issuer, stan);
        shared.execute_detached(actions).await;
    }
}

/// Whether the switch stands in for issuers that cannot answer: `[stand_in]`
/// enabled, and the vault open to keep its advices' cards (or no journal).
fn stand_in_settings(
    config: &Config,
    routing: &routing_rules::RoutingTable,
    possible: bool,
) -> crate::config::StandInConfig {
    let kek_var = config.security.kek_var();
    let config = &config.stand_in;
    let entries = routing.stand_in_entries().len();
    let off = crate::config::StandInConfig {
        enabled: false,
        ..config.clone()
    };
    match (config.enabled, possible) {
        (true, true) => {
            tracing::info!(entries, "stand-in on");
            config.clone()
        }
        (true, false) => {
            if entries > 0 {
                tracing::warn!(
                    entries,
                    var = kek_var,
                    "stand-in off: its advices carry the card, kept sealed under the vault's key, \
                     and no key-encryption key is set; issuers that cannot answer are declined 91"
                );
            }
            off
        }
        (false, _) => {
            tracing::info!("stand-in off ([stand_in] enabled = false)");
            off
        }
    }
}

/// Tick the core when it asks ([`Core::poll_timeout`]), and publish its
/// statistics every [`super::publish::PUBLISH_EVERY`]; in between sleep, woken
/// early when an event brought the next tick closer ([`Shared::execute`] pokes
/// `timer`).
async fn tick_loop(shared: Arc<Shared>) {
    let mut stop = shared.stop.subscribe();
    let mut publisher = super::publish::Publisher::new(&shared.config.links);
    let mut published = Instant::now();
    loop {
        let now = shared.now();
        if let Some(store) = &shared.store {
            shared.core.set_store_available(store.available());
        }
        let actions = shared.core.on_tick(now);
        if !actions.is_empty() {
            shared.execute_detached(actions).await;
        }
        // Beside the tick, not in it: a snapshot allocates, once a second is enough.
        if published.elapsed() >= super::publish::PUBLISH_EVERY {
            let (stats, latencies) = publisher.publish(&shared.core, &shared.added_latency);
            shared
                .history
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record(Instant::now(), &stats, &latencies);
            if let Some(store) = &shared.store {
                let day = super::publish::publish_store(store, &shared.core, unix_ms());
                // Stand-in's per-card limits count within the business day.
                shared.core.set_business_day(day);
            }
            published = Instant::now();
        }
        let publish_at = shared.millis_at(published + super::publish::PUBLISH_EVERY);
        let next = shared
            .core
            .poll_timeout()
            .map_or(publish_at, |t| t.min(publish_at));
        // Never a busy loop: a millisecond at least (the core's resolution).
        let until = shared.core.arm(next).max(Millis(now.0 + 1));
        tokio::select! {
            _ = tokio::time::sleep_until(shared.start + Duration::from_millis(until.0)) => {}
            _ = shared.timer.notified() => {}
            _ = stop.changed() => {
                // Keep ticking through the drain so issuer links stay served.
                if *stop.borrow() { tracing::debug!("tick loop: draining"); }
            }
        }
    }
}

/// Whether a link's role reads new requests while draining.
pub(crate) fn reads_while_draining(role: Role) -> bool {
    role == Role::Issuer
}
