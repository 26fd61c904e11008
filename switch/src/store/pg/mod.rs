//! The PostgreSQL backend of the store (issue 19): several switch nodes share
//! one database. The `Store` API is the same as on SQLite; what differs is
//! here: the schema ([`schema`]), the connection ([`connection`]), the batch
//! written in one pipelined transaction ([`batch`]), the writer thread that
//! keeps two batches in flight and reconnects by itself ([`writer`]), the rows
//! a batch writes, which two in flight must not share ([`overlap`]), recovery
//! of one node's rows ([`recover`]), node registration ([`nodes`]) and the
//! cluster membership the lease loop drives ([`membership`]).

mod batch;
pub(crate) mod commands;
mod connection;
pub(crate) mod fence;
pub(crate) mod lookup;
mod membership;
mod nodes;
mod overlap;
mod recover;
mod schema;
mod stand_in_claims;
pub(crate) mod stand_in_poll;
mod writer;

use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::Arc;

use connection::describe;

use super::{
    business_day, durable_mark, refusals, vault, OpenOptions, Recovered, Store, StoreError,
};
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

/// What the writer's thread needs to open the database.
struct Start {
    config: JournalConfig,
    pg: PostgresConfig,
    node: Option<crate::cluster::NodeIdentity>,
    now_ms: i64,
    remember: usize,
    /// The KEK, its variable's name and the PAN key, to open the vault's data key.
    vault: Option<(card_security::KeyMaterial, String, crate::config::SecretKey)>,
}

impl Start {
    /// Connect, create or migrate the schema, register the node and recover its
    /// rows (one transaction); the connection, what was recovered, and the
    /// stored business-day override.
    async fn run(&self) -> Result<Started, StoreError> {
        let pg = &self.pg;
        let node_name = self
            .node
            .as_ref()
            .map(|n| n.name.clone())
            .unwrap_or_default();
        let mut conn = connection::open_migrated(pg)
            .await
            .map_err(|e| failed(pg, e))?;
        let tx = conn
            .client
            .transaction()
            .await
            .map_err(|e| failed(pg, describe(&e)))?;
        let vault = match &self.vault {
            Some(keys) => Some(Arc::new(
                open_vault(&tx, keys, self.now_ms)
                    .await
                    .map_err(|e| failed(pg, e))?,
            )),
            None => None,
        };
        let epoch = match &self.node {
            Some(node) => nodes::register(&tx, node)
                .await
                .map_err(|e| failed(pg, e))?,
            None => 0,
        };
        let owner = recover::Owner {
            rows_of: &node_name,
            to: &node_name,
            slot: self.node.as_ref().map_or(0, |n| n.slot),
        };
        let mut recovered =
            recover::recover(&tx, &owner, self.now_ms, self.remember, vault.as_deref())
                .await
                .map_err(|e| failed(pg, format!("recovery failed: {}", describe(&e))))?;
        recovered.epoch = epoch;
        let stored_override = recover::day_override(&tx)
            .await
            .map_err(|e| failed(pg, describe(&e)))?;
        recovered.business_day =
            business_day::scheduled_day(self.now_ms, self.config.cutover_secs).max(stored_override);
        // A cluster node counts its own approvals, and the other nodes' apart
        // (read again about once a second: `stand_in_poll`).
        let day = recovered.business_day;
        let (own, others) = match &self.node {
            Some(node) => (
                recover::Rows::Of(&node.name),
                Some(recover::Rows::Besides(&node.name)),
            ),
            None => (recover::Rows::All, None),
        };
        recovered.stand_in_usage = recover::usage_of_day(&tx, day, own)
            .await
            .map_err(|e| failed(pg, describe(&e)))?;
        if let Some(others) = others {
            recovered.stand_in_usage_elsewhere = recover::usage_of_day(&tx, day, others)
                .await
                .map_err(|e| failed(pg, describe(&e)))?;
        }
        recovered.negative_updates = recover::negative_updates(&tx)
            .await
            .map_err(|e| failed(pg, describe(&e)))?;
        if let Some(node) = &self.node {
            nodes::restart_lease(&tx, node)
                .await
                .map_err(|e| failed(pg, describe(&e)))?;
        }
        tx.commit().await.map_err(|e| failed(pg, describe(&e)))?;
        Ok(Started {
            conn,
            recovered,
            stored_override,
            vault,
        })
    }
}

/// What the writer's thread opened.
struct Started {
    conn: connection::Connection,
    recovered: Recovered,
    stored_override: i64,
    vault: Option<Arc<vault::Vault>>,
}

