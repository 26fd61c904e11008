//! Recently forwarded transactions, by the acquirer's keys: where a later reversal
//! or advice for them must go, and with which field 90 (the switch's own keys, as
//! the issuer saw them). Bounded: the oldest entries are forgotten first.

use std::collections::VecDeque;
use std::sync::Mutex;

use std::sync::Arc;

use dashmap::DashMap;

use super::fingerprint::{Fingerprint, Fingerprinter};

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

/// Field 90 is 42 characters; longer values (never made by the switch) are boxed.
const FIELD90_LEN: usize = 42;

/// What is held per original: the issuer's id shared by all its entries, and field
/// 90 inline.
#[derive(Clone)]
struct Stored {
    issuer: Arc<str>,
    field90: Field90,
}

#[derive(Clone)]
enum Field90 {
    Inline([u8; FIELD90_LEN]),
    Other(Box<str>),
}

/// The index: fingerprints of the acquirer's keys to where the original went.
pub struct Recent {
    capacity: usize,
    fingerprints: Fingerprinter,
    map: DashMap<Fingerprint, Stored>,
    order: Mutex<VecDeque<Fingerprint>>,
    issuers: DashMap<String, Arc<str>>,
}

impl Recent {
    /// Remember at most `capacity` transactions.
    pub fn new(capacity: usize) -> Recent {
        Recent {
            capacity,
            fingerprints: Fingerprinter::default(),
            map: DashMap::new(),
            order: Mutex::new(VecDeque::new()),
            issuers: DashMap::new(),
        }
    }

    /// Remember a forwarded original.
    pub fn insert(&self, key: AcquirerKey, fwd: Forwarded) {
        let key = self.fingerprints.of(&key);
        let issuer = match self.issuers.get(&fwd.issuer) {
            Some(shared) => shared.clone(),
            None => self
                .issuers
                .entry(fwd.issuer.clone())
                .or_insert_with(|| Arc::from(fwd.issuer.as_str()))
                .clone(),
        };
        let field90 = match <[u8; FIELD90_LEN]>::try_from(fwd.field90.as_bytes()) {
            Ok(inline) => Field90::Inline(inline),
            Err(_) => Field90::Other(fwd.field90.into_boxed_str()),
        };
        if self.map.insert(key, Stored { issuer, field90 }).is_none() {
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
        let stored = self.map.get(&self.fingerprints.of(key))?;
        Some(Forwarded {
            issuer: stored.issuer.to_string(),
            field90: match &stored.field90 {
                Field90::Inline(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                Field90::Other(text) => text.to_string(),
            },
        })
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
