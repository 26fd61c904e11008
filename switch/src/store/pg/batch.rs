//! One batch, one transaction: the writer's group commit on PostgreSQL. The
//! batch is planned as SQLite's is ([`completed_in_batch`]: a transaction
//! forwarded and completed in the same batch is one row), then its journal rows
//! go in ONE statement (arrays `unnest`ed into an upsert: inserts, and
//! completions of rows earlier batches wrote), which in cluster mode also
//! checks the node's lease and claims the duplicate keys ([`FENCED`]). A batch
//! of journal records alone is that one statement, a transaction by itself:
//! one message to the server, one answer. A batch with other operations
//! (store-and-forward, negative file, business day) sends them as statements
//! of their own, all back to back (pipelined), BEGIN to COMMIT, before the
//! first answer is awaited, so a commit costs one round trip however many
//! records it carries.
//!
//! A claim is the claimed row's `claim_key` (schema version 5), unique among
//! the journal's rows. Nearly every batch's keys are new, and its statement
//! writes them as they are; one that meets a key already held fails whole,
//! writing nothing (a unique violation on `journal_claim_key`), and the batch
//! is then written by [`commit_contested`], which finds out first which keys
//! are held and by whom.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::future::try_join_all;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use super::connection::Connection;
use crate::core::journal::{FinalState, JournalRecord};
use crate::store::refusals::Refusals;
use crate::store::row::{journal_row, JournalRow};
use crate::store::writer::{completed_in_batch, state_name, unix_ms, Completion};
use crate::store::Op;

/// Insert journal rows, or complete the forwarded rows earlier batches wrote:
/// a final record whose row is still forwarded updates its outcome (as SQLite's
/// `write_record` does); any other row is inserted, left as it is when it
/// exists already (a record written twice, or a batch retried after a commit
/// whose outcome was unknown).
///
/// One upsert: every row, new or completed, is found through the primary key
/// (the conflict's arbiter), whatever the planner knows of the journal. The
/// statement before it (an UPDATE joined to the rows, then an INSERT of those
/// it did not update) left the access path to the planner, which counted the
/// few live forwarded rows and scanned the partial index `journal_forwarded`
/// (schema versions 1-3) for every batch; but every row was inserted
/// forwarded and its update was never HOT, so until a vacuum that index held
/// an entry for every row written since, and each batch cost in proportion to
/// them (measured: most of the server's CPU in a 10-second run). A row may
/// appear once per statement (`commit` keeps a transaction's first record of
/// a batch, as SQLite's writer keeps the first).
///
/// The forwarded rows it writes are listed in `in_flight` (schema version 4),
/// and the rows it completes taken off the list, in the same statement
/// (`$33`: the ids of the rows whose state is final, an array of their own;
/// the DELETE probes the primary key for each, the writer's session never
/// planning a scan of the list instead: see
/// [`super::connection::WRITER_SESSION`]). Recovery finds a node's forwarded
/// rows there, and no index of the journal names `state`, so the completion's
/// update is HOT (the row's new version on its page, no index entry written
/// again; not when it sets `stand_in` or `advice_saf`, which indexes name: an
/// answer in stand-in).
pub const JOURNAL: &str = concat!("WITH ", in_flight!(), "\n", journal_upsert!("", ""));

/// The statement's parts that keep `in_flight`: the rows written forwarded
/// (ids `$1` whose state `$22` is forwarded) added with the reversal each owes
/// (`$26`), the rows completed (`$33`) removed. The reversal, needed only
/// while the row is forwarded, is kept there rather than in the journal's
/// row, which is then as long forwarded as completed: its update finds room
/// on its page more often.
macro_rules! in_flight {
    () => {
        "listed AS (
    INSERT INTO in_flight (id, node, reversal)
    SELECT f.id, $32, f.reversal
    FROM unnest($1::bigint[], $22::text[], $26::bytea[]) AS f(id, state, reversal)
    WHERE f.state = 'forwarded'
    ON CONFLICT (id) DO NOTHING),
unlisted AS (DELETE FROM in_flight WHERE id = ANY($33::bigint[]))"
    };
}
use in_flight;

