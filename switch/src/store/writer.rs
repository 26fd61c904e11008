//! The writer thread: group commit of journal and store-and-forward operations,
//! recovery at start, and cutover requests from the `switch cutover` command.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use codecs::mti::MessageClass;
use codecs::{Message, Spec};
use rusqlite::{params, Connection, OptionalExtension};

use super::business_day::scheduled_day;
use super::durable_mark::DurableMark;
use super::Recovered;
use crate::core::journal::{FinalState, JournalRecord};
use crate::core::saf::SafItem;
use crate::core::{reversal_of, without_card_data, Millis};

/// One write.
pub enum Op {
    /// Insert a journal record, or complete the one with its id.
    Journal {
        /// The record (its `reversal` already taken out and encoded).
        record: Box<JournalRecord>,
        /// While forwarded: the reversal owed on restart, in [`storage_spec`]'s
        /// encoding.
        reversal: Option<bytes::Bytes>,
        /// Its business day.
        day: i64,
        /// Unix milliseconds.
        at_ms: i64,
    },
    /// Queue a store-and-forward message.
    SafPush {
        /// Queue id.
        id: u64,
        /// The issuer it is owed to.
        issuer: String,
        /// iso87ascii encoding, without card data.
        message: Vec<u8>,
        /// A stand-in advice's PAN, sealed under the vault's data key.
        card: Option<Vec<u8>>,
        /// Unix milliseconds.
        queued_ms: i64,
    },
    /// The issuer acknowledged it (a stand-in advice's journal row is marked
    /// delivered at `at_ms`).
    SafAck {
        /// Queue id.
        id: u64,
        /// Unix milliseconds.
        at_ms: i64,
    },
    /// An item expired undelivered.
    SafExpired {
        /// Queue id.
        id: u64,
    },
    /// An issuer's negative-file update (0302): `reason` None deletes.
    NegativeFile {
        /// The issuer bank.
        issuer: String,
        /// SHA-256 of the PAN, hex.
        digest: String,
        /// lost, stolen or restricted; None: deleted.
        reason: Option<&'static str>,
        /// Unix milliseconds.
        at_ms: i64,
    },
    /// Another delivery attempt.
    SafAttempt {
        /// Queue id.
        id: u64,
        /// Attempts so far.
        attempts: u32,
    },
    /// A manual cutover moved the business day to this one.
    DayOverride(i64),
    /// A token vault write (encrypted already).
    Vault(super::vault::VaultOp),
    /// Commit and stop.
    Stop,
}

/// How often the writer looks for cutovers requested with `switch cutover`.
const CUTOVER_POLL: Duration = Duration::from_secs(1);

/// How often the writer finishes the checkpointer's work so the WAL starts over.
const WAL_CATCH_UP: Duration = Duration::from_millis(250);

/// Writer tunables.
pub struct Settings {
    pub max_batch: usize,
    pub window: Duration,
    pub cutover_secs: u32,
    /// Where each commit's duration goes (the console's commit p99).
    pub commit_times: Arc<super::commit_times::CommitTimes>,
}

/// The spec stored messages are encoded with.
pub fn storage_spec() -> Option<Arc<Spec>> {
    Spec::builtin("iso87ascii").ok()
}

/// What the journal keeps of a forwarded request (already reduced to the fields
/// its reversal copies, without card data: `reversal_source`) for the reversal owed should the switch restart before its answer: the
/// request itself in the storage spec, from which [`owed_reversal`] makes the
/// 0420 at recovery (so the request path never builds one). A request the
/// storage spec cannot hold (a host dialect's field beyond it) keeps the 0420
/// made now instead. None: neither encodes (logged; nothing is owed then).
pub fn storage_form_of_forwarded(forwarded: Message) -> Option<bytes::Bytes> {
    let spec = storage_spec()?;
    if let Ok(encoded) = spec.encode_to_bytes(&forwarded) {
        return Some(encoded);
    }
    let reversal = reversal_of(&forwarded).map(without_card_data)?;
    let encoded = spec.encode_to_bytes(&reversal);
    if let Err(e) = &encoded {
        // Names the field, never its content.
        tracing::error!(error = %e, "stored reversal does not encode; not kept");
    }
    encoded.ok()
}

