//! [`Membership`] on PostgreSQL: the lease in `nodes`, renewed by this node's
//! epoch; the take-over of nodes whose lease expired (on the database's clock),
//! exactly once however many survivors race (`FOR UPDATE SKIP LOCKED`: a node
//! row another survivor is taking is skipped, and once taken it is no longer
//! live), by the same recovery a node runs for itself ([`recover::recover`])
//! with the dead node's name; and a clean leave.
//!
//! It has its own connection, opened on the runtime of whoever calls it (the
//! lease loop's), so that a slow journal commit never delays a renewal.

use std::time::Duration;

use super::connection::LazyClient;
use super::recover::{self, Owner};
use super::schema::DB_NOW_MS;
use crate::cluster::{Adopted, BoxFuture, Membership, NodeIdentity};
use crate::config::PostgresConfig;

/// A membership call that takes longer fails (the lease loop retries).
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// This node's membership.
pub struct PgMembership {
    node: NodeIdentity,
    epoch: i64,
    /// How many of a dead node's recent forwarded rows come back (as at a start).
    remember: usize,
    /// Opens the sealed cards of a dead node's stand-in advices.
    vault: Option<std::sync::Arc<crate::store::vault::Vault>>,
    client: LazyClient,
}

impl PgMembership {
    /// The membership of `node`, registered with `epoch` (connects at first use).
    pub fn new(
        config: PostgresConfig,
        node: NodeIdentity,
        epoch: i64,
        remember: usize,
        vault: Option<std::sync::Arc<crate::store::vault::Vault>>,
    ) -> Self {
        PgMembership {
            node,
            epoch,
            remember,
            vault,
            client: LazyClient::new(config),
        }
    }
}

/// Run `$call` (an expression using the connection `$client`) within
/// [`CALL_TIMEOUT`] on `$membership`'s connection; on any failure the
/// connection is dropped, to be opened again next time.
macro_rules! bounded {
    ($membership:expr, |$client:ident| $call:expr) => {{
        let mut slot = $membership.client.connected().await?;
        let result = match slot.as_mut() {
            None => Err("no connection".to_string()),
            Some($client) => match tokio::time::timeout(CALL_TIMEOUT, $call).await {
                Ok(result) => result,
                Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
            },
        };
        if result.is_err() {
            *slot = None;
        }
        result
    }};
}

fn text(e: tokio_postgres::Error) -> String {
    super::connection::describe(&e)
}

impl Membership for PgMembership {
    fn renew(&self) -> BoxFuture<'_, Result<bool, String>> {
        let lease_ms = self.node.lease.as_millis() as i64;
        Box::pin(async move {
            bounded!(self, |client| async {
                let renewed = client
                    .execute(
                        &format!(
                            "UPDATE nodes SET lease_until_ms = {DB_NOW_MS} + $3, updated_ms = {DB_NOW_MS}
                             WHERE name = $1 AND epoch = $2 AND state = 'live'"
                        ),
                        &[&self.node.name, &self.epoch, &lease_ms],
                    )
                    .await
                    .map_err(text)?;
                Ok(renewed == 1)
            })
        })
    }

    fn take_over_expired(&self) -> BoxFuture<'_, Result<Vec<Adopted>, String>> {
        Box::pin(async move {
            bounded!(self, |client| async {
                let tx = client.transaction().await.map_err(text)?;
                let expired = tx
                    .query(
                        &format!(
                            "SELECT name, epoch FROM nodes
                             WHERE state = 'live' AND name <> $1 AND lease_until_ms < {DB_NOW_MS}
                             ORDER BY name FOR UPDATE SKIP LOCKED"
                        ),
                        &[&self.node.name],
                    )
                    .await
                    .map_err(text)?;
                let now_ms = crate::store::writer::unix_ms();
                let mut adopted = Vec::with_capacity(expired.len());
                for row in expired {
                    let dead: String = row.get(0);
                    let epoch: i64 = row.get(1);
                    let owner = Owner {
                        rows_of: &dead,
                        to: &self.node.name,
                        slot: self.node.slot,
                    };
                    let recovered =
                        recover::recover(&tx, &owner, now_ms, self.remember, self.vault.as_deref())
                            .await
                            .map_err(|e| format!("take-over of {dead}: {}", text(e)))?;
                    tx.execute(
                        &format!(
                            "UPDATE nodes SET state = 'taken_over', taken_by = $2, epoch = epoch + 1,
                                updated_ms = {DB_NOW_MS} WHERE name = $1"
                        ),
                        &[&dead, &self.node.name],
                    )
                    .await
                    .map_err(text)?;
                    adopted.push(Adopted {
                        node: dead,
                        saf: recovered.saf,
                        forwarded: recovered.forwarded,
                        reversals_queued: recovered.reversals_queued,
                        epoch,
                    });
                }
                tx.commit().await.map_err(text)?;
                for a in &adopted {
                    tracing::warn!(node = %a.node, saf = a.saf.len(), reversals = a.reversals_queued, "took over an expired node");
                }
                Ok(adopted)
            })
        })
    }

    fn leave(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            bounded!(self, |client| async {
                client
                    .execute(
                        &format!(
                            "UPDATE nodes SET state = 'stopped', updated_ms = {DB_NOW_MS}
                             WHERE name = $1 AND epoch = $2 AND state = 'live'"
                        ),
                        &[&self.node.name, &self.epoch],
                    )
                    .await
                    .map(drop)
                    .map_err(text)
            })
        })
    }
}
