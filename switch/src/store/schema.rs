//! The journal database's tables. One file, SQLite in WAL mode with
//! `synchronous=FULL`; the schema version lives in `PRAGMA user_version`.

/// Indexes only settlement needs, built when it first runs (kept off the write
/// path: every index costs each of the switch's inserts).
pub const SETTLEMENT_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS journal_day ON journal(business_day);
CREATE INDEX IF NOT EXISTS journal_keys ON journal(acquirer, transmission, stan);
";

/// The version this build writes (2: `journal.processing_code`; 3: the token
/// vault's tables, [`super::vault::SCHEMA`], and `journal.channel`/`app`; 4:
/// stand-in: the journal's stand-in columns, the sealed card of a stand-in
/// advice (`saf.card`) and the negative file's updates, [`STAND_IN`]).
pub const VERSION: i64 = 4;

/// Added in version 4: the negative-file updates issuers send (0302), kept as the
/// PAN's SHA-256 digest (hex), never the PAN; `reason` NULL is a deletion (it
/// overrides the issuer's file too). And the index by which an acknowledged
/// advice marks its journal row delivered.
pub const STAND_IN: &str = "
CREATE TABLE IF NOT EXISTS negative_file (
    issuer TEXT NOT NULL,
    digest TEXT NOT NULL,             -- SHA-256 of the PAN's digits, hex
    reason TEXT,                      -- lost, stolen, restricted; NULL: deleted
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (issuer, digest)
);
CREATE INDEX IF NOT EXISTS journal_advice ON journal(advice_saf) WHERE advice_saf IS NOT NULL;
CREATE INDEX IF NOT EXISTS journal_stand_in ON journal(business_day) WHERE stand_in = 'within-limits';
";

/// Bring a database written by an older build (`from`: its `user_version`; 0 for
/// a new one, which [`CREATE`] made whole) up to [`VERSION`].
pub fn migrate(conn: &rusqlite::Connection, from: i64) -> rusqlite::Result<()> {
    if (1..2).contains(&from) {
        conn.execute_batch("ALTER TABLE journal ADD COLUMN processing_code TEXT;")?;
    }
    if (1..3).contains(&from) {
        for column in ["channel", "app"] {
            if !has_column(conn, "journal", column)? {
                conn.execute_batch(&format!("ALTER TABLE journal ADD COLUMN {column} TEXT;"))?;
            }
        }
    }
    if from < 3 {
        conn.execute_batch(super::vault::SCHEMA)?;
    }
    if (1..4).contains(&from) {
        for (table, column, kind) in [
            ("journal", "stand_in", "TEXT"),
            ("journal", "stand_in_entry", "TEXT"),
            ("journal", "advice_saf", "INTEGER"),
            ("journal", "advice_delivered_ms", "INTEGER"),
            ("saf", "card", "BLOB"),
        ] {
            if !has_column(conn, table, column)? {
                conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind};"))?;
            }
        }
    }
    if from < 4 {
        conn.execute_batch(STAND_IN)?;
    }
    Ok(())
}

/// Whether `table` has `column` (a migration adds only what is missing).
fn has_column(conn: &rusqlite::Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt.query_map([], |row| row.get::<_, String>(1))?;
    for name in names {
        if name? == column {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Tables and indexes (idempotent).
pub const CREATE: &str = "
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY,           -- the switch's transaction id
    business_day INTEGER NOT NULL,    -- days since 1970-01-01 of the business date
    created_ms INTEGER NOT NULL,      -- unix milliseconds
    updated_ms INTEGER NOT NULL,
    mti TEXT NOT NULL,                -- the acquirer's request MTI
    acquirer TEXT NOT NULL,           -- field 32
    issuer TEXT,                      -- where it went (or would have)
    transmission TEXT NOT NULL,       -- the acquirer's field 7
    stan TEXT NOT NULL,               -- the acquirer's field 11
    rrn TEXT NOT NULL,                -- field 37
    terminal TEXT NOT NULL,           -- field 41
    switch_stan INTEGER,              -- the switch's STAN towards the issuer
    pan_first6 TEXT NOT NULL,
    pan_last4 TEXT NOT NULL,
    pan_hash TEXT,                    -- HMAC-SHA-256 of the PAN, hex
    processing_code TEXT,             -- field 3 (interchange depends on the transaction type)
    amount TEXT,                      -- decimal, major units
    currency INTEGER,                 -- ISO 4217 numeric
    response_code TEXT NOT NULL,      -- as given to the acquirer ('' while forwarded)
    auth_code TEXT,                   -- field 38
    rule TEXT,                        -- the routing rule that decided
    state TEXT NOT NULL,              -- forwarded, approved, declined, timed_out, reversed, reversed_at_restart
    elapsed_ms INTEGER NOT NULL,
    reverses_transmission TEXT,       -- for reversals/advices: the original's field 7
    reverses_stan TEXT,               -- ... and field 11
    reversal BLOB,                    -- while forwarded: the request as forwarded (no card data), the 0420 owed on restart made from it
    channel TEXT,                     -- terminal, atm or wallet-qr (NULL: written before issue 22)
    app TEXT,                         -- an app's payment: the app's id
    stand_in TEXT,                    -- decided in stand-in: the check that decided (within-limits, daily-amount, ...)
    stand_in_entry TEXT,              -- ... under this [[stand_in]] entry
    advice_saf INTEGER,               -- ... told to the issuer by this store-and-forward item
    advice_delivered_ms INTEGER       -- ... which the issuer acknowledged then (NULL: not yet)
);
CREATE INDEX IF NOT EXISTS journal_state ON journal(state) WHERE state = 'forwarded';
CREATE INDEX IF NOT EXISTS journal_reverses ON journal(acquirer, reverses_transmission, reverses_stan)
    WHERE reverses_stan IS NOT NULL;
CREATE TABLE IF NOT EXISTS saf (
    id INTEGER PRIMARY KEY,           -- queue order
    issuer TEXT NOT NULL,
    message BLOB NOT NULL,            -- iso87ascii, no card data
    queued_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    card BLOB                         -- a stand-in advice: its PAN sealed under the vault's data key
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cutover_requests (
    id INTEGER PRIMARY KEY,
    requested_ms INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
";