/// [`JOURNAL`]'s text (a macro, so that [`FENCED`] embeds it), with one more
/// column and its parameter given ([`FENCED`]'s claim keys).
macro_rules! journal_upsert {
    ($column:literal, $param:literal) => {
        concat!(
            "INSERT INTO journal (node, id, business_day, created_ms, updated_ms, mti, acquirer, issuer,
    transmission, stan, rrn, terminal, switch_stan, pan_first6, pan_last4, pan_hash,
    processing_code, amount, currency, response_code, auth_code, rule, state, elapsed_ms,
    reverses_transmission, reverses_stan, channel, app, stand_in, stand_in_entry, advice_saf",
            $column,
            ")
SELECT $32, v.* FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
      $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[],
      $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::int[], $19::text[],
      $20::text[], $21::text[], $22::text[], $23::bigint[], $24::text[], $25::text[],
      $27::text[], $28::text[], $29::text[], $30::text[], $31::bigint[]",
            $param,
            ") AS v
ON CONFLICT (id) DO UPDATE SET updated_ms = excluded.updated_ms,
    response_code = excluded.response_code, auth_code = excluded.auth_code,
    state = excluded.state, elapsed_ms = excluded.elapsed_ms,
    switch_stan = coalesce(excluded.switch_stan, journal.switch_stan),
    stand_in = excluded.stand_in, stand_in_entry = excluded.stand_in_entry,
    advice_saf = excluded.advice_saf
  WHERE journal.state = 'forwarded' AND excluded.state <> 'forwarded'"
        )
    };
}
use journal_upsert;

/// A cluster node's batch in one statement: the fence (node `$32` holds its
/// lease under epoch `$35`, its row locked `FOR KEY SHARE`, or the statement
/// fails: see [`super::fence`]; PL/pgSQL, which cost about a twentieth of the
/// server's CPU in a two-node run when it held the whole check, is called
/// only to raise the error), and [`JOURNAL`]'s rows and list, each claimed
/// row with its duplicate key (`$34`, NULL for a row that claims nothing). A
/// statement is atomic: should the fence refuse, a key be held already, or
/// anything fail, nothing of it is written, whichever part ran first (the
/// fence's row lock is held to the commit, so a take-over cannot come
/// between the check and the rows). Its one row is the fence's, read first,
/// so that the check runs whatever the batch holds, and before any row is
/// written (its lock taken first, as a take-over takes it): the rows'
/// statement, which nothing reads, runs to its end after it.
///
/// The key is a column of the row it claims, held by the partial unique
/// index `journal_claim_key` (schema version 5): a claim costs that index's
/// entry, where a row of a table of its own cost a row, two index entries, a
/// purge and a vacuum (measured in `switch-compare --compare store`: see
/// `docs/cluster.md`, section 5). A key held already (another node's
/// request, or this node's own repeat) fails the statement with a unique
/// violation ([`is_claim_held`]); a key of this row's own (a batch retried
/// after a commit whose outcome was unknown) is never checked again, the
/// row being found by its id first (the conflict's arbiter).
pub const FENCED: &str = concat!(
    "WITH held AS (
    SELECT 1 FROM nodes WHERE name = $32 AND epoch = $35 AND state = 'live' FOR KEY SHARE),
fence AS (
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM held) THEN switch_refuse_commit($32, $35) END),
",
    in_flight!(),
    ",
written AS (",
    journal_upsert!(", claim_key", ", $34::text[]"),
    ")
SELECT 1 FROM fence"
);

/// The keys among `$1` held by a row written within the duplicate window
/// (created at `$2` or later), with the row's id, for [`commit_contested`];
/// the keys among them held by other rows than the batch's own (`$3`) older
/// than that are released (set to NULL: past the window a repeat is a new
/// request, as on a single node). Every key is found through the index that
/// holds it.
pub const HELD: &str = "WITH released AS (
    UPDATE journal SET claim_key = NULL
    WHERE claim_key = ANY($1::text[]) AND created_ms < $2 AND id <> ALL($3::bigint[]))
SELECT claim_key, id FROM journal WHERE claim_key = ANY($1::text[]) AND created_ms >= $2";

