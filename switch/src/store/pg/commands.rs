//! `switch settle` and `switch cutover` on the PostgreSQL journal: the same
//! queries and the same arithmetic as on SQLite ([`crate::store::settlement`]),
//! from any node's configuration. A command never creates the schema: a
//! database without it is an error, not an empty settlement.

use tokio_postgres::Client;

use super::connection::{connect, describe};
use super::schema;
use crate::config::PostgresConfig;
use crate::store::commands::{last_day_sql, CommandDb, CommandError, RECORDS_ON_DAY};
use crate::store::interchange::Interchange;
use crate::store::settlement::{originals_sql, reversed_sql, settle_rows, SettleRow, Settlement};

/// The PostgreSQL journal, for a command.
pub(crate) struct PgDb {
    runtime: tokio::runtime::Runtime,
    client: Client,
    url: String,
}

/// Connect to the configured database and check that the switch made it.
pub(crate) fn open(pg: &PostgresConfig) -> Result<PgDb, CommandError> {
    let fail = |message: String| CommandError::Database {
        url: pg.url.clone(),
        message,
    };
    let runtime = super::runtime().map_err(|e| fail(e.to_string()))?;
    let client = runtime.block_on(async {
        let client = connect(pg).await?;
        if !schema::exists(&client).await? {
            return Err("no switch journal in this database (the switch creates it when it first starts with this configuration)".to_string());
        }
        Ok(client)
    });
    Ok(PgDb {
        runtime,
        client: client.map_err(fail)?,
        url: pg.url.clone(),
    })
}

impl PgDb {
    fn fail(&self, e: tokio_postgres::Error) -> CommandError {
        CommandError::Database {
            url: self.url.clone(),
            message: describe(&e),
        }
    }

    /// One row's first column.
    fn value<T: for<'a> tokio_postgres::types::FromSql<'a>>(
        &mut self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<T, CommandError> {
        let row = self
            .runtime
            .block_on(self.client.query_one(sql, params))
            .map_err(|e| self.fail(e))?;
        row.try_get(0).map_err(|e| self.fail(e))
    }

    fn settle_rows(&mut self, sql: &str, day: i64) -> Result<Vec<SettleRow>, CommandError> {
        let rows = self
            .runtime
            .block_on(self.client.query(sql, &[&day]))
            .map_err(|e| self.fail(e))?;
        Ok(rows
            .into_iter()
            .map(|r| SettleRow {
                acquirer: r.get(0),
                issuer: r.get(1),
                currency: r
                    .get::<_, Option<i32>>(2)
                    .and_then(|c| u16::try_from(c).ok())
                    .unwrap_or(0),
                amount: r.get(3),
                processing_code: r.get(4),
                channel: r.get(5),
                app: r.get(6),
                stand_in: r.get::<_, Option<&str>>(7) == Some("within-limits"),
            })
            .collect())
    }
}

impl CommandDb for PgDb {
    fn pending_cutovers(&mut self) -> Result<i64, CommandError> {
        self.value("SELECT count(*) FROM cutover_requests WHERE done = 0", &[])
    }

    fn day_override(&mut self) -> Result<i64, CommandError> {
        self.value(
            "SELECT coalesce((SELECT value FROM meta WHERE key = 'business_day_override'), 0)",
            &[],
        )
    }

    fn settle(
        &mut self,
        day: i64,
        agent: Option<String>,
        fees: &Interchange,
    ) -> Result<Settlement, CommandError> {
        let originals = self.settle_rows(&originals_sql("$1"), day)?;
        let reversed = self.settle_rows(&reversed_sql("$1"), day)?;
        Ok(settle_rows(day, agent, fees, originals, reversed))
    }

    fn records_on(&mut self, day: i64) -> Result<i64, CommandError> {
        self.value(RECORDS_ON_DAY, &[&day])
    }

    fn last_day_with_records(&mut self, open_day: i64) -> Result<Option<i64>, CommandError> {
        self.value(&last_day_sql("$1"), &[&open_day])
    }

    fn request_cutover(&mut self, now_ms: i64) -> Result<(), CommandError> {
        self.runtime
            .block_on(self.client.execute(
                "INSERT INTO cutover_requests (requested_ms) VALUES ($1)",
                &[&now_ms],
            ))
            .map(drop)
            .map_err(|e| self.fail(e))
    }
}
