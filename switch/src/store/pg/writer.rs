//! The PostgreSQL writer thread: the same operations from the same channel as
//! SQLite's writer, the same durable mark, one transaction per batch
//! ([`super::batch`]) on a current-thread tokio runtime of its own.
//!
//! Failure: a commit that errs, or does not finish within [`COMMIT_TIMEOUT`],
//! marks the store unavailable, drops the connection, and the writer reconnects
//! with backoff and commits the same batch again (it stays in memory: nothing
//! the switch accepted is lost; a batch whose commit outcome was unknown is
//! written again without doubling anything, every statement being idempotent).
//! The first commit that succeeds marks the store available again.
//!
//! In cluster mode every commit is fenced by this node's epoch ([`super::fence`]):
//! a batch that finds the node taken over is rolled back and the writer stops
//! there, releasing nothing held for it (the process exits).
//!
//! Beside the commits, about once a second, it carries out `switch cutover`
//! requests and reads the cluster's business-day override (a cutover on any node
//! holds on all), and about every 10 s deletes claims older than the duplicate
//! window.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::batch::CommitError;
use super::connection::{self, Connection};
use super::fence::Fence;
use crate::config::PostgresConfig;
use crate::store::business_day::scheduled_day;
use crate::store::durable_mark::DurableMark;
use crate::store::refusals::Refusals;
use crate::store::writer::{gather, unix_ms, Gathered};
use crate::store::Op;

/// A commit that takes longer counts as failed (client-side; then reconnect).
pub const COMMIT_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the cluster's business day and cutover requests are looked at.
const DAY_POLL: Duration = Duration::from_secs(1);

/// How often claims past the duplicate window are deleted.
const CLAIMS_PURGE: Duration = Duration::from_secs(10);

/// Reconnection backoff: from the first to the last, doubling.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How long a closing writer keeps trying to commit its last batch while the
/// database is unreachable (then it gives up, logged: the switch is stopping).
const CLOSE_PATIENCE: Duration = Duration::from_secs(10);

/// How committing a batch ended.
enum Outcome {
    Committed,
    /// Closing, and the database stayed unreachable.
    GaveUp,
    /// This node was taken over: nothing more may be written or released.
    Fenced,
}

/// Why one commit attempt failed.
enum Failure {
    /// The database failed (described): reconnect and retry.
    Database(String),
    /// This node no longer holds its lease.
    Fenced,
}

/// What the writer needs besides its channel.
pub struct Writer {
    pub runtime: tokio::runtime::Runtime,
    pub conn: Option<Connection>,
    pub config: PostgresConfig,
    pub durable: Arc<DurableMark>,
    pub available: Arc<AtomicBool>,
    pub refusals: Arc<Refusals>,
    pub day_override: Arc<AtomicI64>,
    pub max_batch: usize,
    pub window: Duration,
    pub cutover_secs: u32,
    /// This node's name ('' for a single node).
    pub node: String,
    /// Cluster mode: claim duplicate keys, and fence commits by `epoch`.
    pub claim: bool,
    /// This node's epoch (set once registered).
    pub epoch: i64,
    /// What a fenced commit does.
    pub fence: Arc<Fence>,
    pub duplicate_window: Duration,
}

