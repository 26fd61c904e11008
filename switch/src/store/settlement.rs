//! Interbank settlement of one business day from the journal: per (acquirer,
//! issuer, currency) the approved financial transactions net of reversals, the
//! interchange fees on them when a schedule is configured, and each
//! bank's multilateral net position against the settlement agent (the central
//! bank). An acquirer is owed what its terminals paid out or sold on other banks'
//! cards: its position is what it acquired minus what its cards were used for.
//! Interchange moves between the two banks of a pair (see [`super::interchange`]):
//! a fee the acquirer pays lowers its position and raises the issuer's. Positions
//! sum to zero per currency.
//!
//! A reversal (0400 answered 00, or an 0420/0421 acknowledged) counts on the
//! business day of its first record, against the original's amount, once per
//! original. Partial reversals (field 95) are not yet taken into account.
//!
//! Approvals the switch gave in stand-in settle like the issuer's own (the
//! issuer is liable within the limits it set): each pair also shows how many of
//! its transactions, and how much, were approved in stand-in.

use std::collections::BTreeMap;
use std::str::FromStr;

use rusqlite::{params, Connection};
use rust_decimal::Decimal;
use serde_json::json;

use super::business_day::format_day;
use super::interchange::Interchange;

/// The journal rows settlement counts (as `o`): approved financial originals with
/// an issuer and an amount.
pub(crate) const ORIGINAL: &str = "o.state = 'approved' AND substr(o.mti, 2, 1) = '2'
        AND o.reverses_stan IS NULL AND o.issuer IS NOT NULL AND o.amount IS NOT NULL";

/// One (acquirer, issuer, currency) line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairTotal {
    /// Acquiring bank.
    pub acquirer: String,
    /// Issuing bank.
    pub issuer: String,
    /// ISO 4217 numeric.
    pub currency: u16,
    /// Approved transactions, less reversed ones.
    pub count: i64,
    /// Their amount, net of reversals.
    pub amount: Decimal,
    /// Interchange on them, net of reversals: positive when the acquirer pays
    /// the issuer, negative when the issuer pays the acquirer.
    pub interchange: Decimal,
    /// Of `count`, the transactions approved by the switch in stand-in.
    pub stand_in_count: i64,
    /// Of `amount`, theirs.
    pub stand_in_amount: Decimal,
}

/// A pair's running totals: count, amount, interchange, and the stand-in
/// approvals' count and amount.
#[derive(Default)]
struct Sums {
    count: i64,
    amount: Decimal,
    interchange: Decimal,
    stand_in_count: i64,
    stand_in_amount: Decimal,
}

/// The approved financial transactions of one channel (and app) in one
/// currency, net of reversals: what the app channel carried, beside the cards at
/// terminals and ATMs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelTotal {
    /// `terminal`, `atm`, `wallet-qr` (`unknown` for rows written before issue 22).
    pub channel: String,
    /// The app, for an app's payments.
    pub app: Option<String>,
    /// ISO 4217 numeric.
    pub currency: u16,
    /// Approved transactions, less reversed ones.
    pub count: i64,
    /// Their amount, net of reversals.
    pub amount: Decimal,
}

/// A bank's net position in one currency (positive: the agent pays the bank).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The bank.
    pub bank: String,
    /// ISO 4217 numeric.
    pub currency: u16,
    /// Net amount.
    pub amount: Decimal,
}

/// A business day's settlement.
#[derive(Clone, Debug)]
pub struct Settlement {
    /// Days since 1970-01-01.
    pub day: i64,
    /// The settlement agent's bank id, if known.
    pub agent: Option<String>,
    /// Bank pair totals, sorted.
    pub pairs: Vec<PairTotal>,
    /// Net positions, sorted by currency then bank.
    pub positions: Vec<Position>,
    /// Totals by channel and app, sorted (they add up to the pairs' totals).
    pub channels: Vec<ChannelTotal>,
}

type Key = (String, String, u16);

/// Compute the settlement of business day `day`, without interchange.
pub fn settle(conn: &Connection, day: i64, agent: Option<String>) -> rusqlite::Result<Settlement> {
    settle_with(conn, day, agent, &Interchange::default())
}

