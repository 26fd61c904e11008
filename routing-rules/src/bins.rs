//! The BIN table: PAN prefix ranges of 6-11 digits, longest match wins.
//!
//! Ranges are compiled into one sorted list of disjoint intervals over the 11-digit
//! prefix space, each labelled with the most specific range covering it, so a lookup
//! is one bucket probe (first 4 digits) and a short binary search, with no allocation.

use crate::model::ProductIdx;

/// Shortest and longest BIN prefixes.
pub const MIN_PREFIX: usize = 6;
/// Longest BIN prefix; lookups use this many PAN digits.
pub const MAX_PREFIX: usize = 11;
const NONE: u32 = u32::MAX;
/// Buckets by the first 4 digits of the 11-digit key.
const BUCKET_DIVISOR: u64 = 10_000_000;
const BUCKETS: usize = 10_000;

/// One configured range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinRange {
    /// Lowest prefix, as a number.
    pub low: u64,
    /// Highest prefix, as a number.
    pub high: u64,
    /// Prefix length in digits.
    pub len: u8,
    /// The card product.
    pub product: ProductIdx,
}

impl BinRange {
    /// First and last 11-digit keys the range covers.
    fn span(&self) -> (u64, u64) {
        let scale = 10u64.pow((MAX_PREFIX - self.len as usize) as u32);
        (self.low * scale, self.high * scale + (scale - 1))
    }

    /// Whether the PAN's prefix falls in the range.
    pub fn contains(&self, pan: &[u8]) -> bool {
        prefix_value(pan, self.len as usize).is_some_and(|p| (self.low..=self.high).contains(&p))
    }
}

/// The numeric value of the first `len` digits of `pan` (None if too short or not digits).
pub fn prefix_value(pan: &[u8], len: usize) -> Option<u64> {
    let digits = pan.get(..len)?;
    digits.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
    })
}

/// The compiled table.
#[derive(Clone, Debug, Default)]
pub struct BinTable {
    ranges: Vec<BinRange>,
    /// Interval start keys, ascending; interval i covers `starts[i]..starts[i+1]`.
    starts: Vec<u64>,
    /// The range (index into `ranges`) labelling each interval, or NONE.
    labels: Vec<u32>,
    /// `bucket[b]` = first interval whose start is >= b * 10^7.
    bucket: Vec<u32>,
}

impl BinTable {
    /// Compile ranges that are already validated (no same-length overlaps, low <= high).
    pub fn build(ranges: Vec<BinRange>) -> BinTable {
        // Sweep over range boundaries; at most one range per length is open at a time.
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ranges.len() * 2);
        for (i, r) in ranges.iter().enumerate() {
            let (lo, hi) = r.span();
            events.push((lo, true, i));
            if hi < u64::MAX {
                events.push((hi + 1, false, i));
            }
        }
        // At one point, close before opening so adjacent ranges do not both look open.
        events.sort_unstable_by_key(|&(pos, open, _)| (pos, open));
        let mut open: [Option<usize>; MAX_PREFIX + 1] = [None; MAX_PREFIX + 1];
        let mut starts = vec![0u64];
        let mut labels = vec![NONE];
        let mut i = 0;
        while i < events.len() {
            let pos = events[i].0;
            while i < events.len() && events[i].0 == pos {
                let (_, is_open, r) = events[i];
                let len = ranges[r].len as usize;
                open[len] = if is_open {
                    Some(r)
                } else {
                    open[len].filter(|&o| o != r)
                };
                i += 1;
            }
            let label = open
                .iter()
                .rev()
                .flatten()
                .next()
                .map_or(NONE, |&r| r as u32);
            if labels.last() == Some(&label) {
                continue;
            }
            if starts.last() == Some(&pos) {
                if let Some(l) = labels.last_mut() {
                    *l = label;
                }
            } else {
                starts.push(pos);
                labels.push(label);
            }
        }
        let mut bucket = Vec::with_capacity(BUCKETS + 1);
        for b in 0..=BUCKETS as u64 {
            bucket.push(starts.partition_point(|&s| s < b * BUCKET_DIVISOR) as u32);
        }
        BinTable {
            ranges,
            starts,
            labels,
            bucket,
        }
    }

    /// The most specific range matching the PAN (which must have at least 11 digits).
    #[inline]
    pub fn lookup(&self, pan: &[u8]) -> Option<&BinRange> {
        let key = prefix_value(pan, MAX_PREFIX)?;
        let b = (key / BUCKET_DIVISOR) as usize;
        // The interval holding `key` starts at or before it: search from the interval
        // before this bucket's first one up to the next bucket's first one.
        let lo = (self.bucket[b] as usize).saturating_sub(1);
        let hi = (self.bucket[b + 1] as usize).min(self.starts.len());
        let i = lo + self.starts[lo..hi].partition_point(|&s| s <= key) - 1;
        match self.labels[i] {
            NONE => None,
            r => self.ranges.get(r as usize),
        }
    }

    /// The configured ranges, in configuration order.
    pub fn ranges(&self) -> &[BinRange] {
        &self.ranges
    }

    /// Bytes used by the compiled table (for the size benchmark).
    pub fn heap_bytes(&self) -> usize {
        self.ranges.capacity() * std::mem::size_of::<BinRange>()
            + self.starts.capacity() * 8
            + self.labels.capacity() * 4
            + self.bucket.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(low: &str, high: &str, product: u16) -> BinRange {
        BinRange {
            low: low.parse().unwrap(),
            high: high.parse().unwrap(),
            len: low.len() as u8,
            product,
        }
    }

    #[test]
    fn longest_match_wins_and_gaps_miss() {
        let table = BinTable::build(vec![
            range("940800", "940899", 1),
            range("94080100", "94080199", 2),
            range("94080150000", "94080150999", 3),
            range("940900", "940900", 4),
        ]);
        assert_eq!(
            table.lookup(b"9408000000000000").map(|r| r.product),
            Some(1)
        );
        assert_eq!(
            table.lookup(b"9408010000000000").map(|r| r.product),
            Some(2)
        );
        assert_eq!(
            table.lookup(b"9408015000000000").map(|r| r.product),
            Some(3)
        );
        assert_eq!(
            table.lookup(b"9408015099999999").map(|r| r.product),
            Some(3)
        );
        assert_eq!(
            table.lookup(b"9408015100000000").map(|r| r.product),
            Some(2)
        );
        assert_eq!(
            table.lookup(b"9408020000000000").map(|r| r.product),
            Some(1)
        );
        assert_eq!(
            table.lookup(b"9408999999999999").map(|r| r.product),
            Some(1)
        );
        assert_eq!(
            table.lookup(b"9409000000000000").map(|r| r.product),
            Some(4)
        );
        assert_eq!(table.lookup(b"9409010000000000"), None);
        assert_eq!(table.lookup(b"1000000000000000"), None);
        assert_eq!(table.lookup(b"9999999999999999"), None);
        assert_eq!(table.lookup(b"94080"), None);
    }

    #[test]
    fn adjacent_ranges_of_one_length() {
        let table = BinTable::build(vec![
            range("940800", "940800", 1),
            range("940801", "940801", 2),
        ]);
        assert_eq!(
            table.lookup(b"9408009999999999").map(|r| r.product),
            Some(1)
        );
        assert_eq!(
            table.lookup(b"9408010000000000").map(|r| r.product),
            Some(2)
        );
        assert_eq!(table.lookup(b"9408020000000000"), None);
    }
}