impl Writer {
    /// The writer loop: runs until `Op::Stop` or every sender is gone.
    pub fn run(mut self, rx: Receiver<(u64, Op)>) {
        /// However the loop ends, waiters are released.
        struct Release(Arc<DurableMark>);
        impl Drop for Release {
            fn drop(&mut self) {
                self.0.close();
            }
        }
        let release = Release(self.durable.clone());
        let mut batch: Vec<(u64, Op)> = Vec::with_capacity(self.max_batch);
        let mut polled = SystemTime::now() - DAY_POLL;
        let mut purged = SystemTime::now();
        loop {
            if polled.elapsed().map_or(true, |e| e >= DAY_POLL) {
                self.poll_day();
                polled = SystemTime::now();
            }
            if purged.elapsed().map_or(true, |e| e >= CLAIMS_PURGE) && self.claim {
                self.purge_claims();
                purged = SystemTime::now();
            }
            let (stop, last) = match gather(&rx, &mut batch, self.max_batch, self.window) {
                Gathered::Batch { stop, last } => (stop, last),
                Gathered::Nothing => continue,
                Gathered::Closed => return,
            };
            match self.commit_until_done(&batch, stop) {
                Outcome::Committed => {}
                Outcome::GaveUp => {
                    tracing::error!(
                        records = batch.len(),
                        "journal: the database stayed unreachable while closing; the last batch is not written"
                    );
                    return;
                }
                Outcome::Fenced => {
                    // Nothing held for this batch (or any later) may be
                    // released: the waiters are left waiting, not closed.
                    std::mem::forget(release);
                    return;
                }
            }
            batch.clear();
            self.durable.advance(last);
            if stop {
                return;
            }
        }
    }

    /// Commit `batch`, reconnecting as long as it takes (a closing writer: at
    /// most [`CLOSE_PATIENCE`]). Refused claims are reported before returning,
    /// so before the durable mark moves.
    fn commit_until_done(&mut self, batch: &[(u64, Op)], closing: bool) -> Outcome {
        let started = SystemTime::now();
        let mut attempt = 0u32;
        loop {
            match self.try_commit(batch) {
                Ok(refused) => {
                    self.mark_available();
                    metrics::histogram!("switch_journal_commit_seconds")
                        .record(started.elapsed().unwrap_or_default().as_secs_f64());
                    metrics::histogram!("switch_journal_batch_size").record(batch.len() as f64);
                    for r in refused {
                        self.refusals.refuse(r.seq, &r.issuer, r.switch_stan);
                    }
                    return Outcome::Committed;
                }
                Err(Failure::Fenced) => {
                    let taken_by = self.taken_by();
                    self.fence
                        .fenced(&self.node, self.epoch, &taken_by, batch.len());
                    return Outcome::Fenced;
                }
                Err(Failure::Database(e)) => {
                    attempt += 1;
                    self.mark_unavailable(&e, batch.len());
                    metrics::counter!("switch_journal_commit_errors_total").increment(1);
                    if closing && started.elapsed().map_or(true, |e| e >= CLOSE_PATIENCE) {
                        return Outcome::GaveUp;
                    }
                    let backoff = BACKOFF_FIRST
                        .saturating_mul(1 << attempt.min(8))
                        .min(BACKOFF_MAX);
                    std::thread::sleep(backoff);
                }
            }
        }
    }

    /// Connect when needed, then one commit bounded by [`COMMIT_TIMEOUT`].
    fn try_commit(&mut self, batch: &[(u64, Op)]) -> Result<Vec<super::batch::Refused>, Failure> {
        let Writer {
            runtime,
            conn,
            config,
            node,
            claim,
            epoch,
            ..
        } = self;
        let fenced_by = claim.then_some(*epoch);
        runtime.block_on(async {
            if conn.is_none() {
                *conn = Some(connection::open(config).await.map_err(Failure::Database)?);
            }
            let Some(open) = conn.as_mut() else {
                return Err(Failure::Database("no connection".to_string()));
            };
            match tokio::time::timeout(
                COMMIT_TIMEOUT,
                super::batch::commit(open, batch, node, fenced_by),
            )
            .await
            {
                Ok(Ok(refused)) => Ok(refused),
                Ok(Err(CommitError::Fenced)) => Err(Failure::Fenced),
                Ok(Err(CommitError::Database(e))) => {
                    Err(Failure::Database(connection::describe(&e)))
                }
                Err(_) => Err(Failure::Database(format!(
                    "commit took over {COMMIT_TIMEOUT:?}"
                ))),
            }
        })
    }