/// The vault's data key: the stored one unwrapped, or a new one stored (the
/// first node to store it wins; the others read it back).
async fn open_vault(
    tx: &tokio_postgres::Transaction<'_>,
    (kek, var, pan_key): &(card_security::KeyMaterial, String, crate::config::SecretKey),
    now_ms: i64,
) -> Result<vault::Vault, String> {
    let stored = || async {
        tx.query_opt(
            "SELECT wrapped, check_value FROM vault_key WHERE id = 1",
            &[],
        )
        .await
        .map(|row| row.map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))))
        .map_err(|e| describe(&e))
    };
    let (vault, made) =
        vault::Vault::unlock(stored().await?, kek, var, pan_key).map_err(|e| e.to_string())?;
    let Some((wrapped, kcv)) = made else {
        return Ok(vault);
    };
    let inserted = tx
        .execute(
            "INSERT INTO vault_key (id, wrapped, check_value, created_ms) VALUES (1, $1, $2, $3)
             ON CONFLICT (id) DO NOTHING",
            &[&wrapped, &kcv, &now_ms],
        )
        .await
        .map_err(|e| describe(&e))?;
    if inserted == 1 {
        return Ok(vault);
    }
    let (vault, _) =
        vault::Vault::unlock(stored().await?, kek, var, pan_key).map_err(|e| e.to_string())?;
    Ok(vault)
}

/// Open the store on PostgreSQL: schema, node registration and recovery of this
/// node's rows (one transaction), then the writer thread.
pub(super) fn open(
    config: &JournalConfig,
    pg: &PostgresConfig,
    options: &OpenOptions<'_>,
) -> Result<(Store, Recovered), StoreError> {
    let vault_keys = match options.vault {
        Some((kek, var)) => {
            let pan_key = config
                .pan_key
                .clone()
                .ok_or_else(|| failed(pg, vault::VaultError::NoPanKey))?;
            Some((kek.clone(), var.to_string(), pan_key))
        }
        None => None,
    };
    let node_name = options.node.map(|n| n.name.clone()).unwrap_or_default();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let durable = Arc::new(durable_mark::DurableMark::default());
    let day_override = Arc::new(AtomicI64::new(0));
    let available = Arc::new(AtomicBool::new(true));
    metrics::gauge!("switch_store_available").set(1.0);
    let refusals = Arc::new(refusals::Refusals::default());
    let fence = Arc::new(fence::Fence::default());
    let commit_times = Arc::new(super::commit_times::CommitTimes::default());
    let start = Start {
        config: config.clone(),
        pg: pg.clone(),
        node: options.node.cloned(),
        now_ms: options.now_ms,
        remember: options.remember,
        vault: vault_keys,
    };
    // Made here (making a runtime is allowed inside another; only blocking on
    // one is not), used only on the writer's thread.
    let rt = runtime().map_err(|e| failed(pg, format!("cannot start a runtime: {e}")))?;
    let mut writer = writer::Writer {
        conns: Default::default(),
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
        epoch: 0,
        fence: fence.clone(),
        duplicate_window: options.duplicate_window,
        commit_times: commit_times.clone(),
    };
    // The writer's thread opens the database itself (the caller may be inside a
    // runtime, where blocking on another is refused) and says how it went
    // before it writes.
    let (opened_tx, opened) = std::sync::mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("journal-writer-pg".into())
        .spawn(move || match rt.block_on(start.run()) {
            Ok(started) => {
                writer.conns[0] = Some(Arc::new(started.conn));
                writer.epoch = started.recovered.epoch;
                writer.day_override.store(
                    started.stored_override,
                    std::sync::atomic::Ordering::Relaxed,
                );
                if opened_tx
                    .send(Ok((started.recovered, started.vault)))
                    .is_ok()
                {
                    rt.block_on(writer.run(rx));
                }
            }
            Err(e) => {
                let _ = opened_tx.send(Err(e));
            }
        })
        .map_err(|e| failed(pg, format!("cannot start the writer: {e}")))?;
    let (recovered, vault) = opened
        .recv()
        .map_err(|_| failed(pg, "the writer stopped while opening"))??;
    let membership = match options.node {
        Some(node) => Some(Arc::new(membership::PgMembership::new(
            pg.clone(),
            node.clone(),
            recovered.epoch,
            options.remember,
            vault.clone(),
        )) as Arc<dyn crate::cluster::Membership>),
        None => None,
    };
    let mut store = Store::assemble(
        config,
        super::Writing {
            tx: super::Queue::Task(tx),
            durable,
            day_override,
            writer: handle,
            available,
            refusals,
        },
        vault,
    );
    store.membership = membership;
    store.fence = Some(fence);
    store.commit_times = Some(commit_times);
    if let Some(node) = options.node {
        store.original_lookup = Some(lookup::OriginalLookup::new(pg.clone()));
        store.stand_in_poll = Some(stand_in_poll::StandInPoll::new(
            pg.clone(),
            node.name.clone(),
        ));
    }
    Ok((store, recovered))
}
