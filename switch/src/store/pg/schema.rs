//! The PostgreSQL journal's tables: SQLite's (see [`crate::store::schema`]) with
//! PostgreSQL's types, a `node` column on `journal` and `saf` (the node that owns
//! the row; '' for a single node), the cluster's `nodes` (leases) and, since
//! version 5, the duplicate keys seen across nodes in the journal's rows. The
//! version lives in `schema_version`; the switch creates and migrates the
//! schema itself, under an advisory lock so that nodes starting together do
//! not race.
//!
//! Version 2 added the function a writer's batch called first to fence itself
//! ([`super::fence`]): it failed the transaction when the node's lease was not
//! held, so a batch sent with its COMMIT in one go could not commit once the
//! node had been taken over. Version 4 moved the check into the batch's
//! statement and dropped that function.
//!
//! Version 3 indexes `business_day` with BRIN instead of a B-tree: the journal
//! is written in business-day order, so a block range summary finds a day's
//! rows (settlement, the console) as well, and a row written costs no B-tree
//! insert for it (two per transaction: the forward's insert and the
//! completion's update).
//!
//! Version 4 makes the completion's update HOT (heap-only: no index written
//! again, the new version on the same page): the forwarded rows are listed in
//! a table of their own, `in_flight`, instead of the partial index
//! `journal_forwarded`, whose predicate named `state` (an update that changes
//! a column an index names, in its key or its predicate, is never HOT), and
//! the journal keeps room on its pages for the updates (`fillfactor`). The
//! reversal a forwarded row owes moves to its `in_flight` row (the journal's
//! `reversal` column is dropped), and the fence's check becomes plain SQL in
//! the batch's statement, PL/pgSQL (`switch_refuse_commit`) only raising its
//! error.
//!
//! Version 5 moves the cross-node claims into the journal: a claimed row (a
//! forward, or a stand-in approval, in cluster mode) carries its duplicate key
//! in `claim_key`, which a partial unique index holds (see [`V5`]), and the
//! table `claims` is dropped.

use tokio_postgres::GenericClient;

use super::connection::describe;

/// The version this build writes (1: the first PostgreSQL schema; 2: the
/// fence function; 3: `business_day` indexed by BRIN; 4: `in_flight`; 5: the
/// claims in the journal's rows).
pub const VERSION: i32 = 5;

/// Any number taken by every node for the migration (`pg_advisory_xact_lock`).
const MIGRATION_LOCK: i64 = 0x5357_4954_4348_0019;

/// Version 1, whole.
const V1: &str = "
CREATE TABLE IF NOT EXISTS journal (
    id BIGINT PRIMARY KEY,
    node TEXT NOT NULL DEFAULT '',
    business_day BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    mti TEXT NOT NULL,
    acquirer TEXT NOT NULL,
    issuer TEXT,
    transmission TEXT NOT NULL,
    stan TEXT NOT NULL,
    rrn TEXT NOT NULL,
    terminal TEXT NOT NULL,
    switch_stan BIGINT,
    pan_first6 TEXT NOT NULL,
    pan_last4 TEXT NOT NULL,
    pan_hash TEXT,
    processing_code TEXT,
    amount TEXT,
    currency INTEGER,
    response_code TEXT NOT NULL,
    auth_code TEXT,
    rule TEXT,
    state TEXT NOT NULL,
    elapsed_ms BIGINT NOT NULL,
    reverses_transmission TEXT,
    reverses_stan TEXT,
    reversal BYTEA,
    channel TEXT,
    app TEXT,
    stand_in TEXT,
    stand_in_entry TEXT,
    advice_saf BIGINT,
    advice_delivered_ms BIGINT
);
CREATE INDEX IF NOT EXISTS journal_forwarded ON journal(node) WHERE state = 'forwarded';
CREATE INDEX IF NOT EXISTS journal_reverses ON journal(acquirer, reverses_transmission, reverses_stan)
    WHERE reverses_stan IS NOT NULL;
