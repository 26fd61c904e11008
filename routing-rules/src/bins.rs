//! The BIN table: PAN prefix ranges of 6-11 digits, longest match wins.
//!
//! Ranges are compiled into one sorted list of disjoint intervals over the 11-digit
//! prefix space, each labelled with the most specific range covering it (and that
//! range's product, so the hot path never touches the range list). The intervals are
//! bucketed by the top bits of their offset from the lowest configured key, with
//! about two intervals per bucket. A bucket that one interval covers whole carries its
//! product, so many lookups are a shift and one bucket probe; the others scan the few
//! 8-byte intervals of their bucket. Interval starts are stored as 32-bit offsets
//! inside their bucket. No allocation.

use crate::model::ProductIdx;

/// Shortest and longest BIN prefixes.
pub const MIN_PREFIX: usize = 6;
/// Longest BIN prefix; lookups use this many PAN digits.
pub const MAX_PREFIX: usize = 11;
/// Label of an interval no range covers.
const NONE: u32 = u32::MAX;
/// Product of an interval no range covers.
const NO_PRODUCT: ProductIdx = ProductIdx::MAX;
/// Widest bucket: offsets inside a bucket fit in 32 bits.
const MAX_BUCKET_SHIFT: u32 = 32;
/// Buckets with at most this many intervals are scanned rather than searched.
const SHORT_BUCKET: usize = 8;

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
#[inline]
pub fn prefix_value(pan: &[u8], len: usize) -> Option<u64> {
    codecs::digits::parse_u64(pan.get(..len)?)
}

/// One compiled interval: where it starts inside its bucket, and its product.
#[derive(Clone, Copy, Debug)]
struct Interval {
    /// Offset of the interval's first key from its bucket's first key.
    start: u32,
    /// The product of the most specific covering range, or [`NO_PRODUCT`].
    product: ProductIdx,
}

/// One bucket of keys.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Index of the first interval starting in this bucket (or later).
    first: u32,
    /// When one interval covers the whole bucket: its product (or [`NO_PRODUCT`]);
    /// otherwise [`MIXED`].
    product: u32,
}

/// [`Bucket::product`] of a bucket with interval boundaries inside it.
const MIXED: u32 = u32::MAX;

/// The compiled table.
#[derive(Clone, Debug, Default)]
pub struct BinTable {
    ranges: Vec<BinRange>,
    /// Lowest and highest key any range covers (meaningless when `ranges` is empty).
    first_key: u64,
    last_key: u64,
    /// Buckets are `1 << shift` keys wide, counted from `first_key`.
    shift: u32,
    /// The buckets, and one extra at the end (`first` = the number of intervals).
    buckets: Vec<Bucket>,
    /// Intervals in key order; interval i covers keys up to the next one's start.
    intervals: Vec<Interval>,
    /// The range (index into `ranges`) labelling each interval, or [`NONE`].
    labels: Vec<u32>,
}

impl BinTable {
    /// Compile ranges that are already validated (no same-length overlaps, low <= high).
    pub fn build(ranges: Vec<BinRange>) -> BinTable {
        let (starts, labels) = sweep(&ranges);
        let (Some(&first_key), Some(last_key)) =
            (starts.first(), ranges.iter().map(|r| r.span().1).max())
        else {
            return BinTable::default();
        };
        // About two intervals per bucket, and no bucket wider than 2^32 keys.
        let span = last_key - first_key;
        let target = (starts.len() as u64 / 2).max(1);
        let mut shift = 0;
        while shift < MAX_BUCKET_SHIFT && (span >> shift) >= target {
            shift += 1;
        }
        let count = (span >> shift) as usize + 1;
        let mut intervals = Vec::with_capacity(starts.len());
        let mut firsts: Vec<u32> = Vec::with_capacity(count + 1);
        for (i, (&start, &label)) in starts.iter().zip(&labels).enumerate() {
            let offset = start - first_key;
            let b = (offset >> shift) as usize;
            while firsts.len() <= b {
                firsts.push(i as u32);
            }
            intervals.push(Interval {
                start: (offset - ((b as u64) << shift)) as u32,
                product: match label {
                    NONE => NO_PRODUCT,
                    r => ranges[r as usize].product,
                },
            });
        }
        while firsts.len() <= count {
            firsts.push(starts.len() as u32);
        }
        let buckets = firsts
            .iter()
            .enumerate()
            .map(|(b, &first)| {
                let end = firsts.get(b + 1).map_or(first, |&e| e) as usize;
                let first = first as usize;
                // Whole: no interval starts inside, or only one, at the bucket's start.
                let covering = match end - first {
                    0 => first.checked_sub(1),
                    1 if intervals[first].start == 0 => Some(first),
                    _ => None,
                };
                Bucket {
                    first: first as u32,
                    product: covering.map_or(MIXED, |i| u32::from(intervals[i].product)),
                }
            })
            .collect();
        let mut ranges = ranges;
        ranges.shrink_to_fit();
        BinTable {
            ranges,
            first_key,
            last_key,
            shift,
            buckets,
            intervals,
            labels,
        }
    }

