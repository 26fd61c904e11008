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
            if self.is_empty() {
                out += &format!(
                    "To settle it: close it with `switch cutover --config {config}` and run \
                     `switch settle --config {config}` again,\n\
                     or settle it so far with `switch settle --config {config} --date {open}`.\n"
                );
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
