//! Stand-in approvals claimed like forwards (cluster mode): a repeat of a
//! request sent to two nodes must not be approved twice, whether each node
//! forwarded it or decided it in stand-in. The approval's journal record
//! claims the request's duplicate key in its batch ([`super::batch`]); when
//! another node holds it, the same transaction declines the row 94 and deletes
//! the advice's queue row before it commits, so nothing of the approval stands
//! (no settlement line, no usage, no advice to the issuer), and the writer
//! reports the refusal as it does a forward's (the core answers 94).

use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

/// A stand-in approval of the batch: its operation's sequence number, its
/// journal row and its advice's queue row.
pub struct Approval {
    /// The writer's sequence number of its record.
    pub seq: u64,
    /// Its journal row.
    pub txn_id: i64,
    /// Its advice's queue row.
    pub advice: Option<i64>,
}

/// Undo, in the batch's transaction (open on `tx`), the approvals among `approvals` whose
/// sequence number is in `refused`: declined 94, advice deleted.
pub async fn undo_refused(
    tx: &Client,
    approvals: &[Approval],
    refused: impl Iterator<Item = u64>,
) -> Result<(), tokio_postgres::Error> {
    let refused: Vec<u64> = refused.collect();
    let undone: Vec<&Approval> = approvals
        .iter()
        .filter(|a| refused.contains(&a.seq))
        .collect();
    if undone.is_empty() {
        return Ok(());
    }
    let rows: Vec<i64> = undone.iter().map(|a| a.txn_id).collect();
    let advices: Vec<i64> = undone.iter().filter_map(|a| a.advice).collect();
    // Rare (a repeat sent to two nodes): two statements more, pipelined.
    let (row_params, advice_params) = ([&rows as &(dyn ToSql + Sync)], [&advices as _]);
    let declined = tx.execute(
        "UPDATE journal SET state = 'declined', response_code = '94', auth_code = NULL
         WHERE id = ANY($1) AND state = 'approved'",
        &row_params,
    );
    let deleted = tx.execute("DELETE FROM saf WHERE id = ANY($1)", &advice_params);
    futures_util::try_join!(declined, deleted)?;
    tracing::info!(
        approvals = undone.len(),
        "stand-in approvals claimed by another node: declined 94, advices withdrawn"
    );
    Ok(())
}