/// Whether `e` is a claim meeting a key already held: a unique violation on
/// `journal_claim_key`.
fn is_claim_held(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        *db.code() == tokio_postgres::error::SqlState::UNIQUE_VIOLATION
            && db.constraint() == Some("journal_claim_key")
    })
}

/// How many times [`commit_contested`] writes a batch whose claim another
/// node's concurrent commit took between its look and its write, before the
/// batch counts as failed (retried by the writer, after its backoff).
const CONTESTED_ATTEMPTS: u32 = 3;

/// What a cluster node's batch needs besides its records.
#[derive(Clone)]
pub struct Cluster {
    /// The node's epoch: its commits are fenced by it.
    pub epoch: i64,
    /// How long a claim refuses a repeat of its request.
    pub duplicate_window: Duration,
    /// The batch was sent before, and its commit's outcome is unknown: it may
    /// have committed, by [`commit_contested`], its refused rows written
    /// without their keys. [`FENCED`] would find those rows by their ids and
    /// pass, refusing nothing; so a retried batch is written by
    /// [`commit_contested`], which reads who holds each key and refuses the
    /// same forwards again.
    pub retried: bool,
    /// The transactions whose claim an earlier batch of this node refused
    /// (see [`Refusals`]): a later record of one (a stand-in approval after
    /// the refused forward timed out) is refused too, whatever its key finds
    /// (its row, written by the forward without the key, is updated, and an
    /// update never checks a key: only [`commit_contested`] does, here by
    /// the transaction).
    pub refusals: Arc<Refusals>,
}

/// A forward whose claim another node holds: it must not leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The journal operation's sequence number.
    pub seq: u64,
    /// Its transaction (journal row): every later claiming record of it is
    /// refused too.
    pub txn_id: i64,
    /// Where it was to go.
    pub issuer: String,
    /// The switch's STAN toward that issuer.
    pub switch_stan: u32,
}

/// The cross-node duplicate key of a forwarded request: acquirer, MTI class,
/// fields 7, 11 and 41 (no card data).
pub fn claim_key(r: &JournalRecord) -> String {
    let class = r.mti.get(1..2).unwrap_or_default();
    format!(
        "{}|{}|{}|{}|{}",
        r.acquirer, class, r.transmission, r.stan, r.terminal
    )
}

/// [`JOURNAL`]'s parameters ($1 to $33); [`FENCED`] adds two.
const JOURNAL_PARAMS: usize = 33;

/// The journal rows of a batch as column arrays (the statement's parameters).
struct Columns<'a> {
    /// The transactions already in the batch.
    ids: HashSet<i64>,
    id: Vec<i64>,
    business_day: Vec<i64>,
    created_ms: Vec<i64>,
    updated_ms: Vec<i64>,
    mti: Vec<&'a str>,
    acquirer: Vec<&'a str>,
    issuer: Vec<Option<&'a str>>,
    transmission: Vec<&'a str>,
    stan: Vec<&'a str>,
    rrn: Vec<&'a str>,
    terminal: Vec<&'a str>,
    switch_stan: Vec<Option<i64>>,
    pan_first6: Vec<&'a str>,
    pan_last4: Vec<&'a str>,
    pan_hash: Vec<Option<&'a str>>,
    processing_code: Vec<Option<&'a str>>,
    amount: Vec<Option<String>>,
    currency: Vec<Option<i32>>,
    response_code: Vec<&'a str>,
    auth_code: Vec<Option<&'a str>>,
    rule: Vec<Option<&'a str>>,
    state: Vec<&'static str>,
    elapsed_ms: Vec<i64>,
    reverses_transmission: Vec<Option<&'a str>>,
    reverses_stan: Vec<Option<&'a str>>,
    reversal: Vec<Option<&'a [u8]>>,
    channel: Vec<&'static str>,
    app: Vec<Option<&'a str>>,
    stand_in: Vec<Option<&'static str>>,
    stand_in_entry: Vec<Option<&'a str>>,
    advice_saf: Vec<Option<i64>>,
    /// The rows written in a final state: taken off `in_flight`.
    completed: Vec<i64>,
}

