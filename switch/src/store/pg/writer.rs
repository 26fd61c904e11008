//! The PostgreSQL writer thread: the same operations as SQLite's writer (from
//! a channel it awaits), the same durable mark, one transaction per batch
//! ([`super::batch`]) on a current-thread tokio runtime of its own.
//!
//! Two batches are in flight at once, each on a connection of its own: while
//! one waits for its WAL flush the next one's statements run, and the server
//! merges their flushes (group commit). A single node's writer only: a
//! cluster node's waits for its batch to commit, the other nodes' batches
//! keeping the server busy meanwhile (see [`Writer::overlaps`]). A strict
//! transaction needs two commits in a row (its forward's record, then its
//! answer's), so overlapping them is most of what one node gains over one
//! commit at a time. The durable mark
//! still moves in order: a batch that commits before the one ahead of it waits
//! for it. Two batches in flight never write the same row
//! ([`super::overlap`]): a batch that would waits until the one ahead commits.
//!
//! Failure: a commit that errs, or does not finish within [`COMMIT_TIMEOUT`],
//! marks the store unavailable, drops the connections, and the writer
//! reconnects with backoff and sends every batch not yet committed again, in
//! order (they stay in memory: nothing the switch accepted is lost; a batch
//! whose commit outcome was unknown is written again without doubling
//! anything, every statement being idempotent). The first commit that succeeds
//! marks the store available again.
//!
//! In cluster mode every commit is fenced by this node's epoch ([`super::fence`]):
//! a batch that finds the node taken over is rolled back and the writer stops
//! there, releasing nothing held for it (the process exits).
//!
//! Between batches, about once a second, it carries out `switch cutover`
//! requests and reads the cluster's business-day override (a cutover on any
//! node holds on all).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::UnboundedReceiver;

use super::batch::{CommitError, Refused};
use super::connection::{self, Connection};
use super::fence::Fence;
use super::overlap::Touched;
use crate::config::PostgresConfig;
use crate::store::business_day::scheduled_day;
use crate::store::durable_mark::DurableMark;
use crate::store::refusals::Refusals;
use crate::store::writer::unix_ms;
use crate::store::Op;

/// A commit that takes longer counts as failed (client-side; then reconnect).
pub const COMMIT_TIMEOUT: Duration = Duration::from_secs(2);

/// Batches in flight at once, and so connections.
const DEPTH: usize = 2;

/// How long a batch is in flight alone before what came since goes out beside
/// it (the timer's resolution: a commit takes a few). A single node only: see
/// [`Writer::overlaps`].
const OVERLAP_AFTER: Duration = Duration::from_millis(1);

/// How often the cluster's business day and cutover requests are looked at.
const DAY_POLL: Duration = Duration::from_secs(1);

/// Reconnection backoff: from the first to the last, doubling.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How long a closing writer keeps trying to commit its last batches while
/// the database is unreachable (then it gives up, logged: the switch is
/// stopping).
const CLOSE_PATIENCE: Duration = Duration::from_secs(10);

/// Why one commit attempt failed.
enum Failure {
    /// The database failed (described): reconnect and retry.
    Database(String),
    /// This node no longer holds its lease.
    Fenced,
}

/// One commit attempt in flight: a task of its own on the writer's runtime,
/// so that it runs (sends its statements, reads its answers) while the loop
/// awaits the batch ahead of it; dropped, it is aborted.
struct Commit(tokio::task::JoinHandle<Result<Vec<Refused>, Failure>>);

impl Commit {
    fn spawn(
        attempt: impl Future<Output = Result<Vec<Refused>, Failure>> + Send + 'static,
    ) -> Commit {
        Commit(tokio::spawn(attempt))
    }
}

impl Drop for Commit {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Future for Commit {
    type Output = Result<Vec<Refused>, Failure>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|ended| {
            ended.unwrap_or_else(|e| Err(Failure::Database(format!("commit task: {e}"))))
        })
    }
}