/// The 0420 owed for a request left forwarded, in the storage spec, from what
/// [`storage_form_of_forwarded`] kept: the same message, byte for byte, as a
/// timeout would have queued (`reversal_of` of the request without card data).
/// A stored reversal (kept as such, or by an older version) is owed as it is.
/// None: the stored request does not decode or names no STAN (logged).
pub(super) fn owed_reversal(id: i64, stored: Vec<u8>) -> Option<Vec<u8>> {
    let spec = storage_spec()?;
    let made = spec.decode_slice(&stored).ok().and_then(|request| {
        if request.mti().class() == MessageClass::Reversal {
            return Some(None);
        }
        let reversal = reversal_of(&request).map(without_card_data)?;
        spec.encode_to_bytes(&reversal).ok().map(Some)
    });
    match made {
        Some(None) => Some(stored),
        Some(Some(reversal)) => Some(reversal.to_vec()),
        None => {
            tracing::error!(
                id,
                "the request left forwarded cannot be read back: no reversal can be made for it"
            );
            None
        }
    }
}

pub(super) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The writer loop: runs until `Op::Stop` or every sender is gone.
pub fn run(
    mut conn: Connection,
    rx: Receiver<(u64, Op)>,
    durable: Arc<DurableMark>,
    settings: Settings,
    day_override: Arc<AtomicI64>,
    available: Arc<std::sync::atomic::AtomicBool>,
) {
    /// However the loop ends, waiters are released.
    struct Release(Arc<DurableMark>);
    impl Drop for Release {
        fn drop(&mut self) {
            self.0.close();
        }
    }
    let durable = Release(durable);
    // The series exists from the start, as the PostgreSQL store's does.
    metrics::gauge!("switch_store_available").set(1.0);
    let mut batch: Vec<(u64, Op)> = Vec::with_capacity(settings.max_batch);
    // `switch cutover` requests are looked for about once a second, busy or idle.
    let mut polled = std::time::SystemTime::now();
    let mut catch_up = std::time::SystemTime::now();
    loop {
        if polled.elapsed().map_or(true, |e| e >= CUTOVER_POLL) {
            poll_cutover_requests(&conn, &settings, &day_override);
            polled = std::time::SystemTime::now();
        }
        let (stop, last) = match gather(&rx, &mut batch, settings.max_batch, settings.window) {
            Gathered::Batch { stop, last } => (stop, last),
            Gathered::Nothing => continue,
            Gathered::Closed => return,
        };
        let started = std::time::SystemTime::now();
        // A failed commit is retried: nothing acknowledged is lost, and strict-mode
        // responses wait (the metrics and log say why).
        let mut attempt = 0u32;
        while let Err(e) = commit(&mut conn, &batch) {
            mark_available(&available, false);
            attempt += 1;
            tracing::error!(error = %e, attempt, records = batch.len(), "journal commit failed; retrying");
            metrics::counter!("switch_journal_commit_errors_total").increment(1);
            std::thread::sleep(Duration::from_millis(200 * u64::from(attempt.min(10))));
        }
        mark_available(&available, true);
        let took = started.elapsed().unwrap_or_default();
        settings.commit_times.record(took);
        metrics::histogram!("switch_journal_commit_seconds").record(took.as_secs_f64());
        metrics::histogram!("switch_journal_batch_size").record(batch.len() as f64);
        batch.clear();
        durable.0.advance(last);
        // The checkpointer copies the WAL into the database beside the writer, but
        // under steady load new frames arrive while it copies, so it never catches
        // up and the WAL would grow without end (every commit then appends to it,
        // and appends sync slower than overwrites). Now and then the writer,
        // between its own commits, backfills what is left (little: the checkpointer
        // did the rest), so that its next commit starts the WAL over.
        if catch_up.elapsed().map_or(true, |e| e >= WAL_CATCH_UP) {
            if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
                tracing::warn!(error = %e, "journal checkpoint failed");
            }
            catch_up = std::time::SystemTime::now();
        }
        if stop {
            return;
        }
    }
}

