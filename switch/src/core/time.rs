//! Time as the core sees it: milliseconds on a monotonic clock the driver owns.
//! The core never reads a clock; every entry point takes `now`.

use std::time::Duration;

/// Milliseconds since the driver's start (or any fixed origin in tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// `self + d`.
    pub fn after(self, d: Duration) -> Millis {
        Millis(self.0.saturating_add(d.as_millis() as u64))
    }

    /// Time from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Millis) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}