impl<'a> Columns<'a> {
    /// Room for `rows` rows (a batch's records at most): each column is
    /// allocated once, not grown by doubling as rows are pushed.
    fn with_capacity(rows: usize) -> Self {
        Columns {
            ids: HashSet::with_capacity(rows),
            id: Vec::with_capacity(rows),
            business_day: Vec::with_capacity(rows),
            created_ms: Vec::with_capacity(rows),
            updated_ms: Vec::with_capacity(rows),
            mti: Vec::with_capacity(rows),
            acquirer: Vec::with_capacity(rows),
            issuer: Vec::with_capacity(rows),
            transmission: Vec::with_capacity(rows),
            stan: Vec::with_capacity(rows),
            rrn: Vec::with_capacity(rows),
            terminal: Vec::with_capacity(rows),
            switch_stan: Vec::with_capacity(rows),
            pan_first6: Vec::with_capacity(rows),
            pan_last4: Vec::with_capacity(rows),
            pan_hash: Vec::with_capacity(rows),
            processing_code: Vec::with_capacity(rows),
            amount: Vec::with_capacity(rows),
            currency: Vec::with_capacity(rows),
            response_code: Vec::with_capacity(rows),
            auth_code: Vec::with_capacity(rows),
            rule: Vec::with_capacity(rows),
            state: Vec::with_capacity(rows),
            elapsed_ms: Vec::with_capacity(rows),
            reverses_transmission: Vec::with_capacity(rows),
            reverses_stan: Vec::with_capacity(rows),
            reversal: Vec::with_capacity(rows),
            channel: Vec::with_capacity(rows),
            app: Vec::with_capacity(rows),
            stand_in: Vec::with_capacity(rows),
            stand_in_entry: Vec::with_capacity(rows),
            advice_saf: Vec::with_capacity(rows),
            completed: Vec::with_capacity(rows),
        }
    }

    /// Add `row`, unless the batch has a row for its transaction already: an
    /// upsert may touch a row once, and the first record wins (as in SQLite's
    /// writer, where a later one finds the row written and leaves it).
    fn push(&mut self, row: JournalRow<'a>) {
        if !self.ids.insert(row.id) {
            return;
        }
        self.id.push(row.id);
        if row.state != state_name(FinalState::Forwarded) {
            self.completed.push(row.id);
        }
        self.business_day.push(row.business_day);
        self.created_ms.push(row.created_ms);
        self.updated_ms.push(row.updated_ms);
        self.mti.push(row.mti);
        self.acquirer.push(row.acquirer);
        self.issuer.push(row.issuer);
        self.transmission.push(row.transmission);
        self.stan.push(row.stan);
        self.rrn.push(row.rrn);
        self.terminal.push(row.terminal);
        self.switch_stan.push(row.switch_stan.map(i64::from));
        self.pan_first6.push(row.pan_first6);
        self.pan_last4.push(row.pan_last4);
        self.pan_hash.push(row.pan_hash);
        self.processing_code.push(row.processing_code);
        self.amount.push(row.amount);
        self.currency.push(row.currency.map(i32::from));
        self.response_code.push(row.response_code);
        self.auth_code.push(row.auth_code);
        self.rule.push(row.rule);
        self.state.push(row.state);
        self.elapsed_ms.push(row.elapsed_ms);
        self.reverses_transmission.push(row.reverses_transmission);
        self.reverses_stan.push(row.reverses_stan);
        self.reversal.push(row.reversal);
        self.channel.push(row.channel);
        self.app.push(row.app);
        self.stand_in.push(row.stand_in);
        self.stand_in_entry.push(row.stand_in_entry);
        self.advice_saf.push(row.advice_saf);
    }

    fn params<'p>(&'p self, node: &'p String) -> [&'p (dyn ToSql + Sync); JOURNAL_PARAMS] {
        [
            &self.id,
            &self.business_day,
            &self.created_ms,
            &self.updated_ms,
            &self.mti,
            &self.acquirer,
            &self.issuer,
            &self.transmission,
            &self.stan,
            &self.rrn,
            &self.terminal,
            &self.switch_stan,
            &self.pan_first6,
            &self.pan_last4,
            &self.pan_hash,
            &self.processing_code,
            &self.amount,
            &self.currency,
            &self.response_code,
            &self.auth_code,
            &self.rule,
            &self.state,
            &self.elapsed_ms,
            &self.reverses_transmission,
            &self.reverses_stan,
            &self.reversal,
            &self.channel,
            &self.app,
            &self.stand_in,
            &self.stand_in_entry,
            &self.advice_saf,
            node,
            &self.completed,
        ]
    }
}

