//! The switch's side of every request's final state: its journal's record of each
//! original 0100/0200 (reversals and advices left out), by state and response
//! code, read after the switch has stopped. RC 91 is split by cause: the issuer's
//! link was down (declined at once), the link dropped while the request waited
//! (timed out before the issuer's deadline), or the issuer stayed silent (timed
//! out at the deadline). A record still `forwarded` is a request the switch never
//! finished.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

/// The journal's final states of the original requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwitchLedger {
    /// Records by (state, response code).
    pub by_state: BTreeMap<(String, String), u64>,
    /// Requests forwarded to an issuer (they have a switch STAN).
    pub forwarded: u64,
    /// RC 91 because the issuer had no signed-on link (it had disconnected).
    pub issuer_down: u64,
    /// Timed out early: the issuer's link dropped while the request waited.
    pub cut_by_disconnect: u64,
    /// Timed out at the issuer's deadline: the answer never came.
    pub silent_issuer: u64,
}

impl SwitchLedger {
    /// Read the journal at `path`; a timeout before `shortest_timeout_ms` counts
    /// as cut by a disconnect.
    pub fn read(path: &Path, shortest_timeout_ms: u64) -> Result<SwitchLedger, String> {
        let conn = switch::store::open_existing(path).map_err(|e| e.to_string())?;
        let mut stmt = conn
            .prepare(
                "SELECT state, response_code, count(*),
                        sum(state = 'timed_out' AND elapsed_ms < ?1),
                        sum(switch_stan IS NOT NULL)
                   FROM journal
                  WHERE reverses_stan IS NULL AND mti IN ('0100', '0200')
                  GROUP BY state, response_code",
            )
            .map_err(|e| format!("journal: {e}"))?;
        let rows = stmt
            .query_map(
                [i64::try_from(shortest_timeout_ms).unwrap_or(i64::MAX)],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<i64>>(3)?.unwrap_or(0),
                        r.get::<_, Option<i64>>(4)?.unwrap_or(0),
                    ))
                },
            )
            .map_err(|e| format!("journal: {e}"))?;
        let mut ledger = SwitchLedger::default();
        for row in rows {
            let (state, rc, n, early, forwarded) = row.map_err(|e| format!("journal: {e}"))?;
            let (n, early) = (n.max(0) as u64, early.max(0) as u64);
            ledger.forwarded += forwarded.max(0) as u64;
            match (state.as_str(), rc.as_str()) {
                ("declined", "91") => ledger.issuer_down += n,
                ("timed_out", _) => {
                    ledger.cut_by_disconnect += early;
                    ledger.silent_issuer += n - early.min(n);
                }
                _ => {}
            }
            *ledger.by_state.entry((state, rc)).or_default() += n;
        }
        Ok(ledger)
    }

    /// Records in all.
    pub fn total(&self) -> u64 {
        self.by_state.values().sum()
    }

    /// Records never finished (still `forwarded`).
    pub fn unfinished(&self) -> u64 {
        self.by_state
            .iter()
            .filter(|((state, _), _)| state == "forwarded")
            .map(|(_, n)| n)
            .sum()
    }

    /// Records by response code (what the acquirers were told).
    pub fn by_code(&self) -> BTreeMap<String, u64> {
        let mut codes = BTreeMap::new();
        for ((state, rc), n) in &self.by_state {
            if state != "forwarded" {
                *codes.entry(rc.clone()).or_default() += n;
            }
        }
        codes
    }

    /// Requests that met an issuer disconnect.
    pub fn met_disconnect(&self) -> u64 {
        self.issuer_down + self.cut_by_disconnect
    }

    /// Requests routed to an issuer: forwarded, or declined because its link
    /// was down (the switch's own declines never meet an issuer link).
    pub fn routed(&self) -> u64 {
        self.forwarded + self.issuer_down
    }

    /// `n` as a percentage of the requests routed to an issuer.
    pub fn percent_of_routed(&self, n: u64) -> f64 {
        100.0 * n as f64 / self.routed().max(1) as f64
    }

    /// The JSON object.
    pub fn to_json(&self) -> Value {
        let states: BTreeMap<String, u64> = self
            .by_state
            .iter()
            .map(|((state, rc), n)| (format!("{state}/{rc}"), *n))
            .collect();
        json!({
            "records": self.total(),
            "by_state_and_code": states,
            "unfinished": self.unfinished(),
            "routed_to_issuers": self.routed(),
            "rc91_issuer_link_down": self.issuer_down,
            "rc91_cut_by_disconnect": self.cut_by_disconnect,
            "rc91_silent_issuer": self.silent_issuer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One journal row: MTI, state, response code, elapsed ms, switch STAN, and
    /// whether it reverses another.
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        i64,
        Option<i64>,
        bool,
    );

    fn journal_with(rows: &[Row]) -> std::path::PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("soak-ledger-test-{}-{nanos}", std::process::id()));
        let path = dir.join("journal.db");
        let conn = switch::store::open_connection(&path).expect("journal");
        for (i, &(mti, state, rc, elapsed, switch_stan, reversal)) in rows.iter().enumerate() {
            conn.execute(
                "INSERT INTO journal (business_day, created_ms, updated_ms, mti, acquirer,
                     transmission, stan, rrn, terminal, pan_first6, pan_last4, response_code,
                     state, elapsed_ms, switch_stan, reverses_stan)
                 VALUES (0, 0, 0, ?1, '940800', '1206070000', ?2, '1', 'T1', '940800', '0001',
                     ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    mti,
                    format!("{i:06}"),
                    rc,
                    state,
                    elapsed,
                    switch_stan,
                    reversal.then_some("000001")
                ],
            )
            .expect("insert");
        }
        path
    }

    #[test]
    fn final_states_by_code_and_rc91_by_cause() {
        let path = journal_with(&[
            ("0200", "approved", "00", 3, Some(1), false),
            ("0100", "approved", "00", 3, Some(2), false),
            ("0200", "declined", "57", 0, None, false),
            ("0200", "declined", "91", 0, None, false),
            ("0200", "timed_out", "91", 500, Some(3), false),
            ("0200", "timed_out", "91", 2_000, Some(4), false),
            ("0200", "forwarded", "", 1, Some(5), false),
            ("0420", "approved", "00", 2, Some(6), true),
        ]);
        let l = SwitchLedger::read(&path, 2_000).expect("read");
        let _ = std::fs::remove_dir_all(path.parent().expect("folder"));
        assert_eq!((l.total(), l.unfinished(), l.forwarded), (7, 1, 5));
        assert_eq!(
            (l.issuer_down, l.cut_by_disconnect, l.silent_issuer),
            (1, 1, 1)
        );
        assert_eq!((l.met_disconnect(), l.routed()), (2, 6));
        let codes: Vec<(String, u64)> = l.by_code().into_iter().collect();
        assert_eq!(
            codes,
            [("00".into(), 2), ("57".into(), 1), ("91".into(), 3)]
        );
        assert!(
            SwitchLedger::read(&path, 2_000).is_err(),
            "no journal, no ledger"
        );
    }
}
