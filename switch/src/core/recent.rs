//! Recently forwarded transactions, by the acquirer's keys: where a later reversal
//! or advice for them must go, and with which field 90 (the switch's own keys, as
//! the issuer saw them). Bounded: the oldest entries are forgotten first.
//!
//! Split into shards by fingerprint like [`super::duplicates`]: each shard has its
//! own map, oldest-first queue and share of the capacity behind its own lock (one
//! shard, so one strict order, for small capacities).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::fingerprint::{Fingerprint, FingerprintHasher, Fingerprinter};
use super::shards::Shards;

/// The acquirer's keys of an original request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AcquirerKey {
    /// Field 32.
    pub acquirer: String,
    /// Field 11.
    pub stan: u32,
    /// Field 7.
    pub transmission: String,
}

/// [`AcquirerKey`] borrowing its strings: the same fields in the same order, so
/// both give the same fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AcquirerKeyRef<'a> {
    /// Field 32.
    pub acquirer: &'a str,
    /// Field 11.
    pub stan: u32,
    /// Field 7.
    pub transmission: &'a str,
}

impl AcquirerKey {
    /// The key, borrowed.
    pub fn key_ref(&self) -> AcquirerKeyRef<'_> {
        AcquirerKeyRef {
            acquirer: &self.acquirer,
            stan: self.stan,
            transmission: &self.transmission,
        }
    }
}

/// A transaction forwarded (or approved in stand-in) as the journal remembers
/// it, read back at start ([`super::Core::remember_forwarded`]).
#[derive(Clone, Debug)]
pub struct ForwardedRow {
    /// The acquirer (field 32).
    pub acquirer: String,
    /// The acquirer's field 7.
    pub transmission: String,
    /// The acquirer's field 11.
    pub stan: String,
    /// Where it went.
    pub issuer: String,
    /// The request MTI.
    pub mti: String,
    /// The switch's STAN towards the issuer (of a stand-in approval: of its advice).
    pub switch_stan: u32,
    /// Approved in stand-in.
    pub stand_in: bool,
}

/// Where the original went.
#[derive(Clone, Debug)]
pub struct Forwarded {
    /// The issuer bank.
    pub issuer: String,
    /// Field 90 as the issuer knows the original.
    pub field90: String,
    /// Approved by the switch in stand-in: the issuer knows it from an advice
    /// that may still be queued, so its reversal is queued after it.
    pub stand_in: bool,
}

/// Field 90 is 42 characters; longer values (never made by the switch) are boxed.
const FIELD90_LEN: usize = 42;

/// Distinct issuer ids a shard shares between its entries; beyond that (never in
/// a real network) each entry gets its own.
const MAX_ISSUERS: usize = 256;

/// What is held per original: the issuer's id shared by all its entries, and field
/// 90 inline.
#[derive(Clone)]
struct Stored {
    issuer: Arc<str>,
    field90: Field90,
    stand_in: bool,
    /// The acquirer reversed it (possibly while it was still in flight).
    reversed: bool,
}

#[derive(Clone)]
enum Field90 {
    Inline([u8; FIELD90_LEN]),
    Other(Box<str>),
}

/// One shard: its entries, their keys oldest first, and its issuer ids.
struct Shard {
    capacity: usize,
    map: HashMap<Fingerprint, Stored, FingerprintHasher>,
    order: VecDeque<Fingerprint>,
    issuers: Vec<Arc<str>>,
}

impl Shard {
    /// The shard's shared copy of `issuer`.
    fn issuer(&mut self, issuer: &str) -> Arc<str> {
        if let Some(shared) = self.issuers.iter().find(|s| &***s == issuer) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(issuer);
        if self.issuers.len() < MAX_ISSUERS {
            self.issuers.push(shared.clone());
        }
        shared
    }
}

/// The index: fingerprints of the acquirer's keys to where the original went.
pub struct Recent {
    fingerprints: Fingerprinter,
    shards: Shards<Shard>,
}