/// A claiming record, borrowed from the batch: a [`Refused`] (which owns its
/// issuer's name) is made of it only if it is refused, which is rare.
#[derive(Clone, Copy)]
struct Claimant<'b> {
    seq: u64,
    txn_id: i64,
    issuer: &'b str,
    switch_stan: u32,
}

impl Claimant<'_> {
    fn refused(&self) -> Refused {
        Refused {
            seq: self.seq,
            txn_id: self.txn_id,
            issuer: self.issuer.to_string(),
            switch_stan: self.switch_stan,
        }
    }
}

/// The claims a batch makes: one per forwarded request (not a reversal), and
/// per stand-in approval.
#[derive(Default)]
struct Claims<'b> {
    /// What to refuse of each claiming transaction should another hold its key.
    by_txn: HashMap<i64, Claimant<'b>>,
    /// The transactions' later claiming records in the batch (a stand-in
    /// approval after its forward timed out, rare): refused with their
    /// transaction.
    later: Vec<Claimant<'b>>,
    /// Which transaction claims each key.
    holders: HashMap<String, i64>,
    /// Refused within the batch itself (a key claimed by two transactions).
    in_batch: Vec<Claimant<'b>>,
    /// The stand-in approvals among them (undone if refused).
    stand_in: Vec<super::stand_in_claims::Approval>,
}

impl<'b> Claims<'b> {
    fn add(&mut self, seq: u64, r: &'b JournalRecord) {
        let (Some(issuer), Some(switch_stan)) = (r.issuer.as_deref(), r.switch_stan) else {
            return;
        };
        let txn_id = r.id as i64;
        let refusal = Claimant {
            seq,
            txn_id,
            issuer,
            switch_stan,
        };
        if let Some(note) = &r.stand_in {
            self.stand_in.push(super::stand_in_claims::Approval {
                seq,
                txn_id,
                advice: note.advice_saf.map(|id| id as i64),
            });
        }
        let key = claim_key(r);
        match self.holders.get(&key) {
            // The same transaction's record again (its forward and its
            // stand-in approval): one claim, and both refused if it is.
            Some(holder) if *holder == txn_id => self.later.push(refusal),
            Some(_) => self.in_batch.push(refusal),
            None => {
                self.holders.insert(key, txn_id);
                self.by_txn.entry(txn_id).or_insert(refusal);
            }
        }
    }

    /// The key each row of `ids` writes: its claim's, none when it claims
    /// nothing or is among `refused` (a key it does not get).
    fn row_keys<'k>(&'k self, ids: &[i64], refused: &HashSet<i64>) -> Vec<Option<&'k str>> {
        let keys: HashMap<i64, &str> = self
            .holders
            .iter()
            .filter(|(_, id)| !refused.contains(id))
            .map(|(key, id)| (*id, key.as_str()))
            .collect();
        ids.iter().map(|id| keys.get(id).copied()).collect()
    }

    /// What the batch refuses, in sequence order: the keys claimed twice in
    /// it, and every claiming record of the transactions among `refused`.
    fn refusals(&self, refused: &HashSet<i64>) -> Vec<Refused> {
        let mut all: Vec<Refused> = self.in_batch.iter().map(Claimant::refused).collect();
        all.extend(
            refused
                .iter()
                .filter_map(|id| self.by_txn.get(id).map(Claimant::refused)),
        );
        all.extend(
            self.later
                .iter()
                .filter(|c| refused.contains(&c.txn_id))
                .map(Claimant::refused),
        );
        all.sort_by_key(|r| r.seq);
        all
    }

    /// The batch's claiming transactions that an earlier batch refused.
    fn refused_earlier(&self, refusals: &Refusals) -> HashSet<i64> {
        refusals.txns_among(self.by_txn.keys().copied())
    }
}

/// Why a batch was not committed.
#[derive(Debug)]
pub enum CommitError {
    /// The database failed: retry (the batch is idempotent).
    Database(tokio_postgres::Error),
    /// This node no longer holds its lease under its epoch: rolled back, and
    /// never to be retried (see [`super::fence`]).
    Fenced,
}