/// Compute the settlement of business day `day` with the interchange `fees`.
pub fn settle_with(
    conn: &Connection,
    day: i64,
    agent: Option<String>,
    fees: &Interchange,
) -> rusqlite::Result<Settlement> {
    conn.execute_batch(super::schema::SETTLEMENT_INDEXES)?;
    let read = |sql: &str| -> rusqlite::Result<Vec<SettleRow>> {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(params![day], |r| {
            Ok(SettleRow {
                acquirer: r.get(0)?,
                issuer: r.get(1)?,
                currency: r.get::<_, Option<u16>>(2)?.unwrap_or(0),
                amount: r.get(3)?,
                processing_code: r.get(4)?,
                channel: r.get(5)?,
                app: r.get(6)?,
                stand_in: r.get::<_, Option<String>>(7)?.as_deref() == Some("within-limits"),
            })
        })?;
        rows.collect()
    };
    let originals = read(&originals_sql("?1"))?;
    let reversed = read(&reversed_sql("?1"))?;
    Ok(settle_rows(day, agent, fees, originals, reversed))
}

/// The approved originals of a business day (`day` is the parameter named
/// `day`: `?1` for SQLite, `$1` for PostgreSQL).
pub(crate) fn originals_sql(day: &str) -> String {
    format!(
        "SELECT o.acquirer, o.issuer, o.currency, o.amount, o.processing_code, o.channel, o.app,
                o.stand_in
         FROM journal o WHERE o.business_day = {day} AND {ORIGINAL}"
    )
}

/// The originals reversed on a business day (a reversal counts on the day of
/// its first record, once per original).
pub(crate) fn reversed_sql(day: &str) -> String {
    format!(
        "SELECT o.acquirer, o.issuer, o.currency, o.amount, o.processing_code, o.channel, o.app,
                o.stand_in
         FROM journal o JOIN (SELECT acquirer, reverses_transmission AS t, reverses_stan AS s,
                      min(business_day) AS d
               FROM journal WHERE reverses_stan IS NOT NULL AND state = 'approved'
               GROUP BY 1, 2, 3) r
           ON r.acquirer = o.acquirer AND r.t = o.transmission AND r.s = o.stan
         WHERE r.d = {day} AND {ORIGINAL}"
    )
}

/// One journal row settlement counts (either backend).
pub(crate) struct SettleRow {
    pub acquirer: String,
    pub issuer: String,
    pub currency: u16,
    /// Decimal text, as the journal keeps it.
    pub amount: String,
    pub processing_code: Option<String>,
    pub channel: Option<String>,
    pub app: Option<String>,
    /// Approved in stand-in (`stand_in = 'within-limits'`).
    pub stand_in: bool,
}

/// The settlement arithmetic: `originals` counted, `reversed` netted out.
pub(crate) fn settle_rows(
    day: i64,
    agent: Option<String>,
    fees: &Interchange,
    originals: Vec<SettleRow>,
    reversed: Vec<SettleRow>,
) -> Settlement {
    let mut totals: BTreeMap<Key, Sums> = BTreeMap::new();
    let mut by_channel: BTreeMap<(String, Option<String>, u16), (i64, Decimal)> = BTreeMap::new();
    let signed = originals
        .into_iter()
        .map(|r| (r, 1))
        .chain(reversed.into_iter().map(|r| (r, -1)));
    for (row, sign) in signed {
        let SettleRow {
            acquirer,
            issuer,
            currency,
            amount,
            processing_code,
            channel,
            app,
            stand_in,
        } = row;
        let amount = Decimal::from_str(&amount).unwrap_or_default();
        let fee = fees.fee(processing_code.as_deref(), currency, amount);
        let e = totals.entry((acquirer, issuer, currency)).or_default();
        e.count += sign;
        e.amount += amount * Decimal::from(sign);
        e.interchange += fee * Decimal::from(sign);
        if stand_in {
            e.stand_in_count += sign;
            e.stand_in_amount += amount * Decimal::from(sign);
        }
        let channel = channel.unwrap_or_else(|| "unknown".into());
        let c = by_channel.entry((channel, app, currency)).or_default();
        c.0 += sign;
        c.1 += amount * Decimal::from(sign);
    }
    let pairs: Vec<PairTotal> = totals
        .into_iter()
        .map(|((acquirer, issuer, currency), sums)| PairTotal {
            acquirer,
            issuer,
            currency,
            count: sums.count,
            amount: sums.amount,
            interchange: sums.interchange,
            stand_in_count: sums.stand_in_count,
            stand_in_amount: sums.stand_in_amount,
        })
        .collect();
    let mut positions: BTreeMap<(u16, String), Decimal> = BTreeMap::new();
    for p in &pairs {
        // The acquirer is owed what it paid out or sold on the issuer's cards, less
        // the interchange it pays the issuer.
        let owed = p.amount - p.interchange;
        *positions
            .entry((p.currency, p.acquirer.clone()))
            .or_default() += owed;
        *positions.entry((p.currency, p.issuer.clone())).or_default() -= owed;
    }
    let channels = by_channel
        .into_iter()
        .filter(|(_, (count, amount))| *count != 0 || !amount.is_zero())
        .map(|((channel, app, currency), (count, amount))| ChannelTotal {
            channel,
            app,
            currency,
            count,
            amount,
        })
        .collect();
    Settlement {
        day,
        agent,
        pairs,
        channels,
        positions: positions
            .into_iter()
            .map(|((currency, bank), amount)| Position {
                bank,
                currency,
                amount,
            })
            .collect(),
    }
}

