//! The PostgreSQL backend of the store (issue 19): several switch nodes share
//! one database. The `Store` API is the same as on SQLite; what differs is
//! here: the schema ([`schema`]), the connection ([`connection`]), the batch
//! written in one pipelined transaction ([`batch`]), the writer thread that
//! reconnects by itself ([`writer`]), recovery of one node's rows ([`recover`]),
//! node registration ([`nodes`]) and the cluster membership the lease loop
//! drives ([`membership`]).

mod batch;
mod connection;
mod membership;
mod nodes;
mod recover;
mod schema;
mod writer;

use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::{Arc, Mutex};

use super::{business_day, durable_mark, refusals, OpenOptions, Recovered, Store, StoreError};
use crate::config::{JournalConfig, PostgresConfig};

/// A failure of the PostgreSQL store at open, naming the database.
fn failed(pg: &PostgresConfig, message: impl std::fmt::Display) -> StoreError {
    StoreError::Database {
        url: pg.url.clone(),
        message: message.to_string(),
    }
}

/// A current-thread runtime for the store's own connection (the writer's, and
/// the membership's), apart from the switch's runtime.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Open the store on PostgreSQL: schema, node registration and recovery of this
/// node's rows (one transaction), then the writer thread.
pub(super) fn open(
    config: &JournalConfig,
    pg: &PostgresConfig,
    options: &OpenOptions<'_>,
) -> Result<(Store, Recovered), StoreError> {
    if options.vault.is_some() {
        return Err(failed(
            pg,
            "the token vault is not kept on PostgreSQL yet: run without a KEK \
             (SWITCH_KEK or [switch.security] kek_env), which also keeps stand-in off",
        ));
    }
    let rt = runtime().map_err(|e| failed(pg, format!("cannot start a runtime: {e}")))?;
    let node_name = options.node.map(|n| n.name.clone()).unwrap_or_default();
    let slot = options.node.map_or(0, |n| n.slot);
    let (conn, recovered, stored_override) = rt.block_on(async {
        let mut conn = connection::open_migrated(pg).await.map_err(|e| failed(pg, e))?;
        let tx = conn
            .client
            .transaction()
            .await
            .map_err(|e| failed(pg, e))?;
        let epoch = match options.node {
            Some(node) => nodes::register(&tx, node)
                .await
                .map_err(|e| failed(pg, e))?,
            None => 0,
        };
        let owner = recover::Owner {
            rows_of: &node_name,
            to: &node_name,
            slot,
        };
        let mut recovered =
            recover::recover(&tx, &owner, options.now_ms, options.remember, None)
                .await
                .map_err(|e| failed(pg, format!("recovery failed: {e}")))?;
        recovered.epoch = epoch;
        let stored_override = recover::day_override(&tx)
            .await
            .map_err(|e| failed(pg, e))?;
        recovered.business_day = business_day::scheduled_day(options.now_ms, config.cutover_secs)
            .max(stored_override);
        recovered.stand_in_usage = recover::usage_of_day(&tx, recovered.business_day)
            .await
            .map_err(|e| failed(pg, e))?;
        recovered.negative_updates = recover::negative_updates(&tx)
            .await
            .map_err(|e| failed(pg, e))?;
        tx.commit().await.map_err(|e| failed(pg, e))?;
        Ok::<_, StoreError>((conn, recovered, stored_override))
    })?;
    let (tx, rx) = std::sync::mpsc::channel();
    let durable = Arc::new(durable_mark::DurableMark::default());
    let day_override = Arc::new(AtomicI64::new(stored_override));
    let available = Arc::new(AtomicBool::new(true));
    metrics::gauge!("switch_store_available").set(1.0);
    let refusals = Arc::new(refusals::Refusals::default());
    let writer = writer::Writer {
        runtime: rt,
        conn: Some(conn),
        config: pg.clone(),
        durable: durable.clone(),
        available: available.clone(),
        refusals: refusals.clone(),
        day_override: day_override.clone(),
        max_batch: config.group_commit_max,
        window: config.group_commit_window,
        cutover_secs: config.cutover_secs,
        node: node_name,
        claim: options.node.is_some(),
        duplicate_window: options.duplicate_window,
    };
    let handle = std::thread::Builder::new()
        .name("journal-writer-pg".into())
        .spawn(move || writer.run(rx))
        .map_err(|e| failed(pg, format!("cannot start the writer: {e}")))?;
    let membership = match options.node {
        Some(node) => Some(Arc::new(membership::PgMembership::new(
            pg.clone(),
            node.clone(),
            recovered.epoch,
            options.remember,
        )) as Arc<dyn crate::cluster::Membership>),
        None => None,
    };
    Ok((
        Store {
            submit: Mutex::new((0, tx)),
            durable,
            durability: config.durability,
            max_unwritten: config.group_commit_max as u64,
            cutover_secs: config.cutover_secs,
            day_override,
            writer: Mutex::new(Some(handle)),
            stop_checkpoints: Mutex::new(None),
            path: std::path::PathBuf::new(),
            vault: None,
            available,
            refusals,
            membership,
            sqlite: false,
        },
        recovered,
    ))
}
