//! Recovery on PostgreSQL: what SQLite's `writer::recover` does, for the rows
//! one node owns (`node` = its name; '' for a single node). The same code serves
//! a node's own start and a survivor's take-over of a dead node
//! ([`super::membership`]): reversals queued, exactly once, for its forwarded
//! rows without an outcome; its store-and-forward rows read back (and, on a
//! take-over, moved to the survivor).
//!
//! Ids: a node's transaction and queue ids are `slot << 48 | n` with n below
//! 2^47; the upper half of its slot's range numbers the reversals it queues for
//! a node it took over, so that they never meet the ids its core hands out.

use std::collections::HashSet;

use tokio_postgres::{GenericClient, Transaction};

use crate::store::stand_in::{negative_row, sum_usage, NegativeRow, UsageRow};
use crate::store::writer::{decode_saf_row, owed_reversal, SafRow};
use crate::store::{ForwardedRow, Recovered};

/// The ids a slot's node numbers its own transactions and queue items with.
pub fn own_ids(slot: u8) -> (i64, i64) {
    let base = i64::from(slot) << 48;
    (base, base | 1 << 47)
}

/// The ids a slot's node numbers the reversals it queues for a dead node with.
pub fn adopted_ids(slot: u8) -> (i64, i64) {
    let base = i64::from(slot) << 48;
    (base | 1 << 47, base + (1 << 48))
}

/// Whose rows, and who gets them.
pub struct Owner<'a> {
    /// The node whose rows are recovered.
    pub rows_of: &'a str,
    /// The node that takes them (the same one at its own start).
    pub to: &'a str,
    /// `to`'s slot.
    pub slot: u8,
}

