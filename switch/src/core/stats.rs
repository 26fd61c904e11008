//! Counters of what the core decided with no action to show for it (answers
//! dropped as late or as unmatched), read as a snapshot with [`Core::stats`]; the
//! driver and the tests read them, the core publishes nothing itself.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Core;

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Answers that came after their request had timed out.
    pub(crate) late_responses: AtomicU64,
    /// Answers to nothing the switch sent (or forgot long ago).
    pub(crate) unmatched_responses: AtomicU64,
}

/// A snapshot of the core's counters and gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Answers dropped because their request had already timed out.
    pub late_responses: u64,
    /// Answers dropped because they matched nothing sent.
    pub unmatched_responses: u64,
    /// Requests and store-and-forward deliveries in flight.
    pub in_flight: usize,
    /// Messages waiting in store-and-forward.
    pub saf_depth: usize,
}

impl Core {
    /// The core's counters and gauges now.
    pub fn stats(&self) -> CoreStats {
        CoreStats {
            late_responses: self.counters.late_responses.load(Ordering::Relaxed),
            unmatched_responses: self.counters.unmatched_responses.load(Ordering::Relaxed),
            in_flight: self.inflight.len(),
            saf_depth: self.saf.depth(),
        }
    }
}
