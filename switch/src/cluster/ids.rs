//! The id spaces of a cluster node: the journal's transaction ids and the
//! store-and-forward ids of node slot s are `s << 48 | n`, n from 1, so nodes
//! number their rows in one shared database without asking each other. A single
//! node (slot 0) numbers from 1 as before.

/// Bits left to a node's own numbering (2^48 ids: centuries at 10,000 TPS).
pub const SLOT_SHIFT: u32 = 48;

/// The id below slot `slot`'s first: its ids are `base + 1 ..< base + 2^48`.
pub fn slot_base(slot: u8) -> u64 {
    u64::from(slot) << SLOT_SHIFT
}

/// Whether `id` belongs to slot `slot`'s range.
pub fn in_slot(slot: u8, id: u64) -> bool {
    id >> SLOT_SHIFT == u64::from(slot)
}

/// The next ids of a node of slot `slot` that recovered `last_txn_id` and
/// `last_saf_id` (its own highest, read within its range; 0 when it has none):
/// the first transaction id and the highest store-and-forward id to number
/// after, both inside the slot's range.
pub fn continue_in_slot(slot: u8, last_txn_id: u64, last_saf_id: u64) -> (u64, u64) {
    let base = slot_base(slot);
    // Ids from outside the range (a single node's database joined to a cluster)
    // would push the numbering into another slot's: start the slot afresh.
    let own = |id: u64| if in_slot(slot, id) { id } else { base };
    (own(last_txn_id).max(base) + 1, own(last_saf_id).max(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_node_numbers_on_from_what_it_recovered() {
        assert_eq!(continue_in_slot(0, 0, 0), (1, 0));
        assert_eq!(continue_in_slot(0, 41, 7), (42, 7));
    }

    #[test]
    fn a_cluster_node_numbers_inside_its_slot() {
        let base = 3u64 << 48;
        assert_eq!(continue_in_slot(3, 0, 0), (base + 1, base));
        assert_eq!(
            continue_in_slot(3, base + 41, base + 7),
            (base + 42, base + 7)
        );
        // Another slot's or a single node's ids do not move it out of its range.
        assert_eq!(continue_in_slot(3, 99, (4u64 << 48) + 5), (base + 1, base));
        assert!(in_slot(3, base + 1) && !in_slot(3, base + (1 << 48)));
    }
}