/// Whether the database commits: for the core (`available`, read every
/// tick) and for the store alert (`switch_store_available`, set only when it
/// changes: a gauge look-up per batch would be wasted).
fn mark_available(available: &std::sync::atomic::AtomicBool, commits: bool) {
    if available.swap(commits, Ordering::SeqCst) != commits {
        metrics::gauge!("switch_store_available").set(if commits { 1.0 } else { 0.0 });
    }
}

/// What [`gather`] found.
pub(super) enum Gathered {
    /// A batch: whether it ends with `Op::Stop`, and its last sequence number.
    Batch { stop: bool, last: u64 },
    /// Nothing within a poll interval (time for the writer's side work).
    Nothing,
    /// Every sender is gone.
    Closed,
}

/// Gather the next batch into `batch` (either backend): wait up to a poll
/// interval for a first operation, then a short `window` for more to arrive
/// (one sleep, not a wake-up per record), then take whatever is waiting, up to
/// `max_batch`.
pub(super) fn gather(
    rx: &Receiver<(u64, Op)>,
    batch: &mut Vec<(u64, Op)>,
    max_batch: usize,
    window: Duration,
) -> Gathered {
    match rx.recv_timeout(CUTOVER_POLL) {
        Ok(op) => batch.push(op),
        Err(RecvTimeoutError::Timeout) => return Gathered::Nothing,
        Err(RecvTimeoutError::Disconnected) => return Gathered::Closed,
    }
    if !window.is_zero() {
        std::thread::sleep(window);
    }
    while batch.len() < max_batch {
        match rx.try_recv() {
            Ok(op) => batch.push(op),
            Err(_) => break,
        }
    }
    Gathered::Batch {
        stop: batch.iter().any(|(_, op)| matches!(op, Op::Stop)),
        last: batch.last().map_or(0, |(seq, _)| *seq),
    }
}

/// One transaction for the whole batch. BEGIN and COMMIT are cached statements
/// (not parsed again at every commit); a failed batch is rolled back whole, so
/// that the writer's retry starts clean.
///
/// A transaction forwarded and completed within the same batch (the usual case
/// in relaxed mode, where a commit gathers a millisecond of traffic) is written
/// once: its forwarded row, created and completed by one commit, is never seen
/// by anyone, so the row is inserted already completed.
fn commit(conn: &mut Connection, batch: &[(u64, Op)]) -> rusqlite::Result<()> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let completions = completed_in_batch(batch);
    let superseded = super::vault::superseded_counters(batch);
    let applied =
        batch
            .iter()
            .enumerate()
            .try_for_each(|(at, (_, op))| match (op, completions.get(&at)) {
                (_, Some(Completion::Merged)) => Ok(()),
                _ if superseded.get(at).copied().unwrap_or(false) => Ok(()),
                (
                    Op::Journal {
                        record,
                        reversal,
                        day,
                        at_ms,
                    },
                    Some(Completion::By(outcome, done_ms)),
                ) => insert_row(
                    conn,
                    record,
                    reversal.as_deref(),
                    outcome,
                    *day,
                    *at_ms,
                    *done_ms,
                ),
                _ => apply(conn, op),
            });
    let end = if applied.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    let ended = conn
        .prepare_cached(end)
        .and_then(|mut statement| statement.execute([]).map(drop));
    if ended.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    applied.and(ended)
}

/// What a batch does with a record whose transaction it both forwards and completes.
#[derive(Clone, Copy, Debug)]
pub(super) enum Completion<'a> {
    /// The forwarded record: inserted with this final record's outcome, at its time.
    By(&'a JournalRecord, i64),
    /// The final record: already written with its forwarded one.
    Merged,
}

