//! Recently forwarded transactions, by the acquirer's keys: where a later reversal
//! or advice for them must go, and with which field 90 (the switch's own keys, as
//! the issuer saw them). Bounded: the oldest entries are forgotten first.

use std::collections::VecDeque;
use std::sync::Mutex;

use dashmap::DashMap;

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

/// Where the original went.
#[derive(Clone, Debug)]
pub struct Forwarded {
    /// The issuer bank.
    pub issuer: String,
    /// Field 90 as the issuer knows the original.
    pub field90: String,
}

/// The index.
pub struct Recent {
    capacity: usize,
    map: DashMap<AcquirerKey, Forwarded>,
    order: Mutex<VecDeque<AcquirerKey>>,
}

impl Recent {
    /// Remember at most `capacity` transactions.
    pub fn new(capacity: usize) -> Recent {
        Recent {
            capacity,
            map: DashMap::new(),
            order: Mutex::new(VecDeque::new()),
        }
    }

    /// Remember a forwarded original.
    pub fn insert(&self, key: AcquirerKey, fwd: Forwarded) {
        if self.map.insert(key.clone(), fwd).is_none() {
            let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
            order.push_back(key);
            while order.len() > self.capacity {
                if let Some(old) = order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }

    /// Look up an original.
    pub fn get(&self, key: &AcquirerKey) -> Option<Forwarded> {
        self.map.get(key).map(|e| e.clone())
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
