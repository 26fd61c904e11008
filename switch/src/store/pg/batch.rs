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

use std::collections::{HashMap, HashSet};

use std::task::Poll;

use futures_util::future::try_join_all;
use futures_util::TryFutureExt;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use super::connection::Connection;
use crate::core::journal::{FinalState, JournalRecord};
use crate::store::row::{journal_row, JournalRow};
use crate::store::writer::{completed_in_batch, state_name, Completion};
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
pub const JOURNAL: &str = concat!("WITH ", in_flight!(), "\n", journal_upsert!());

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

/// [`JOURNAL`]'s text (a macro, so that [`FENCED`] embeds it).
macro_rules! journal_upsert {
    () => {
        "INSERT INTO journal (node, id, business_day, created_ms, updated_ms, mti, acquirer, issuer,
    transmission, stan, rrn, terminal, switch_stan, pan_first6, pan_last4, pan_hash,
    processing_code, amount, currency, response_code, auth_code, rule, state, elapsed_ms,
    reverses_transmission, reverses_stan, channel, app, stand_in, stand_in_entry, advice_saf)
SELECT $32, v.* FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
      $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[],
      $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::int[], $19::text[],
      $20::text[], $21::text[], $22::text[], $23::bigint[], $24::text[], $25::text[],
      $27::text[], $28::text[], $29::text[], $30::text[], $31::bigint[]) AS v
ON CONFLICT (id) DO UPDATE SET updated_ms = excluded.updated_ms,
    response_code = excluded.response_code, auth_code = excluded.auth_code,
    state = excluded.state, elapsed_ms = excluded.elapsed_ms,
    switch_stan = coalesce(excluded.switch_stan, journal.switch_stan),
    stand_in = excluded.stand_in, stand_in_entry = excluded.stand_in_entry,
    advice_saf = excluded.advice_saf
  WHERE journal.state = 'forwarded' AND excluded.state <> 'forwarded'"
    };
}
use journal_upsert;

/// [`FENCED`]'s text, the claims' conflict clause given.
macro_rules! fenced {
    ($on_conflict:literal) => {
        concat!(
            "WITH held AS (
    SELECT 1 FROM nodes WHERE name = $32 AND epoch = $37 AND state = 'live' FOR KEY SHARE),
fence AS (
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM held) THEN switch_refuse_commit($32, $37) END),
claimed AS (
    INSERT INTO claims (key, node, txn_id, created_ms)
    SELECT c.key, $32, c.txn_id, c.created_ms
    FROM unnest($34::text[], $35::bigint[], $36::bigint[]) AS c(key, txn_id, created_ms)
    ",
            $on_conflict,
            "
    RETURNING txn_id),
",
            in_flight!(),
            ",
written AS (",
            journal_upsert!(),
            ")
SELECT NULL FROM fence UNION ALL SELECT txn_id FROM claimed"
        )
    };
}

/// A cluster node's batch in one statement: the fence (node `$32` holds its
/// lease under epoch `$37`, its row locked `FOR KEY SHARE`, or the statement
/// fails: see [`super::fence`]; PL/pgSQL, which cost about a twentieth of the
/// server's CPU in a two-node run when it held the whole check, is called
/// only to raise the error), the claims of duplicate keys (`$34` keys, `$35`
/// transaction ids, `$36` times), and [`JOURNAL`]'s rows and list. A
/// statement is atomic: should the fence refuse, or anything fail, nothing of
/// it is written, whichever part ran first (the fence's row lock is held to
/// the commit, so a take-over cannot come between the check and the rows).
/// It returns the transaction ids whose claim is this node's (new, or its own
/// from a retried batch); a key another node holds returns nothing, and its
/// forward must not leave. The first row, NULL, is the fence's: read first,
/// so that it runs whatever the batch holds, and before any row is written
/// (its lock taken first, as a take-over takes it).
///
/// One statement where five went (BEGIN, fence, journal, claims, COMMIT),
/// each answered by a message of its own: measured before, the server's
/// sends were a fifth of its CPU in a two-node run.
pub const FENCED: &str = fenced!(
    "ON CONFLICT (key) DO UPDATE SET created_ms = claims.created_ms
      WHERE claims.node = excluded.node AND claims.txn_id = excluded.txn_id"
);

/// [`FENCED`] for a batch whose keys are all new, as nearly every batch's
/// are: the claims inserted as plain rows, so a key already held fails the
/// whole statement (unique violation on `claims_pkey`: [`is_claim_held`]),
/// writing nothing, and the batch is then sent again as [`FENCED`], whose
/// upsert tells this node's keys (a retried batch) from another node's. A
/// plain insert finds a key's conflict once, where the upsert's speculative
/// insertion probes the index first, then inserts, then confirms the row
/// (one WAL record more per claim).
pub const FENCED_NEW: &str = fenced!("");