    /// Who took this node over (for the log of a fenced commit).
    fn taken_by(&mut self) -> String {
        let Some(open) = self.conn.as_ref() else {
            return "(unknown: no connection)".to_string();
        };
        let lookup = super::fence::taken_by(&open.client, &self.node);
        self.runtime
            .block_on(async { tokio::time::timeout(COMMIT_TIMEOUT, lookup).await })
            .unwrap_or_else(|_| "(unknown: no answer)".to_string())
    }

    /// Carry out pending `switch cutover` requests (exactly once across nodes:
    /// the rows are locked by whichever node takes them), then adopt the
    /// cluster's business-day override.
    ///
    /// It also watches the database while no batch does: a poll that fails
    /// marks the store unavailable (the core answers 96 at once rather than
    /// after a commit's timeout), and one that succeeds after reconnecting
    /// marks it available again.
    fn poll_day(&mut self) {
        if self.conn.is_none() {
            match self.runtime.block_on(connection::open(&self.config)) {
                Ok(conn) => self.conn = Some(conn),
                Err(e) => {
                    tracing::debug!(error = %e, "journal: still no database");
                    return;
                }
            }
        }
        let Writer {
            runtime,
            conn,
            day_override,
            cutover_secs,
            ..
        } = self;
        let Some(open) = conn.as_mut() else {
            return;
        };
        let poll = async {
            let tx = open.client.transaction().await?;
            let taken = tx
                .query(
                    "UPDATE cutover_requests SET done = 1 WHERE done = 0 RETURNING id",
                    &[],
                )
                .await?;
            let stored = super::recover::day_override(&tx).await?;
            if !taken.is_empty() {
                let next = scheduled_day(unix_ms(), *cutover_secs)
                    .max(day_override.load(Ordering::Relaxed))
                    .max(stored)
                    + 1;
                tx.execute(&open.statements.day_override, &[&next]).await?;
                tracing::info!(day = %crate::store::business_day::format_day(next), "cutover by command: new business day");
            }
            let stored = super::recover::day_override(&tx).await?;
            tx.commit().await?;
            day_override.fetch_max(stored, Ordering::Relaxed);
            Ok::<_, tokio_postgres::Error>(())
        };
        let result = runtime.block_on(async { tokio::time::timeout(COMMIT_TIMEOUT, poll).await });
        match result {
            Ok(Ok(())) => self.mark_available(),
            Ok(Err(e)) => self.mark_unavailable(&connection::describe(&e), 0),
            Err(_) => self.mark_unavailable("the business day poll took over 2 s", 0),
        }
    }

    /// The database committed: the store is available.
    fn mark_available(&self) {
        if !self.available.swap(true, Ordering::SeqCst) {
            tracing::info!("journal: the database is available again");
        }
        metrics::gauge!("switch_store_available").set(1.0);
    }

    /// The database failed (`records` were waiting): the store is unavailable
    /// and the connection is dropped, to be opened again.
    fn mark_unavailable(&mut self, error: &str, records: usize) {
        self.conn = None;
        if self.available.swap(false, Ordering::SeqCst) {
            tracing::error!(%error, records, "journal: the database failed; the store is unavailable until it answers again");
        } else {
            tracing::debug!(%error, "journal: the database failed again");
        }
        metrics::gauge!("switch_store_available").set(0.0);
    }

    /// Delete claims older than the duplicate window (any node's).
    fn purge_claims(&mut self) {
        let Some(open) = self.conn.as_ref() else {
            return;
        };
        let before = unix_ms() - self.duplicate_window.as_millis() as i64;
        let deleted = self.runtime.block_on(
            open.client
                .execute("DELETE FROM claims WHERE created_ms < $1", &[&before]),
        );
        if let Err(e) = deleted {
            let error = connection::describe(&e);
            tracing::warn!(%error, "old claims not deleted");
        }
    }
}