impl Recent {
    /// Remember at most `capacity` transactions.
    pub fn new(capacity: usize) -> Recent {
        Recent {
            fingerprints: Fingerprinter::default(),
            shards: Shards::new(capacity, |capacity| Shard {
                capacity,
                map: HashMap::default(),
                order: VecDeque::new(),
                issuers: Vec::new(),
            }),
        }
    }

    /// Remember a forwarded original.
    pub fn insert(&self, key: AcquirerKey, fwd: Forwarded) {
        self.put(key.key_ref(), &fwd.issuer, &fwd.field90, fwd.stand_in);
    }

    /// Remember a forwarded original from borrowed keys (no `String`s needed).
    pub fn insert_ref(&self, key: AcquirerKeyRef<'_>, issuer: &str, field90: &str) {
        self.put(key, issuer, field90, false);
    }

    /// Remember a stand-in approval (replacing the request forwarded under the
    /// same keys, if it timed out): `field90` names the decision's advice.
    /// Returns whether the acquirer had reversed what it replaces (the check
    /// and the replacement under one lock: a reversal is seen by exactly one of
    /// this and the entry it finds).
    pub fn insert_stand_in(&self, key: AcquirerKeyRef<'_>, issuer: &str, field90: &str) -> bool {
        self.put(key, issuer, field90, true)
    }

    /// Insert; returns whether the entry replaced was marked reversed (which
    /// the new one keeps).
    fn put(&self, key: AcquirerKeyRef<'_>, issuer: &str, field90: &str, stand_in: bool) -> bool {
        let key = self.fingerprints.of(&key);
        let field90 = match <[u8; FIELD90_LEN]>::try_from(field90.as_bytes()) {
            Ok(inline) => Field90::Inline(inline),
            Err(_) => Field90::Other(field90.into()),
        };
        let mut shard = self.shards.of(&key);
        let issuer = shard.issuer(issuer);
        let stored = Stored {
            issuer,
            field90,
            stand_in,
            reversed: false,
        };
        let Some(replaced) = shard.map.insert(key, stored) else {
            shard.order.push_back(key);
            while shard.order.len() > shard.capacity {
                if let Some(old) = shard.order.pop_front() {
                    shard.map.remove(&old);
                }
            }
            return false;
        };
        // Rare (a stand-in decision replacing its timed-out request): the mark
        // of a reversal stays.
        if replaced.reversed {
            if let Some(s) = shard.map.get_mut(&key) {
                s.reversed = true;
            }
        }
        replaced.reversed
    }

    /// Look up an original.
    pub fn get(&self, key: &AcquirerKey) -> Option<Forwarded> {
        self.get_ref(key.key_ref())
    }

