//! The durable store: the transaction journal and the store-and-forward queue in
//! one SQLite database (WAL, `synchronous=FULL`), written by one thread that
//! group-commits: every operation waiting when a commit starts goes into it, up to
//! `group_commit_max`, after a short window for more to arrive.
//!
//! Callers submit operations and get a sequence number; [`Store::durable`] resolves
//! once everything up to it is committed, and [`Store::when_durable`] runs held
//! work then. Submitting never blocks: the queue to the writer is unbounded, so a
//! slow disk (or, later, a networked database) never stalls a tokio worker and
//! never loses a record the switch accepted. What bounds it is upstream: in
//! relaxed mode [`Store::hold_to_one_batch`] makes the connection that submits
//! wait (asynchronously) once a whole batch is unwritten, and in strict mode each
//! answer waits for its record, so the links' in-flight caps bound what is
//! queued. [`Store::backlog`] (`switch_store_backlog`) shows how far behind the
//! writer is. In strict mode the driver holds a forwarded request or an answer to
//! an acquirer that way until its record is durable; store-and-forward messages
//! are always durable before the acquirer hears of what caused them.
//!
//! The interface is narrow (submit, wait, read back at start, settle) so that
//! the PostgreSQL backend for several switch nodes ([`pg`], `[journal] url`)
//! sits behind the same calls; the configuration chooses the backend.

pub mod business_day;
pub mod commands;
pub mod commit_times;
mod day_opened;
pub mod durable_mark;
pub mod interchange;
pub mod journal;
mod pg;
pub mod refusals;
mod row;
pub mod saf;
pub mod schema;
pub mod settle_report;
pub mod settlement;
pub mod stand_in;
pub mod vault;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use crate::config::{Durability, JournalConfig};
use crate::core::journal::JournalRecord;
use crate::core::reversal_source;
use crate::core::saf::SafItem;

pub use writer::Op;

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or is not a database.
    #[error("journal {path}: {message}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The PostgreSQL database could not be used.
    #[error("journal {url}: {message}")]
    Database {
        /// Where it is (the URL holds no password).
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// How to open the store (beyond `[journal]`).
#[derive(Clone, Copy, Default)]
pub struct OpenOptions<'a> {
    /// Unix milliseconds now (the reversals queued at start are stamped with it).
    pub now_ms: i64,
    /// How many of the most recent forwarded transactions to read back.
    pub remember: usize,
    /// The token vault's KEK and the variable it came from (named in errors).
    pub vault: Option<(&'a card_security::KeyMaterial, &'a str)>,
    /// This node in a cluster (PostgreSQL only): registered at open, and only
    /// its own rows recovered.
    pub node: Option<&'a crate::cluster::NodeIdentity>,
    /// The duplicate window: a cross-node claim older than it no longer
    /// refuses a repeat (its key is released to the next request).
    pub duplicate_window: Duration,
}

/// The open store.
pub struct Store {
    /// The last sequence number and the writer's queue, together: numbers go
    /// into the queue in order (the writer's durable mark relies on it). Held
    /// only to number and enqueue, which never waits.
    submit: Mutex<(u64, Queue)>,
    durable: Arc<durable_mark::DurableMark>,
    durability: Durability,
    /// `group_commit_max`: in relaxed mode, at most this many records are unwritten.
    max_unwritten: u64,
    cutover_secs: u32,
    /// The business day a manual cutover moved to (0: none).
    day_override: Arc<AtomicI64>,
    /// When the open business day began, as this process knows it.
    day_opened: day_opened::DayOpened,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The checkpoint thread (SQLite), and the sender whose drop stops it.
    checkpointer: Mutex<Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
    /// The database file (the vault is read back from it at start).
    path: PathBuf,
    /// The token vault's keys; None: opened without the KEK (token changes are
    /// not kept).
    vault: Option<Arc<vault::Vault>>,
    /// False while the database cannot commit (see [`Store::available`]).
    available: Arc<AtomicBool>,
    /// Forwards another node claimed first (PostgreSQL in cluster mode).
    refusals: Arc<refusals::Refusals>,
    /// The lease loop's seam (PostgreSQL in cluster mode).
    membership: Option<Arc<dyn crate::cluster::Membership>>,
    /// What a commit fenced off does (PostgreSQL).
    fence: Option<Arc<pg::fence::Fence>>,
    /// Originals other nodes forwarded (PostgreSQL in cluster mode).
    original_lookup: Option<pg::lookup::OriginalLookup>,
    /// Reads the other nodes' stand-in state (PostgreSQL cluster mode).
    stand_in_poll: Option<pg::stand_in_poll::StandInPoll>,
    /// SQLite (the vault and its tokens live in the file at `path`).
    sqlite: bool,
    /// The last commits' durations (either backend's writer records them).
    commit_times: Option<Arc<commit_times::CommitTimes>>,
}

