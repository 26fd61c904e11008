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

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "[[region]]\nid = \"c\"\nkind = \"capital\"\n[[bank]]\nid = \"1\"\nregion = \"c\"\nroles = [\"acquirer\"]\n";

    #[test]
    fn readers_keep_their_snapshot_across_a_replace() {
        let (t1, _) = RoutingTable::from_toml(A, "a.toml").unwrap();
        let shared = SharedRoutingTable::new(t1);
        let before = shared.current();
        let (t2, _) = RoutingTable::from_toml(
            &format!("{A}[[bank]]\nid = \"2\"\nregion = \"c\"\nroles = [\"acquirer\"]\n"),
            "b.toml",
        )
        .unwrap();
        let old = shared.replace(t2);
        assert_eq!(before.banks().len(), 1);
        assert_eq!(old.banks().len(), 1);
        assert_eq!(shared.current().banks().len(), 2);
    }
}