impl From<tokio_postgres::Error> for CommitError {
    fn from(e: tokio_postgres::Error) -> Self {
        if super::fence::is_fenced(&e) {
            CommitError::Fenced
        } else {
            CommitError::Database(e)
        }
    }
}

/// A batch planned: its journal rows, its claims (cluster mode), the rest.
struct Planned<'b> {
    columns: Columns<'b>,
    claims: Claims<'b>,
    others: Vec<&'b Op>,
}

/// Plan `batch`'s statements; `claim`: cluster mode.
fn plan(batch: &[(u64, Op)], claim: bool) -> Planned<'_> {
    let completions = completed_in_batch(batch);
    let mut planned = Planned {
        columns: Columns::with_capacity(batch.len()),
        claims: Claims::default(),
        others: Vec::new(),
    };
    for (at, (seq, op)) in batch.iter().enumerate() {
        match (op, completions.get(&at)) {
            (
                Op::Journal {
                    record,
                    reversal,
                    day,
                    at_ms,
                },
                completion,
            ) => {
                if claim && record.takes_cluster_claim() {
                    planned.claims.add(*seq, record);
                }
                let (outcome, done_ms) = match completion {
                    Some(Completion::Merged) => continue,
                    Some(Completion::By(outcome, done_ms)) => (*outcome, *done_ms),
                    None => (&**record, *at_ms),
                };
                planned.columns.push(journal_row(
                    record,
                    reversal.as_deref(),
                    outcome,
                    *day,
                    *at_ms,
                    done_ms,
                ));
            }
            (Op::Stop, _) => {}
            (other, _) => planned.others.push(other),
        }
    }
    planned
}

/// Write `batch` in one transaction for `node` ('' for a single node), sent
/// whole before any answer is awaited (a contested batch awaits its look at
/// the keys held first: [`commit_contested`]). In cluster mode (`cluster` given) the
/// transaction checks that `node` still holds its lease under its epoch
/// (failing if not) and claims duplicate keys. Returns the refused forwards.
/// Any error leaves nothing written (the server rolls the transaction back, at
/// the COMMIT or when the connection, which the caller drops after an error
/// other than the fence's, is gone).
pub async fn commit(
    conn: &Connection,
    batch: &[(u64, Op)],
    node: &String,
    cluster: Option<Cluster>,
) -> Result<Vec<Refused>, CommitError> {
    let planned = plan(batch, cluster.is_some());
    let Planned {
        columns,
        claims,
        others,
    } = &planned;
    let journal_params = columns.params(node);
    let Some(cluster) = cluster else {
        let journal = async {
            if columns.id.is_empty() {
                return Ok(0);
            }
            conn.client
                .execute(&conn.statements.journal, &journal_params)
                .await
        };
        pipelined(conn, journal, others, node).await?;
        return Ok(Vec::new());
    };
    // A key claimed twice in the batch (rare: the node's own duplicate check
    // let a repeat through), a batch retried, or one with a record of a
    // transaction refused before, is written as a contested batch is.
    let earlier = claims.refused_earlier(&cluster.refusals);
    let contested = !claims.in_batch.is_empty()
        || (cluster.retried && !claims.holders.is_empty())
        || !earlier.is_empty();
    if !contested {
        let keys = claims.row_keys(&columns.id, &HashSet::new());
        let params = fenced_params(&journal_params, &keys, &cluster.epoch);
        let journal = conn.client.execute(&conn.statements.fenced, &params);
        match pipelined(conn, journal, others, node).await {
            Ok(()) => return Ok(Vec::new()),
            Err(e) if is_claim_held(&e) => {}
            Err(e) => return Err(CommitError::from(e)),
        }
    }
    commit_contested(conn, &planned, node, cluster, &earlier).await
}

/// [`FENCED`]'s parameters: [`JOURNAL`]'s, the rows' claim keys, the epoch.
fn fenced_params<'p>(
    journal: &[&'p (dyn ToSql + Sync); JOURNAL_PARAMS],
    keys: &'p (dyn ToSql + Sync),
    epoch: &'p i64,
) -> [&'p (dyn ToSql + Sync); JOURNAL_PARAMS + 2] {
    // No allocation: one array, the journal's parameters then the two.
    std::array::from_fn(|i| match i.checked_sub(JOURNAL_PARAMS) {
        None => journal[i],
        Some(0) => keys,
        Some(_) => epoch,
    })
}

