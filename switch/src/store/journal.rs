//! The journal sink that writes to the store.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Store;
use crate::core::journal::JournalRecord;
use crate::net::runtime::JournalSink;

/// Journal records into the store.
pub struct StoreJournal {
    store: Arc<Store>,
}

impl StoreJournal {
    /// Records go to `store`.
    pub fn new(store: Arc<Store>) -> StoreJournal {
        StoreJournal { store }
    }
}

impl JournalSink for StoreJournal {
    fn record(&self, record: JournalRecord) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.store.journal(record, now)
    }
}
