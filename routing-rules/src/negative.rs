//! An issuer's negative file (hot cards): SHA-256 digests of card numbers and
//! card-number ranges, each with a reason (lost, stolen, restricted).
//!
//! The file holds no card number in clear: a single card is its digest
//! ([`pan_digest`]), so the switch compares digests. Ranges are kept in clear: they
//! name blocks of numbers (a lost batch of plastics), not a holder's card. Loading
//! and validation are in `compile::negative`; this module only looks up, without
//! allocating.

use std::fmt;

use codecs::ResponseCode;
use sha2::{Digest, Sha256};

use crate::bins::prefix_value;
use crate::model::BankIdx;

/// Why a card is hot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HotReason {
    /// Reported lost: 41 (pick up).
    Lost,
    /// Reported stolen: 43 (pick up).
    Stolen,
    /// Restricted by the issuer: 62.
    Restricted,
}

impl HotReason {
    /// Every reason, for parsing and tests.
    pub const ALL: [HotReason; 3] = [HotReason::Lost, HotReason::Stolen, HotReason::Restricted];

    /// The response code a hot card is declined with.
    pub fn response_code(self) -> ResponseCode {
        // The codes are literals: `new` accepts them, the fallback is never taken.
        ResponseCode::new(self.code()).unwrap_or(ResponseCode::RESTRICTED_CARD)
    }