/// A batch taken from the queue and not yet committed.
struct Pending {
    batch: Arc<Vec<(u64, Op)>>,
    /// Its last sequence number: durable once it commits.
    last: u64,
    /// It ends with `Op::Stop`.
    stop: bool,
    /// The rows it writes.
    touched: Touched,
    /// When it was taken (its commit time, retries included).
    taken: SystemTime,
    /// Failed attempts so far.
    attempts: u32,
    /// Sent before, and its commit's outcome unknown (it may have committed).
    retried: bool,
    /// In flight: on which connection, and the attempt.
    sent: Option<(usize, Commit)>,
}

/// What the loop waited for.
enum Event {
    /// The oldest batch's attempt ended.
    Ended(Result<Vec<Refused>, Failure>),
    /// An operation, or None: every sender is gone.
    Submitted(Option<(u64, Op)>),
}

/// What the writer needs besides its channel.
pub struct Writer {
    /// Connection `i` carries the batches sent on slot `i`.
    pub conns: [Option<Arc<Connection>>; DEPTH],
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
    /// The last commits' durations (the console's commit p99).
    pub commit_times: Arc<crate::store::commit_times::CommitTimes>,
}

impl Writer {
    /// The writer loop: runs until `Op::Stop` or every sender is gone, and
    /// everything taken is committed.
    pub async fn run(mut self, mut rx: UnboundedReceiver<(u64, Op)>) {
        /// However the loop ends, waiters are released.
        struct Release(Arc<DurableMark>);
        impl Drop for Release {
            fn drop(&mut self) {
                self.0.close();
            }
        }
        let release = Release(self.durable.clone());
        let mut queue: VecDeque<Pending> = VecDeque::with_capacity(DEPTH);
        let mut closing = false;
        let mut polled = SystemTime::now() - DAY_POLL;
        loop {
            let event = if queue.is_empty() {
                if closing {
                    return;
                }
                // The side work runs between batches, when no connection has
                // one in flight.
                if polled.elapsed().map_or(true, |e| e >= DAY_POLL) {
                    self.poll_day().await;
                    polled = SystemTime::now();
                }
                match tokio::time::timeout(DAY_POLL, rx.recv()).await {
                    Ok(op) => Event::Submitted(op),
                    Err(_) => continue,
                }
            } else {
                // No new batch while the side work is due: the queue drains,
                // and the branch above runs it (under load too).
                let due = polled.elapsed().map_or(true, |e| e >= DAY_POLL);
                let room = self.overlaps()
                    && queue.len() < DEPTH
                    && !closing
                    && !due
                    && queue.back().is_some_and(|p| p.sent.is_some());
                let Some((_, commit)) = queue.front_mut().and_then(|p| p.sent.as_mut()) else {
                    // Never left unsent by `send_ready`; sent again to be sure.
                    self.send_ready(&mut queue).await;
                    continue;
                };
                if room {
                    // Room for one more: what came meanwhile goes out beside
                    // the batch in flight once that one has been out for
                    // [`OVERLAP_AFTER`] (not at every operation: waking per
                    // operation costs CPU, and a batch of one costs the server
                    // a commit).
                    tokio::select! {
                        biased;
                        ended = commit => Event::Ended(ended),
                        () = tokio::time::sleep(OVERLAP_AFTER) => match rx.try_recv() {
                            Ok(op) => Event::Submitted(Some(op)),
                            Err(TryRecvError::Empty) => continue,
                            Err(TryRecvError::Disconnected) => Event::Submitted(None),
                        },
                    }
                } else {
                    Event::Ended(commit.await)
                }
            };
            match event {
                Event::Submitted(None) => closing = true,
                Event::Submitted(Some(first)) => {
                    let pending = self.gather(first, &mut rx);
                    closing = pending.stop;
                    queue.push_back(pending);
                }
                Event::Ended(Ok(refused)) => self.committed(&mut queue, refused),
                Event::Ended(Err(Failure::Fenced)) => {
                    let records = queue.front().map_or(0, |p| p.batch.len());
                    let taken_by = self.taken_by().await;
                    self.fence
                        .fenced(&self.node, self.epoch, &taken_by, records);
                    // Nothing held for this batch (or any later) may be
                    // released: the waiters are left waiting, not closed.
                    std::mem::forget(release);
                    return;
                }
                Event::Ended(Err(Failure::Database(e))) => {
                    if !self.failed(&mut queue, &e, closing).await {
                        let records: usize = queue.iter().map(|p| p.batch.len()).sum();
                        tracing::error!(
                            records,
                            "journal: the database stayed unreachable while closing; the last batches are not written"
                        );
                        return;
                    }
                }
            }
            self.send_ready(&mut queue).await;
        }
    }