/// Whether `e` is [`FENCED_NEW`] failing on a key already claimed.
fn is_claim_held(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        *db.code() == tokio_postgres::error::SqlState::UNIQUE_VIOLATION
            && db.constraint() == Some("claims_pkey")
    })
}

/// A forward whose claim another node holds: it must not leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The journal operation's sequence number.
    pub seq: u64,
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

/// [`JOURNAL`]'s parameters ($1 to $33), and the ones [`FENCED`] adds after them.
const JOURNAL_PARAMS: usize = 33;
const CLAIM_PARAMS: usize = 4;

/// The journal rows of a batch as column arrays (the statement's parameters).
#[derive(Default)]
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

/// The claims a batch makes: one per forwarded request (not a reversal).
#[derive(Default)]
struct Claims {
    keys: Vec<String>,
    txn_ids: Vec<i64>,
    created_ms: Vec<i64>,
    /// txn id → what to refuse should the claim be another node's.
    pending: HashMap<i64, Refused>,
    /// Refused within the batch itself (the same key twice).
    refused: Vec<Refused>,
    /// The stand-in approvals among them (undone if refused).
    stand_in: Vec<super::stand_in_claims::Approval>,
}

impl Claims {
    fn add(&mut self, seq: u64, r: &JournalRecord, at_ms: i64) {
        let (Some(issuer), Some(switch_stan)) = (r.issuer.as_ref(), r.switch_stan) else {
            return;
        };
        let refusal = Refused {
            seq,
            issuer: issuer.to_string(),
            switch_stan,
        };
        if let Some(note) = &r.stand_in {
            self.stand_in.push(super::stand_in_claims::Approval {
                seq,
                txn_id: r.id as i64,
                advice: note.advice_saf.map(|id| id as i64),
            });
        }
        let key = claim_key(r);
        if self.keys.contains(&key) {
            self.refused.push(refusal);
            return;
        }
        self.keys.push(key);
        self.txn_ids.push(r.id as i64);
        self.created_ms.push(at_ms);
        self.pending.insert(r.id as i64, refusal);
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
        CommitError::Database(e)
    }
}