/// For each transaction forwarded in `batch` and completed later in it: its
/// forwarded record's index → `By(the final record)`, its final's → `Merged`.
pub(super) fn completed_in_batch(
    batch: &[(u64, Op)],
) -> std::collections::HashMap<usize, Completion<'_>> {
    let mut forwarded = std::collections::HashMap::new();
    let mut plan = std::collections::HashMap::new();
    for (at, (_, op)) in batch.iter().enumerate() {
        let Op::Journal { record, at_ms, .. } = op else {
            continue;
        };
        if record.state == FinalState::Forwarded {
            forwarded.insert(record.id, at);
        } else if let Some(first) = forwarded.remove(&record.id) {
            plan.insert(first, Completion::By(record, *at_ms));
            plan.insert(at, Completion::Merged);
        }
    }
    plan
}

fn apply(tx: &Connection, op: &Op) -> rusqlite::Result<()> {
    match op {
        Op::Journal {
            record,
            reversal,
            day,
            at_ms,
        } => write_record(tx, record, reversal.as_deref(), *day, *at_ms),
        Op::SafPush {
            id,
            issuer,
            message,
            card,
            queued_ms,
        } => tx
            .prepare_cached(
                "INSERT OR REPLACE INTO saf (id, issuer, message, queued_ms, attempts, card) VALUES (?1, ?2, ?3, ?4, 0, ?5)",
            )?
            .execute(params![*id as i64, issuer, message, queued_ms, card])
            .map(drop),
        Op::SafAck { id, at_ms } => {
            let deleted = tx
                .prepare_cached("DELETE FROM saf WHERE id = ?1")?
                .execute(params![*id as i64])?;
            if deleted > 0 {
                // A stand-in advice's journal row learns it was delivered.
                tx.prepare_cached(
                    "UPDATE journal SET advice_delivered_ms = ?2
                     WHERE advice_saf = ?1 AND advice_delivered_ms IS NULL",
                )?
                .execute(params![*id as i64, at_ms])?;
            }
            Ok(())
        }
        Op::SafExpired { id } => tx
            .prepare_cached("DELETE FROM saf WHERE id = ?1")?
            .execute(params![*id as i64])
            .map(drop),
        Op::NegativeFile {
            issuer,
            digest,
            reason,
            at_ms,
        } => tx
            .prepare_cached(
                "INSERT INTO negative_file (issuer, digest, reason, updated_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(issuer, digest) DO UPDATE SET reason = excluded.reason, updated_ms = excluded.updated_ms",
            )?
            .execute(params![issuer, digest, reason, at_ms])
            .map(drop),
        Op::SafAttempt { id, attempts } => tx
            .prepare_cached("UPDATE saf SET attempts = ?2 WHERE id = ?1")?
            .execute(params![*id as i64, attempts])
            .map(drop),
        Op::DayOverride(day) => tx
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES ('business_day_override', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
            )?
            .execute(params![day])
            .map(drop),
        Op::Vault(op) => super::vault::apply(tx, op),
        Op::Stop => Ok(()),
    }
}

/// The journal's name of a state.
pub fn state_name(state: FinalState) -> &'static str {
    match state {
        FinalState::Forwarded => "forwarded",
        FinalState::Approved => "approved",
        FinalState::Declined => "declined",
        FinalState::TimedOut => "timed_out",
        FinalState::Reversed => "reversed",
    }
}

fn write_record(
    tx: &Connection,
    r: &JournalRecord,
    reversal: Option<&[u8]>,
    day: i64,
    at_ms: i64,
) -> rusqlite::Result<()> {
    // A final record completes the row its `Forwarded` record created (only the
    // outcome changes); a record with no such row creates its own.
    if r.state != FinalState::Forwarded {
        let completed = tx
            .prepare_cached(
                "UPDATE journal SET updated_ms = ?2, response_code = ?3, auth_code = ?4,
                    state = ?5, elapsed_ms = ?6, switch_stan = coalesce(?7, switch_stan),
                    reversal = NULL, stand_in = ?8, stand_in_entry = ?9, advice_saf = ?10
                 WHERE id = ?1 AND state = 'forwarded'",
            )?
            .execute(params![
                r.id as i64,
                at_ms,
                r.response_code.as_str(),
                r.auth_code.as_deref(),
                state_name(r.state),
                r.elapsed_ms as i64,
                r.switch_stan,
                r.stand_in.as_ref().map(|s| s.check),
                r.stand_in.as_ref().and_then(|s| s.entry.as_deref()),
                r.stand_in
                    .as_ref()
                    .and_then(|s| s.advice_saf)
                    .map(|id| id as i64),
            ])?;
        if completed > 0 {
            return Ok(());
        }
    }
    insert_row(tx, r, reversal, r, day, at_ms, at_ms)
}

