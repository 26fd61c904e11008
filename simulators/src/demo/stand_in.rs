//! The demo's stand-in report: per issuer host, what the switch decided for it in
//! stand-in (from the journal: approvals, declines by code, advices delivered and
//! still queued) next to what the issuer simulator booked from those advices, with
//! the outages that caused them and whether the store-and-forward queue drained.
//!
//! The journal's stand-in columns (`stand_in`, `advice_saf`,
//! `advice_delivered_ms`, schema v4) come with the switch's stand-in; a journal
//! without them is reported as such rather than failing the demo.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::check::Total;
use super::drain::SwitchDrain;
use super::outage::OutageRecord;
use crate::acquirer::report::amount_text;
use crate::issuer::report::StandInSnapshot;

/// The journal columns the report needs.
const COLUMNS: [&str; 3] = ["stand_in", "advice_saf", "advice_delivered_ms"];

/// One issuer's stand-in decisions, as the switch journaled them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalStandIn {
    /// Approvals given to acquirers.
    pub approved: Total,
    /// Declines given to acquirers, by response code.
    pub declined: BTreeMap<String, u64>,
    /// Approvals the acquirer reversed since.
    pub reversed_by_acquirer: u64,
    /// Decisions whose advice the issuer acknowledged.
    pub advices_delivered: u64,
    /// Decisions whose advice is still in the store-and-forward queue.
    pub advices_queued: u64,
}

/// The stand-in decisions of a run's journal by issuer; None when the journal has
/// no stand-in columns.
pub fn read_journal(path: &Path) -> Result<Option<BTreeMap<String, JournalStandIn>>, String> {
    // Read-only: a reader must not create or migrate the switch's schema.
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("journal {}: {e}", path.display()))?;
    let present: i64 = conn
        .query_row(
            "SELECT count(*) FROM pragma_table_info('journal') WHERE name IN (?1, ?2, ?3)",
            COLUMNS,
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    if present < COLUMNS.len() as i64 {
        return Ok(None);
    }
    // The acquirers' requests only (x100/x101, x200/x201): not the reversals.
    let mut stmt = conn
        .prepare(
            "SELECT coalesce(issuer, ''), response_code, amount, state = 'reversed',
                    advice_delivered_ms IS NOT NULL,
                    advice_saf IS NOT NULL AND advice_delivered_ms IS NULL
             FROM journal
             WHERE stand_in IS NOT NULL
               AND substr(mti, 2, 1) IN ('1', '2') AND substr(mti, 3, 1) = '0'",
        )
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, bool>(5)?,
            ))
        })
        .map_err(|e| e.to_string())?;
    let mut by_issuer: BTreeMap<String, JournalStandIn> = BTreeMap::new();
    for row in rows {
        let (issuer, rc, amount, reversed, delivered, queued) = row.map_err(|e| e.to_string())?;
        let s = by_issuer.entry(issuer).or_default();
        if rc == "00" {
            let amount = amount
                .as_deref()
                .and_then(|a| Decimal::from_str(a).ok())
                .unwrap_or_default();
            s.approved.add(1, amount);
            s.reversed_by_acquirer += u64::from(reversed);
        } else {
            *s.declined.entry(rc).or_default() += 1;
        }
        s.advices_delivered += u64::from(delivered);
        s.advices_queued += u64::from(queued);
    }
    Ok(Some(by_issuer))
}

/// What the stand-in report is made of.
pub struct StandInRun<'a> {
    /// The journal's stand-in decisions by issuer (None: no stand-in columns).
    pub journal: &'a Option<BTreeMap<String, JournalStandIn>>,
    /// Each issuer simulator's stand-in figures.
    pub issuers: &'a BTreeMap<String, StandInSnapshot>,
    /// The outages of the run.
    pub outages: &'a [OutageRecord],
    /// The switch after the traffic, when the demo waited for it to drain.
    pub drain: Option<SwitchDrain>,
}

fn codes_text(codes: &BTreeMap<String, u64>) -> String {
    if codes.is_empty() {
        return "none".into();
    }
    let parts: Vec<String> = codes.iter().map(|(c, n)| format!("{c}: {n}")).collect();
    parts.join(", ")
}