/// Write `batch` in one transaction for `node` ('' for a single node), sent
/// whole before any answer is awaited. In cluster mode (`epoch` given) the
/// transaction checks that `node` still holds its lease under `epoch` (failing
/// if not) and claims duplicate keys. Returns the refused forwards. Any error
/// leaves nothing written (the server rolls the transaction back, at the
/// COMMIT or when the connection, which the caller drops after an error other
/// than the fence's, is gone).
pub async fn commit(
    conn: &Connection,
    batch: &[(u64, Op)],
    node: &String,
    epoch: Option<i64>,
) -> Result<Vec<Refused>, CommitError> {
    let claim = epoch.is_some();
    let plan = completed_in_batch(batch);
    let mut columns = Columns::default();
    let mut claims = Claims::default();
    let mut others: Vec<&Op> = Vec::new();
    for (at, (seq, op)) in batch.iter().enumerate() {
        match (op, plan.get(&at)) {
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
                    claims.add(*seq, record, *at_ms);
                }
                match completion {
                    Some(Completion::Merged) => {}
                    Some(Completion::By(outcome, done_ms)) => columns.push(journal_row(
                        record,
                        reversal.as_deref(),
                        outcome,
                        *day,
                        *at_ms,
                        *done_ms,
                    )),
                    None => columns.push(journal_row(
                        record,
                        reversal.as_deref(),
                        record,
                        *day,
                        *at_ms,
                        *at_ms,
                    )),
                }
            }
            (Op::Stop, _) => {}
            (other, _) => others.push(other),
        }
    }
    let statements = &conn.statements;
    let client = &conn.client;
    // What the claims' answers are checked against.
    let refused_in_batch = std::mem::take(&mut claims.refused);
    let pending = std::mem::take(&mut claims.pending);
    let stand_in = std::mem::take(&mut claims.stand_in);
    // The batch's journal rows, and in cluster mode its fence and claims, in
    // one statement; it returns the claims' answers (none for a single node).
    let journal_params = columns.params(node);
    let fenced_params = epoch.as_ref().map(|epoch| {
        let claim_params: [&(dyn ToSql + Sync); CLAIM_PARAMS] =
            [&claims.keys, &claims.txn_ids, &claims.created_ms, epoch];
        // No allocation: one array, the journal's parameters then the claims'.
        let params: [&(dyn ToSql + Sync); JOURNAL_PARAMS + CLAIM_PARAMS] =
            std::array::from_fn(|i| match i.checked_sub(JOURNAL_PARAMS) {
                None => journal_params[i],
                Some(j) => claim_params[j],
            });
        params
    });
    // The batch is the journal's statement alone: no BEGIN and COMMIT.
    let alone = others.is_empty() && stand_in.is_empty();
    let journal = async {
        match &fenced_params {
            Some(params) => {
                // Alone, the batch's statement tries its keys as new first;
                // in a transaction a failed statement would abort the rest.
                let first = if alone {
                    &statements.fenced_new
                } else {
                    &statements.fenced
                };
                let claimed = match client.query(first, params).await {
                    Err(e) if alone && is_claim_held(&e) => {
                        client.query(&statements.fenced, params).await
                    }
                    done => done,
                };
                claimed.map_err(|e| {
                    if super::fence::is_fenced(&e) {
                        CommitError::Fenced
                    } else {
                        CommitError::Database(e)
                    }
                })
            }
            None if columns.id.is_empty() => Ok(Vec::new()),
            None => client
                .execute(&statements.journal, &journal_params)
                .await
                .map(|_| Vec::new())
                .map_err(CommitError::from),
        }
    };
    if alone {
        // The batch is that one statement: a transaction of its own,
        // committed (durably) when it returns, so no BEGIN and COMMIT around
        // it, and one answer from the server.
        let claimed = journal.await?;
        return Ok(refused_among(refused_in_batch, pending, claimed));
    }
    // Each future sends its statement when first polled, and `try_join!` polls
    // them in this order: BEGIN, the journal's statement, the others.
    let begin = client
        .execute(&statements.begin, &[])
        .map_err(CommitError::from);
    // Every statement finds its rows by key, whatever the tables' sizes when
    // PostgreSQL cached its plan (the store-and-forward queue may be empty
    // then and long in an outage): the writer's session never plans a scan
    // instead (`connection::WRITER_SESSION`).
    let rest = try_join_all(
        others
            .into_iter()
            .map(|op| apply(client, statements, op, node)),
    )
    .map_err(CommitError::from);
    let mut work = std::pin::pin!(async { futures_util::try_join!(begin, journal, rest) });
    // One poll sends the whole transaction but its COMMIT. A statement that
    // failed without being sent (a parameter that does not encode) ends the
    // poll with its error before the statements after it are sent; the COMMIT
    // must then not follow, or it would commit the batch without them (the
    // caller drops the connection: the server rolls back).
    let sent = futures_util::poll!(work.as_mut());
    if let Poll::Ready(Err(e)) = sent {
        return Err(e);
    }
    // The claims' answers decide what a batch with stand-in approvals must undo
    // before it commits (rare: an issuer down); so such a batch awaits them and
    // sends its COMMIT after the undo, a round trip more.
    if !stand_in.is_empty() {
        let worked = match sent {
            Poll::Ready(done) => done,
            Poll::Pending => work.await,
        };
        let undone = match worked {
            Ok((_, claimed, _)) => {
                let refused = refused_among(refused_in_batch, pending, claimed);
                super::stand_in_claims::undo_refused(
                    client,
                    &stand_in,
                    refused.iter().map(|r| r.seq),
                )
                .await
                .map(|()| refused)
                .map_err(CommitError::from)
            }
            Err(e) => Err(e),
        };
        // COMMIT either way: after a failed statement it ends the aborted
        // transaction (a rollback), so the connection is usable again (the
        // fenced writer asks it which node took over).
        let committed = client.execute(&statements.commit, &[]).await;
        let refused = undone?;
        committed?;
        return Ok(refused);
    }
    // The COMMIT goes out behind the statements, before any answer: one round
    // trip for the batch. A statement that fails (the fence refusing, or the
    // database) aborts the transaction on the server, and this COMMIT then
    // rolls it back; so the batch counts as committed only when every
    // statement and the COMMIT succeeded.
    let commit = client.execute(&statements.commit, &[]);
    let (worked, committed) = match sent {
        Poll::Ready(done) => (done, commit.await),
        Poll::Pending => futures_util::join!(work, commit),
    };
    let (_, claimed, _) = worked?;
    committed?;
    Ok(refused_among(refused_in_batch, pending, claimed))
}

/// What a batch refuses, in sequence order: `refused` (keys claimed twice in
/// it), and of `pending` the claims the statement did not return (another
/// node's).
fn refused_among(
    mut refused: Vec<Refused>,
    mut pending: HashMap<i64, Refused>,
    claimed: Vec<tokio_postgres::Row>,
) -> Vec<Refused> {
    for row in claimed {
        // The fence's row is NULL.
        if let Some(txn_id) = row.get::<_, Option<i64>>(0) {
            pending.remove(&txn_id);
        }
    }
    refused.extend(pending.into_values());
    refused.sort_by_key(|r| r.seq);
    refused
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
