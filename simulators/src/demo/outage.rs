//! `sim demo --issuer-outage BANK:FROM-TO`: an issuer host taken down for a
//! window of the traffic run (seconds after it starts) and brought back, as a
//! bank's host restarting during the day. While it is down the switch has no link
//! to it and stands in; after it is back, the switch's store-and-forward queue
//! delivers the advices, and the demo waits for that queue to drain before it
//! checks the books.

use std::str::FromStr;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::issuer::RunningIssuer;

/// How long the demo waits after the traffic for the switch to deliver what it
/// queued during an outage (the switch redials a host at most 5 s apart).
pub const DRAIN_AFTER_OUTAGE: Duration = Duration::from_secs(30);

/// One window during which an issuer host is down.
#[derive(Clone, Debug, PartialEq)]
pub struct IssuerOutage {
    /// The issuer host's bank id.
    pub bank: String,
    /// Seconds after the traffic starts when the host goes down.
    pub from: f64,
    /// Seconds after the traffic starts when it is back.
    pub to: f64,
}

impl FromStr for IssuerOutage {
    type Err = String;

    /// `BANK:FROM-TO`, e.g. `940810:2-5` or `940810:2.5-4`.
    fn from_str(text: &str) -> Result<IssuerOutage, String> {
        let bad =
            || format!("{text:?} is not BANK:FROM-TO (seconds into the run, e.g. 940810:2-5)");
        let (bank, window) = text.split_once(':').ok_or_else(bad)?;
        let (from, to) = window.split_once('-').ok_or_else(bad)?;
        let secs = |s: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(bad)
        };
        let (from, to) = (secs(from)?, secs(to)?);
        if bank.is_empty() {
            return Err(bad());
        }
        if from >= to {
            return Err(format!("{text}: the outage must end after it starts"));
        }
        Ok(IssuerOutage {
            bank: bank.to_string(),
            from,
            to,
        })
    }
}

/// Check `outages` against the demo: each names an issuer host of the network
/// (`issuers`), ends within the run (`duration` seconds), and two windows of one
/// host do not overlap.
pub fn validate(outages: &[IssuerOutage], issuers: &[String], duration: f64) -> Result<(), String> {
    for (i, o) in outages.iter().enumerate() {
        if !issuers.contains(&o.bank) {
            return Err(format!(
                "--issuer-outage {}: not an issuer host of the demo (they are {})",
                o.bank,
                issuers.join(", ")
            ));
        }
        if o.to > duration {
            return Err(format!(
                "--issuer-outage {}:{}-{}: ends after the run ({duration} s)",
                o.bank, o.from, o.to
            ));
        }
        if let Some(other) = outages[..i]
            .iter()
            .find(|p| p.bank == o.bank && p.from < o.to && o.from < p.to)
        {
            return Err(format!(
                "--issuer-outage {}: the windows {}-{} and {}-{} overlap",
                o.bank, other.from, other.to, o.from, o.to
            ));
        }
    }
    Ok(())
}

/// What happened to one outage: when the host actually went down and came back
/// (seconds after the traffic started).
#[derive(Clone, Debug, PartialEq)]
pub struct OutageRecord {
    /// The outage asked for.
    pub outage: IssuerOutage,
    /// When the host's listener and connections were closed.
    pub down_at: Option<f64>,
    /// When it listened again.
    pub up_at: Option<f64>,
}

impl OutageRecord {
    /// For the report.
    pub fn text(&self) -> String {
        let at = |t: Option<f64>| t.map_or("never".to_string(), |t| format!("{t:.2} s"));
        format!(
            "{} down {}-{} s (went down at {}, back at {})",
            self.outage.bank,
            self.outage.from,
            self.outage.to,
            at(self.down_at),
            at(self.up_at)
        )
    }

    /// For the JSON report.
    pub fn to_json(&self) -> Value {
        json!({
            "bank": self.outage.bank, "from": self.outage.from, "to": self.outage.to,
            "down_at": self.down_at, "up_at": self.up_at,
        })
    }
}

/// The outages' steps in time order: (seconds, outage index, whether it goes down).
fn steps(outages: &[IssuerOutage]) -> Vec<(f64, usize, bool)> {
    let mut steps: Vec<(f64, usize, bool)> = outages
        .iter()
        .enumerate()
        .flat_map(|(i, o)| [(o.from, i, true), (o.to, i, false)])
        .collect();
    // Ups before downs at the same moment: a host is back before its next window.
    steps.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)));
    steps
}

/// Take the hosts down and up again as `outages` say, timed from `start`; returns
/// once every host named is back up.
pub async fn run_schedule(
    issuers: &mut [(String, RunningIssuer)],
    outages: &[IssuerOutage],
    start: Instant,
) -> Result<Vec<OutageRecord>, String> {
    let mut records: Vec<OutageRecord> = outages
        .iter()
        .map(|o| OutageRecord {
            outage: o.clone(),
            down_at: None,
            up_at: None,
        })
        .collect();
    for (at, i, down) in steps(outages) {
        tokio::time::sleep_until(start + Duration::from_secs_f64(at)).await;
        let Some(record) = records.get_mut(i) else {
            continue;
        };
        let Some((_, host)) = issuers.iter_mut().find(|(b, _)| *b == record.outage.bank) else {
            return Err(format!("no issuer host {}", record.outage.bank));
        };
        if down {
            host.take_down().await;
            record.down_at = Some(start.elapsed().as_secs_f64());
        } else {
            host.bring_up().await?;
            record.up_at = Some(start.elapsed().as_secs_f64());
        }
        tracing::info!("{}", record.text());
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(text: &str) -> IssuerOutage {
        text.parse().unwrap()
    }

    #[test]
    fn outages_parse() {
        assert_eq!(
            o("940810:2-5.5"),
            IssuerOutage {
                bank: "940810".into(),
                from: 2.0,
                to: 5.5
            }
        );
        for bad in [
            "940810",
            "940810:2",
            ":1-2",
            "940810:5-2",
            "940810:3-3",
            "940810:-1-2",
            "x:a-b",
            "x:1-inf",
        ] {
            assert!(bad.parse::<IssuerOutage>().is_err(), "{bad}");
        }
    }

    #[test]
    fn outages_are_checked_against_the_demo() {
        let issuers = vec!["940800".to_string(), "940810".to_string()];
        assert!(validate(
            &[o("940810:1-2"), o("940810:2-4"), o("940800:1-9")],
            &issuers,
            10.0
        )
        .is_ok());
        let err = validate(&[o("940857:1-2")], &issuers, 10.0).unwrap_err();
        assert!(err.contains("not an issuer host"), "{err}");
        let err = validate(&[o("940810:1-11")], &issuers, 10.0).unwrap_err();
        assert!(err.contains("after the run"), "{err}");
        let err = validate(&[o("940810:1-3"), o("940810:2-4")], &issuers, 10.0).unwrap_err();
        assert!(err.contains("overlap"), "{err}");
    }

    #[test]
    fn steps_come_in_time_order_ups_first() {
        let s = steps(&[o("a:2-4"), o("a:4-6"), o("b:1-3")]);
        let order: Vec<(f64, usize, bool)> = vec![
            (1.0, 2, true),
            (2.0, 0, true),
            (3.0, 2, false),
            (4.0, 0, false),
            (4.0, 1, true),
            (6.0, 1, false),
        ];
        assert_eq!(s, order);
    }
}