    /// Look up an original by borrowed keys.
    pub fn get_ref(&self, key: AcquirerKeyRef<'_>) -> Option<Forwarded> {
        let key = self.fingerprints.of(&key);
        let shard = self.shards.of(&key);
        let stored = shard.map.get(&key)?;
        Some(Forwarded {
            issuer: stored.issuer.to_string(),
            field90: match &stored.field90 {
                Field90::Inline(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                Field90::Other(text) => text.to_string(),
            },
            stand_in: stored.stand_in,
        })
    }

    /// Forget the original under `key` if it is still the one forwarded with
    /// `field90` (a forward another cluster node claimed first: the issuer never
    /// saw it, so a reversal must not name it). Its place in the oldest-first
    /// queue stays until evicted (rare: one per refused claim).
    pub fn forget(&self, key: AcquirerKeyRef<'_>, field90: &str) {
        let key = self.fingerprints.of(&key);
        let mut shard = self.shards.of(&key);
        let ours = shard.map.get(&key).is_some_and(|s| match &s.field90 {
            Field90::Inline(bytes) => bytes.as_slice() == field90.as_bytes(),
            Field90::Other(text) => **text == *field90,
        });
        if ours {
            shard.map.remove(&key);
        }
    }

    /// The acquirer reversed the original under `key` (known here).
    pub fn mark_reversed(&self, key: AcquirerKeyRef<'_>) {
        let key = self.fingerprints.of(&key);
        let mut shard = self.shards.of(&key);
        if let Some(s) = shard.map.get_mut(&key) {
            s.reversed = true;
        }
    }

    /// Whether the acquirer reversed the original under `key`.
    pub fn is_reversed(&self, key: AcquirerKeyRef<'_>) -> bool {
        let key = self.fingerprints.of(&key);
        let shard = self.shards.of(&key);
        shard.map.get(&key).is_some_and(|s| s.reversed)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.shards.each().map(|s| s.map.len()).sum()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F90: &str = "020000421706121430150000094080000000940000";

    fn key(stan: u32) -> AcquirerKey {
        AcquirerKey {
            acquirer: "940800".into(),
            stan,
            transmission: "0612143015".into(),
        }
    }

    fn fwd(issuer: &str) -> Forwarded {
        Forwarded {
            issuer: issuer.into(),
            field90: F90.into(),
            stand_in: false,
        }
    }

    #[test]
    fn a_stand_in_decision_replacing_a_reversed_request_says_so_and_keeps_the_mark() {
        let r = Recent::new(10);
        r.insert(key(1), fwd("940810"));
        assert!(!r.insert_stand_in(key(2).key_ref(), "940810", F90));
        r.mark_reversed(key(1).key_ref());
        assert!(r.insert_stand_in(key(1).key_ref(), "940810", F90));
        assert!(r.is_reversed(key(1).key_ref()));
        assert!(r.get(&key(1)).expect("kept").stand_in);
        assert!(!r.is_reversed(key(2).key_ref()));
    }

    #[test]
    fn an_original_is_found_by_owned_and_borrowed_keys() {
        let r = Recent::new(10);
        r.insert(key(1), fwd("940810"));
        r.insert_ref(key(2).key_ref(), "940811", "short");
        let found = r.get_ref(key(1).key_ref()).expect("found");
        assert_eq!(
            (found.issuer.as_str(), found.field90.as_str()),
            ("940810", F90)
        );
        let found = r.get(&key(2)).expect("found");
        assert_eq!(
            (found.issuer.as_str(), found.field90.as_str()),
            ("940811", "short")
        );
        assert!(r.get(&key(3)).is_none());
        // Inserting again replaces without taking another place.
        r.insert(key(1), fwd("940812"));
        assert_eq!(r.get(&key(1)).expect("found").issuer, "940812");
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn the_oldest_are_forgotten_first() {
        let r = Recent::new(3);
        for stan in 1..=4 {
            r.insert(key(stan), fwd("940810"));
        }
        assert_eq!(r.len(), 3);
        assert!(r.get(&key(1)).is_none());
        assert!((2..=4).all(|stan| r.get(&key(stan)).is_some()));
    }

    #[test]
    fn a_sharded_index_holds_its_capacity() {
        let capacity = 16 * 1024;
        let r = Recent::new(capacity);
        assert!(r.shards.count() > 1);
        for stan in 0..50_000 {
            r.insert(key(stan), fwd("940810"));
        }
        assert!(r.len() <= capacity && r.len() > capacity - capacity / 16);
        // The newest are all there.
        assert!((49_000..50_000).all(|stan| r.get(&key(stan)).is_some()));
    }

    #[test]
    fn two_threads_insert_and_find_their_own() {
        let r = Recent::new(1_000_000);
        std::thread::scope(|s| {
            for t in 0..2u32 {
                let r = &r;
                s.spawn(move || {
                    for stan in (t * 100_000)..(t * 100_000 + 10_000) {
                        r.insert(key(stan), fwd(if t == 0 { "940810" } else { "940811" }));
                        assert!(r.get(&key(stan)).is_some());
                    }
                });
            }
        });
        assert_eq!(r.len(), 20_000);
        assert_eq!(r.get(&key(100_005)).expect("found").issuer, "940811");
    }
}