/// The writer's queue: a thread's channel (SQLite's writer blocks on it) or a
/// task's (PostgreSQL's writer awaits it beside the commits it has in flight).
enum Queue {
    Thread(Sender<(u64, Op)>),
    Task(tokio::sync::mpsc::UnboundedSender<(u64, Op)>),
}

impl Queue {
    /// False: the writer is gone.
    fn send(&self, item: (u64, Op)) -> bool {
        match self {
            Queue::Thread(tx) => tx.send(item).is_ok(),
            Queue::Task(tx) => tx.send(item).is_ok(),
        }
    }
}

/// A started writer and what the store shares with it (either backend).
struct Writing {
    tx: Queue,
    durable: Arc<durable_mark::DurableMark>,
    day_override: Arc<AtomicI64>,
    writer: std::thread::JoinHandle<()>,
    available: Arc<AtomicBool>,
    refusals: Arc<refusals::Refusals>,
}

/// What the store held at start.
pub struct Recovered {
    /// The highest transaction id in the journal.
    pub last_txn_id: u64,
    /// Store-and-forward messages still owed, oldest first (including the
    /// reversals just queued for transactions that were forwarded and never
    /// completed).
    pub saf: Vec<SafItem>,
    /// The highest store-and-forward id in the store, counting rows that did not
    /// decode (left there for an operator): new items are numbered after it.
    pub last_saf_id: u64,
    /// How many reversals were queued for transactions left in flight by the
    /// previous run.
    pub reversals_queued: usize,
    /// The most recent forwarded transactions, newest first, so that reversals and
    /// advices for them still find their issuer and keys after a restart.
    pub forwarded: Vec<ForwardedRow>,
    /// The business day in force at the start.
    pub business_day: i64,
    /// Each card's stand-in approvals of that day (the cumulative limits go on
    /// from them).
    pub stand_in_usage: Vec<stand_in::UsageRow>,
    /// A cluster node: the other nodes' stand-in approvals of that day (its
    /// own are in `stand_in_usage`).
    pub stand_in_usage_elsewhere: Vec<stand_in::UsageRow>,
    /// The issuers' negative-file updates (0302).
    pub negative_updates: Vec<stand_in::NegativeRow>,
    /// This node's epoch (PostgreSQL cluster mode: one more at every start; 0
    /// otherwise).
    pub epoch: i64,
}

impl Recovered {
    /// What the journal's rows gave back; the business day, the stand-in state
    /// and the epoch are filled in by the caller.
    fn of_rows(
        last_txn_id: u64,
        saf: Vec<SafItem>,
        last_saf_id: u64,
        reversals_queued: usize,
        forwarded: Vec<ForwardedRow>,
    ) -> Recovered {
        Recovered {
            last_txn_id,
            saf,
            last_saf_id,
            reversals_queued,
            forwarded,
            business_day: 0,
            stand_in_usage: Vec::new(),
            stand_in_usage_elsewhere: Vec::new(),
            negative_updates: Vec::new(),
            epoch: 0,
        }
    }
}

/// A forwarded transaction as the journal remembers it.
pub use crate::core::recent::ForwardedRow;

/// Open the journal at `path` for reading or for a command, refusing to create
/// one: a mistyped path is an error, not an empty settlement.
pub fn open_existing(path: &Path) -> Result<Connection, StoreError> {
    if !path.is_file() {
        return Err(StoreError::Open {
            path: path.to_path_buf(),
            message: "no journal database here (the switch creates it when it first starts with this configuration)"
                .into(),
        });
    }
    open_connection(path)
}

