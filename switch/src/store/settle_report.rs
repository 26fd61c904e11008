//! What `switch settle` tells the operator beside the figures: which business day
//! it settled and why that one, and, when the day has nothing to settle or is not
//! closed, where the transactions are and how to settle them. The figures
//! themselves are [`super::settlement`]'s.

use super::business_day::format_day;
use super::settlement::Settlement;

/// How the settled day was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayChoice {
    /// The operator named it (`--date`).
    Given,
    /// The default: the business day before the open one.
    LastClosed,
}

/// A settlement and the state of the journal around its day.
#[derive(Clone, Debug)]
pub struct SettleReport {
    /// The figures.
    pub settlement: Settlement,
    /// How its day was chosen.
    pub choice: DayChoice,
    /// Journal records (of any kind and outcome) on the settled day.
    pub day_records: i64,
    /// The business day open now: new transactions go there until a cutover.
    pub open_day: i64,
    /// Journal records on the open day so far.
    pub open_day_records: i64,
    /// The latest business day before the open one that has journal records.
    pub last_day_with_records: Option<i64>,
    /// `switch cutover` requests the switch has not carried out yet (it does so
    /// within a second while it runs, and at its next start otherwise).
    pub pending_cutovers: i64,
}

impl SettleReport {
    /// Whether the day has anything to settle.
    pub fn is_empty(&self) -> bool {
        self.settlement.pairs.is_empty()
    }

    /// The lines for the operator (standard error, so that a CSV or JSON report on
    /// standard output stays clean). `config` is the configuration as given, for
    /// the commands suggested.
    pub fn notice(&self, config: &str) -> String {
        let day = format_day(self.settlement.day);
        let open = format_day(self.open_day);
        let (which, settled) = match self.choice {
            DayChoice::Given => ("", String::new()),
            DayChoice::LastClosed => (
                ", the last closed one,",
                " (the last closed one; --date YYYY-MM-DD settles another)".into(),
            ),
        };
        let mut out = String::new();
        if self.settlement.day > self.open_day {
            out += &format!(
                "switch settle: business day {day} has not begun: the open business day is {open}.\n"
            );
            return out;
        }
        let still_open = self.settlement.day == self.open_day;
        match (self.is_empty(), self.day_records) {
            (false, _) => out += &format!("switch settle: settled business day {day}{settled}.\n"),
            (true, 0) => {
                out += &format!("switch settle: business day {day}{which} has NO TRANSACTIONS.\n")
            }
            (true, n) => {
                out += &format!(
                    "switch settle: business day {day}{which} has NO TRANSACTIONS TO SETTLE \
                     ({n} journal records, none an approved financial transaction).\n"
                )
            }
        }
        if still_open {
            out += &format!(
                "Business day {day} is still OPEN: these are its figures so far. \
                 Close it with `switch cutover --config {config}`.\n"
            );
        } else {
            out += &format!(
                "The open business day is {open} ({} journal records so far).\n",
                self.open_day_records
            );
            // An empty default day sends the operator to the open day; for a day
            // they named, the pointer below to the last day with records is enough.
            if self.is_empty() && self.choice == DayChoice::LastClosed {
                out += &format!(
                    "To settle it: close it with `switch cutover --config {config}` and run \
                     `switch settle --config {config}` again,\n\
                     or settle it so far with `switch settle --config {config} --date {open}`.\n"
                );
            }
            if self.is_empty() {
                match self.last_day_with_records {
                    Some(d) if d != self.settlement.day => {
                        let d = format_day(d);
                        out += &format!(
                            "The last closed business day with transactions is {d}: \
                             `switch settle --config {config} --date {d}`.\n"
                        );
                    }
                    Some(_) => {}
                    None => out += "No business day with transactions has been closed yet.\n",
                }
            }
        }
        if self.pending_cutovers > 0 {
            out += "A cutover was requested (`switch cutover`) and is not carried out yet: \
                    the switch does it within a second while it runs, or when it next starts.\n";
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(day: i64, choice: DayChoice, open_day: i64) -> SettleReport {
        SettleReport {
            settlement: Settlement {
                day,
                agent: None,
                pairs: Vec::new(),
                positions: Vec::new(),
                channels: Vec::new(),
            },
            choice,
            day_records: 0,
            open_day,
            open_day_records: 4,
            last_day_with_records: Some(100),
            pending_cutovers: 0,
        }
    }

    #[test]
    fn a_named_day_that_is_open_or_to_come_is_called_so() {
        let open = report(110, DayChoice::Given, 110).notice("c.toml");
        assert!(open.contains("NO TRANSACTIONS"), "{open}");
        assert!(open.contains("still OPEN"), "{open}");
        assert!(open.contains("switch cutover --config c.toml"), "{open}");
        let later = report(111, DayChoice::Given, 110).notice("c.toml");
        assert!(later.contains("has not begun"), "{later}");
        // A named closed day points to the last one with records, not to the open day.
        let past = report(105, DayChoice::Given, 110).notice("c.toml");
        assert!(past.contains("--date 1970-04-11"), "{past}");
        assert!(!past.contains("switch cutover"), "{past}");
        let mut waiting = report(109, DayChoice::LastClosed, 110);
        waiting.pending_cutovers = 1;
        let waiting = waiting.notice("c.toml");
        assert!(waiting.contains("not carried out yet"), "{waiting}");
        assert!(waiting.contains("--date 1970-04-21"), "{waiting}");
    }
}
