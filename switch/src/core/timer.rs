//! When the core next needs a tick ([`Core::poll_timeout`]), and how an event
//! that brings that time closer tells the driver's sleeping timer.
//!
//! The driver ticks ([`Core::on_tick`]) at the time `poll_timeout` gives and
//! sleeps in between: no fixed scan of every link. The answer is the earliest
//! of the requests' deadlines (per issuer link, see `Link::prune`), the
//! echo or sign-on due on each issuer link, the PIN translations' deadlines, the
//! store-and-forward queue's next due item, and the duplicate and late-answer
//! windows' housekeeping. Two of these are paced rather than exact: a
//! store-and-forward item that is due but cannot go (no usable link, a full
//! window, held behind an earlier item) is looked at again every [`SAF_PASS`],
//! as the fixed tick did, and the windows are swept every [`HOUSEKEEPING`] at
//! most (only memory depends on it: a key's age is checked on use).
//!
//! While the timer sleeps, an event may create an earlier deadline (a short
//! link timeout, a PIN translation, an advice queued for store-and-forward):
//! [`Core::note_deadline`] compares it with the time the timer is set for (one
//! atomic load in the usual case, where it is later) and, when earlier, raises a
//! flag the driver takes after the event ([`Core::take_wake`]) to wake the timer.
//! While a tick runs nothing is raised: the tick's [`Core::arm`] folds the
//! deadlines noted meanwhile into the time it sleeps until.
//!
//! [`Core::on_tick`]: super::Core::on_tick

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::{Core, Millis};

/// How often a store-and-forward item that is due but cannot go is looked at.
pub const SAF_PASS: Duration = Duration::from_millis(10);

/// How often, at most, expired duplicate and late-answer keys are swept.
pub const HOUSEKEEPING: Duration = Duration::from_millis(100);

/// The driver's timer as the core knows it.
#[derive(Debug)]
pub struct TimerState {
    /// The time (ms) the timer is set for; lowered by earlier deadlines noted.
    armed: AtomicU64,
    /// A tick is running (from [`Core::on_tick`] to [`Core::arm`]).
    running: AtomicBool,
    /// An earlier deadline was noted while the timer slept.
    wake: AtomicBool,
    /// The last tick's `now` (store-and-forward and housekeeping pace from it).
    last_tick: AtomicU64,
}

impl Default for TimerState {
    fn default() -> Self {
        TimerState {
            armed: AtomicU64::new(u64::MAX),
            running: AtomicBool::new(false),
            wake: AtomicBool::new(false),
            last_tick: AtomicU64::new(0),
        }
    }
}

impl Core {
    /// Something will need a tick at `at`.
    pub(crate) fn note_deadline(&self, at: Millis) {
        let t = &self.timer;
        if at.0 < t.armed.load(Ordering::SeqCst)
            && at.0 < t.armed.fetch_min(at.0, Ordering::SeqCst)
            && !t.running.load(Ordering::SeqCst)
        {
            t.wake.store(true, Ordering::SeqCst);
        }
    }

    /// Whether an event since the last call needs a tick before the time the
    /// timer is set for: the driver then wakes its timer (and ticks, and asks
    /// [`Core::poll_timeout`] again). Cheap: one load when nothing changed.
    pub fn take_wake(&self) -> bool {
        let wake = &self.timer.wake;
        wake.load(Ordering::Relaxed) && wake.swap(false, Ordering::SeqCst)
    }

    /// A tick begins at `now` (called by [`Core::on_tick`]).
    pub(crate) fn timer_fired(&self, now: Millis) {
        let t = &self.timer;
        t.running.store(true, Ordering::SeqCst);
        t.armed.store(u64::MAX, Ordering::SeqCst);
        // This tick answers any wake asked for before it.
        t.wake.store(false, Ordering::SeqCst);
        t.last_tick.store(now.0, Ordering::Relaxed);
    }

    /// The driver sets its timer for `at` (what [`Core::poll_timeout`] gave, or
    /// earlier for its own work). Returns when to wake: `at`, or an earlier
    /// deadline noted since the tick began.
    pub fn arm(&self, at: Millis) -> Millis {
        let t = &self.timer;
        // Not running first: a deadline noted from here on raises the flag
        // (at worst once more than needed), none is lost.
        t.running.store(false, Ordering::SeqCst);
        let before = t.armed.fetch_min(at.0, Ordering::SeqCst);
        Millis(before.min(at.0))
    }

    /// When the core next needs [`Core::on_tick`]; None when nothing waits (no
    /// link, nothing queued).
    ///
    /// [`Core::on_tick`]: super::Core::on_tick
    pub fn poll_timeout(&self) -> Option<Millis> {
        let last = Millis(self.timer.last_tick.load(Ordering::Relaxed));
        let mut next: Option<Millis> = None;
        let mut consider = |t: Option<Millis>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for link in self.links.all() {
            consider(link.next_deadline());
            consider(self.keep_alive_due(&link));
        }
        consider(self.pins.next_deadline());
        consider(
            self.saf
                .next_due(self.settings.saf_expiry)
                .map(|t| t.max(last.after(SAF_PASS))),
        );
        let sweep = match (self.duplicates.next_expiry(), self.late.next_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        consider(sweep.map(|t| t.max(last.after(HOUSEKEEPING))));
        next
    }
}