/// Insert the row of `r` (created at `created_ms`, owing `reversal` on
/// restart while it is forwarded) with the outcome of
/// `outcome` (at `updated_ms`): `r` itself, or the final record that completes
/// it in the same commit. A row that exists already (a final record arriving
/// twice, or after its row was completed) is left as it is.
fn insert_row(
    tx: &Connection,
    r: &JournalRecord,
    reversal: Option<&[u8]>,
    outcome: &JournalRecord,
    day: i64,
    created_ms: i64,
    updated_ms: i64,
) -> rusqlite::Result<()> {
    let row = super::row::journal_row(r, reversal, outcome, day, created_ms, updated_ms);
    tx.prepare_cached(
        "INSERT INTO journal (id, business_day, created_ms, updated_ms, mti, acquirer, issuer,
            transmission, stan, rrn, terminal, switch_stan, pan_first6, pan_last4, pan_hash,
            amount, currency, response_code, auth_code, rule, state, elapsed_ms,
            reverses_transmission, reverses_stan, reversal, processing_code, channel, app,
            stand_in, stand_in_entry, advice_saf)
         VALUES (?1, ?2, ?3, ?26, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
            ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?27, ?28, ?29, ?30, ?31)
         ON CONFLICT(id) DO NOTHING",
    )?
    .execute(params![
        row.id,
        row.business_day,
        row.created_ms,
        row.mti,
        row.acquirer,
        row.issuer,
        row.transmission,
        row.stan,
        row.rrn,
        row.terminal,
        row.switch_stan,
        row.pan_first6,
        row.pan_last4,
        row.pan_hash,
        row.amount,
        row.currency,
        row.response_code,
        row.auth_code,
        row.rule,
        row.state,
        row.elapsed_ms,
        row.reverses_transmission,
        row.reverses_stan,
        row.reversal,
        row.processing_code,
        row.updated_ms,
        row.channel,
        row.app,
        row.stand_in,
        row.stand_in_entry,
        row.advice_saf,
    ])
    .map(drop)
}

