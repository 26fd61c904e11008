//! A routing table that can be replaced while the switch runs.
//!
//! Readers take a snapshot (`current`) with one atomic load and keep using it for
//! the whole transaction; `replace` swaps in a new table atomically. In-flight
//! transactions finish on the table they started with; nothing blocks.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::table::RoutingTable;

/// The live routing table.
#[derive(Debug)]
pub struct SharedRoutingTable(ArcSwap<RoutingTable>);

impl SharedRoutingTable {
    /// Start with `table`.
    pub fn new(table: RoutingTable) -> SharedRoutingTable {
        SharedRoutingTable(ArcSwap::from_pointee(table))
    }

    /// The table in force now.
    pub fn current(&self) -> Arc<RoutingTable> {
        self.0.load_full()
    }

    /// Install a new table; returns the previous one.
    pub fn replace(&self, table: RoutingTable) -> Arc<RoutingTable> {
        self.0.swap(Arc::new(table))
    }
}
