//! `/api/status`: the JSON the console page draws and other tools read, as
//! documented in `docs/status-api.md` (version 1: fields are added, never
//! renamed or removed, within a version). Built from what the core and the
//! store already count; it carries bank ids, link names, counts and times,
//! never a card number, track data or a PIN block.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::history::{per_second, History, Side, CODES_WINDOW, RATE_WINDOW};
use crate::config::{Config, Direction, Role};
use crate::core::counters::Decider;
use crate::core::{role_name, CoreStats, LinkId, Millis};

/// The document's version.
pub const VERSION: u32 = 1;

/// The whole document.
#[derive(Debug, Serialize)]
pub struct Status {
    /// [`VERSION`].
    pub version: u32,
    /// When it was made (Unix ms).
    pub generated_at_unix_ms: i64,
    /// This node.
    pub node: Node,
    /// Every configured link, in the configuration's order.
    pub links: Vec<LinkStatus>,
    /// Response codes over the last five minutes.
    pub response_codes: ResponseCodes,
    /// Store-and-forward, per issuer with anything queued or expired.
    pub saf: Vec<SafStatus>,
    /// The journal; null without one.
    pub journal: Option<JournalStatus>,
    /// The open business day (`YYYY-MM-DD`); null without a journal.
    pub business_day: Option<String>,
    /// The last closed business day's settlement; null without a journal or
    /// before it was first computed.
    pub last_settlement: Option<SettlementTotals>,
}

/// The node that answered.
#[derive(Debug, Serialize)]
pub struct Node {
    /// `[cluster] node`, or the switch's institution id for a single node.
    pub name: String,
    /// Its `[cluster]` slot; null for a single node.
    pub slot: Option<u8>,
    /// Whether it is a node of a cluster. Each node serves its own status:
    /// the other nodes' are read from their own admin addresses.
    pub cluster: bool,
}

/// One configured link and its connections.
#[derive(Debug, Serialize)]
pub struct LinkStatus {
    /// The configured name.
    pub name: String,
    /// The bank on the other end.
    pub bank: String,
    /// `acquirer` or `issuer`.
    pub role: &'static str,
    /// `listen` or `dial`.
    pub direction: &'static str,
    /// `down` (no connection), `connecting` (a dial in progress), `up`
    /// (connected, not signed on) or `signed-on` (carrying requests).
    pub state: &'static str,
    /// Its connections now.
    pub connections: usize,
    /// Requests in flight on them.
    pub in_flight: usize,
    /// Answers per second over the last minute: the bank's answered requests
    /// as acquirer, or the answers its issuer host gave.
    pub tps_1m: f64,
    /// Issuer links: the issuer's answer times over the last minute (ms).
    pub latency_ms: Option<Latency>,
    /// How long ago an echo last went through on one of its connections (ms).
    pub last_echo_ms_ago: Option<u64>,
    /// On TLS links: the certificate identities its peers presented.
    pub tls_identities: Vec<String>,
}

/// Answer-time percentiles.
#[derive(Debug, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u32,
    /// 99th percentile.
    pub p99: u32,
    /// Answers they are over.
    pub samples: usize,
}

/// Response codes per bank over a window.
#[derive(Debug, Serialize)]
pub struct ResponseCodes {
    /// The window asked for (300 s).
    pub window_s: u64,
    /// What it covers (less while the switch is younger).
    pub covered_s: u64,
    /// By acquiring bank.
    pub by_acquirer: BTreeMap<String, Vec<CodeCount>>,
    /// By issuing bank (the card's).
    pub by_issuer: BTreeMap<String, Vec<CodeCount>>,
}

/// How many answers had one code, decided by whom.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct CodeCount {
    /// The response code (field 39).
    pub rc: String,
    /// `issuer`, `switch`, `region-rule` or `stand-in`.
    pub decided_by: &'static str,
    /// Answers.
    pub count: u64,
}

/// One issuer's store-and-forward queue.
#[derive(Debug, Serialize)]
pub struct SafStatus {
    /// The issuer.
    pub issuer: String,
    /// Messages waiting.
    pub depth: usize,
    /// How long the oldest has waited (ms); null when none waits.
    pub oldest_ms: Option<u64>,
    /// Messages expired undelivered since start.
    pub expired: u64,
}

/// The journal.
#[derive(Debug, Serialize)]
pub struct JournalStatus {
    /// `sqlite` or `postgresql`.
    pub backend: &'static str,
    /// `strict` or `relaxed`.
    pub durability: &'static str,
    /// Operations submitted, not yet committed.
    pub backlog: u64,
    /// 99th percentile of the last commits (ms); null when not measured.
    pub commit_p99_ms: Option<f64>,
    /// How many commits that is over.
    pub commits_measured: usize,
}

/// A settled business day's totals.
#[derive(Debug, Serialize, Clone)]
pub struct SettlementTotals {
    /// The day (`YYYY-MM-DD`).
    pub day: String,
    /// Per currency.
    pub currencies: Vec<CurrencyTotal>,
}