/// At start: queue a reversal, exactly once, for every transaction the journal
/// shows as forwarded and never completed; then read back the whole queue.
pub fn recover(
    conn: &mut Connection,
    now_ms: i64,
    remember: usize,
    vault: Option<&super::vault::Vault>,
) -> rusqlite::Result<Recovered> {
    // The write lock up front (waiting out the busy timeout if another connection
    // holds it), not an upgrade from a read that fails at once when contended.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut reversals_queued = 0;
    {
        let mut next_saf: i64 =
            tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM saf", [], |r| r.get(0))?;
        let mut stmt =
            tx.prepare("SELECT id, issuer, reversal FROM journal WHERE state = 'forwarded'")?;
        let rows: Vec<(i64, Option<String>, Option<Vec<u8>>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        // A reversal the last run queued just before it stopped (a timeout, or an
        // approval the acquirer could not hear) may have been committed without
        // the journal update that closes its row: it is owed once, not twice. Both
        // hold the same message, encoded the same way.
        let queued: std::collections::HashSet<(String, Vec<u8>)> = tx
            .prepare("SELECT issuer, message FROM saf")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (id, issuer, forwarded) in rows {
            let reversal = forwarded.and_then(|stored| owed_reversal(id, stored));
            if let Some(owed) = issuer.zip(reversal).filter(|owed| !queued.contains(owed)) {
                let (issuer, message) = owed;
                tx.execute(
                    "INSERT INTO saf (id, issuer, message, queued_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![next_saf, issuer, message, now_ms],
                )?;
                next_saf += 1;
                reversals_queued += 1;
            }
            tx.execute(
                "UPDATE journal SET state = 'reversed_at_restart', response_code = '91',
                    reversal = NULL, updated_ms = ?2 WHERE id = ?1",
                params![id, now_ms],
            )?;
        }
    }
    tx.commit()?;
    let last_txn_id: i64 =
        conn.query_row("SELECT coalesce(max(id), 0) FROM journal", [], |r| r.get(0))?;
    // Above every id the journal names too (a stand-in advice's `advice_saf`):
    // an id used again would mark another run's advice delivered.
    let last_saf_id: i64 = conn.query_row(
        "SELECT max(coalesce((SELECT max(id) FROM saf), 0),
                    coalesce((SELECT max(advice_saf) FROM journal WHERE advice_saf IS NOT NULL), 0))",
        [],
        |r| r.get(0),
    )?;
    let mut stmt =
        conn.prepare("SELECT id, issuer, message, attempts, queued_ms, card FROM saf ORDER BY id")?;
    let saf = stmt
        .query_map([], |r| {
            Ok(SafRow {
                id: r.get(0)?,
                issuer: r.get(1)?,
                message: r.get(2)?,
                attempts: r.get(3)?,
                queued_ms: r.get(4)?,
                card: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter_map(|row| decode_saf_row(row, now_ms, vault))
        .collect();
    let forwarded = conn
        .prepare(
            "SELECT acquirer, transmission, stan, issuer, mti, switch_stan,
                    stand_in = 'within-limits' AND state = 'approved' FROM journal
             WHERE switch_stan IS NOT NULL AND issuer IS NOT NULL AND reverses_stan IS NULL
               AND (stand_in IS NULL OR state = 'approved')
             ORDER BY id DESC LIMIT ?1",
        )?
        .query_map([remember as i64], |r| {
            Ok(super::ForwardedRow {
                acquirer: r.get(0)?,
                transmission: r.get(1)?,
                stan: r.get(2)?,
                issuer: r.get(3)?,
                mti: r.get(4)?,
                switch_stan: r.get(5)?,
                stand_in: r.get::<_, Option<bool>>(6)?.unwrap_or(false),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Recovered::of_rows(
        last_txn_id as u64,
        saf,
        u64::try_from(last_saf_id).unwrap_or(0),
        reversals_queued,
        forwarded,
    ))
}

/// A `saf` row as stored (either backend).
pub(super) struct SafRow {
    pub id: i64,
    pub issuer: String,
    pub message: Vec<u8>,
    pub attempts: u32,
    pub queued_ms: i64,
    /// A stand-in advice's PAN, sealed under the vault's data key.
    pub card: Option<Vec<u8>>,
}

/// The queue item a stored row holds, its card opened when it is a stand-in
/// advice; None: the message does not decode (logged; left in the database).
pub(super) fn decode_saf_row(
    row: SafRow,
    now_ms: i64,
    vault: Option<&super::vault::Vault>,
) -> Option<SafItem> {
    let SafRow {
        id,
        issuer,
        message,
        attempts,
        queued_ms,
        card,
    } = row;
    let mut msg = storage_spec()?.decode_slice(&message).ok();
    if msg.is_none() {
        tracing::error!(id, %issuer, "stored store-and-forward message does not decode; left in the database");
    }
    // A stand-in advice gets its card back.
    let stand_in_advice = card.is_some();
    if let (Some(m), Some(sealed)) = (msg.as_mut(), card) {
        match vault.and_then(|v| super::saf::open_card(v, id as u64, &issuer, &sealed)) {
            Some(pan) => m.set(2, pan.expose()),
            None => {
                tracing::error!(id, %issuer, "stand-in advice: its sealed card does not open (no KEK, or another key's); delivered without it")
            }
        }
    }
    Some(SafItem {
        id: id as u64,
        issuer,
        msg: msg?,
        queued_at: Millis(0),
        // Its expiry counts from when it was first queued.
        waited_before_ms: u64::try_from(now_ms.saturating_sub(queued_ms)).unwrap_or(0),
        attempts,
        next_attempt: Millis(0),
        stand_in_advice,
    })
}

/// Carry out cutovers requested with `switch cutover` (rows in `cutover_requests`).
fn poll_cutover_requests(conn: &Connection, settings: &Settings, day_override: &AtomicI64) {
    let pending: Option<i64> = conn
        .query_row(
            "SELECT max(id) FROM cutover_requests WHERE done = 0",
            [],
            |r| r.get(0),
        )
        .optional()
        .ok()
        .flatten()
        .flatten();
    let Some(max_id) = pending else {
        return;
    };
    let now = unix_ms();
    let next =
        scheduled_day(now, settings.cutover_secs).max(day_override.load(Ordering::Relaxed)) + 1;
    day_override.fetch_max(next, Ordering::Relaxed);
    let result = conn.execute_batch(&format!(
        "BEGIN; UPDATE cutover_requests SET done = 1 WHERE id <= {max_id};
         INSERT INTO meta (key, value) VALUES ('business_day_override', {next})
         ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value); COMMIT;"
    ));
    match result {
        Ok(()) => {
            tracing::info!(day = %super::business_day::format_day(next), "cutover by command: new business day")
        }
        Err(e) => tracing::error!(error = %e, "cutover request not recorded"),
    }
}

/// Checkpoint the WAL about every 200 ms without blocking the writer (PASSIVE), and
/// fully (TRUNCATE) when stopped; ends when `stop` is dropped.
pub fn checkpoint_loop(conn: Connection, stop: Receiver<()>) {
    loop {
        match stop.recv_timeout(Duration::from_millis(200)) {
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
                    tracing::warn!(error = %e, "journal checkpoint failed");
                }
            }
            _ => {
                let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
                return;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) fn record(id: u64, state: FinalState) -> Box<JournalRecord> {
        let forwarded = state == FinalState::Forwarded;
        Box::new(JournalRecord {
            id,
            pan_hash: Some("ab".repeat(32)),
            reverses: None,
            forwarded: None,
            mti: "0200".into(),
            acquirer: "940800".into(),
            issuer: Some("940810".into()),
            transmission: "1125101010".into(),
            stan: "000123".into(),
            rrn: "000000000001".into(),
            terminal: "TERM0001".into(),
            // The forwarded record knows the switch's STAN; the final one may not.
            switch_stan: forwarded.then_some(77),
            pan_masked: "940810******1234".into(),
            processing_code: "000000".into(),
            amount: Some(rust_decimal::Decimal::new(1250, 2)),
            currency: Some(408),
            response_code: if forwarded { "" } else { "00" }.into(),
            auth_code: (!forwarded).then(|| "123456".into()),
            rule: Some("domestic".into()),
            state,
            elapsed_ms: if forwarded { 0 } else { 4 },
            channel: routing_rules::Channel::Terminal,
            app: None,
            stand_in: None,
        })
    }

    fn op(id: u64, state: FinalState, at_ms: i64) -> (u64, Op) {
        let record = record(id, state);
        // A forwarded record owes a reversal (any bytes will do here).
        let reversal = (state == FinalState::Forwarded).then(|| bytes::Bytes::from_static(b"0420"));
        (
            id,
            Op::Journal {
                record,
                reversal,
                day: 20_000,
                at_ms,
            },
        )
    }

    /// Every column but the id, as text.
    fn row(conn: &Connection, id: u64) -> Vec<String> {
        let mut stmt = conn.prepare("SELECT * FROM journal WHERE id = ?1").unwrap();
        let columns = stmt.column_count();
        stmt.query_row([id as i64], |r| {
            (1..columns)
                .map(|i| {
                    r.get::<_, rusqlite::types::Value>(i)
                        .map(|v| format!("{v:?}"))
                })
                .collect()
        })
        .unwrap()
    }

    #[test]
    fn a_transaction_forwarded_and_completed_in_one_batch_is_the_row_two_commits_make() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::schema::CREATE).unwrap();
        let together = [
            op(1, FinalState::Forwarded, 100),
            op(9, FinalState::Forwarded, 101),
            op(1, FinalState::Approved, 105),
        ];
        let plan = completed_in_batch(&together);
        assert!(
            matches!(plan.get(&0), Some(Completion::By(r, 105)) if r.state == FinalState::Approved)
        );
        assert!(matches!(plan.get(&2), Some(Completion::Merged)));
        assert!(!plan.contains_key(&1), "still forwarded: written as it is");
        commit(&mut conn, &together).unwrap();
        commit(&mut conn, &[op(2, FinalState::Forwarded, 100)]).unwrap();
        commit(&mut conn, &[op(2, FinalState::Approved, 105)]).unwrap();
        let merged = row(&conn, 1);
        assert_eq!(merged, row(&conn, 2));
        assert!(
            merged.contains(&"Text(\"approved\")".to_string()),
            "{merged:?}"
        );
        assert!(
            merged.contains(&"Integer(77)".to_string()),
            "the forwarded STAN is kept"
        );
        let owed: i64 = conn
            .query_row(
                "SELECT count(*) FROM journal WHERE reversal IS NOT NULL AND state != 'forwarded'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(owed, 0, "a completed row keeps no reversal");
        let still_owed: Option<Vec<u8>> = conn
            .query_row("SELECT reversal FROM journal WHERE id = 9", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(still_owed.is_some(), "a forwarded row keeps its reversal");
    }

    /// A commit that fails shows `switch_store_available` 0 until one
    /// succeeds (the database refuses journal rows until the trigger goes).
    #[test]
    fn the_availability_gauge_follows_the_commits() {
        use metrics_exporter_prometheus::PrometheusBuilder;
        let dir = std::env::temp_dir().join(format!("writer-available-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("journal.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(super::super::schema::CREATE).unwrap();
        conn.execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON journal BEGIN SELECT RAISE(ABORT, 'no'); END;",
        )
        .unwrap();
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let gauge = || {
            handle
                .render()
                .lines()
                .find_map(|l| l.strip_prefix("switch_store_available ").map(str::to_owned))
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let durable = Arc::new(DurableMark::default());
        let available = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let settings = Settings {
            max_batch: 16,
            window: Duration::from_millis(1),
            cutover_secs: 0,
            commit_times: Arc::default(),
        };
        let (writer_durable, writer_available) = (durable.clone(), available.clone());
        let writer = std::thread::spawn(move || {
            // The writer's metrics go to this test's recorder (its thread's).
            let _local = metrics::set_default_local_recorder(&recorder);
            run(
                conn,
                rx,
                writer_durable,
                settings,
                Arc::default(),
                writer_available,
            );
        });
        // At most 10 s (500 looks 20 ms apart): the retries back off to 2 s.
        let until = |want: &str| {
            for _ in 0..500 {
                if gauge().as_deref() == Some(want) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            gauge()
        };
        assert_eq!(until("1").as_deref(), Some("1"), "published at start");
        tx.send(op(1, FinalState::Declined, 100)).unwrap();
        assert_eq!(until("0").as_deref(), Some("0"), "a failed commit");
        assert!(!available.load(Ordering::SeqCst));
        Connection::open(&path)
            .unwrap()
            .execute_batch("DROP TRIGGER refuse;")
            .unwrap();
        assert_eq!(until("1").as_deref(), Some("1"), "committed again");
        assert_eq!(durable.get(), 1);
        drop(tx);
        writer.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_batch_is_rolled_back_and_the_next_one_commits() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::schema::CREATE).unwrap();
        conn.execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON saf BEGIN SELECT RAISE(ABORT, 'no'); END;",
        )
        .unwrap();
        let refused = (
            9,
            Op::SafPush {
                id: 1,
                issuer: "940810".into(),
                message: vec![1],
                card: None,
                queued_ms: 0,
            },
        );
        assert!(commit(&mut conn, &[op(3, FinalState::Forwarded, 100), refused]).is_err());
        assert!(conn.is_autocommit(), "no transaction left open");
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM journal", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0, "the whole batch was rolled back");
        commit(&mut conn, &[op(4, FinalState::Declined, 100)]).unwrap();
        assert!(row(&conn, 4).contains(&"Text(\"declined\")".to_string()));
    }
}
