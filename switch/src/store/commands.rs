//! The store's operator commands: `switch settle` and `switch cutover`, run
//! against the journal database while the switch runs or not.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::OptionalExtension;

use super::business_day::{parse_day, scheduled_day};
use super::settle_report::{DayChoice, SettleReport};
use super::settlement::settle_with;
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
    let conn = open_existing(&jc.path)?;
    let read = reading(&jc.path);
    let pending = || {
        conn.query_row(
            "SELECT count(*) FROM cutover_requests WHERE done = 0",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(&read)
    };
    if date.is_none() {
        // `switch cutover` then `switch settle` must settle the day just closed:
        // give a running switch the moment it takes to carry the request out.
        for _ in 0..CUTOVER_WAIT.as_millis() / CUTOVER_CHECK.as_millis() {
            if pending()? == 0 {
                break;
            }
            std::thread::sleep(CUTOVER_CHECK);
        }
    }
    let overridden: i64 = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'business_day_override'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(&read)?
        .unwrap_or(0);
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
    let settlement =
        settle_with(&conn, day, agent, &config.interchange).map_err(CommandError::Settlement)?;
    let records_on = |day: i64| {
        conn.query_row(
            "SELECT count(*) FROM journal WHERE business_day = ?1",
            [day],
            |r| r.get::<_, i64>(0),
        )
        .map_err(&read)
    };
    Ok(SettleReport {
        settlement,
        choice,
        day_records: records_on(day)?,
        open_day,
        open_day_records: records_on(open_day)?,
        last_day_with_records: conn
            .query_row(
                &format!(
                    "SELECT max(o.business_day) FROM journal o WHERE o.business_day < ?1 AND {}",
                    super::settlement::ORIGINAL
                ),
                [open_day],
                |r| r.get(0),
            )
            .map_err(&read)?,
        pending_cutovers: pending()?,
    })
}

/// Ask the switch (through the database) to close the business day.
pub fn request_cutover(config: &Config) -> Result<(), CommandError> {
    let jc = journal_of(config)?;
    let conn = open_existing(&jc.path)?;
    conn.execute(
        "INSERT INTO cutover_requests (requested_ms) VALUES (?1)",
        [unix_ms()],
    )
    .map_err(CommandError::Cutover)?;
    Ok(())
}