/// Approved, net of reversals, in one currency.
#[derive(Debug, Serialize, Clone)]
pub struct CurrencyTotal {
    /// ISO 4217 numeric.
    pub currency: u16,
    /// Transactions.
    pub count: i64,
    /// Their amount (major units, as text: exact).
    pub amount: String,
    /// Of them, approved in stand-in.
    pub stand_in_count: i64,
}

/// What the document is built from (the caller gathers it).
pub struct Inputs<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// The core's snapshot.
    pub stats: &'a CoreStats,
    /// The core's clock now.
    pub now: Millis,
    /// The wall clock now (Unix ms).
    pub unix_ms: i64,
    /// The identity each TLS connection's peer presented.
    pub certificates: &'a HashMap<LinkId, String>,
    /// Links whose dialer is connecting now.
    pub dialing: &'a [String],
    /// The windows.
    pub history: &'a History,
    /// Per issuer: depth and the oldest item's wait (ms).
    pub saf: BTreeMap<String, (usize, u64)>,
    /// The journal, if any.
    pub journal: Option<JournalStatus>,
    /// The open business day, if a journal.
    pub business_day: Option<i64>,
    /// The last settlement computed.
    pub last_settlement: Option<SettlementTotals>,
}

/// The document from `inputs`.
pub fn build(inputs: Inputs<'_>) -> Status {
    let config = inputs.config;
    let (last_minute, minute_covered) = inputs.history.answers_within(RATE_WINDOW);
    let links = config
        .links
        .iter()
        .map(|link| {
            let live: Vec<_> = inputs
                .stats
                .links
                .iter()
                .filter(|l| l.name == link.name)
                .collect();
            let best = live.iter().map(|l| l.state).max();
            let state = match best {
                Some(2) => "signed-on",
                Some(_) => "up",
                None if inputs.dialing.contains(&link.name) => "connecting",
                None => "down",
            };
            let (side, only) = match link.role {
                Role::Acquirer => (Side::Acquired, None),
                Role::Issuer => (Side::Issued, Some(Decider::Issuer)),
            };
            let last_echo = live.iter().filter_map(|l| l.last_echo).max();
            LinkStatus {
                name: link.name.clone(),
                bank: link.bank.clone(),
                role: role_name(link.role),
                direction: match link.direction {
                    Direction::Listen => "listen",
                    Direction::Dial => "dial",
                },
                state,
                connections: live.len(),
                in_flight: live.iter().map(|l| l.in_flight).sum(),
                tps_1m: round2(per_second(
                    &last_minute,
                    minute_covered,
                    &link.bank,
                    side,
                    only,
                )),
                latency_ms: (link.role == Role::Issuer)
                    .then(|| inputs.history.latency(&link.bank))
                    .flatten()
                    .map(|p| Latency {
                        p50: p.p50,
                        p99: p.p99,
                        samples: p.samples,
                    }),
                last_echo_ms_ago: last_echo.map(|at| inputs.now.0.saturating_sub(at.0)),
                tls_identities: live
                    .iter()
                    .filter_map(|l| inputs.certificates.get(&l.id).cloned())
                    .collect(),
            }
        })
        .collect();
    let (codes, covered) = inputs.history.answers_within(CODES_WINDOW);
    let mut by_acquirer: BTreeMap<String, Vec<CodeCount>> = BTreeMap::new();
    let mut by_issuer: BTreeMap<String, Vec<CodeCount>> = BTreeMap::new();
    for ((bank, side, rc, decider), count) in codes {
        let into = match side {
            Side::Acquired => &mut by_acquirer,
            Side::Issued => &mut by_issuer,
        };
        into.entry(bank).or_default().push(CodeCount {
            rc,
            decided_by: decider.label(),
            count,
        });
    }
    let mut saf: BTreeMap<String, SafStatus> = inputs
        .saf
        .into_iter()
        .map(|(issuer, (depth, oldest))| {
            let s = SafStatus {
                issuer: issuer.clone(),
                depth,
                oldest_ms: Some(oldest),
                expired: 0,
            };
            (issuer, s)
        })
        .collect();
    for (bank, b) in &inputs.stats.banks {
        if b.saf_expired > 0 {
            saf.entry(bank.clone())
                .or_insert_with(|| SafStatus {
                    issuer: bank.clone(),
                    depth: 0,
                    oldest_ms: None,
                    expired: 0,
                })
                .expired = b.saf_expired;
        }
    }
    Status {
        version: VERSION,
        generated_at_unix_ms: inputs.unix_ms,
        node: Node {
            name: config
                .cluster
                .as_ref()
                .map_or_else(|| config.institution_id.clone(), |c| c.node.clone()),
            slot: config.cluster.as_ref().map(|c| c.slot),
            cluster: config.cluster.is_some(),
        },
        links,
        response_codes: ResponseCodes {
            window_s: CODES_WINDOW.as_secs(),
            covered_s: covered.as_secs(),
            by_acquirer,
            by_issuer,
        },
        saf: saf.into_values().collect(),
        journal: inputs.journal,
        business_day: inputs
            .business_day
            .map(crate::store::business_day::format_day),
        last_settlement: inputs.last_settlement,
    }
}

/// Two decimals: a rate is read, not computed with.
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests;