impl Settlement {
    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "business_day": format_day(self.day),
            "settlement_agent": self.agent,
            "pairs": self.pairs.iter().map(|p| json!({
                "acquirer": p.acquirer, "issuer": p.issuer, "currency": format!("{:03}", p.currency),
                "count": p.count, "amount": p.amount.to_string(),
                "interchange": p.interchange.to_string(),
                "stand_in": { "count": p.stand_in_count, "amount": p.stand_in_amount.to_string() },
            })).collect::<Vec<_>>(),
            "positions": self.positions.iter().map(|p| json!({
                "bank": p.bank, "currency": format!("{:03}", p.currency), "net": p.amount.to_string(),
            })).collect::<Vec<_>>(),
            "channels": self.channels.iter().map(|c| json!({
                "channel": c.channel, "app": c.app, "currency": format!("{:03}", c.currency),
                "count": c.count, "amount": c.amount.to_string(),
            })).collect::<Vec<_>>(),
        })
    }

    /// The report as CSV: a `pair` line per bank pair (with its interchange and
    /// its stand-in approvals), a `position` line per bank (its net, interchange
    /// included).
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "kind,acquirer_or_bank,issuer,currency,count,amount,interchange,stand_in_count,stand_in_amount\n",
        );
        for p in &self.pairs {
            out += &format!(
                "pair,{},{},{:03},{},{},{},{},{}\n",
                p.acquirer,
                p.issuer,
                p.currency,
                p.count,
                p.amount,
                p.interchange,
                p.stand_in_count,
                p.stand_in_amount
            );
        }
        for p in &self.positions {
            out += &format!("position,{},,{:03},,{},,,\n", p.bank, p.currency, p.amount);
        }
        // By channel: the channel in the bank column, the app in the issuer's.
        for c in &self.channels {
            out += &format!(
                "channel,{},{},{:03},{},{},,,\n",
                c.channel,
                c.app.as_deref().unwrap_or(""),
                c.currency,
                c.count,
                c.amount
            );
        }
        out
    }

    /// The report as a table for people; a day with nothing to settle says so
    /// instead of showing empty columns.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "Settlement of business day {} (agent: {})\n\n",
            format_day(self.day),
            self.agent.as_deref().unwrap_or("none")
        );
        if self.pairs.is_empty() {
            out += "No transactions to settle.\n";
            return out;
        }
        out += &format!(
            "{:<12} {:<12} {:>8} {:>10} {:>20} {:>14} {:>26}\n",
            "acquirer", "issuer", "currency", "count", "amount", "interchange", "of which stand-in"
        );
        for p in &self.pairs {
            out += &format!(
                "{:<12} {:<12} {:>8} {:>10} {:>20} {:>14} {:>26}\n",
                p.acquirer,
                p.issuer,
                format!("{:03}", p.currency),
                p.count,
                p.amount,
                p.interchange,
                format!("{} / {}", p.stand_in_count, p.stand_in_amount)
            );
        }
        out += &format!(
            "\nInterchange: positive when the acquirer pays the issuer. Of which stand-in:\n\
             the approvals the switch gave in the issuer's place (count / amount).\n\
             \nNet positions, interchange included (positive: the agent pays the bank)\n\
             {:<12} {:>8} {:>20}\n",
            "bank", "currency", "net"
        );
        for p in &self.positions {
            out += &format!(
                "{:<12} {:>8} {:>20}\n",
                p.bank,
                format!("{:03}", p.currency),
                p.amount
            );
        }
        out += &format!(
            "\nBy channel (approved, net of reversals)\n{:<12} {:<14} {:>8} {:>10} {:>20}\n",
            "channel", "app", "currency", "count", "amount"
        );
        for c in &self.channels {
            out += &format!(
                "{:<12} {:<14} {:>8} {:>10} {:>20}\n",
                c.channel,
                c.app.as_deref().unwrap_or("-"),
                format!("{:03}", c.currency),
                c.count,
                c.amount
            );
        }
        out
    }
}