impl StandInRun<'_> {
    /// Whether the store-and-forward queue was empty when the demo looked (true
    /// when it did not need to look: no outage).
    pub fn drained(&self) -> bool {
        self.drain.is_none_or(|d| d.drained())
    }

    /// The issuers the report has something to say about.
    fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.outages.iter().map(|o| o.outage.bank.clone()).collect();
        if let Some(j) = self.journal {
            hosts.extend(j.keys().cloned());
        }
        hosts.extend(
            self.issuers
                .iter()
                .filter(|(_, s)| s.advices + s.repeats > 0)
                .map(|(b, _)| b.clone()),
        );
        hosts.sort();
        hosts.dedup();
        hosts
    }

    /// The text section and the JSON object.
    pub fn report(&self) -> (String, Value) {
        use std::fmt::Write as _;
        let mut text = String::from("\nstand-in:\n");
        for o in self.outages {
            let _ = writeln!(text, "  outage: {}", o.text());
        }
        if self.journal.is_none() {
            text.push_str("  no stand-in columns in this journal\n");
        }
        let hosts = self.hosts();
        if hosts.is_empty() {
            text.push_str("  none: no issuer host was down and the switch stood in for none\n");
        }
        let empty = StandInSnapshot::default();
        let mut issuers_json = Vec::new();
        for host in &hosts {
            let sim = self.issuers.get(host).unwrap_or(&empty);
            let mut entry = Map::new();
            entry.insert("issuer".into(), host.clone().into());
            if let Some(journal) = self.journal {
                let j = journal.get(host).cloned().unwrap_or_default();
                let _ = writeln!(
                    text,
                    "  {host} switch: approved {} / {} (reversed by the acquirer {}), declined {} ({}); \
                     advices delivered {}, still queued {}",
                    j.approved.count,
                    amount_text(j.approved.amount),
                    j.reversed_by_acquirer,
                    j.declined.values().sum::<u64>(),
                    codes_text(&j.declined),
                    j.advices_delivered,
                    j.advices_queued
                );
                entry.insert(
                    "switch".into(),
                    json!({
                        "approved": {"count": j.approved.count, "amount": amount_text(j.approved.amount)},
                        "reversed_by_acquirer": j.reversed_by_acquirer,
                        "declined": j.declined,
                        "advices_delivered": j.advices_delivered,
                        "advices_queued": j.advices_queued,
                    }),
                );
            }
            let _ = writeln!(text, "  {host} issuer: {}", sim.summary());
            entry.insert("issuer_sim".into(), sim.to_json());
            issuers_json.push(Value::Object(entry));
        }
        if let Some(d) = self.drain {
            let _ = writeln!(
                text,
                "  store-and-forward after the traffic: {} in {:.1} s (queued {}, in flight {}, waiting requests {})",
                if d.drained() { "drained" } else { "NOT drained" },
                d.waited.as_secs_f64(),
                d.saf_depth,
                d.in_flight,
                d.pending_requests
            );
        }
        let json = json!({
            "journal_columns": self.journal.is_some(),
            "outages": self.outages.iter().map(OutageRecord::to_json).collect::<Vec<_>>(),
            "issuers": issuers_json,
            "drain": self.drain.map(|d| json!({
                "drained": d.drained(), "waited_ms": d.waited.as_millis() as u64,
                "saf_depth": d.saf_depth, "in_flight": d.in_flight,
                "pending_requests": d.pending_requests,
            })),
        });
        (text, json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::outage::IssuerOutage;
    use std::time::Duration;

    fn temp_db(name: &str, with_columns: bool) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("demo-stand-in-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("journal.db");
        let _ = std::fs::remove_file(&path);
        let conn = rusqlite::Connection::open(&path).unwrap();
        let extra = if with_columns {
            ", stand_in TEXT, stand_in_entry TEXT, advice_saf INTEGER, advice_delivered_ms INTEGER"
        } else {
            ""
        };
        conn.execute_batch(&format!(
            "CREATE TABLE journal (id INTEGER PRIMARY KEY, mti TEXT NOT NULL, issuer TEXT,
             response_code TEXT NOT NULL, amount TEXT, state TEXT NOT NULL{extra});"
        ))
        .unwrap();
        path
    }

    #[test]
    fn stand_in_decisions_are_read_by_issuer() {
        let path = temp_db("read", true);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "INSERT INTO journal (mti, issuer, response_code, amount, state, stand_in, advice_saf, advice_delivered_ms) VALUES
             ('0200', '940810', '00', '150.00', 'approved', 'within-limits', 1, 1700000000000),
             ('0100', '940810', '00', '50.00', 'reversed', 'within-limits', 2, NULL),
             ('0200', '940810', '61', '900.00', 'declined', 'daily-amount', 3, 1700000000001),
             ('0200', '940810', '65', '10.00', 'declined', 'daily-count', 4, 1700000000002),
             ('0420', '940810', '00', '50.00', 'approved', 'within-limits', 5, NULL),
             ('0200', '940810', '00', '70.00', 'approved', NULL, NULL, NULL),
             ('0200', '940800', '91', '10.00', 'declined', 'not-allowed', 6, NULL);",
        )
        .unwrap();
        let j = read_journal(&path).unwrap().unwrap();
        let ms = &j["940810"];
        assert_eq!(ms.approved.count, 2);
        assert_eq!(ms.approved.amount, Decimal::from(200));
        assert_eq!(ms.reversed_by_acquirer, 1);
        assert_eq!(ms.declined.len(), 2);
        assert_eq!((ms.advices_delivered, ms.advices_queued), (3, 1));
        assert_eq!(j["940800"].declined["91"], 1);
        assert_eq!(j["940800"].advices_queued, 1);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_journal_without_the_columns_is_said_so() {
        let path = temp_db("old", false);
        let journal = read_journal(&path).unwrap();
        assert!(journal.is_none());
        let mut sims = BTreeMap::new();
        let sim = StandInSnapshot {
            advices: 2,
            ..Default::default()
        };
        sims.insert("940810".to_string(), sim);
        let run = StandInRun {
            journal: &journal,
            issuers: &sims,
            outages: &[],
            drain: None,
        };
        let (text, json) = run.report();
        assert!(
            text.contains("no stand-in columns in this journal"),
            "{text}"
        );
        assert!(text.contains("940810 issuer: stand-in advices 2"), "{text}");
        assert_eq!(json["journal_columns"], false);
        assert!(run.drained());
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn the_report_names_outages_issuers_and_the_drain() {
        let mut journal = BTreeMap::new();
        let mut j = JournalStandIn::default();
        j.approved.add(3, Decimal::from(300));
        j.declined.insert("61".into(), 1);
        j.advices_delivered = 4;
        journal.insert("940810".to_string(), j);
        let journal = Some(journal);
        let outages = [OutageRecord {
            outage: "940810:2-5".parse::<IssuerOutage>().unwrap(),
            down_at: Some(2.01),
            up_at: Some(5.0),
        }];
        let drain = SwitchDrain {
            saf_depth: 1,
            waited: Duration::from_secs(30),
            ..Default::default()
        };
        let run = StandInRun {
            journal: &journal,
            issuers: &BTreeMap::new(),
            outages: &outages,
            drain: Some(drain),
        };
        let (text, json) = run.report();
        assert!(
            text.contains("outage: 940810 down 2-5 s (went down at 2.01 s, back at 5.00 s)"),
            "{text}"
        );
        assert!(
            text.contains("940810 switch: approved 3 / 300.00 (reversed by the acquirer 0), declined 1 (61: 1); advices delivered 4, still queued 0"),
            "{text}"
        );
        assert!(text.contains("NOT drained in 30.0 s (queued 1"), "{text}");
        assert!(!run.drained());
        assert_eq!(json["issuers"][0]["switch"]["approved"]["count"], 3);
        assert_eq!(json["drain"]["drained"], false);
        // Nothing to say: one line.
        let none = StandInRun {
            journal: &Some(BTreeMap::new()),
            issuers: &BTreeMap::new(),
            outages: &[],
            drain: None,
        };
        assert!(none.report().0.contains("none: no issuer host was down"));
    }
}
