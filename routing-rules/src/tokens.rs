//! Token BIN ranges: number ranges the switch owns for payment tokens.
//!
//! A token looks like a card number (Luhn-valid, 16 digits) but stands for a card
//! only inside the switch, which swaps it for the card's PAN before routing. Token
//! ranges must not overlap any `[[bin]]`, so a token that reaches `decide` without
//! being swapped misses the BIN table and is declined 14, not routed to an issuer.

use crate::bins::{prefix_span, prefix_value};

/// A range of token prefixes `low..=high`, both `len` digits (6-11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRange {
    /// Lowest prefix, as a number.
    pub low: u64,
    /// Highest prefix, as a number.
    pub high: u64,
    /// Prefix length in digits.
    pub len: u8,
}

impl TokenRange {
    /// Whether the number's prefix falls in the range.
    #[inline]
    pub fn contains(&self, pan: &[u8]) -> bool {
        prefix_value(pan, self.len as usize).is_some_and(|p| (self.low..=self.high).contains(&p))
    }

    /// First and last 11-digit keys the range covers (to compare with BIN ranges).
    pub(crate) fn span(&self) -> (u64, u64) {
        prefix_span(self.low, self.high, self.len)
    }
}
