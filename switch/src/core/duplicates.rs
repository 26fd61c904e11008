//! Duplicate detection: the same (acquirer, MTI class, field 7, field 11, field 41)
//! within a window is a duplicate transmission (RC 94). Bounded in time and size;
//! keys are held as 128-bit fingerprints (see [`super::fingerprint`]).
//!
//! The store is split into shards by fingerprint, each a map and its own
//! oldest-first queue behind its own lock, so requests on different links do not
//! queue on one global lock. The capacity is split evenly between the shards; a
//! full shard forgets its own oldest key. Stores under a few thousand keys keep one
//! shard ([`Shards`]), so strictly the oldest key overall.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::fingerprint::{Fingerprint, FingerprintHasher, Fingerprinter, Shards};
use super::time::Millis;

/// The identity of an acquirer's request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DuplicateKey {
    /// Field 32.
    pub acquirer: String,
    /// MTI class digit.
    pub class: u8,
    /// Field 7.
    pub transmission: String,
    /// Field 11.
    pub stan: String,
    /// Field 41.
    pub terminal: String,
}

/// [`DuplicateKey`] borrowing its fields from the message (no `String`s): the same
/// fields in the same order, so both give the same fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DuplicateKeyRef<'a> {
    /// Field 32.
    pub acquirer: &'a str,
    /// MTI class digit.
    pub class: u8,
    /// Field 7.
    pub transmission: &'a str,
    /// Field 11.
    pub stan: &'a str,
    /// Field 41.
    pub terminal: &'a str,
}

/// A key [`Duplicates`] accepts: [`DuplicateKey`], [`DuplicateKeyRef`] or a
/// reference to either.
pub trait AsDuplicateKey {
    /// The key's fields, borrowed.
    fn key_ref(&self) -> DuplicateKeyRef<'_>;
}

impl AsDuplicateKey for DuplicateKey {
    fn key_ref(&self) -> DuplicateKeyRef<'_> {
        DuplicateKeyRef {
            acquirer: &self.acquirer,
            class: self.class,
            transmission: &self.transmission,
            stan: &self.stan,
            terminal: &self.terminal,
        }
    }
}

impl AsDuplicateKey for DuplicateKeyRef<'_> {
    fn key_ref(&self) -> DuplicateKeyRef<'_> {
        *self
    }
}

impl<K: AsDuplicateKey> AsDuplicateKey for &K {
    fn key_ref(&self) -> DuplicateKeyRef<'_> {
        (**self).key_ref()
    }
}

/// One shard: when each of its keys was last recorded, and the recordings
/// oldest first.
struct Shard {
    capacity: usize,
    seen: HashMap<Fingerprint, Millis, FingerprintHasher>,
    order: VecDeque<(Millis, Fingerprint)>,
}

/// Keys seen within the window.
pub struct Duplicates {
    window: Duration,
    fingerprints: Fingerprinter,
    shards: Shards<Shard>,
    /// Keys forgotten before their window was over (capacity reached).
    shortened: AtomicU64,
}

impl Duplicates {
    /// Remember keys for `window`, at most `capacity` of them (oldest dropped first).
    pub fn new(window: Duration, capacity: usize) -> Duplicates {
        Duplicates {
            window,
            fingerprints: Fingerprinter::default(),
            shards: Shards::new(capacity, |capacity| Shard {
                capacity,
                seen: HashMap::default(),
                order: VecDeque::new(),
            }),
            shortened: AtomicU64::new(0),
        }
    }

    /// Keys forgotten before their window was over, so far.
    pub fn shortened(&self) -> u64 {
        self.shortened.load(Ordering::Relaxed)
    }

    /// Whether `key` was recorded within the window (without recording it).
    pub fn contains(&self, key: &impl AsDuplicateKey, now: Millis) -> bool {
        let key = self.fingerprints.of(&key.key_ref());
        self.shards
            .of(&key)
            .seen
            .get(&key)
            .is_some_and(|seen| now.since(*seen) < self.window)
    }