    /// Whether a second batch goes out beside the one in flight (a single
    /// node), or only once that one has committed (a cluster node).
    ///
    /// One node alone keeps the server busy during its batch's WAL flush only
    /// by overlapping its own batches. Nodes of a cluster overlap each
    /// other's: a node's second batch would add a commit (the server's fixed
    /// cost of a statement, a transaction and a flush) for half as many
    /// records, and its timer would wake the writer every millisecond of a
    /// commit. Measured in
    /// `switch-compare --compare store` (two nodes, 64 connections, seven
    /// runs each, alternated): two nodes at 12,008 TPS on average without
    /// their own overlap against 11,253 with it, `pg2_tps_ratio` 0.923
    /// against 0.891.
    fn overlaps(&self) -> bool {
        !self.claim
    }

    /// The next batch, from its first operation and whatever else is waiting
    /// (up to `max_batch`) after the `window`.
    fn gather(&self, first: (u64, Op), rx: &mut UnboundedReceiver<(u64, Op)>) -> Pending {
        let mut batch = vec![first];
        if !self.window.is_zero() {
            // A thread sleep, not the runtime's timer (whole milliseconds):
            // the window is usually under one.
            std::thread::sleep(self.window);
        }
        while batch.len() < self.max_batch {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        Pending {
            last: batch.last().map_or(0, |(seq, _)| *seq),
            stop: batch.iter().any(|(_, op)| matches!(op, Op::Stop)),
            // Only a writer with two batches in flight compares them.
            touched: if self.overlaps() {
                Touched::of(&batch)
            } else {
                Touched::default()
            },
            batch: Arc::new(batch),
            taken: SystemTime::now(),
            attempts: 0,
            retried: false,
            sent: None,
        }
    }

    /// Send the batches not yet in flight, in order, each on a free connection,
    /// as long as none writes a row that a batch ahead of it writes.
    async fn send_ready(&mut self, queue: &mut VecDeque<Pending>) {
        for at in 0..queue.len() {
            if queue[at].sent.is_some() {
                continue;
            }
            let ahead = queue.iter().take(at);
            if ahead
                .clone()
                .any(|p| p.touched.overlaps(&queue[at].touched))
            {
                return;
            }
            let busy: Vec<usize> = ahead.filter_map(|p| p.sent.as_ref().map(|s| s.0)).collect();
            let Some(slot) = (0..DEPTH).find(|slot| !busy.contains(slot)) else {
                return;
            };
            let commit: Commit = match self.connection(slot).await {
                Ok(conn) => self.commit(conn, queue[at].batch.clone(), queue[at].retried),
                // Reported as this attempt's failure, in its turn.
                Err(e) => Commit::spawn(async { Err(Failure::Database(e)) }),
            };
            queue[at].sent = Some((slot, commit));
        }
    }

    /// Connection `slot`, opened if needed.
    async fn connection(&mut self, slot: usize) -> Result<Arc<Connection>, String> {
        if let Some(conn) = &self.conns[slot] {
            return Ok(conn.clone());
        }
        let conn = Arc::new(connection::open(&self.config).await?);
        self.conns[slot] = Some(conn.clone());
        Ok(conn)
    }

    /// One attempt at committing `batch` on `conn`, bounded by [`COMMIT_TIMEOUT`].
    /// `retried`: the batch was sent before (see [`super::batch::Cluster::retried`]).
    fn commit(&self, conn: Arc<Connection>, batch: Arc<Vec<(u64, Op)>>, retried: bool) -> Commit {
        let node = self.node.clone();
        let cluster = self.claim.then_some(super::batch::Cluster {
            epoch: self.epoch,
            duplicate_window: self.duplicate_window,
            retried,
            refusals: self.refusals.clone(),
        });
        Commit::spawn(async move {
            let attempt = super::batch::commit(&conn, &batch, &node, cluster);
            match tokio::time::timeout(COMMIT_TIMEOUT, attempt).await {
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

    /// The oldest batch committed: refused claims are reported, then the
    /// durable mark moves past it.
    fn committed(&mut self, queue: &mut VecDeque<Pending>, refused: Vec<Refused>) {
        let Some(done) = queue.pop_front() else {
            return;
        };
        self.mark_available();
        let took = done.taken.elapsed().unwrap_or_default();
        metrics::histogram!("switch_journal_commit_seconds").record(took.as_secs_f64());
        self.commit_times.record(took);
        metrics::histogram!("switch_journal_batch_size").record(done.batch.len() as f64);
        for r in refused {
            self.refusals
                .refuse(r.seq, r.txn_id, &r.issuer, r.switch_stan);
        }
        self.durable.advance(done.last);
    }

    /// The oldest batch's commit failed: every batch in flight is sent again,
    /// in order, on new connections, after a backoff (the one behind it too,
    /// whose outcome is unknown). False: closing, and it has failed for
    /// [`CLOSE_PATIENCE`].
    async fn failed(&mut self, queue: &mut VecDeque<Pending>, error: &str, closing: bool) -> bool {
        for pending in queue.iter_mut() {
            // A batch that was sent may have committed on the server.
            pending.retried |= pending.sent.take().is_some();
        }
        let records: usize = queue.iter().map(|p| p.batch.len()).sum();
        self.mark_unavailable(error, records);
        metrics::counter!("switch_journal_commit_errors_total").increment(1);
        let Some(oldest) = queue.front_mut() else {
            return true;
        };
        oldest.attempts += 1;
        if closing && oldest.taken.elapsed().map_or(true, |e| e >= CLOSE_PATIENCE) {
            return false;
        }
        let backoff = BACKOFF_FIRST
            .saturating_mul(1 << oldest.attempts.min(8))
            .min(BACKOFF_MAX);
        tokio::time::sleep(backoff).await;
        true
    }

    /// Who took this node over (for the log of a fenced commit).
    async fn taken_by(&self) -> String {
        let Some(open) = self.conns.iter().flatten().next() else {
            return "(unknown: no connection)".to_string();
        };
        let lookup = super::fence::taken_by(&open.client, &self.node);
        tokio::time::timeout(COMMIT_TIMEOUT, lookup)
            .await
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
    async fn poll_day(&mut self) {
        let open = match self.connection(0).await {
            Ok(open) => open,
            Err(e) => {
                tracing::debug!(error = %e, "journal: still no database");
                return;
            }
        };
        let (day_override, cutover_secs) = (&self.day_override, self.cutover_secs);
        let poll = async {
            // BEGIN and COMMIT by hand: the connection is shared with the
            // batches' commits (none in flight now). A failure drops it, and
            // the open transaction with it.
            let tx = &open.client;
            tx.execute(&open.statements.begin, &[]).await?;
            let taken = tx
                .query(
                    "UPDATE cutover_requests SET done = 1 WHERE done = 0 RETURNING id",
                    &[],
                )
                .await?;
            let stored = super::recover::day_override(tx).await?;
            if !taken.is_empty() {
                let next = scheduled_day(unix_ms(), cutover_secs)
                    .max(day_override.load(Ordering::Relaxed))
                    .max(stored)
                    + 1;
                tx.execute(&open.statements.day_override, &[&next]).await?;
                tracing::info!(day = %crate::store::business_day::format_day(next), "cutover by command: new business day");
            }
            let stored = super::recover::day_override(tx).await?;
            tx.execute(&open.statements.commit, &[]).await?;
            day_override.fetch_max(stored, Ordering::Relaxed);
            Ok::<_, tokio_postgres::Error>(())
        };
        match tokio::time::timeout(COMMIT_TIMEOUT, poll).await {
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
    /// and the connections are dropped, to be opened again.
    fn mark_unavailable(&mut self, error: &str, records: usize) {
        self.conns = Default::default();
        if self.available.swap(false, Ordering::SeqCst) {
            tracing::error!(%error, records, "journal: the database failed; the store is unavailable until it answers again");
        } else {
            tracing::debug!(%error, "journal: the database failed again");
        }
        metrics::gauge!("switch_store_available").set(0.0);
    }
}