CREATE INDEX IF NOT EXISTS journal_advice ON journal(advice_saf) WHERE advice_saf IS NOT NULL;
CREATE INDEX IF NOT EXISTS journal_stand_in ON journal(business_day) WHERE stand_in = 'within-limits';
CREATE INDEX IF NOT EXISTS journal_day ON journal(business_day);
CREATE INDEX IF NOT EXISTS journal_keys ON journal(acquirer, transmission, stan);
CREATE TABLE IF NOT EXISTS saf (
    id BIGINT PRIMARY KEY,
    node TEXT NOT NULL DEFAULT '',
    issuer TEXT NOT NULL,
    message BYTEA NOT NULL,
    queued_ms BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    card BYTEA
);
CREATE INDEX IF NOT EXISTS saf_node ON saf(node);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS cutover_requests (
    id BIGSERIAL PRIMARY KEY,
    requested_ms BIGINT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS negative_file (
    issuer TEXT NOT NULL,
    digest TEXT NOT NULL,
    reason TEXT,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (issuer, digest)
);
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY,
    slot INTEGER NOT NULL,
    epoch BIGINT NOT NULL,
    lease_until_ms BIGINT NOT NULL,
    state TEXT NOT NULL,               -- live, taken_over, stopped
    taken_by TEXT,
    updated_ms BIGINT
);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,              -- acquirer|mti class|f7|f11|f41: no card data
    node TEXT NOT NULL,
    txn_id BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS claims_created ON claims(created_ms);
CREATE TABLE IF NOT EXISTS vault_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    wrapped TEXT NOT NULL,             -- the data key under the KEK (AES key wrap), hex
    check_value TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
";

// Version 2 added the fence function `switch_hold_lease`, which took the
// node's row FOR KEY SHARE and raised SW001 when the node did not hold its
// lease; version 4 replaced it (and drops it), so a database below version 2
// goes straight to version 4's fence.

/// Version 3: the business day's B-tree replaced by a BRIN index.
const DAY_BRIN: &str = "
DROP INDEX IF EXISTS journal_day;
CREATE INDEX IF NOT EXISTS journal_day_brin ON journal USING brin (business_day);
";

/// Version 4: the fence's check in the batch's statement itself (plain SQL,
/// see [`super::batch::FENCED`]), which calls `switch_refuse_commit` only to
/// fail; the forwarded rows listed in `in_flight` with the reversals
/// they owe (by the writer's statements, [`super::batch`]; read at recovery,
/// [`super::recover`]; the journal's `reversal` column is no longer written),
/// the partial index on `state` dropped, and room left on the journal's pages for
/// each row's one update: a row is written forwarded, then completed a few
/// milliseconds later, and its new version must find room on its page for
/// the update to be HOT. Half a page is room for every row inserted on it
/// (its rows are as long forwarded as completed, the reversal being kept in
/// `in_flight`). Measured in `switch-compare --compare store`: all of the
/// completions HOT at 50%, 62-78% at 70% (the rest writing every index
/// again). The cost is space: a page ends about half full, about what a
/// table whose every row is updated once leaves anyway (the dead versions,
/// until a vacuum). A completion that sets `stand_in` or `advice_saf` (an
/// answer in stand-in: rare) still writes the indexes that name them.
///
/// The journal's `reversal` column and version 2's `switch_hold_lease` are
/// dropped: a node of an older build still running against the cluster would
/// write forwarded rows without listing them (its rows' reversals lost should
/// it die); without them its every commit fails, loudly (it answers 96 and
/// retries), until it is stopped.
pub(super) const V4: &str = "
CREATE TABLE IF NOT EXISTS in_flight (
    id BIGINT PRIMARY KEY,
    node TEXT NOT NULL,
    reversal BYTEA                     -- what the row owes should its node stop
);
INSERT INTO in_flight (id, node, reversal)
    SELECT id, node, reversal FROM journal WHERE state = 'forwarded'
    ON CONFLICT (id) DO NOTHING;