    /// The PAN's bucket, and the key's offset inside it.
    #[inline]
    fn bucket(&self, pan: &[u8]) -> Option<(usize, u32)> {
        let key = prefix_value(pan, MAX_PREFIX)?;
        if key < self.first_key || key > self.last_key {
            return None;
        }
        let offset = key - self.first_key;
        let b = (offset >> self.shift) as usize;
        Some((b, (offset - ((b as u64) << self.shift)) as u32))
    }

    /// The index of the interval holding offset `inside` of bucket `b`: the last
    /// interval starting in the bucket at or before it, or else the one before the
    /// bucket (the first bucket always starts with an interval at 0).
    #[inline]
    fn interval_in(&self, b: usize, inside: u32) -> Option<usize> {
        let first = self.buckets.get(b)?.first as usize;
        let end = self.buckets.get(b + 1)?.first as usize;
        let starting_here = self.intervals.get(first..end)?;
        let n = if starting_here.len() <= SHORT_BUCKET {
            // A branch-free count beats a binary search on a few entries.
            starting_here
                .iter()
                .map(|i| usize::from(i.start <= inside))
                .sum()
        } else {
            starting_here.partition_point(|i| i.start <= inside)
        };
        (first + n).checked_sub(1)
    }

    /// The index of the interval holding the PAN's 11-digit key.
    fn interval(&self, pan: &[u8]) -> Option<usize> {
        let (b, inside) = self.bucket(pan)?;
        self.interval_in(b, inside)
    }

    /// The product of the most specific range matching the PAN (which must have at
    /// least 11 digits): the routing hot path, touching only the buckets and the
    /// intervals, and only the bucket when one interval covers it whole.
    #[inline]
    pub fn lookup_product(&self, pan: &[u8]) -> Option<ProductIdx> {
        let (b, inside) = self.bucket(pan)?;
        let product = match self.buckets.get(b)?.product {
            MIXED => self.intervals[self.interval_in(b, inside)?].product,
            p => p as ProductIdx,
        };
        (product != NO_PRODUCT).then_some(product)
    }

    /// The most specific range matching the PAN (which must have at least 11 digits).
    #[inline]
    pub fn lookup(&self, pan: &[u8]) -> Option<&BinRange> {
        let i = self.interval(pan)?;
        match self.labels[i] {
            NONE => None,
            r => self.ranges.get(r as usize),
        }
    }

    /// The configured ranges, in configuration order.
    pub fn ranges(&self) -> &[BinRange] {
        &self.ranges
    }

    /// Bytes used by the compiled table (for the size benchmark): the ranges, the
    /// intervals, their labels and the buckets.
    pub fn heap_bytes(&self) -> usize {
        self.ranges.capacity() * std::mem::size_of::<BinRange>()
            + self.intervals.capacity() * std::mem::size_of::<Interval>()
            + self.labels.capacity() * std::mem::size_of::<u32>()
            + self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }
}

/// Sweep over range boundaries: the start keys of the disjoint intervals from the
/// lowest covered key to the highest, and the most specific range covering each.
/// At most one range per length is open at a time (same-length overlaps are load
/// errors), so the most specific open range is the longest open one.
fn sweep(ranges: &[BinRange]) -> (Vec<u64>, Vec<u32>) {
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
    let mut starts: Vec<u64> = Vec::with_capacity(events.len());
    let mut labels: Vec<u32> = Vec::with_capacity(events.len());
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
    // The last event closes the highest range: its interval (uncovered) is dropped,
    // since keys past the last covered one are rejected before the search.
    if labels.last() == Some(&NONE) {
        starts.pop();
        labels.pop();
    }
    starts.shrink_to_fit();
    labels.shrink_to_fit();
    (starts, labels)
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
