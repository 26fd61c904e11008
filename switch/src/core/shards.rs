//! Fingerprint-keyed stores split into shards, each behind its own lock: the
//! duplicate window and the recent-originals index take one shard's lock per
//! request, never a global one.

use std::sync::{Mutex, MutexGuard};

use super::fingerprint::Fingerprint;

/// Keys per shard below which a store is not split further: small stores (tests,
/// small configurations) keep one shard, so one strict oldest-first order.
const MIN_PER_SHARD: usize = 1024;

/// A fingerprint-keyed store split into shards, each behind its own lock, so that
/// requests on different links do not queue on one global lock. A power of two of
/// shards, four per core like `dashmap`, fewer when each would hold under
/// [`MIN_PER_SHARD`] keys; the capacity is split between them exactly (the
/// remainder to the first ones).
pub struct Shards<S> {
    shards: Box<[Mutex<S>]>,
}

impl<S> Shards<S> {
    /// Shards sharing `capacity`, each made by `make` from its own capacity.
    pub fn new(capacity: usize, make: impl Fn(usize) -> S) -> Shards<S> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut count = (cores * 4).next_power_of_two();
        while count > 1 && capacity / count < MIN_PER_SHARD {
            count /= 2;
        }
        let shards = (0..count)
            .map(|i| Mutex::new(make(capacity / count + usize::from(i < capacity % count))))
            .collect();
        Shards { shards }
    }

    /// The shard of `fp`, locked. Chosen by bits the map hash of [`super::fingerprint::PassThrough`]
    /// leaves to the buckets.
    #[inline]
    pub fn of(&self, fp: &Fingerprint) -> MutexGuard<'_, S> {
        let i = (fp.1 >> 40) as usize & (self.shards.len() - 1);
        lock(&self.shards[i])
    }

    /// Every shard, locked one after the other.
    pub fn each(&self) -> impl Iterator<Item = MutexGuard<'_, S>> + '_ {
        self.shards.iter().map(lock)
    }

    /// How many shards.
    pub fn count(&self) -> usize {
        self.shards.len()
    }
}

/// A panic elsewhere while holding a shard leaves plain data: go on with it.
fn lock<S>(shard: &Mutex<S>) -> MutexGuard<'_, S> {
    shard.lock().unwrap_or_else(|p| p.into_inner())
}
