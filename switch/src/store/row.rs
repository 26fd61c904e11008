//! A journal row's column values, made from its record(s) once for both backends
//! (SQLite binds them one row at a time; PostgreSQL as arrays, many rows per
//! statement), so that both store exactly the same row.

use crate::core::journal::{FinalState, JournalRecord};

use super::writer::state_name;

/// The columns of one `journal` row, in the order of [`COLUMNS`].
pub struct JournalRow<'a> {
    pub id: i64,
    pub business_day: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub mti: &'a str,
    pub acquirer: &'a str,
    pub issuer: Option<&'a str>,
    pub transmission: &'a str,
    pub stan: &'a str,
    pub rrn: &'a str,
    pub terminal: &'a str,
    pub switch_stan: Option<u32>,
    pub pan_first6: &'a str,
    pub pan_last4: &'a str,
    pub pan_hash: Option<&'a str>,
    pub processing_code: Option<&'a str>,
    /// Decimal, major units, as text (settlement parses it exactly).
    pub amount: Option<String>,
    pub currency: Option<u16>,
    pub response_code: &'a str,
    pub auth_code: Option<&'a str>,
    pub rule: Option<&'a str>,
    pub state: &'static str,
    pub elapsed_ms: i64,
    pub reverses_transmission: Option<&'a str>,
    pub reverses_stan: Option<&'a str>,
    pub reversal: Option<&'a [u8]>,
    pub channel: &'static str,
    pub app: Option<&'a str>,
    pub stand_in: Option<&'static str>,
    pub stand_in_entry: Option<&'a str>,
    pub advice_saf: Option<i64>,
}

/// The row of `r` (created at `created_ms`, owing `reversal` on restart while it
/// is forwarded) with the outcome of `outcome` (at `updated_ms`): `r` itself, or
/// the final record that completes it in the same commit.
pub fn journal_row<'a>(
    r: &'a JournalRecord,
    reversal: Option<&'a [u8]>,
    outcome: &'a JournalRecord,
    day: i64,
    created_ms: i64,
    updated_ms: i64,
) -> JournalRow<'a> {
    let masked = r.pan_masked.as_str();
    let first6 = masked.get(..6.min(masked.len())).unwrap_or_default();
    let last4 = masked
        .get(masked.len().saturating_sub(4)..)
        .unwrap_or_default();
    // Only a row still forwarded keeps the reversal owed should the switch restart.
    let reversal = reversal.filter(|_| outcome.state == FinalState::Forwarded);
    let (rev_f7, rev_f11) = match &r.reverses {
        Some((f7, f11)) => (Some(f7.as_str()), Some(f11.as_str())),
        None => (None, None),
    };
    JournalRow {
        id: r.id as i64,
        business_day: day,
        created_ms,
        updated_ms,
        mti: r.mti.as_str(),
        acquirer: r.acquirer.as_str(),
        issuer: r.issuer.as_deref(),
        transmission: r.transmission.as_str(),
        stan: r.stan.as_str(),
        rrn: r.rrn.as_str(),
        terminal: r.terminal.as_str(),
        switch_stan: outcome.switch_stan.or(r.switch_stan),
        pan_first6: first6,
        pan_last4: last4,
        pan_hash: r.pan_hash.as_deref(),
        processing_code: Some(r.processing_code.as_str()).filter(|pc| !pc.is_empty()),
        amount: r.amount.map(|a| a.to_string()),
        currency: r.currency,
        response_code: outcome.response_code.as_str(),
        auth_code: outcome.auth_code.as_deref(),
        rule: r.rule.as_deref(),
        state: state_name(outcome.state),
        elapsed_ms: outcome.elapsed_ms as i64,
        reverses_transmission: rev_f7,
        reverses_stan: rev_f11,
        reversal,
        channel: r.channel.name(),
        app: r.app.as_deref(),
        stand_in: outcome.stand_in.as_ref().map(|s| s.check),
        stand_in_entry: outcome.stand_in.as_ref().and_then(|s| s.entry.as_deref()),
        advice_saf: outcome
            .stand_in
            .as_ref()
            .and_then(|s| s.advice_saf)
            .map(|id| id as i64),
    }
}