/// A cluster batch one of whose keys is held already (or claimed twice in
/// it): written in a transaction that first asks which of its keys are held
/// within the duplicate window, and by which rows ([`HELD`], which releases
/// the older ones), then writes every row, a refused one without its key,
/// and declines the refused stand-in approvals ([`super::stand_in_claims`]).
/// Another node's commit may take a key between the look and the write (its
/// insert is not seen until it commits): the write then fails as the first
/// did, and the transaction is tried again, up to [`CONTESTED_ATTEMPTS`]
/// times. Rare: a request sent to two nodes, or repeated past the window.
/// The transactions in `refused_earlier` (refused by an earlier batch) are
/// refused whatever their keys find.
async fn commit_contested(
    conn: &Connection,
    planned: &Planned<'_>,
    node: &String,
    cluster: Cluster,
    refused_earlier: &HashSet<i64>,
) -> Result<Vec<Refused>, CommitError> {
    let Planned {
        columns,
        claims,
        others,
    } = planned;
    let (client, statements) = (&conn.client, &conn.statements);
    let journal_params = columns.params(node);
    let keys: Vec<&str> = claims.holders.keys().map(String::as_str).collect();
    let own: Vec<i64> = claims.holders.values().copied().collect();
    let mut attempt = 1;
    loop {
        client.execute(&statements.begin, &[]).await?;
        let window_start = unix_ms() - cluster.duplicate_window.as_millis() as i64;
        let held = match client
            .query(&statements.held, &[&keys, &window_start, &own])
            .await
        {
            Ok(held) => held,
            Err(e) => {
                // The transaction is aborted: end it, so the connection can be
                // used again (the fenced writer asks it who took over).
                let _ = client.execute(&statements.commit, &[]).await;
                return Err(CommitError::from(e));
            }
        };
        let mut refused: HashSet<i64> = held
            .iter()
            .filter_map(|row| {
                let holder = claims.holders.get(row.get::<_, &str>(0))?;
                (*holder != row.get::<_, i64>(1)).then_some(*holder)
            })
            .collect();
        refused.extend(refused_earlier);
        let refusals = claims.refusals(&refused);
        let row_keys = claims.row_keys(&columns.id, &refused);
        let params = fenced_params(&journal_params, &row_keys, &cluster.epoch);
        let journal = client.execute(&statements.fenced, &params);
        let undone = refusals.iter().map(|r| r.seq);
        let undo = super::stand_in_claims::undo_refused(client, &claims.stand_in, undone);
        match in_transaction(conn, Begin::Done, journal, others, node, undo).await {
            Ok(()) => {
                if !refusals.is_empty() {
                    tracing::info!(
                        refused = refusals.len(),
                        "claims held by other requests: forwards refused"
                    );
                }
                return Ok(refusals);
            }
            Err(e) if is_claim_held(&e) && attempt < CONTESTED_ATTEMPTS => attempt += 1,
            Err(e) => return Err(CommitError::from(e)),
        }
    }
}

/// Send `journal` (the batch's journal statement, not yet polled) and
/// `others`: alone as a transaction of its own when there are no others
/// (committed, durably, when it returns; no BEGIN and COMMIT, one answer from
/// the server), in a transaction otherwise ([`in_transaction`]).
async fn pipelined(
    conn: &Connection,
    journal: impl Future<Output = Result<u64, tokio_postgres::Error>>,
    others: &[&Op],
    node: &String,
) -> Result<(), tokio_postgres::Error> {
    if others.is_empty() {
        return journal.await.map(drop);
    }
    in_transaction(conn, Begin::Now, journal, others, node, async { Ok(()) }).await
}

/// Whether [`in_transaction`] begins its transaction.
enum Begin {
    /// BEGIN goes first.
    Now,
    /// The caller's transaction is open already.
    Done,
}