    /// The response code as text (`41`, `43`, `62`).
    pub fn code(self) -> &'static str {
        match self {
            HotReason::Lost => "41",
            HotReason::Stolen => "43",
            HotReason::Restricted => "62",
        }
    }

    /// The configuration name (`lost`, `stolen`, `restricted`).
    pub fn name(self) -> &'static str {
        match self {
            HotReason::Lost => "lost",
            HotReason::Stolen => "stolen",
            HotReason::Restricted => "restricted",
        }
    }

    /// Parse a configuration name.
    pub fn from_name(name: &str) -> Option<HotReason> {
        HotReason::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Parse a response code (`41`, `43`, `62`), as a file update's field 48 gives it.
    pub fn from_code(code: &str) -> Option<HotReason> {
        HotReason::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// SHA-256 of the card number's ASCII digits: how a negative file names a card.
pub fn pan_digest(pan: &[u8]) -> [u8; 32] {
    Sha256::digest(pan).into()
}

/// A range of card numbers: a PAN matches when its first `len` digits, as a number,
/// lie in `low..=high`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HotRange {
    /// Lowest prefix.
    pub low: u64,
    /// Highest prefix.
    pub high: u64,
    /// Digits compared (6-19).
    pub len: u8,
    /// Why these cards are hot.
    pub reason: HotReason,
}

impl HotRange {
    /// Whether the PAN's first `len` digits fall in the range.
    pub fn contains(&self, pan: &[u8]) -> bool {
        prefix_value(pan, self.len as usize).is_some_and(|p| (self.low..=self.high).contains(&p))
    }
}

/// One issuer's negative file, compiled: digests sorted (binary search), ranges
/// sorted by length then low bound, disjoint within a length.
#[derive(Clone)]
pub struct NegativeFile {
    pub(crate) issuer: BankIdx,
    pub(crate) name: String,
    pub(crate) apply_when_up: bool,
    /// The file it was read from, for `check` and `explain`.
    pub(crate) path: String,
    pub(crate) cards: Vec<([u8; 32], HotReason)>,
    pub(crate) ranges: Vec<HotRange>,
}

impl NegativeFile {
    /// An empty file (tests and callers building one by hand add to it).
    pub fn new(issuer: BankIdx, name: &str, apply_when_up: bool) -> NegativeFile {
        NegativeFile {
            issuer,
            name: name.to_string(),
            apply_when_up,
            path: String::new(),
            cards: Vec::new(),
            ranges: Vec::new(),
        }
    }

    /// Build from cards and ranges in any order; sorts them. A digest listed twice
    /// keeps its first reason.
    pub(crate) fn with_entries(
        mut self,
        mut cards: Vec<([u8; 32], HotReason)>,
        mut ranges: Vec<HotRange>,
    ) -> NegativeFile {
        cards.sort_by_key(|c| c.0);
        cards.dedup_by_key(|c| c.0);
        ranges.sort_by_key(|r| (r.len, r.low));
        self.cards = cards;
        self.ranges = ranges;
        self
    }

    /// The file name a file update (0302, field 101) names.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether hot cards are declined also while the issuer is up.
    pub fn apply_when_up(&self) -> bool {
        self.apply_when_up
    }

    /// The issuer the file belongs to.
    pub fn issuer(&self) -> BankIdx {
        self.issuer
    }

    /// The path the file was read from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Number of cards listed by digest.
    pub fn card_count(&self) -> usize {
        self.cards.len()
    }

    /// The ranges, sorted by length and low bound.
    pub fn ranges(&self) -> &[HotRange] {
        &self.ranges
    }

    /// Whether the card is hot, and why: its digest first, then the ranges (the
    /// longest matching range decides). `digest` is [`pan_digest`] of `pan`, computed
    /// once by the caller, who may also look it up elsewhere. Allocation-free.
    pub fn lookup(&self, pan: &[u8], digest: &[u8; 32]) -> Option<HotReason> {
        if let Ok(i) = self.cards.binary_search_by(|c| c.0.cmp(digest)) {
            return Some(self.cards[i].1);
        }
        // Ranges of one length are disjoint: the last whose low bound is at most the
        // PAN's prefix is the only candidate of that length.
        let mut end = self.ranges.len();
        while end > 0 {
            let len = self.ranges[end - 1].len;
            let start = self.ranges[..end].partition_point(|r| r.len < len);
            if let Some(prefix) = prefix_value(pan, len as usize) {
                let same = &self.ranges[start..end];
                let at = same.partition_point(|r| r.low <= prefix);
                if let Some(r) = at.checked_sub(1).map(|i| &same[i]) {
                    if prefix <= r.high {
                        return Some(r.reason);
                    }
                }
            }
            end = start;
        }
        None
    }
}

/// Counts only: the digests are not card numbers, but a dump of them helps no one.
impl fmt::Debug for NegativeFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NegativeFile")
            .field("issuer", &self.issuer)
            .field("name", &self.name)
            .field("apply_when_up", &self.apply_when_up)
            .field("path", &self.path)
            .field("cards", &self.cards.len())
            .field("ranges", &self.ranges.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: &[u8; 32]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn digest_is_sha256_of_the_digits() {
        // `printf 4111111111111111 | sha256sum`
        assert_eq!(
            hex(&pan_digest(b"4111111111111111")),
            "9bbef19476623ca56c17da75fd57734dbf82530686043a6e491c6d71befe8f6e"
        );
    }

    #[test]
    fn reasons_map_to_codes() {
        assert_eq!(HotReason::Lost.response_code().as_str(), "41");
        assert_eq!(HotReason::Stolen.response_code().as_str(), "43");
        assert_eq!(HotReason::Restricted.response_code().as_str(), "62");
        for r in HotReason::ALL {
            assert_eq!(HotReason::from_name(r.name()), Some(r));
            assert_eq!(HotReason::from_code(r.code()), Some(r));
        }
        assert_eq!(HotReason::from_name("missing"), None);
    }

    #[test]
    fn lookup_by_digest_and_by_range() {
        let listed = b"9408101111111111";
        let file = NegativeFile::new(0, "NEGATIVE", false).with_entries(
            vec![(pan_digest(listed), HotReason::Lost)],
            vec![
                HotRange {
                    low: 940810555,
                    high: 940810556,
                    len: 9,
                    reason: HotReason::Stolen,
                },
                HotRange {
                    low: 9408107770,
                    high: 9408107779,
                    len: 10,
                    reason: HotReason::Restricted,
                },
                HotRange {
                    low: 9408105560000000000,
                    high: 9408105569999999999,
                    len: 19,
                    reason: HotReason::Restricted,
                },
            ],
        );
        let look = |pan: &[u8]| file.lookup(pan, &pan_digest(pan));
        assert_eq!(look(listed), Some(HotReason::Lost));
        assert_eq!(look(b"9408105551234567"), Some(HotReason::Stolen));
        assert_eq!(look(b"9408105561234567"), Some(HotReason::Stolen));
        assert_eq!(look(b"9408105571234567"), None);
        assert_eq!(look(b"9408107775555555"), Some(HotReason::Restricted));
        assert_eq!(look(b"9408107785555555"), None);
        // The 19-digit range: a 19-digit PAN under it matches the longest range, a
        // 16-digit PAN is too short for it.
        assert_eq!(look(b"9408105561111111111"), Some(HotReason::Restricted));
        assert_eq!(look(b"9408101111111112"), None);
    }
}
