//! The store's operator commands: `switch settle` and `switch cutover`, run
//! against the journal database while the switch runs or not, on either
//! backend ([`CommandDb`]: SQLite here, PostgreSQL in `pg::commands`), so that
//! every node of a cluster gives the same answer.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension};

use super::business_day::{parse_day, scheduled_day};
use super::interchange::Interchange;
use super::settle_report::{DayChoice, SettleReport};
use super::settlement::{settle_with, Settlement};
use super::{open_existing, StoreError};
use crate::config::{Config, JournalConfig};

/// Report formats of `switch settle`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// Comma-separated.
    Csv,
    /// One JSON object.
    Json,
}

impl Format {
    /// Parse `table`, `csv` or `json`.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "table" => Some(Format::Table),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Why a store command failed (every one is fatal to the command).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The configuration has no journal to read.
    #[error("{}: no [journal] section", .0.display())]
    NoJournal(PathBuf),
    /// The journal cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The journal could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The database.
        path: PathBuf,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// `--date` is not a date.
    #[error("--date {0:?} is not YYYY-MM-DD")]
    BadDate(String),
    /// The settlement query failed.
    #[error("settlement: {0}")]
    Settlement(#[source] rusqlite::Error),
    /// The cutover request could not be written.
    #[error("cannot record the cutover request: {0}")]
    Cutover(#[source] rusqlite::Error),
    /// The PostgreSQL journal could not be read or written.
    #[error("journal {url}: {message}")]
    Database {
        /// Where it is (the URL holds no password).
        url: String,
        /// What failed.
        message: String,
    },
}

/// What the commands need of the journal database, on either backend.
pub(crate) trait CommandDb {
    /// Cutover requests not yet carried out by a running switch.
    fn pending_cutovers(&mut self) -> Result<i64, CommandError>;
    /// The business day a manual cutover moved to (0: none).
    fn day_override(&mut self) -> Result<i64, CommandError>;
    /// The settlement of `day`.
    fn settle(
        &mut self,
        day: i64,
        agent: Option<String>,
        fees: &Interchange,
    ) -> Result<Settlement, CommandError>;
    /// How many journal records `day` has.
    fn records_on(&mut self, day: i64) -> Result<i64, CommandError>;
    /// The last business day before `open_day` with something to settle.
    fn last_day_with_records(&mut self, open_day: i64) -> Result<Option<i64>, CommandError>;
    /// Ask the running switch (any node) to close the business day.
    fn request_cutover(&mut self, now_ms: i64) -> Result<(), CommandError>;
}

/// The SQLite journal, for a command.
struct SqliteDb {
    conn: Connection,
    path: PathBuf,
}

impl CommandDb for SqliteDb {
    fn pending_cutovers(&mut self) -> Result<i64, CommandError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM cutover_requests WHERE done = 0",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(reading(&self.path))
    }

    fn day_override(&mut self) -> Result<i64, CommandError> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'business_day_override'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(reading(&self.path))?
            .unwrap_or(0))
    }

    fn settle(
        &mut self,
        day: i64,
        agent: Option<String>,
        fees: &Interchange,
    ) -> Result<Settlement, CommandError> {
        settle_with(&self.conn, day, agent, fees).map_err(CommandError::Settlement)
    }

    fn records_on(&mut self, day: i64) -> Result<i64, CommandError> {
        self.conn
            .query_row(RECORDS_ON_DAY, [day], |r| r.get::<_, i64>(0))
            .map_err(reading(&self.path))
    }

    fn last_day_with_records(&mut self, open_day: i64) -> Result<Option<i64>, CommandError> {
        self.conn
            .query_row(&last_day_sql("?1"), [open_day], |r| r.get(0))
            .map_err(reading(&self.path))
    }

    fn request_cutover(&mut self, now_ms: i64) -> Result<(), CommandError> {
        self.conn
            .execute(
                "INSERT INTO cutover_requests (requested_ms) VALUES (?1)",
                [now_ms],
            )
            .map(drop)
            .map_err(CommandError::Cutover)
    }
}

/// How many records a business day has (`$1` reads as the first parameter in
/// SQLite and PostgreSQL alike).
pub(crate) const RECORDS_ON_DAY: &str = "SELECT count(*) FROM journal WHERE business_day = $1";

/// The last business day before the open one (`day`) with something to settle.
pub(crate) fn last_day_sql(day: &str) -> String {
    format!(
        "SELECT max(o.business_day) FROM journal o WHERE o.business_day < {day} AND {}",
        super::settlement::ORIGINAL
    )
}

/// The configured journal, for a command: PostgreSQL when `[journal] url`.
fn open_db(jc: &JournalConfig) -> Result<Box<dyn CommandDb>, CommandError> {
    match &jc.postgres {
        Some(pg) => super::pg::commands::open(pg).map(|db| Box::new(db) as Box<dyn CommandDb>),
        None => Ok(Box::new(SqliteDb {
            conn: open_existing(&jc.path)?,
            path: jc.path.clone(),
        })),
    }
}

fn journal_of(config: &Config) -> Result<&JournalConfig, CommandError> {
    config
        .journal
        .as_ref()
        .ok_or_else(|| CommandError::NoJournal(config.path.clone()))
}

/// A closure that names the database a read failed on.
fn reading(path: &Path) -> impl Fn(rusqlite::Error) -> CommandError + '_ {
    move |source| CommandError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// How long `switch settle` waits for a requested cutover: the switch looks for
/// requests about once a second, busy or idle.
const CUTOVER_WAIT: Duration = Duration::from_secs(3);
/// How often it looks meanwhile.
const CUTOVER_CHECK: Duration = Duration::from_millis(100);

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The settlement of `date` (`YYYY-MM-DD`; default: the last closed business
/// day, the one before the open one) from the configured journal, with what the
/// operator needs to read it (see [`SettleReport`]).
pub fn settlement(config: &Config, date: Option<&str>) -> Result<SettleReport, CommandError> {
    let jc = journal_of(config)?;
    let mut db = open_db(jc)?;
    if date.is_none() {
        // `switch cutover` then `switch settle` must settle the day just closed:
        // give a running switch the moment it takes to carry the request out.
        for _ in 0..CUTOVER_WAIT.as_millis() / CUTOVER_CHECK.as_millis() {
            if db.pending_cutovers()? == 0 {
                break;
            }
            std::thread::sleep(CUTOVER_CHECK);
        }
    }
    let overridden = db.day_override()?;
    let open_day = scheduled_day(unix_ms(), jc.cutover_secs).max(overridden);
    let (day, choice) = match date {
        Some(d) => (
            parse_day(d).ok_or_else(|| CommandError::BadDate(d.to_string()))?,
            DayChoice::Given,
        ),
        None => (open_day - 1, DayChoice::LastClosed),
    };
    let agent = routing_rules::RoutingTable::load(&config.rules)
        .ok()
        .and_then(|(t, _)| t.settlement_agent().map(|b| b.id.clone()));
    // Builds the business-day index the counts below use too.
    let settlement = db.settle(day, agent, &config.interchange)?;
    Ok(SettleReport {
        settlement,
        choice,
        day_records: db.records_on(day)?,
        open_day,
        open_day_records: db.records_on(open_day)?,
        last_day_with_records: db.last_day_with_records(open_day)?,
        pending_cutovers: db.pending_cutovers()?,
    })
}

/// Ask the switch (through the database) to close the business day.
pub fn request_cutover(config: &Config) -> Result<(), CommandError> {
    open_db(journal_of(config)?)?.request_cutover(unix_ms())
}