    /// Record `key`; true if it was already seen within the window.
    pub fn check_and_insert(&self, key: impl AsDuplicateKey, now: Millis) -> bool {
        let key = self.fingerprints.of(&key.key_ref());
        let mut shard = self.shards.of(&key);
        let shard = &mut *shard;
        match shard.seen.get_mut(&key) {
            Some(seen) if now.since(*seen) < self.window => return true,
            Some(seen) => *seen = now,
            None => {
                shard.seen.insert(key, now);
            }
        }
        shard.order.push_back((now, key));
        while shard.order.len() > shard.capacity {
            if let Some((t, k)) = shard.order.pop_front() {
                if now.since(t) < self.window {
                    // Full before the window is over: duplicates older than this
                    // one are no longer recognised.
                    self.shortened.fetch_add(1, Ordering::Relaxed);
                }
                if shard.seen.get(&k) == Some(&t) {
                    shard.seen.remove(&k);
                }
            }
        }
        false
    }

    /// Forget keys older than the window.
    pub fn expire(&self, now: Millis) {
        for mut shard in self.shards.each() {
            let shard = &mut *shard;
            while shard
                .order
                .front()
                .is_some_and(|(t, _)| now.since(*t) >= self.window)
            {
                if let Some((t, k)) = shard.order.pop_front() {
                    if shard.seen.get(&k) == Some(&t) {
                        shard.seen.remove(&k);
                    }
                }
            }
        }
    }

    /// When the oldest key remembered leaves the window (for the timer).
    pub fn next_expiry(&self) -> Option<Millis> {
        // The oldest of each shard's oldest (merge of main's timer with the shards).
        self.shards
            .each()
            .filter_map(|shard| shard.order.front().map(|(t, _)| *t))
            .min()
            .map(|t| t.after(self.window))
    }

    /// Keys remembered.
    pub fn len(&self) -> usize {
        self.shards.each().map(|s| s.seen.len()).sum()
    }

    /// Whether none are remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(stan: u32) -> DuplicateKey {
        DuplicateKey {
            acquirer: "940800".into(),
            class: 2,
            transmission: "0612143015".into(),
            stan: format!("{stan:06}"),
            terminal: "TRM00417".into(),
        }
    }

    #[test]
    fn a_key_is_a_duplicate_within_the_window_only() {
        let d = Duplicates::new(Duration::from_secs(60), 100);
        assert!(!d.check_and_insert(key(1), Millis(0)));
        assert!(d.check_and_insert(key(1), Millis(59_999)));
        // The borrowed form is the same key.
        let other = key(2);
        let borrowed = DuplicateKeyRef {
            stan: "000001",
            ..other.key_ref()
        };
        assert!(d.contains(&borrowed, Millis(1)));
        assert!(!d.check_and_insert(key(1), Millis(60_000)));
        let again = key(1);
        assert!(d.check_and_insert(&again, Millis(60_001)));
        d.expire(Millis(120_000));
        assert!(d.is_empty());
        assert_eq!(d.shortened(), 0);
    }

    #[test]
    fn a_full_store_forgets_its_oldest_and_counts_it() {
        let d = Duplicates::new(Duration::from_secs(60), 3);
        for stan in 1..=4 {
            assert!(!d.check_and_insert(key(stan), Millis(u64::from(stan))));
        }
        assert_eq!((d.len(), d.shortened()), (3, 1));
        // The oldest is forgotten, the others are still recognised.
        assert!(!d.check_and_insert(key(1), Millis(10)));
        assert!(d.check_and_insert(key(4), Millis(10)));
        assert_eq!(d.shortened(), 2);
    }

    #[test]
    fn a_sharded_store_holds_its_capacity_and_counts_every_key_it_forgets() {
        let capacity = 16 * 1024;
        let d = Duplicates::new(Duration::from_secs(600), capacity);
        assert!(d.shards.count() > 1);
        let inserted = 50_000;
        for stan in 0..inserted {
            assert!(!d.check_and_insert(key(stan), Millis(u64::from(stan))));
        }
        assert!(d.len() <= capacity);
        // Every shard is full: all but a few hundred of the capacity is held.
        assert!(d.len() > capacity - capacity / 16, "{}", d.len());
        assert_eq!(d.shortened(), u64::from(inserted) - d.len() as u64);
    }

    /// Two links racing with the same requests: each key is new to exactly one.
    #[test]
    fn two_threads_see_each_key_as_new_once() {
        let d = Duplicates::new(Duration::from_secs(600), 1_000_000);
        let keys = 20_000;
        let new = std::thread::scope(|s| {
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        (0..keys)
                            .filter(|&stan| !d.check_and_insert(key(stan), Millis(1)))
                            .count()
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|r| r.join().expect("no panic"))
                .sum::<usize>()
        });
        assert_eq!(new, keys as usize);
        assert_eq!((d.len(), d.shortened()), (keys as usize, 0));
    }
}