/// Open `path` (creating it if absent), check it, and apply the schema.
pub fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let fail = |message: String| StoreError::Open {
        path: path.to_path_buf(),
        message,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create folder: {e}")))?;
    }
    let conn = Connection::open(path).map_err(|e| fail(e.to_string()))?;
    // Another connection (the running switch's writer, `switch settle`, `switch
    // cutover`) may hold the write lock for a commit: wait for it, do not fail.
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| fail(e.to_string()))?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| fail(format!("not a readable database: {e}")))?;
    if check != "ok" {
        return Err(fail(format!("integrity check failed: {check}")));
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| fail(format!("cannot use WAL: {e}")))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(fail(format!("cannot use WAL (journal_mode is {mode})")));
    }
    conn.execute_batch("PRAGMA synchronous=FULL;")
        .map_err(|e| fail(e.to_string()))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| fail(e.to_string()))?;
    if version > schema::VERSION {
        return Err(fail(format!(
            "schema version {version} is newer than this switch ({})",
            schema::VERSION
        )));
    }
    conn.execute_batch(schema::CREATE)
        .and_then(|_| schema::migrate(&conn, version))
        .and_then(|_| conn.execute_batch(&format!("PRAGMA user_version={}", schema::VERSION)))
        .map_err(|e| fail(format!("cannot write (read-only or full?): {e}")))?;
    Ok(conn)
}

/// Stand-in advices still owed hold their card sealed under the vault's key: a
/// start without it would deliver them without the card (the issuer could not
/// post them, acknowledge them, and they would be gone). Refused, as a vault
/// holding tokens is.
fn refuse_sealed_cards_without_vault(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let sealed: i64 = conn
        .query_row("SELECT count(*) FROM saf WHERE card IS NOT NULL", [], |r| {
            r.get(0)
        })
        .map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if sealed > 0 {
        return Err(StoreError::Open {
            path: path.to_path_buf(),
            message: format!(
                "the store-and-forward queue holds {sealed} stand-in advices whose card is sealed \
                 under the vault's key: start with the key-encryption key (SWITCH_KEK, or \
                 [switch.security] kek_env) so they reach their issuers with the card"
            ),
        });
    }
    Ok(())
}

impl Store {
    /// Open the store, queue reversals for transactions the last run left
    /// forwarded, and start the writer thread.
    pub fn open(config: &JournalConfig, now_ms: i64) -> Result<(Store, Recovered), StoreError> {
        Store::open_remembering(config, now_ms, 0)
    }

    /// [`Store::open`], also reading back the last `remember` forwarded transactions.
    pub fn open_remembering(
        config: &JournalConfig,
        now_ms: i64,
        remember: usize,
    ) -> Result<(Store, Recovered), StoreError> {
        Store::open_with(
            config,
            &OpenOptions {
                now_ms,
                remember,
                ..OpenOptions::default()
            },
        )
    }

    /// [`Store::open_remembering`] with the token vault: its data key unwrapped
    /// under `kek` (from `kek_var`, named in errors; see [`vault::kek_from_config`]),
    /// or made and stored wrapped the first time. A KEK that does not unwrap the
    /// stored key is an error, never a new key.
    pub fn open_with_vault(
        config: &JournalConfig,
        kek: &card_security::KeyMaterial,
        kek_var: &str,
        now_ms: i64,
        remember: usize,
    ) -> Result<(Store, Recovered), StoreError> {
        Store::open_with(
            config,
            &OpenOptions {
                now_ms,
                remember,
                vault: Some((kek, kek_var)),
                ..OpenOptions::default()
            },
        )
    }

