//! The application transaction counter's replay window: each dynamic code carries
//! the app's counter, and a counter is accepted once. Codes may arrive out of
//! order (a user shows a code, then another, and the second reader is faster), so
//! the window remembers the highest counter seen and which of the 64 below it were
//! used.

/// The counters a token has used: the highest, and a bit per counter below it
/// (bit i: `high - 1 - i` was used).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AtcWindow {
    /// The highest counter accepted (0: none yet; counters start at 1).
    pub high: u16,
    /// Which of the 64 counters below `high` were accepted.
    pub mask: u64,
}

impl AtcWindow {
    /// Accept `atc` if it is new: above the highest, or within 64 below it and
    /// not yet seen. Returns false for a replay (or a counter too old to tell).
    pub fn accept(&mut self, atc: u16) -> bool {
        if atc > self.high {
            let shift = u32::from(atc - self.high);
            // The old highest becomes bit shift-1; older ones move up with it.
            // Nothing accepted yet, or everything seen falls out of the window
            // (the old highest is still in it at a shift of exactly 64: bit 63).
            self.mask = if self.high == 0 || shift > 64 {
                0
            } else if shift == 64 {
                1u64 << 63
            } else {
                (self.mask << shift) | (1u64 << (shift - 1))
            };
            self.high = atc;
            return true;
        }
        let below = u32::from(self.high - atc);
        if below == 0 || below > 64 {
            return false;
        }
        let bit = 1u64 << (below - 1);
        if self.mask & bit != 0 {
            return false;
        }
        self.mask |= bit;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::AtcWindow;

    #[test]
    fn counters_are_accepted_once_in_any_order_within_the_window() {
        let mut w = AtcWindow::default();
        assert!(!w.accept(0), "counters start at 1");
        assert!(w.accept(1));
        assert!(!w.accept(1));
        assert!(w.accept(5));
        assert!(w.accept(3), "an older code not yet used");
        assert!(!w.accept(3));
        assert!(w.accept(2));
        assert!(w.accept(4));
        assert!(!w.accept(5));
        assert!(!w.accept(1));
        assert!(w.accept(100));
        assert!(!w.accept(35), "65 below the highest is too old to tell");
        assert!(w.accept(36), "64 below the highest is still in the window");
        assert!(!w.accept(36));
        assert!(w.accept(99));
        assert!(!w.accept(5));
    }

    #[test]
    fn a_jump_of_exactly_64_keeps_the_old_highest_counter_used() {
        let mut w = AtcWindow::default();
        assert!(w.accept(1));
        assert!(w.accept(65));
        assert!(!w.accept(1), "64 below the highest, and used");
        assert!(w.accept(2));
        let mut w = AtcWindow::default();
        assert!(w.accept(1));
        assert!(w.accept(66));
        assert!(!w.accept(1), "out of the window: refused as too old");
    }
}
