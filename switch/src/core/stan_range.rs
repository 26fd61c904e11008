//! The STANs this switch uses toward issuers. A single node (slot 0) uses
//! 1..=999999; node slot s of a cluster uses `(s-1)*66_666 + 1 ..= s*66_666`, so
//! no issuer ever sees the same (33, 7, 11) from two nodes without any
//! coordination on the hot path. Every sequence (links, stand-in decisions,
//! the numbering continued after a restart) wraps inside the range.

use std::sync::atomic::{AtomicU32, Ordering};

/// The largest STAN.
const MAX_STAN: u32 = 999_999;
/// STANs per cluster slot (15 slots share 1..=999990).
const PER_SLOT: u32 = 66_666;

/// An inclusive range of STANs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StanRange {
    low: u32,
    high: u32,
}

impl StanRange {
    /// The range of cluster slot `slot` (0: a single node, the whole space;
    /// slots past 15 are refused by the configuration and get the last one).
    pub fn of_slot(slot: u8) -> StanRange {
        match u32::from(slot.min(15)) {
            0 => StanRange {
                low: 1,
                high: MAX_STAN,
            },
            s => StanRange {
                low: (s - 1) * PER_SLOT + 1,
                high: s * PER_SLOT,
            },
        }
    }

    /// Its first STAN.
    pub fn low(self) -> u32 {
        self.low
    }

    /// Its last STAN.
    pub fn high(self) -> u32 {
        self.high
    }

    /// How many STANs it holds.
    fn size(self) -> u32 {
        self.high - self.low + 1
    }

    /// Whether `stan` is in it.
    pub fn contains(self, stan: u32) -> bool {
        (self.low..=self.high).contains(&stan)
    }

    /// `stan` if in the range, else its first (a sequence found outside, from
    /// a test or a previous configuration, starts over inside).
    fn inside(self, stan: u32) -> u32 {
        if self.contains(stan) {
            stan
        } else {
            self.low
        }
    }

    /// The STAN `n` places into the range (wrapping): a seed from a number
    /// such as the epoch second.
    pub fn seed(self, n: u64) -> u32 {
        self.low + (n % u64::from(self.size())) as u32
    }

    /// The STAN `margin` after `last` (wrapping inside the range).
    pub fn after(self, last: u32, margin: u32) -> u32 {
        let offset = u64::from(self.inside(last) - self.low) + u64::from(margin);
        self.seed(offset)
    }

    /// Take the STAN `seq` holds and advance it, wrapping inside the range.
    pub fn take(self, seq: &AtomicU32) -> u32 {
        let advance = |s: u32| {
            let s = self.inside(s);
            if s >= self.high {
                self.low
            } else {
                s + 1
            }
        };
        let old = seq
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| Some(advance(s)))
            .unwrap_or(self.low);
        self.inside(old)
    }
}

impl Default for StanRange {
    fn default() -> Self {
        StanRange::of_slot(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ranges_tile_the_space_without_overlap() {
        assert_eq!(
            StanRange::of_slot(0),
            StanRange {
                low: 1,
                high: 999_999
            }
        );
        assert_eq!(
            StanRange::of_slot(1),
            StanRange {
                low: 1,
                high: 66_666
            }
        );
        assert_eq!(StanRange::of_slot(2).low(), 66_667);
        assert_eq!(StanRange::of_slot(15).high(), 999_990);
        for s in 1..15u8 {
            assert_eq!(
                StanRange::of_slot(s).high() + 1,
                StanRange::of_slot(s + 1).low()
            );
        }
    }

    #[test]
    fn a_sequence_wraps_inside_its_slot() {
        let r = StanRange::of_slot(3);
        let seq = AtomicU32::new(r.high() - 1);
        assert_eq!(r.take(&seq), r.high() - 1);
        assert_eq!(r.take(&seq), r.high());
        assert_eq!(r.take(&seq), r.low());
        // A value from outside (slot 0's numbering) starts over inside.
        seq.store(5, Ordering::Relaxed);
        assert_eq!(r.take(&seq), r.low());
        assert_eq!(r.take(&seq), r.low() + 1);
    }

    #[test]
    fn the_single_node_numbering_is_unchanged() {
        let r = StanRange::of_slot(0);
        let seq = AtomicU32::new(999_999);
        assert_eq!(r.take(&seq), 999_999);
        assert_eq!(r.take(&seq), 1);
        // As `((last + margin) - 1) % 999999 + 1` and `second % 999999 + 1` were.
        for (last, margin) in [(1u32, 10_000u32), (995_000, 10_000), (999_999, 10_000)] {
            let old = ((u64::from(last) + u64::from(margin)) - 1) % 999_999 + 1;
            assert_eq!(u64::from(r.after(last, margin)), old);
        }
        for n in [0u64, 1, 999_998, 999_999, 1_765_000_000] {
            assert_eq!(u64::from(r.seed(n)), n % 999_999 + 1);
        }
    }

    #[test]
    fn after_a_restart_a_slot_continues_inside_its_range() {
        let r = StanRange::of_slot(2);
        assert_eq!(r.after(r.high() - 5, 10), r.low() + 4);
        assert!(r.contains(r.after(123, 10_000)));
    }
}
