//! [`Membership`] on PostgreSQL: the lease in `nodes`, renewed by this node's
//! epoch; the take-over of nodes whose lease expired (on the database's clock),
//! exactly once however many survivors race (`FOR UPDATE SKIP LOCKED`: a node
//! row another survivor is taking is skipped, and once taken it is no longer
//! live), by the same recovery a node runs for itself ([`recover::recover`])
//! with the dead node's name; and a clean leave, which leaves the node's
//! obligations to be taken over when it still has any.
//!
//! It has connections of its own, opened on the runtime of whoever calls it
//! (the lease loop's), so that a slow journal commit never delays a renewal:
//! one for the renewals and the leave, one for the take-overs, so that a slow
//! take-over (up to [`CALL_TIMEOUT`], run beside the renewals by the lease
//! loop) never delays one either.
//!
//! A take-over whose commit's outcome is unknown (it ran past its bound, or
//! the connection broke, after COMMIT was sent) may have gone through: the
//! dead node's queue is then this node's in the database, and no later pass
//! would select the node again. So what the attempt read is kept until the
//! next pass finds out, from the node's row or this node's queue, whether it
//! committed: then it is adopted, as if the attempt had succeeded; if not, it
//! is dropped, and the node is taken over again on a later pass.

use std::time::Duration;

use super::connection::LazyClient;
use super::recover::{self, Owner};
use super::schema::DB_NOW_MS;
use crate::cluster::{Adopted, BoxFuture, Membership, NodeIdentity};
use crate::config::PostgresConfig;