/// Queue the reversals `owner.rows_of`'s forwarded rows owe (once: a reversal
/// already queued for it is not queued again), mark those rows
/// `reversed_at_restart`, and read its queue back (moved to `owner.to`).
/// `tx` holds the rows locked until it commits.
pub async fn recover(
    tx: &Transaction<'_>,
    owner: &Owner<'_>,
    now_ms: i64,
    remember: usize,
    vault: Option<&crate::store::vault::Vault>,
) -> Result<Recovered, tokio_postgres::Error> {
    let adopting = owner.rows_of != owner.to;
    let (own_lo, own_hi) = own_ids(owner.slot);
    let (lo, hi) = if adopting {
        adopted_ids(owner.slot)
    } else {
        (own_lo, own_hi)
    };
    // The node's forwarded rows, found through its list (schema version 4); a
    // listed row no longer forwarded is left out (and unlisted below).
    let forwarded = tx
        .query(
            "SELECT j.id, j.issuer, f.reversal FROM in_flight f JOIN journal j ON j.id = f.id
             WHERE f.node = $1 AND j.state = 'forwarded'
             ORDER BY j.id FOR UPDATE OF j",
            &[&owner.rows_of],
        )
        .await?;
    let queued: HashSet<(String, Vec<u8>)> = tx
        .query(
            "SELECT issuer, message FROM saf WHERE node = $1",
            &[&owner.rows_of],
        )
        .await?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // Every row's reversal and mark go in two statements, whatever their
    // number: a take-over must finish within its bound (2 s) however many
    // rows a busy node left forwarded (two round trips a row did not).
    let mut next_saf = last_id(tx, lo, hi).await? + 1;
    let mut saf_ids = Vec::new();
    let mut saf_issuers = Vec::new();
    let mut saf_messages = Vec::new();
    let mut reversed = Vec::with_capacity(forwarded.len());
    for row in forwarded {
        let id: i64 = row.get(0);
        let issuer: Option<String> = row.get(1);
        let reversal = row
            .get::<_, Option<Vec<u8>>>(2)
            .and_then(|stored| owed_reversal(id, stored));
        if let Some((issuer, message)) = issuer.zip(reversal).filter(|owed| !queued.contains(owed))
        {
            saf_ids.push(next_saf);
            saf_issuers.push(issuer);
            saf_messages.push(message);
            next_saf += 1;
        }
        reversed.push(id);
    }
    let reversals_queued = saf_ids.len();
    if !saf_ids.is_empty() {
        tx.execute(
            "INSERT INTO saf (id, node, issuer, message, queued_ms)
             SELECT q.id, $4, q.issuer, q.message, $5
             FROM unnest($1::bigint[], $2::text[], $3::bytea[]) AS q(id, issuer, message)",
            &[
                &saf_ids,
                &saf_issuers,
                &saf_messages,
                &owner.rows_of,
                &now_ms,
            ],
        )
        .await?;
    }
    if !reversed.is_empty() {
        tx.execute(
            "UPDATE journal SET state = 'reversed_at_restart', response_code = '91',
                updated_ms = $2 WHERE id = ANY($1::bigint[])",
            &[&reversed, &now_ms],
        )
        .await?;
    }
    // The rows just reversed, and any left listed once complete, leave the
    // list; a row still forwarded stays (one committed since the SELECT, by an
    // instance of the node that has not yet found itself fenced: the next
    // recovery finds it).
    tx.execute(
        "DELETE FROM in_flight f WHERE f.node = $1
           AND NOT EXISTS (SELECT 1 FROM journal j WHERE j.id = f.id AND j.state = 'forwarded')",
        &[&owner.rows_of],
    )
    .await?;
    // The advice of a stand-in approval whose cluster claim was refused (its
    // row declined 94) is never owed: its push may have been committed after
    // the refusal, and the node stopped before it withdrew it.
    tx.execute(
        "DELETE FROM saf s USING journal j
         WHERE s.node = $1 AND j.advice_saf = s.id AND j.state = 'declined'
           AND j.response_code = '94'",
        &[&owner.rows_of],
    )
    .await?;
    let saf = tx
        .query(
            "SELECT id, issuer, message, attempts, queued_ms, card FROM saf WHERE node = $1 ORDER BY id",
            &[&owner.rows_of],
        )
        .await?
        .into_iter()
        .filter_map(|r| {
            let row = SafRow {
                id: r.get(0),
                issuer: r.get(1),
                message: r.get(2),
                attempts: u32::try_from(r.get::<_, i32>(3)).unwrap_or(0),
                queued_ms: r.get(4),
                card: r.get(5),
            };
            decode_saf_row(row, now_ms, vault)
        })
        .collect();
    if adopting {
        tx.execute(
            "UPDATE saf SET node = $2 WHERE node = $1",
            &[&owner.rows_of, &owner.to],
        )
        .await?;
    }
    let forwarded = tx
        .query(
            &format!(
                "SELECT {FORWARDED_COLUMNS} FROM journal WHERE node = $1 AND {FORWARDED_ROWS}
                 ORDER BY id DESC LIMIT $2"
            ),
            &[&owner.rows_of, &(remember as i64)],
        )
        .await?
        .iter()
        .map(forwarded_row)
        .collect();
    let last_txn_id: i64 = tx
        .query_one(
            "SELECT coalesce(max(id), $1) FROM journal WHERE id >= $1 AND id < $2",
            &[&own_lo, &own_hi],
        )
        .await?
        .get(0);
    Ok(Recovered::of_rows(
        last_txn_id as u64,
        saf,
        last_id(tx, own_lo, own_hi).await? as u64,
        reversals_queued,
        forwarded,
    ))
}

/// The columns of a [`ForwardedRow`] (see [`forwarded_row`]).
pub const FORWARDED_COLUMNS: &str = "acquirer, transmission, stan, issuer, mti, switch_stan,
    stand_in = 'within-limits' AND state = 'approved'";

