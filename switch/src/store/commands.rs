//! The store's operator commands: `switch settle` and `switch cutover`, run
//! against the journal database while the switch runs or not.

use std::time::{SystemTime, UNIX_EPOCH};

use super::business_day::{parse_day, scheduled_day};
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

fn journal_of(config: &Config) -> Result<&JournalConfig, String> {
    config
        .journal
        .as_ref()
        .ok_or_else(|| format!("{}: no [journal] section", config.path.display()))
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The settlement of `date` (`YYYY-MM-DD`; default: the business day before the
/// current one) from the configured journal.
pub fn settlement(config: &Config, date: Option<&str>) -> Result<Settlement, String> {
    let jc = journal_of(config)?;
    let conn = open_existing(&jc.path).map_err(|e: StoreError| e.to_string())?;
    let day = match date {
        Some(d) => parse_day(d).ok_or_else(|| format!("--date {d:?} is not YYYY-MM-DD"))?,
        None => {
            let overridden: i64 = conn
                .query_row(
                    "SELECT value FROM meta WHERE key = 'business_day_override'",
                    [],
                    |r| r.get(0),
                )
                .unwrap_or(0);
            scheduled_day(unix_ms(), jc.cutover_secs).max(overridden) - 1
        }
    };
    let agent = routing_rules::RoutingTable::load(&config.rules)
        .ok()
        .and_then(|(t, _)| t.settlement_agent().map(|b| b.id.clone()));
    settle_with(&conn, day, agent, &config.interchange).map_err(|e| format!("settlement: {e}"))
}

/// Ask the switch (through the database) to close the business day.
pub fn request_cutover(config: &Config) -> Result<(), String> {
    let jc = journal_of(config)?;
    let conn = open_existing(&jc.path).map_err(|e| e.to_string())?;
    conn.execute(
        "INSERT INTO cutover_requests (requested_ms) VALUES (?1)",
        [unix_ms()],
    )
    .map_err(|e| format!("cannot record the cutover request: {e}"))?;
    Ok(())
}