    /// Open the store on the backend `[journal]` names (SQLite `path` or
    /// PostgreSQL `url`). A node identity is for PostgreSQL only.
    pub fn open_with(
        config: &JournalConfig,
        options: &OpenOptions<'_>,
    ) -> Result<(Store, Recovered), StoreError> {
        match (&config.postgres, options.node) {
            (Some(pg), _) => pg::open(config, pg, options),
            (None, Some(node)) => Err(StoreError::Open {
                path: config.path.clone(),
                message: format!(
                    "node {}: a cluster needs the journal on PostgreSQL ([journal] url)",
                    node.name
                ),
            }),
            (None, None) => {
                Store::open_inner(config, options.now_ms, options.remember, options.vault)
            }
        }
    }

    fn open_inner(
        config: &JournalConfig,
        now_ms: i64,
        remember: usize,
        kek: Option<(&card_security::KeyMaterial, &str)>,
    ) -> Result<(Store, Recovered), StoreError> {
        let mut conn = open_connection(&config.path)?;
        let vault = kek
            .map(|(kek, var)| {
                let pan_key = config.pan_key.as_ref().ok_or(vault::VaultError::NoPanKey)?;
                vault::Vault::open(&conn, kek, var, pan_key, now_ms).map(Arc::new)
            })
            .transpose()
            .map_err(|e| StoreError::Open {
                path: config.path.clone(),
                message: e.to_string(),
            })?;
        if vault.is_none() {
            refuse_sealed_cards_without_vault(&conn, &config.path)?;
        }
        let recovery_failed = |e: rusqlite::Error| StoreError::Open {
            path: config.path.clone(),
            message: format!("recovery failed: {e}"),
        };
        let mut recovered = writer::recover(&mut conn, now_ms, remember, vault.as_deref())
            .map_err(recovery_failed)?;
        let day_override = Arc::new(AtomicI64::new(
            conn.query_row(
                "SELECT value FROM meta WHERE key = 'business_day_override'",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0),
        ));
        recovered.business_day = business_day::scheduled_day(now_ms, config.cutover_secs)
            .max(day_override.load(Ordering::Relaxed));
        recovered.stand_in_usage =
            stand_in::usage_of_day(&conn, recovered.business_day).map_err(recovery_failed)?;
        recovered.negative_updates = stand_in::negative_updates(&conn).map_err(recovery_failed)?;
        let (tx, rx) = std::sync::mpsc::channel();
        let durable = Arc::new(durable_mark::DurableMark::default());
        let durable_tx = durable.clone();
        let commit_times = Arc::new(commit_times::CommitTimes::default());
        let settings = writer::Settings {
            max_batch: config.group_commit_max,
            window: config.group_commit_window,
            cutover_secs: config.cutover_secs,
            commit_times: commit_times.clone(),
        };
        let overrides = day_override.clone();
        // Checkpoints (copying the WAL into the database file, with their own
        // fsyncs) run beside the writer, not inside its commits.
        conn.execute_batch("PRAGMA wal_autocheckpoint=0;")
            .map_err(|e| StoreError::Open {
                path: config.path.clone(),
                message: e.to_string(),
            })?;
        let checkpoints = open_connection(&config.path)?;
        let (stop_checkpoints, stopped) = std::sync::mpsc::channel::<()>();
        let checkpointer = std::thread::Builder::new()
            .name("journal-checkpoint".into())
            .spawn(move || writer::checkpoint_loop(checkpoints, stopped))
            .map_err(|e| StoreError::Open {
                path: config.path.clone(),
                message: format!("cannot start the checkpointer: {e}"),
            })?;
        let available = Arc::new(AtomicBool::new(true));
        let writer_available = available.clone();
        let writer = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer::run(conn, rx, durable_tx, settings, overrides, writer_available))
            .map_err(|e| StoreError::Open {
                path: config.path.clone(),
                message: format!("cannot start the writer: {e}"),
            })?;
        let mut store = Store::assemble(
            config,
            Writing {
                tx: Queue::Thread(tx),
                durable,
                day_override,
                writer,
                available,
                refusals: Arc::new(refusals::Refusals::default()),
            },
            vault,
        );
        store.commit_times = Some(commit_times);
        *store.checkpointer.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((stop_checkpoints, checkpointer));
        Ok((store, recovered))
    }

    /// The store around a running writer (either backend): SQLite's own parts
    /// (the checkpointer) and PostgreSQL's (the membership) are set by its open.
    fn assemble(config: &JournalConfig, w: Writing, vault: Option<Arc<vault::Vault>>) -> Store {
        Store {
            submit: Mutex::new((0, w.tx)),
            durable: w.durable,
            durability: config.durability,
            max_unwritten: config.group_commit_max as u64,
            cutover_secs: config.cutover_secs,
            day_override: w.day_override,
            day_opened: day_opened::DayOpened::default(),
            writer: Mutex::new(Some(w.writer)),
            checkpointer: Mutex::new(None),
            path: config.path.clone(),
            vault,
            available: w.available,
            refusals: w.refusals,
            membership: None,
            fence: None,
            original_lookup: None,
            stand_in_poll: None,
            sqlite: config.postgres.is_none(),
            commit_times: None,
        }
    }

    /// The 99th percentile of the last commits and how many (None: none yet,
    /// or a backend that does not record them).
    pub fn commit_p99(&self) -> Option<(Duration, usize)> {
        self.commit_times.as_ref().and_then(|t| t.p99())
    }

    /// The writer's commits since the start (None without a writer).
    pub fn commits(&self) -> Option<u64> {
        self.commit_times.as_ref().map(|t| t.count())
    }

    /// Queue an operation; returns its sequence number. When the writer is gone
    /// the operation is not written (logged), and its number is returned all
    /// the same: what waits for it is released only as the writer left the
    /// durable mark (closed by a stop: released; left by a writer fenced off:
    /// never), not by a number (0) that every mark has reached already.
    pub fn submit(&self, op: Op) -> u64 {
        let mut g = self.submit.lock().unwrap_or_else(|p| p.into_inner());
        g.0 += 1;
        let seq = g.0;
        if !g.1.send((seq, op)) {
            tracing::error!(seq, "journal writer is gone; record not written");
        }
        seq
    }

    /// The sequence number of the last operation submitted.
    pub fn submitted(&self) -> u64 {
        self.submit.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Operations submitted and not yet committed.
    pub fn backlog(&self) -> u64 {
        self.submitted().saturating_sub(self.durable.get())
    }

    /// Wait until everything up to `seq` is committed.
    pub async fn durable(&self, seq: u64) {
        self.durable.reached(seq).await;
    }

    /// Run `work` once everything up to `seq` is committed: from the writer thread
    /// right after that commit, or now if it already is (see
    /// [`durable_mark::HeldWork`]: it must not block).
    pub fn when_durable(&self, seq: u64, work: durable_mark::HeldWork) {
        self.durable.then(seq, work);
    }

    /// In relaxed mode, after submitting `seq`: wait for the writer if it is a
    /// whole batch (`group_commit_max` records) behind, so that no more than one
    /// batch is ever unwritten and a crash loses at most that batch. Returns at
    /// once while the writer keeps up.
    pub async fn hold_to_one_batch(&self, seq: u64) {
        let Some(bound) = seq.checked_sub(self.max_unwritten) else {
            return;
        };
        if self.durable.get() < bound {
            metrics::counter!("switch_journal_backlog_waits_total").increment(1);
            self.durable(bound).await;
        }
    }

    /// Strict or relaxed.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// The business day in force at `unix_ms`.
    pub fn business_day(&self, unix_ms: i64) -> i64 {
        business_day::scheduled_day(unix_ms, self.cutover_secs)
            .max(self.day_override.load(Ordering::Relaxed))
    }

    /// The business day in force at `unix_ms` and when it began (Unix ms; see
    /// [`day_opened`] for how a manual cutover's time is known).
    pub fn business_day_opened(&self, unix_ms: i64) -> (i64, i64) {
        let day = self.business_day(unix_ms);
        (
            day,
            self.day_opened.observe(day, unix_ms, self.cutover_secs),
        )
    }

    /// Close the business day in force at `unix_ms`: later records belong to the next.
    pub fn cutover(&self, unix_ms: i64) -> i64 {
        let next = self.business_day(unix_ms) + 1;
        self.day_override.fetch_max(next, Ordering::Relaxed);
        self.day_opened.cut_over(next, unix_ms);
        self.submit(Op::DayOverride(next));
        tracing::info!(day = %business_day::format_day(next), "cutover: new business day");
        next
    }

    /// Record one journal entry; returns its sequence number. The request a
    /// forwarded record carries (reduced again to what its reversal copies, so
    /// that no caller can store card data; the reversal owed on restart is made
    /// from it then) is encoded here, on the caller's
    /// thread: the message's allocations are freed where they were made (freed
    /// on the writer thread, each would take its arena's lock), and the writer
    /// binds the bytes.
    pub fn journal(&self, mut record: JournalRecord, unix_ms: i64) -> u64 {
        let day = self.business_day(unix_ms);
        let reversal = record
            .forwarded
            .take()
            .and_then(|m| writer::storage_form_of_forwarded(reversal_source(m)));
        self.submit(Op::Journal {
            record: Box::new(record),
            reversal,
            day,
            at_ms: unix_ms,
        })
    }

    /// Whether the database commits: false from a failed commit until one
    /// succeeds (PostgreSQL unreachable; SQLite failing). While false the core
    /// answers what it cannot make durable with 96.
    pub fn available(&self) -> bool {
        self.available.load(Ordering::SeqCst)
    }

    /// Call `hook` (on the writer thread, before the commit counts as durable)
    /// for every forward whose cross-node claim another node holds: (sequence
    /// number, issuer, the switch's STAN). PostgreSQL cluster mode only; it
    /// must not block.
    pub fn set_claim_refused(&self, hook: refusals::ClaimRefusedHook) {
        self.refusals.set_hook(hook);
    }

    /// Whether the journal operation `seq` was a forward refused by its claim
    /// (its held forward must not be sent).
    pub fn refused(&self, seq: u64) -> bool {
        self.refusals.is_refused(seq)
    }

    /// In cluster mode, a commit that finds this node taken over (its epoch
    /// moved) is rolled back, logged, and the process exits (3); with a hook
    /// the hook is called instead, given the node that took over (tests). The
    /// writer then stops without releasing anything held for that batch.
    pub fn set_fenced(&self, hook: Box<dyn Fn(&str) + Send + Sync>) {
        if let Some(fence) = &self.fence {
            fence.set_hook(hook);
        }
    }

    /// The most recent forwarded transaction (any node's) with the first of
    /// `keys` that names one, from the shared journal (PostgreSQL in cluster
    /// mode; None otherwise): the original of a reversal or advice another node
    /// forwarded. The caller bounds the wait.
    pub async fn find_forwarded(
        &self,
        keys: &[crate::core::recent::AcquirerKey],
    ) -> Result<Option<ForwardedRow>, String> {
        match &self.original_lookup {
            Some(lookup) => lookup.find(keys).await,
            None => Ok(None),
        }
    }

    /// The other cluster nodes' stand-in approvals of `day` and every
    /// negative-file update (PostgreSQL in cluster mode; None otherwise). The
    /// caller bounds the wait.
    pub async fn stand_in_elsewhere(
        &self,
        day: i64,
    ) -> Option<Result<stand_in::Elsewhere, String>> {
        Some(self.stand_in_poll.as_ref()?.read(day).await)
    }

    /// The cluster membership for the lease loop (PostgreSQL in cluster mode).
    pub fn membership(&self) -> Option<Arc<dyn crate::cluster::Membership>> {
        self.membership.clone()
    }

    /// The backend, for logs: `sqlite` or `postgresql`.
    pub fn backend(&self) -> &'static str {
        if self.sqlite {
            "sqlite"
        } else {
            "postgresql"
        }
    }

    /// Commit everything queued and stop the writer (graceful shutdown).
    pub fn close(&self) -> Duration {
        let seq = self.submit(Op::Stop);
        let started = std::time::SystemTime::now();
        if let Some(handle) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = handle.join();
        }
        // The checkpointer's last checkpoint, and its connection closed (the
        // last one: SQLite then removes its WAL files), before the store says
        // it is closed.
        let checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((stop, handle)) = checkpointer {
            drop(stop);
            let _ = handle.join();
        }
        tracing::info!(seq, "journal closed");
        started.elapsed().unwrap_or_default()
    }
}