/// A membership call that takes longer fails (the lease loop retries).
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Run `$call` (an expression using the connection `$client`) within
/// [`CALL_TIMEOUT`] on the connection of `$lazy`; on any failure the
/// connection is dropped, to be opened again next time.
macro_rules! bounded {
    ($lazy:expr, |$client:ident| $call:expr) => {{
        let mut slot = $lazy.connected().await?;
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

/// This node's membership.
pub struct PgMembership {
    node: NodeIdentity,
    epoch: i64,
    /// How many of a dead node's recent forwarded rows come back (as at a start).
    remember: usize,
    /// Opens the sealed cards of a dead node's stand-in advices.
    vault: Option<std::sync::Arc<crate::store::vault::Vault>>,
    /// The renewals' and the leave's connection.
    renewals: LazyClient,
    /// The take-overs' connection.
    take_overs: LazyClient,
    /// What the last take-over read, kept while its commit's outcome is
    /// unknown (see the module's documentation).
    unsettled: std::sync::Mutex<Vec<Adopted>>,
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
            renewals: LazyClient::new(config.clone()),
            take_overs: LazyClient::new(config),
            unsettled: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn unsettled(&self) -> std::sync::MutexGuard<'_, Vec<Adopted>> {
        self.unsettled.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The take-overs kept with an unknown outcome: those that committed, to
    /// be adopted now. Committed: the node's row names this node one epoch on,
    /// or (the node restarted since, or was taken over again, and its row
    /// says so no more) an item the attempt read is in this node's queue in
    /// the database. Waits for the attempt's transaction, should it still be
    /// open on the server (`FOR SHARE` on the node's row). On any failure,
    /// connecting included, they are kept for the next pass.
    async fn settle(&self, unsettled: Vec<Adopted>) -> Result<Vec<Adopted>, String> {
        let attempts: Vec<(String, i64, Vec<i64>)> = unsettled
            .iter()
            .map(|a| {
                let ids = a.saf.iter().map(|item| item.id as i64).collect();
                (a.node.clone(), a.epoch, ids)
            })
            .collect();
        // In a block of its own: `bounded!` returns early when it cannot connect.
        let checked = async {
            bounded!(self.take_overs, |client| async {
                let mut committed = Vec::with_capacity(attempts.len());
                for (node, epoch, ids) in &attempts {
                    let row = client
                        .query_opt(
                            "SELECT coalesce(taken_by, ''), epoch FROM nodes WHERE name = $1 FOR SHARE",
                            &[node],
                        )
                        .await
                        .map_err(text)?;
                    let named = row.is_some_and(|r| {
                        r.get::<_, String>(0) == self.node.name && r.get::<_, i64>(1) == epoch + 1
                    });
                    let queued = !named
                        && !ids.is_empty()
                        && client
                            .query_one(
                                "SELECT EXISTS (SELECT 1 FROM saf WHERE node = $1 AND id = ANY($2::bigint[]))",
                                &[&self.node.name, ids],
                            )
                            .await
                            .map_err(text)?
                            .get::<_, bool>(0);
                    committed.push(named || queued);
                }
                Ok(committed)
            })
        }
        .await;
        let committed = match checked {
            Ok(committed) => committed,
            Err(e) => {
                *self.unsettled() = unsettled;
                return Err(format!("a take-over's outcome is still unknown: {e}"));
            }
        };
        let mut adopted = Vec::new();
        for (a, went_through) in unsettled.into_iter().zip(committed) {
            if went_through {
                tracing::warn!(node = %a.node, "a take-over whose commit's outcome was unknown went through: adopted now");
                adopted.push(a);
            } else {
                tracing::warn!(node = %a.node, "a take-over whose commit's outcome was unknown was rolled back: the node is taken over on a later pass");
            }
        }
        Ok(adopted)
    }
}

fn text(e: tokio_postgres::Error) -> String {
    super::connection::describe(&e)
}

impl Membership for PgMembership {
    fn renew(&self) -> BoxFuture<'_, Result<bool, String>> {
        let lease_ms = self.node.lease.as_millis() as i64;
        Box::pin(async move {
            bounded!(self.renewals, |client| async {
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
            // A pass that settles an earlier attempt takes nothing new over
            // (the next one will).
            let unsettled = std::mem::take(&mut *self.unsettled());
            if !unsettled.is_empty() {
                return self.settle(unsettled).await;
            }
            bounded!(self.take_overs, |client| async {
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
                // Kept before the commit is sent, should its outcome be unknown
                // (an error, or this future dropped at the bound).
                *self.unsettled() = adopted;
                tx.commit().await.map_err(text)?;
                let adopted = std::mem::take(&mut *self.unsettled());
                for a in &adopted {
                    tracing::warn!(node = %a.node, saf = a.saf.len(), reversals = a.reversals_queued, "took over an expired node");
                }
                Ok(adopted)
            })
        })
    }

    /// A node with nothing owed stops; one that still owes something (its
    /// store-and-forward queue, which a graceful stop adds to as it reverses
    /// the requests left unanswered, or forwarded rows) stays live with its
    /// lease ended, so that the next pass of another node takes it over, as
    /// it would a dead one. Called once the node's journal is closed: it
    /// commits and delivers nothing more.
    fn leave(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let left = bounded!(self.renewals, |client| async {
                client
                    .query_opt(
                        &format!(
                            "WITH counted AS (
                                SELECT (SELECT count(*) FROM saf WHERE node = $1) AS saf,
                                       (SELECT count(*) FROM in_flight WHERE node = $1) AS forwarded),
                             owed AS (SELECT saf, forwarded, saf + forwarded > 0 AS owes FROM counted)
                             UPDATE nodes SET
                                state = CASE WHEN owed.owes THEN 'live' ELSE 'stopped' END,
                                lease_until_ms = CASE WHEN owed.owes THEN 0 ELSE lease_until_ms END,
                                updated_ms = {DB_NOW_MS}
                             FROM owed
                             WHERE name = $1 AND epoch = $2 AND state = 'live'
                             RETURNING owed.saf, owed.forwarded"
                        ),
                        &[&self.node.name, &self.epoch],
                    )
                    .await
                    .map_err(text)
            })?;
            if let Some(row) = left {
                let (saf, forwarded): (i64, i64) = (row.get(0), row.get(1));
                if saf + forwarded > 0 {
                    tracing::warn!(
                        node = %self.node.name,
                        saf,
                        forwarded,
                        "left the cluster owing store-and-forward items or forwarded rows: \
                         its lease is ended for another node to take them over"
                    );
                }
            }
            Ok(())
        })
    }
}