ALTER TABLE journal DROP COLUMN IF EXISTS reversal;
DROP FUNCTION IF EXISTS switch_hold_lease(TEXT, BIGINT);
CREATE OR REPLACE FUNCTION switch_refuse_commit(holder TEXT, held_epoch BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'node % does not hold its lease under epoch %', holder, held_epoch
        USING ERRCODE = 'SW001';
END
$$;
DROP INDEX IF EXISTS journal_forwarded;
ALTER TABLE journal SET (fillfactor = 50);
";

/// Version 5: a cluster node's claim of a request's duplicate key (acquirer,
/// MTI class, fields 7, 11 and 41: no card data) is the claimed journal row's
/// `claim_key`, held unique by a partial index (rows without a claim, every
/// row of a single node, are not in it and cost it nothing), instead of a row
/// of `claims` with two index entries of its own, deleted after the duplicate
/// window by a purge (and then by a vacuum). A key stays in the index as long
/// as its row: the writer releases a key older than the window when a new
/// claim meets it (see [`super::batch`]), so a repeat after the window is a
/// new request, as on a single node. The claims still within the window are
/// carried over to their rows.
pub(super) const V5: &str = "
ALTER TABLE journal ADD COLUMN IF NOT EXISTS claim_key TEXT;
UPDATE journal SET claim_key = claims.key FROM claims WHERE journal.id = claims.txn_id;
CREATE UNIQUE INDEX IF NOT EXISTS journal_claim_key ON journal (claim_key)
    WHERE claim_key IS NOT NULL;
DROP TABLE IF EXISTS claims;
";

/// Create the schema or bring it up to [`VERSION`], in one transaction; an
/// error names what failed. A database newer than this build is refused.
pub async fn migrate(client: &mut tokio_postgres::Client) -> Result<(), String> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| format!("cannot begin: {}", describe(&e)))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| format!("migration lock: {}", describe(&e)))?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .await
        .map_err(|e| format!("schema_version: {}", describe(&e)))?;
    let from: i32 = tx
        .query_opt("SELECT max(version) FROM schema_version", &[])
        .await
        .map_err(|e| format!("schema_version: {}", describe(&e)))?
        .and_then(|row| row.get::<_, Option<i32>>(0))
        .unwrap_or(0);
    if from > VERSION {
        return Err(format!(
            "schema version {from} is newer than this switch ({VERSION})"
        ));
    }
    if from < 1 {
        tx.batch_execute(V1)
            .await
            .map_err(|e| format!("cannot create the schema: {}", describe(&e)))?;
    }
    if from < 3 {
        tx.batch_execute(DAY_BRIN)
            .await
            .map_err(|e| format!("cannot migrate the schema to version 3: {}", describe(&e)))?;
    }
    if from < 4 {
        tx.batch_execute(V4)
            .await
            .map_err(|e| format!("cannot migrate the schema to version 4: {}", describe(&e)))?;
    }
    if from < 5 {
        tx.batch_execute(V5)
            .await
            .map_err(|e| format!("cannot migrate the schema to version 5: {}", describe(&e)))?;
    }
    if from < VERSION {
        tx.execute("DELETE FROM schema_version", &[])
            .await
            .and(
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES ($1)",
                    &[&VERSION],
                )
                .await,
            )
            .map_err(|e| format!("schema_version: {}", describe(&e)))?;
    }
    tx.commit()
        .await
        .map_err(|e| format!("cannot commit the schema: {}", describe(&e)))
}

/// The database's clock in unix milliseconds: leases compare against it, never
/// against a node's own clock.
pub const DB_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Whether `client` sees the schema (for commands, which never create it).
pub async fn exists(client: &impl GenericClient) -> Result<bool, String> {
    client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await
        .map(|row| row.get::<_, bool>(0))
        .map_err(|e| describe(&e))
}
