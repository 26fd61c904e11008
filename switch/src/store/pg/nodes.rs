//! The `nodes` table: a node's registration at start (epoch + 1, a fresh
//! lease) and its lease's renewal. Lease times are the database's clock
//! ([`super::schema::DB_NOW_MS`]), never a node's.

use tokio_postgres::GenericClient;

use super::schema::DB_NOW_MS;
use crate::cluster::NodeIdentity;

/// Why a node may not register.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Another node holds the slot: live, or live once and neither stopped nor
    /// taken over yet (an expired lease is not enough: that node may only be
    /// paused, and it is not fenced until a survivor takes it over).
    #[error("slot {slot} is held by the node {holder} (live, or not yet taken over): give each node its own slot, start {holder} itself, or wait for its take-over")]
    SlotTaken {
        /// The slot.
        slot: u8,
        /// Its holder.
        holder: String,
    },
    /// The database failed.
    #[error("{}", super::connection::describe(.0))]
    Database(#[from] tokio_postgres::Error),
}

/// Register `node` (in the caller's transaction): live, its epoch one more than
/// its last start's, its lease from now. Returns the new epoch.
pub async fn register(tx: &impl GenericClient, node: &NodeIdentity) -> Result<i64, RegisterError> {
    let slot = i32::from(node.slot);
    // Two nodes starting together with the same slot: one waits for the other.
    tx.execute("SELECT pg_advisory_xact_lock(1397510996, $1)", &[&slot])
        .await?;
    // A node whose lease has expired but that nobody has taken over still
    // holds its slot: it may be paused or cut off, and wake with its epoch
    // intact (its renewals and fenced commits still succeed). Sharing its slot
    // would share its ids (journal rows dropped as already written, queue rows
    // overwritten) and its STANs toward the issuers.
    let holder = tx
        .query_opt(
            "SELECT name FROM nodes WHERE slot = $1 AND name <> $2 AND state = 'live'",
            &[&slot, &node.name],
        )
        .await?;
    if let Some(holder) = holder {
        return Err(RegisterError::SlotTaken {
            slot: node.slot,
            holder: holder.get(0),
        });
    }
    // The node's row locked FOR UPDATE first: an older instance of this node
    // still running (a second process under the same name) has its commits
    // fenced by FOR KEY SHARE on this row, which the upsert's lock would not
    // wait for. Its commits under way finish first; those after wait, then
    // find the epoch moved and are refused, so none commits while this
    // transaction recovers the node's rows. A commit of the older instance
    // that waits on its process (paused mid-batch) would hold the lock until
    // its connection ends: the start fails after 10 s rather than wait.
    tx.execute("SET LOCAL lock_timeout = '10s'", &[]).await?;
    tx.execute(
        "SELECT 1 FROM nodes WHERE name = $1 FOR UPDATE",
        &[&node.name],
    )
    .await?;
    let lease_ms = node.lease.as_millis() as i64;
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO nodes (name, slot, epoch, lease_until_ms, state, updated_ms)
                 VALUES ($1, $2, 1, {DB_NOW_MS} + $3, 'live', {DB_NOW_MS})
                 ON CONFLICT (name) DO UPDATE SET slot = excluded.slot, epoch = nodes.epoch + 1,
                    lease_until_ms = excluded.lease_until_ms, state = 'live', taken_by = NULL,
                    updated_ms = excluded.updated_ms
                 RETURNING epoch"
            ),
            &[&node.name, &slot, &lease_ms],
        )
        .await?;
    Ok(row.get(0))
}

/// Start `node`'s lease again from now, at the end of its registration's
/// transaction (after its recovery): the lease stamped at registration began
/// before the recovery, and a recovery longer than a lease would commit the
/// node already expired, for a survivor to take over while it delivers the
/// queue it just read back. The lease loop counts its own view from after
/// the commit, so it still ends after the database's by no more than the
/// commit and the rest of the start.
pub async fn restart_lease(
    tx: &impl GenericClient,
    node: &NodeIdentity,
) -> Result<(), tokio_postgres::Error> {
    let lease_ms = node.lease.as_millis() as i64;
    tx.execute(
        &format!("UPDATE nodes SET lease_until_ms = {DB_NOW_MS} + $2 WHERE name = $1"),
        &[&node.name, &lease_ms],
    )
    .await
    .map(drop)
}