/// A transaction's statements sent back to back (pipelined) before any answer
/// is awaited: BEGIN (unless begun), `journal`, `others`, then `undo` (the
/// contested batch's declined approvals), then its COMMIT, so that it costs
/// one round trip however many statements it carries.
async fn in_transaction(
    conn: &Connection,
    begin: Begin,
    journal: impl Future<Output = Result<u64, tokio_postgres::Error>>,
    others: &[&Op],
    node: &String,
    undo: impl Future<Output = Result<(), tokio_postgres::Error>>,
) -> Result<(), tokio_postgres::Error> {
    let (client, statements) = (&conn.client, &conn.statements);
    let begin = async {
        match begin {
            Begin::Now => client.execute(&statements.begin, &[]).await,
            Begin::Done => Ok(0),
        }
    };
    // Every statement finds its rows by key, whatever the tables' sizes when
    // PostgreSQL cached its plan (the store-and-forward queue may be empty
    // then and long in an outage): the writer's session never plans a scan
    // instead (`connection::WRITER_SESSION`).
    let rest = try_join_all(others.iter().map(|op| apply(client, statements, op, node)));
    // Each future sends its statement when first polled, and `try_join!`
    // polls them in this order, and reports the first error in it.
    let mut work = std::pin::pin!(async { futures_util::try_join!(begin, journal, rest, undo) });
    // One poll sends the whole transaction but its COMMIT. A statement that
    // failed without being sent (a parameter that does not encode) ends the
    // poll with its error before the statements after it are sent; the COMMIT
    // must then not follow, or it would commit the batch without them (the
    // caller drops the connection: the server rolls back).
    let sent = futures_util::poll!(work.as_mut());
    if let Poll::Ready(Err(e)) = sent {
        return Err(e);
    }
    // The COMMIT goes out behind the statements, before any answer. A
    // statement that fails (the fence refusing, a key held, or the database)
    // aborts the transaction on the server, and this COMMIT then rolls it
    // back (and ends it, so the connection is usable again); so the batch
    // counts as committed only when every statement and the COMMIT succeeded.
    let commit = client.execute(&statements.commit, &[]);
    let (worked, committed) = match sent {
        Poll::Ready(done) => (done, commit.await),
        Poll::Pending => futures_util::join!(work, commit),
    };
    worked?;
    committed.map(drop)
}

/// One operation other than a journal record.
async fn apply(
    tx: &Client,
    s: &super::connection::Statements,
    op: &Op,
    node: &String,
) -> Result<(), tokio_postgres::Error> {
    match op {
        Op::SafPush {
            id,
            issuer,
            message,
            card,
            queued_ms,
        } => {
            tx.execute(
                &s.saf_push,
                &[&(*id as i64), node, issuer, message, queued_ms, card],
            )
            .await
        }
        Op::SafAck { id, at_ms } => tx.execute(&s.saf_ack, &[&(*id as i64), at_ms]).await,
        Op::SafExpired { id } => tx.execute(&s.saf_delete, &[&(*id as i64)]).await,
        Op::SafAttempt { id, attempts } => {
            let attempts = i32::try_from(*attempts).unwrap_or(i32::MAX);
            tx.execute(&s.saf_attempt, &[&(*id as i64), &attempts])
                .await
        }
        Op::NegativeFile {
            issuer,
            digest,
            reason,
            at_ms,
        } => {
            tx.execute(&s.negative, &[issuer, digest, reason, at_ms])
                .await
        }
        Op::DayOverride(day) => tx.execute(&s.day_override, &[day]).await,
        Op::Vault(_) => {
            // The store refuses to open a vault on PostgreSQL (see `pg::open`),
            // so no vault write reaches this writer.
            tracing::error!("token vault write on PostgreSQL ignored (the vault is SQLite-only)");
            Ok(0)
        }
        Op::Journal { .. } | Op::Stop => Ok(0),
    }
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_key_names_the_request_without_its_card() {
        let r = crate::store::writer::tests::record(7, crate::core::journal::FinalState::Forwarded);
        let key = claim_key(&r);
        assert_eq!(key, "940800|2|1125101010|000123|TERM0001");
        assert!(!key.contains(r.pan_masked.as_str()));
        assert!(!key.contains("abab"), "nor the PAN's hash");
    }
}
