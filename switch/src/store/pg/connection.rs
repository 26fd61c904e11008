//! One connection to PostgreSQL for the writer: opened with the password read
//! from the environment at that moment, `synchronous_commit = on` for the
//! session (strict durability: committed on the server's disk before the switch
//! answers), and the writer's statements (BEGIN and COMMIT too) prepared once,
//! so that a batch's transaction goes out back to back without a round trip
//! each (pipelined). The writer's session never plans a scan of a whole
//! table where an index finds the rows ([`WRITER_SESSION`]).

use tokio_postgres::{Client, NoTls, Statement};

use crate::config::PostgresConfig;

/// The writer's prepared statements (see [`super::batch`] for what each does).
pub struct Statements {
    /// BEGIN and COMMIT prepared like the rest, so that a batch's transaction
    /// goes out whole, BEGIN to COMMIT, without waiting for any answer.
    pub begin: Statement,
    pub commit: Statement,
    /// A single node's journal rows.
    pub journal: Statement,
    /// A cluster node's fence, and journal rows with their claims.
    pub fenced: Statement,
    /// The keys held among a contested batch's claims.
    pub held: Statement,
    pub saf_push: Statement,
    pub saf_ack: Statement,
    pub saf_delete: Statement,
    pub saf_attempt: Statement,
    pub negative: Statement,
    pub day_override: Statement,
}

/// An open connection and its statements.
pub struct Connection {
    pub client: Client,
    pub statements: Statements,
}

/// Connect (the driver's connection task runs on the caller's runtime) and set
/// the session up.
pub async fn connect(config: &PostgresConfig) -> Result<Client, String> {
    let client_config = config.client_config()?;
    let (client, connection) = client_config
        .connect(NoTls)
        .await
        .map_err(|e| format!("cannot connect to {}: {}", config.url, describe(&e)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection ended");
        }
    });
    client
        .batch_execute("SET synchronous_commit = on")
        .await
        .map_err(|e| format!("cannot set synchronous_commit: {}", describe(&e)))?;
    Ok(client)
}

/// A connection of its own for calls made from the switch's runtime (the
/// lease loop's, the original lookups'), opened at first use and again after
/// a failure, so that neither waits behind the writer's commits.
pub struct LazyClient {
    config: PostgresConfig,
    client: tokio::sync::Mutex<Option<Client>>,
}

impl LazyClient {
    /// Not connected yet.
    pub fn new(config: PostgresConfig) -> Self {
        LazyClient {
            config,
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// The connection, opened if needed (set it to None after a failure).
    pub async fn connected(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, String> {
        let mut guard = self.client.lock().await;
        if guard.is_none() {
            *guard = Some(connect(&self.config).await?);
        }
        Ok(guard)
    }
}

/// The writer's session: every statement it runs finds its rows by key, and
/// the planner must never choose to scan a whole table instead.
///
/// Why: `in_flight` is a queue (every forward adds a row, its completion a
/// few milliseconds later removes it), nearly empty whenever it is vacuumed
/// or analysed. Planned against those statistics, the batch statement's
/// `DELETE FROM in_flight WHERE id = ANY(...)` becomes a sequential scan, and
/// the plan stays cached on the connection (a prepared statement's generic
/// plan) while the table fills with the versions deleted since its last
/// vacuum, every batch reading all of them. Measured in a two-node run of
/// `switch-compare --compare store`: about a sixth of the server's CPU, in
/// the runs whose plans were made at such a moment. The setting makes the
/// planner take an index wherever there is one (a table with none, such as
/// `in_flight` read by node at recovery, is still scanned); it holds for
/// this session only. It covers the writer's other statements alike (the
/// store-and-forward queue, empty when their plans are cached and long in
/// an outage; the journal under an advice's acknowledgement), which each
/// batch carrying them used to have planned afresh instead.
pub const WRITER_SESSION: &str = "SET enable_seqscan = off";

/// Connect and prepare the writer's statements.
pub async fn open(config: &PostgresConfig) -> Result<Connection, String> {
    let client = connect(config).await?;
    writer_session(&client).await?;
    let statements = prepare(&client)
        .await
        .map_err(|e| format!("cannot prepare the writer's statements: {}", describe(&e)))?;
    Ok(Connection { client, statements })
}

/// The writer's statements, prepared once on its connection.
async fn prepare(client: &Client) -> Result<Statements, tokio_postgres::Error> {
    Ok(Statements {
        begin: client.prepare("BEGIN").await?,
        commit: client.prepare("COMMIT").await?,
        journal: client.prepare(super::batch::JOURNAL).await?,
        fenced: client.prepare(super::batch::FENCED).await?,
        held: client.prepare(super::batch::HELD).await?,
        saf_push: client
            .prepare(
                "INSERT INTO saf (id, node, issuer, message, queued_ms, attempts, card)
                 VALUES ($1, $2, $3, $4, $5, 0, $6)
                 ON CONFLICT (id) DO UPDATE SET node = excluded.node, issuer = excluded.issuer,
                    message = excluded.message, queued_ms = excluded.queued_ms, attempts = 0,
                    card = excluded.card",
            )
            .await?,
        // A stand-in advice's journal row learns it was delivered, only if the
        // item was still queued (as SQLite's writer does).
        saf_ack: client
            .prepare(
                "WITH acked AS (DELETE FROM saf WHERE id = $1 RETURNING id)
                 UPDATE journal SET advice_delivered_ms = $2
                 WHERE advice_saf IN (SELECT id FROM acked) AND advice_delivered_ms IS NULL",
            )
            .await?,
        saf_delete: client.prepare("DELETE FROM saf WHERE id = $1").await?,
        saf_attempt: client
            .prepare("UPDATE saf SET attempts = $2 WHERE id = $1")
            .await?,
        negative: client
            .prepare(
                "INSERT INTO negative_file (issuer, digest, reason, updated_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (issuer, digest) DO UPDATE SET reason = excluded.reason,
                    updated_ms = excluded.updated_ms",
            )
            .await?,
        day_override: client
            .prepare(
                "INSERT INTO meta (key, value) VALUES ('business_day_override', $1)
                 ON CONFLICT (key) DO UPDATE SET value = greatest(meta.value, excluded.value)",
            )
            .await?,
    })
}

/// [`open`], after creating or migrating the schema (at a node's start).
pub async fn open_migrated(config: &PostgresConfig) -> Result<Connection, String> {
    let mut client = connect(config).await?;
    super::schema::migrate(&mut client).await?;
    writer_session(&client).await?;
    let statements = prepare(&client)
        .await
        .map_err(|e| format!("cannot prepare the writer's statements: {}", describe(&e)))?;
    Ok(Connection { client, statements })
}

/// Set the writer's session up ([`WRITER_SESSION`]).
async fn writer_session(client: &Client) -> Result<(), String> {
    client
        .batch_execute(WRITER_SESSION)
        .await
        .map_err(|e| format!("cannot set the writer's session up: {}", describe(&e)))
}

/// A driver error with the server's own message when there is one (the
/// driver's Display says only "db error"). The server's messages name tables,
/// columns and constraints, never the values bound (no card data reaches it).
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}
