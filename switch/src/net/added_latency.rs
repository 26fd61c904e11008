//! The time the switch adds per hop (decode, decide, encode, queue), one record
//! per message it relays or answers, kept in one place: counts in fixed
//! log-linear buckets of atomics, per side (acquirer, issuer). Recording is one
//! relaxed `fetch_add`: no lock per message. Read by the metrics publisher (the
//! `switch_added_latency_seconds` histogram gets what was recorded since its last
//! read) and by [`super::runtime::RunningSwitch::added_latency`] (an hdrhistogram
//! of everything recorded, which `switch-compare` reports).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::Role;

/// Values below this are counted exactly (microseconds).
const LINEAR: u64 = 128;
/// Buckets per power of two above [`LINEAR`]: at most 1/64 (1.6%) wide.
const SUB: u64 = 64;
/// log2 of [`LINEAR`] and of [`SUB`].
const LINEAR_BITS: u32 = 7;
const SUB_BITS: u32 = 6;
/// Powers of two above [`LINEAR`] up to 2^27 µs (134 s; longer is counted there).
const OCTAVES: u64 = 20;
/// Buckets per side.
const BUCKETS: usize = (LINEAR + OCTAVES * SUB) as usize;

/// The bucket of `us` microseconds.
fn bucket(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let octave = u64::from(63 - us.leading_zeros() - LINEAR_BITS);
    let sub = (us >> (octave + u64::from(LINEAR_BITS) - u64::from(SUB_BITS))) & (SUB - 1);
    ((LINEAR + octave * SUB + sub) as usize).min(BUCKETS - 1)
}

/// The lowest value (microseconds) bucket `i` holds.
fn lowest(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        return i;
    }
    let octave = (i - LINEAR) / SUB;
    let sub = (i - LINEAR) % SUB;
    (SUB + sub) << (octave + u64::from(LINEAR_BITS) - u64::from(SUB_BITS))
}

/// Added latency per side.
pub struct AddedLatency {
    sides: [Box<[AtomicU64]>; 2],
    /// An empty histogram with the bounds [`AddedLatency::histogram`] gives.
    empty: hdrhistogram::Histogram<u64>,
}

/// The index of a side.
fn side(role: Role) -> usize {
    match role {
        Role::Acquirer => 0,
        Role::Issuer => 1,
    }
}

impl AddedLatency {
    /// Nothing counted yet.
    pub fn new() -> Result<AddedLatency, hdrhistogram::CreationError> {
        let side = || (0..BUCKETS).map(|_| AtomicU64::new(0)).collect();
        Ok(AddedLatency {
            sides: [side(), side()],
            // Every bucket's lowest value fits: recording into it cannot fail.
            empty: hdrhistogram::Histogram::new_with_bounds(1, 1 << 28, 3)?,
        })
    }

    /// Count one hop on a link of `role` that took `added`.
    pub fn record(&self, role: Role, added: Duration) {
        let us = u64::try_from(added.as_micros()).unwrap_or(u64::MAX).max(1);
        self.sides[side(role)][bucket(us)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts of `role`'s buckets now.
    pub fn counts(&self, role: Role) -> Vec<u64> {
        self.sides[side(role)]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// Everything recorded on both sides (microseconds; each count at its
    /// bucket's lowest value).
    pub fn histogram(&self) -> hdrhistogram::Histogram<u64> {
        let mut h = hdrhistogram::Histogram::new_from(&self.empty);
        for role in [Role::Acquirer, Role::Issuer] {
            for (i, n) in self.counts(role).into_iter().enumerate() {
                if n > 0 {
                    let _ = h.record_n(lowest(i).max(1), n);
                }
            }
        }
        h
    }
}

/// What the metrics publisher has already published of an [`AddedLatency`].
#[derive(Debug, Default)]
pub struct Published {
    sides: [Vec<u64>; 2],
}

impl Published {
    /// Record in `switch_added_latency_seconds{side}` what `latency` counted since
    /// the last call.
    pub fn publish(&mut self, latency: &AddedLatency) {
        for role in [Role::Acquirer, Role::Issuer] {
            let now = latency.counts(role);
            let before = &mut self.sides[side(role)];
            before.resize(now.len(), 0);
            let histogram = metrics::histogram!(
                "switch_added_latency_seconds",
                "side" => crate::core::role_name(role)
            );
            for (i, (n, seen)) in now.iter().zip(before.iter_mut()).enumerate() {
                let new = n.saturating_sub(*seen);
                if new > 0 {
                    histogram.record_many(lowest(i) as f64 / 1e6, new as usize);
                    *seen = *n;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_within_two_percent() {
        let mut last = 0;
        for us in 1..2_000_000u64 {
            let b = bucket(us);
            assert!(b >= last, "{us}");
            last = b;
            let low = lowest(b);
            assert!(low <= us, "{us} in a bucket from {low}");
            assert!(
                (us - low) as f64 <= us as f64 / 60.0,
                "{us} in a bucket from {low}"
            );
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn the_histogram_holds_what_both_sides_recorded() {
        let l = AddedLatency::new().expect("valid bounds");
        for us in [5u64, 50, 500, 5000] {
            l.record(Role::Acquirer, Duration::from_micros(us));
            l.record(Role::Issuer, Duration::from_micros(us));
        }
        let h = l.histogram();
        assert_eq!(h.len(), 8);
        assert_eq!(h.min(), 5);
        assert!(h.max() >= 4900 && h.max() <= 5000, "{}", h.max());
    }
}
