//! Duplicate detection: the same (acquirer, MTI class, field 7, field 11, field 41)
//! within a window is a duplicate transmission (RC 94). Bounded in time and size;
//! keys are held as 128-bit fingerprints (see [`super::fingerprint`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use dashmap::DashMap;

use super::fingerprint::{Fingerprint, Fingerprinter};
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

/// Keys seen within the window.
pub struct Duplicates {
    window: Duration,
    capacity: usize,
    fingerprints: Fingerprinter,
    seen: DashMap<Fingerprint, Millis>,
    order: Mutex<VecDeque<(Millis, Fingerprint)>>,
    /// Keys forgotten before their window was over (capacity reached).
    shortened: AtomicU64,
}

impl Duplicates {
    /// Remember keys for `window`, at most `capacity` of them (oldest dropped first).
    pub fn new(window: Duration, capacity: usize) -> Duplicates {
        Duplicates {
            window,
            capacity,
            fingerprints: Fingerprinter::default(),
            seen: DashMap::new(),
            order: Mutex::new(VecDeque::new()),
            shortened: AtomicU64::new(0),
        }
    }

    /// Keys forgotten before their window was over, so far.
    pub fn shortened(&self) -> u64 {
        self.shortened.load(Ordering::Relaxed)
    }

    /// Whether `key` was recorded within the window (without recording it).
    pub fn contains(&self, key: &DuplicateKey, now: Millis) -> bool {
        let key = self.fingerprints.of(key);
        self.seen
            .get(&key)
            .is_some_and(|seen| now.since(*seen) < self.window)
    }

    /// Record `key`; true if it was already seen within the window.
    pub fn check_and_insert(&self, key: DuplicateKey, now: Millis) -> bool {
        use dashmap::mapref::entry::Entry;
        let key = self.fingerprints.of(&key);
        match self.seen.entry(key) {
            Entry::Occupied(mut e) => {
                if now.since(*e.get()) < self.window {
                    return true;
                }
                e.insert(now);
            }
            Entry::Vacant(e) => {
                e.insert(now);
            }
        }
        let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        order.push_back((now, key));
        while order.len() > self.capacity {
            if let Some((t, k)) = order.pop_front() {
                if now.since(t) < self.window {
                    // Full before the window is over: duplicates older than this
                    // one are no longer recognised.
                    self.shortened.fetch_add(1, Ordering::Relaxed);
                }
                self.seen.remove_if(&k, |_, seen| *seen == t);
            }
        }
        false
    }

    /// Forget keys older than the window.
    pub fn expire(&self, now: Millis) {
        let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        while order
            .front()
            .is_some_and(|(t, _)| now.since(*t) >= self.window)
        {
            if let Some((t, k)) = order.pop_front() {
                self.seen.remove_if(&k, |_, seen| *seen == t);
            }
        }
    }

    /// When the oldest key remembered leaves the window (for the timer).
    pub fn next_expiry(&self) -> Option<Millis> {
        let order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        order.front().map(|(t, _)| t.after(self.window))
    }

    /// Keys remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none are remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}