/// The journal rows an acquirer's reversal or advice may name as its original:
/// requests that reached an issuer (forwarded, or approved in stand-in and
/// advised), not reversals. A request whose cluster claim another node held
/// never reached the issuer: its row (declined 94, with the STAN it would have
/// gone under) is left out, or a reversal would name, in field 90, a STAN the
/// issuer never saw instead of the forward of the node that holds the claim.
pub const FORWARDED_ROWS: &str = "switch_stan IS NOT NULL AND issuer IS NOT NULL
    AND reverses_stan IS NULL AND (stand_in IS NULL OR state = 'approved')
    AND NOT (state = 'declined' AND response_code = '94')";

/// A row selected with [`FORWARDED_COLUMNS`].
pub fn forwarded_row(r: &tokio_postgres::Row) -> ForwardedRow {
    ForwardedRow {
        acquirer: r.get(0),
        transmission: r.get(1),
        stan: r.get(2),
        issuer: r.get(3),
        mti: r.get(4),
        switch_stan: u32::try_from(r.get::<_, i64>(5)).unwrap_or(0),
        stand_in: r.get::<_, Option<bool>>(6).unwrap_or(false),
    }
}

/// The highest queue id in `[lo, hi)`, counting the ids the journal names (a
/// stand-in advice's `advice_saf`: an id used again would mark another advice
/// delivered); `lo` when none.
async fn last_id(tx: &impl GenericClient, lo: i64, hi: i64) -> Result<i64, tokio_postgres::Error> {
    Ok(tx
        .query_one(
            "SELECT greatest($1,
                coalesce((SELECT max(id) FROM saf WHERE id >= $1 AND id < $2), $1),
                coalesce((SELECT max(advice_saf) FROM journal
                          WHERE advice_saf >= $1 AND advice_saf < $2), $1))",
            &[&lo, &hi],
        )
        .await?
        .get(0))
}

/// The cluster's business-day override (0: none).
pub async fn day_override(client: &impl GenericClient) -> Result<i64, tokio_postgres::Error> {
    Ok(client
        .query_opt(
            "SELECT value FROM meta WHERE key = 'business_day_override'",
            &[],
        )
        .await?
        .map_or(0, |r| r.get(0)))
}

/// Whose journal rows.
#[derive(Clone, Copy)]
pub enum Rows<'a> {
    /// Every node's (a single node: all are its own).
    All,
    /// One node's.
    Of(&'a str),
    /// Every node's but this one's.
    Besides(&'a str),
}

/// Every card's stand-in approvals of `day` among `rows` (the limits are the
/// card's, wherever it was approved: a cluster node counts its own and, apart,
/// the others', read again about once a second).
pub async fn usage_of_day(
    client: &impl GenericClient,
    day: i64,
    rows: Rows<'_>,
) -> Result<Vec<UsageRow>, tokio_postgres::Error> {
    // Every statement binds $2 (one shape of parameters); `All` ignores it.
    let (node, whose) = match rows {
        Rows::All => ("", "$2 = ''"),
        Rows::Of(node) => (node, "node = $2"),
        Rows::Besides(node) => (node, "node <> $2"),
    };
    let rows = client
        .query(
            &format!(
                "SELECT pan_hash, currency, processing_code, amount FROM journal
                 WHERE stand_in = 'within-limits' AND business_day = $1 AND state = 'approved'
                   AND pan_hash IS NOT NULL AND currency IS NOT NULL AND {whose}"
            ),
            &[&day, &node],
        )
        .await?;
    Ok(sum_usage(rows.into_iter().map(|r| {
        (
            r.get::<_, String>(0),
            u16::try_from(r.get::<_, i32>(1)).unwrap_or(0),
            r.get::<_, Option<String>>(2),
            r.get::<_, Option<String>>(3),
        )
    })))
}

/// Every negative-file update kept (all nodes').
pub async fn negative_updates(
    client: &impl GenericClient,
) -> Result<Vec<NegativeRow>, tokio_postgres::Error> {
    Ok(client
        .query("SELECT issuer, digest, reason FROM negative_file", &[])
        .await?
        .into_iter()
        .filter_map(|r| {
            let reason: Option<String> = r.get(2);
            negative_row(r.get(0), r.get::<_, &str>(1), reason.as_deref())
        })
        .collect())
}
