//! A log budget for events a peer can cause at will (refused certificates, bad
//! MACs, false institution claims): each kind of event on each link may write a
//! few lines per period; past that they are only counted, and the first line of
//! the next period says how many were left out. A host that retries a refused
//! certificate thousands of times a second (or an attacker) can then neither fill
//! the disk nor bury other links' events, while the metrics still count each one.

use std::sync::Mutex;
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

/// Lines each (link, event) may write per period.
pub(crate) const LINES_PER_PERIOD: u32 = 10;
/// The period.
pub(crate) const PERIOD: Duration = Duration::from_secs(10);

/// What to do with one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Write it; `suppressed` events of its kind were left out since the last line.
    Log {
        /// Events counted but not written before this one.
        suppressed: u64,
    },
    /// Count it only.
    Suppress,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    written: u32,
    suppressed: u64,
}

/// One link's windows, by event kind (a handful per link).
type LinkWindows = Mutex<Vec<(&'static str, Window)>>;

/// Budgets per link name, then per event kind.
#[derive(Debug, Default)]
pub(crate) struct EventBudget {
    windows: DashMap<Box<str>, LinkWindows>,
}

impl EventBudget {
    /// Whether an event of `kind` on `link` at `now` may be written. Only a link's
    /// first event allocates (its name, once): a peer that floods events costs a
    /// lookup each, nothing more.
    pub(crate) fn check(&self, link: &str, kind: &'static str, now: Instant) -> Verdict {
        let per_link = match self.windows.get(link) {
            Some(found) => found,
            None => self.windows.entry(Box::from(link)).or_default().downgrade(),
        };
        let mut kinds = per_link.lock().unwrap_or_else(|p| p.into_inner());
        let w = match kinds.iter().position(|(k, _)| *k == kind) {
            Some(i) => &mut kinds[i].1,
            None => {
                kinds.push((
                    kind,
                    Window {
                        started: now,
                        written: 0,
                        suppressed: 0,
                    },
                ));
                let last = kinds.len() - 1;
                &mut kinds[last].1
            }
        };
        if now.saturating_duration_since(w.started) >= PERIOD {
            w.started = now;
            w.written = 0;
        }
        if w.written < LINES_PER_PERIOD {
            w.written += 1;
            let suppressed = std::mem::take(&mut w.suppressed);
            Verdict::Log { suppressed }
        } else {
            w.suppressed += 1;
            Verdict::Suppress
        }
    }
}

/// The switch's one budget for events its peers cause.
pub(crate) fn security_events() -> &'static EventBudget {
    static BUDGET: std::sync::OnceLock<EventBudget> = std::sync::OnceLock::new();
    BUDGET.get_or_init(EventBudget::default)
}

/// Whether an event of `kind` on `link` may be logged now: the number of its
/// kind left out since its last line, or None to count it only.
pub(crate) fn may_log(link: &str, kind: &'static str) -> Option<u64> {
    match security_events().check(link, kind, Instant::now()) {
        Verdict::Log { suppressed } => Some(suppressed),
        Verdict::Suppress => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_writes_a_few_lines_per_period_and_then_says_how_many_it_left_out() {
        let budget = EventBudget::default();
        let t0 = Instant::now();
        let verdicts: Vec<_> = (0..1_000)
            .map(|_| budget.check("a", "certificate", t0))
            .collect();
        let written = verdicts
            .iter()
            .filter(|v| matches!(v, Verdict::Log { .. }))
            .count();
        assert_eq!(written, LINES_PER_PERIOD as usize);
        // Another link and another kind have budgets of their own.
        assert_eq!(
            budget.check("b", "certificate", t0),
            Verdict::Log { suppressed: 0 }
        );
        assert_eq!(budget.check("a", "mac", t0), Verdict::Log { suppressed: 0 });
        // The next period's first line tells what the last one left out.
        assert_eq!(
            budget.check("a", "certificate", t0 + PERIOD),
            Verdict::Log { suppressed: 990 }
        );
        assert_eq!(
            budget.check("a", "certificate", t0 + PERIOD),
            Verdict::Log { suppressed: 0 }
        );
    }
}
