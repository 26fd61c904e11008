//! What stand-in needs back from the store at start: each card's stand-in
//! approvals of the business day (so that a restart, kill -9 included, never
//! resets the per-card cumulative limits: they are rebuilt from the journal) and
//! the negative-file updates the issuers sent (0302), kept as PAN digests.

use rusqlite::{params, Connection};
use rust_decimal::Decimal;

use routing_rules::HotReason;

/// One card's stand-in approvals in one currency and bucket on the day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRow {
    /// The journal's keyed hash of the PAN, hex.
    pub pan_hash: String,
    /// ISO 4217 numeric.
    pub currency: u16,
    /// Cash withdrawals (processing code 01), else purchases.
    pub cash: bool,
    /// Their total, major units.
    pub amount: Decimal,
    /// How many.
    pub count: u32,
}

/// One negative-file update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NegativeRow {
    /// The issuer bank.
    pub issuer: String,
    /// SHA-256 of the PAN's digits.
    pub digest: [u8; 32],
    /// Why the card is hot; None: taken off the file.
    pub reason: Option<HotReason>,
}

/// What a cluster node reads of the other nodes' stand-in, about once a second.
#[derive(Clone, Debug, Default)]
pub struct Elsewhere {
    /// The other nodes' stand-in approvals of the day, per card, currency and bucket.
    pub usage: Vec<UsageRow>,
    /// Every negative-file update kept (any node's; this node's own included,
    /// applied again to the same effect).
    pub negative: Vec<NegativeRow>,
}

/// The stand-in approvals of business day `day`, summed per card, currency and
/// bucket (the partial index `journal_stand_in` keeps this off a scan of the day).
pub fn usage_of_day(conn: &Connection, day: i64) -> rusqlite::Result<Vec<UsageRow>> {
    let mut stmt = conn.prepare(
        "SELECT pan_hash, currency, processing_code, amount FROM journal
         WHERE stand_in = 'within-limits' AND business_day = ?1 AND state = 'approved'
           AND pan_hash IS NOT NULL AND currency IS NOT NULL",
    )?;
    let rows = stmt
        .query_map(params![day], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u16>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(sum_usage(rows))
}

/// The day's stand-in approvals (PAN hash, currency, processing code, amount
/// as text) summed per card, currency and bucket (either backend's rows).
pub(super) fn sum_usage(
    rows: impl IntoIterator<Item = (String, u16, Option<String>, Option<String>)>,
) -> Vec<UsageRow> {
    let mut sums: std::collections::HashMap<(String, u16, bool), (Decimal, u32)> =
        std::collections::HashMap::new();
    for (pan_hash, currency, pc, amount) in rows {
        let cash = pc.as_deref().is_some_and(|pc| pc.starts_with("01"));
        let amount = amount
            .and_then(|a| a.parse::<Decimal>().ok())
            .unwrap_or_default();
        let sum = sums.entry((pan_hash, currency, cash)).or_default();
        sum.0 += amount;
        sum.1 += 1;
    }
    sums.into_iter()
        .map(|((pan_hash, currency, cash), (amount, count))| UsageRow {
            pan_hash,
            currency,
            cash,
            amount,
            count,
        })
        .collect()
}

/// A stored negative-file update (either backend); None: its digest is not 64
/// hex digits (logged, skipped).
pub(super) fn negative_row(
    issuer: String,
    digest: &str,
    reason: Option<&str>,
) -> Option<NegativeRow> {
    let Some(digest) = digest_of_hex(digest) else {
        tracing::error!(%issuer, "negative file: a stored digest is not 64 hex digits; skipped");
        return None;
    };
    Some(NegativeRow {
        issuer,
        digest,
        reason: reason.and_then(HotReason::from_name),
    })
}

/// Every negative-file update kept (a deletion too: it overrides the issuer's file).
pub fn negative_updates(conn: &Connection) -> rusqlite::Result<Vec<NegativeRow>> {
    let mut stmt = conn.prepare("SELECT issuer, digest, reason FROM negative_file")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (issuer, digest, reason) = row?;
        out.extend(negative_row(issuer, &digest, reason.as_deref()));
    }
    Ok(out)
}

/// 64 hex digits as 32 bytes.
pub fn digest_of_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digests_read_back_and_bad_ones_are_refused() {
        let hex = "00ff".repeat(16);
        let d = digest_of_hex(&hex).expect("64 hex digits");
        assert_eq!(d[0], 0x00);
        assert_eq!(d[1], 0xff);
        assert!(digest_of_hex(&hex[..62]).is_none());
        assert!(digest_of_hex(&"zz".repeat(32)).is_none());
    }
}
