//! The BIN table: PAN prefix ranges of 6-11 digits, longest match wins.
//!
//! Ranges are compiled into one sorted list of disjoint intervals over the 11-digit
//! prefix space, each labelled with the most specific range covering it (and that
//! range's product, so the hot path never touches the range list). The key space,
//! from the lowest configured key, is cut into buckets of `2^shift` keys; a bucket is
//! one 64-byte cache line holding the interval that covers its first key and those
//! starting inside it (offsets from the bucket's start, and their products). When
//! buckets of about six intervals are at most 2^15 keys wide (dense tables, such as
//! the national network's), lines are narrow ([`NarrowLine`]: 16-bit offsets, up to
//! fifteen intervals), so there are half as many lines as with [`Line`] (32-bit
//! offsets, up to nine, about three per bucket), used for sparse key spaces. A lookup
//! is a shift, one cache line and a branch-free count; only a bucket with more
//! intervals keeps them outside the line (searched). No allocation.

use crate::model::ProductIdx;

/// Shortest and longest BIN prefixes.
pub const MIN_PREFIX: usize = 6;
/// Longest BIN prefix; lookups use this many PAN digits.
pub const MAX_PREFIX: usize = 11;
/// Label of an interval no range covers.
const NONE: u32 = u32::MAX;
/// Product of an interval no range covers.
const NO_PRODUCT: ProductIdx = ProductIdx::MAX;
/// Widest bucket: offsets inside a bucket stay below `u32::MAX`, the padding of
/// unused slots in a line.
const MAX_BUCKET_SHIFT: u32 = 31;
/// Intervals a line holds.
const LINE: usize = 9;
/// [`Line::count`] of a bucket whose intervals are kept in [`BinTable::spill`].
const SPILLED: u32 = u32::MAX;

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
    pub(crate) fn span(&self) -> (u64, u64) {
        prefix_span(self.low, self.high, self.len)
    }

    /// Whether the PAN's prefix falls in the range.
    pub fn contains(&self, pan: &[u8]) -> bool {
        prefix_value(pan, self.len as usize).is_some_and(|p| (self.low..=self.high).contains(&p))
    }
}

/// First and last 11-digit keys of the prefixes `low..=high` of `len` digits.
pub(crate) fn prefix_span(low: u64, high: u64, len: u8) -> (u64, u64) {
    let scale = 10u64.pow((MAX_PREFIX - len as usize) as u32);
    (low * scale, high * scale + (scale - 1))
}

/// The numeric value of the first `len` digits of `pan` (None if too short or not digits).
#[inline]
pub fn prefix_value(pan: &[u8], len: usize) -> Option<u64> {
    codecs::digits::parse_u64(pan.get(..len)?)
}

/// One bucket of a wide table (buckets of more than 2^15 keys), in one cache line:
/// the intervals that meet it, in key order.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Line {
    /// Offsets from the bucket's first key of where each interval starts inside the
    /// bucket (the first is 0: the interval covering the bucket's first key); unused
    /// slots hold `u32::MAX`. For a spilled bucket: where its intervals start in
    /// `spill`, and how many there are.
    starts: [u32; LINE],
    /// The interval's product, or [`NO_PRODUCT`].
    products: [ProductIdx; LINE],
    /// Index of the bucket's first interval in `labels`.
    base: u32,
    /// Number of intervals, or [`SPILLED`].
    count: u32,
}

// A line is one cache line.
const _: () = assert!(std::mem::size_of::<Line>() == 64);

/// One bucket of a narrow table (buckets of at most 2^15 keys), in one cache line:
/// up to fifteen intervals with 16-bit offsets.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct NarrowLine {
    /// Offsets from the bucket's first key of where each interval starts (the first
    /// is 0); unused slots hold `u16::MAX`, above every offset. A spilled bucket has
    /// [`SPILLED16`] in slot 0.
    starts: [u16; NARROW],
    /// The interval's product, or [`NO_PRODUCT`]. For a spilled bucket: slots 0-1
    /// and 2-3 hold where its intervals start in `spill` and how many there are
    /// (low half first).
    products: [ProductIdx; NARROW],
    /// Index of the bucket's first interval in `labels`.
    base: u32,
}

const _: () = assert!(std::mem::size_of::<NarrowLine>() == 64);

/// Intervals a narrow line holds.
const NARROW: usize = 15;
/// Widest bucket of a narrow table: offsets stay below `u16::MAX`.
const NARROW_SHIFT: u32 = 15;
/// [`NarrowLine::starts`]`[0]` of a spilled bucket (a real first offset is 0).
const SPILLED16: u16 = u16::MAX;

/// The bucket lines, narrow when the buckets are at most 2^15 keys wide.
#[derive(Clone, Debug)]
enum Lines {
    Narrow(Vec<NarrowLine>),
    Wide(Vec<Line>),
}

impl Default for Lines {
    fn default() -> Self {
        Lines::Narrow(Vec::new())
    }
}

/// The compiled table.
#[derive(Clone, Debug, Default)]
pub struct BinTable {
    ranges: Vec<BinRange>,
    /// Lowest and highest key any range covers (meaningless when `ranges` is empty).
    first_key: u64,
    last_key: u64,
    /// Buckets are `1 << shift` keys wide, counted from `first_key`.
    shift: u32,
    /// One line per bucket.
    lines: Lines,
    /// The intervals of buckets with more than [`LINE`]: (offset, product).
    spill: Vec<(u32, ProductIdx)>,
    /// Per bucket and interval, bucket after bucket: the range (index into
    /// `ranges`) labelling it, or [`NONE`].
    labels: Vec<u32>,
}

impl BinTable {
    /// Compile ranges that are already validated (no same-length overlaps, low <= high).
    pub fn build(ranges: Vec<BinRange>) -> BinTable {
        let (starts, interval_labels) = sweep(&ranges);
        let (Some(&first_key), Some(last_key)) =
            (starts.first(), ranges.iter().map(|r| r.span().1).max())
        else {
            return BinTable::default();
        };
        // About six intervals per bucket in a narrow table (fifteen fit a line), three
        // in a wide one (nine fit).
        let span = last_key - first_key;
        let shift_for = |per: u64| {
            let target = (starts.len() as u64 / per).max(1);
            let mut shift = 0;
            while shift < MAX_BUCKET_SHIFT && (span >> shift) >= target {
                shift += 1;
            }
            shift
        };
        let narrow = shift_for(6) <= NARROW_SHIFT;
        let shift = if narrow { shift_for(6) } else { shift_for(3) };
        let count = (span >> shift) as usize + 1;
        let product_of = |label: u32| match label {
            NONE => NO_PRODUCT,
            r => ranges[r as usize].product,
        };
        let mut narrow_lines = Vec::with_capacity(if narrow { count } else { 0 });
        let mut wide_lines = Vec::with_capacity(if narrow { 0 } else { count });
        let mut labels = Vec::with_capacity(starts.len() + count);
        let mut spill = Vec::new();
        let mut entries: Vec<(u32, u32)> = Vec::with_capacity(NARROW);
        // Next interval starting after the current bucket's first key.
        let mut k = 0;
        for b in 0..count as u64 {
            let first = b << shift;
            let end = first + (1 << shift);
            while k < starts.len() && starts[k] - first_key <= first {
                k += 1;
            }
            // starts[0] is first_key, so k >= 1: interval k - 1 covers `first`.
            entries.clear();
            entries.push((0, interval_labels[k.saturating_sub(1)]));
            while k < starts.len() && starts[k] - first_key < end {
                entries.push(((starts[k] - first_key - first) as u32, interval_labels[k]));
                k += 1;
            }
            let base = labels.len() as u32;
            let fits = entries.len() <= if narrow { NARROW } else { LINE };
            let spill_at = spill.len() as u32;
            if !fits {
                spill.extend(entries.iter().map(|&(o, l)| (o, product_of(l))));
            }
            if narrow {
                let mut line = NarrowLine {
                    starts: [u16::MAX; NARROW],
                    products: [NO_PRODUCT; NARROW],
                    base,
                };
                if fits {
                    for (j, &(offset, label)) in entries.iter().enumerate() {
                        line.starts[j] = offset as u16;
                        line.products[j] = product_of(label);
                    }
                } else {
                    let len = entries.len() as u32;
                    line.starts[0] = SPILLED16;
                    line.products[..4].copy_from_slice(&[
                        spill_at as u16,
                        (spill_at >> 16) as u16,
                        len as u16,
                        (len >> 16) as u16,
                    ]);
                }
                narrow_lines.push(line);
            } else {
                let mut line = Line {
                    starts: [u32::MAX; LINE],
                    products: [NO_PRODUCT; LINE],
                    base,
                    count: entries.len() as u32,
                };
                if fits {
                    for (j, &(offset, label)) in entries.iter().enumerate() {
                        line.starts[j] = offset;
                        line.products[j] = product_of(label);
                    }
                } else {
                    line.count = SPILLED;
                    line.starts[0] = spill_at;
                    line.starts[1] = entries.len() as u32;
                }
                wide_lines.push(line);
            }
            labels.extend(entries.iter().map(|e| e.1));
        }
        let lines = if narrow {
            Lines::Narrow(narrow_lines)
        } else {
            Lines::Wide(wide_lines)
        };
        let mut ranges = ranges;
        ranges.shrink_to_fit();
        labels.shrink_to_fit();
        spill.shrink_to_fit();
        BinTable {
            ranges,
            first_key,
            last_key,
            shift,
            lines,
            spill,
            labels,
        }
    }

    /// The interval holding the PAN's 11-digit key: its index in `labels`, and its
    /// product (or [`NO_PRODUCT`]).
    #[inline]
    fn interval(&self, pan: &[u8]) -> Option<(usize, ProductIdx)> {
        let key = prefix_value(pan, MAX_PREFIX)?;
        if key < self.first_key || key > self.last_key {
            return None;
        }
        let offset = key - self.first_key;
        let b = (offset >> self.shift) as usize;
        // Below 2^31 (MAX_BUCKET_SHIFT), so never counts the u32::MAX padding.
        let inside = (offset - ((b as u64) << self.shift)) as u32;
        let (base, entries) = match &self.lines {
            Lines::Narrow(lines) => {
                let line = lines.get(b)?;
                if line.starts[0] != SPILLED16 {
                    // Below 2^15 (NARROW_SHIFT): never counts the u16::MAX padding.
                    let inside = inside as u16;
                    let n: usize = line.starts.iter().map(|&s| usize::from(s <= inside)).sum();
                    let j = n.checked_sub(1)?;
                    return Some((line.base as usize + j, *line.products.get(j)?));
                }
                let p = |i: usize| line.products[i] as usize;
                (line.base, (p(0) | p(1) << 16, p(2) | p(3) << 16))
            }
            Lines::Wide(lines) => {
                let line = lines.get(b)?;
                if line.count != SPILLED {
                    // Branch-free: how many intervals start at or before the key.
                    let n: usize = line.starts.iter().map(|&s| usize::from(s <= inside)).sum();
                    let j = n.checked_sub(1)?;
                    return Some((line.base as usize + j, *line.products.get(j)?));
                }
                (
                    line.base,
                    (line.starts[0] as usize, line.starts[1] as usize),
                )
            }
        };
        let (first, len) = entries;
        let entries = self.spill.get(first..first + len)?;
        let j = entries.partition_point(|e| e.0 <= inside).checked_sub(1)?;
        Some((base as usize + j, entries[j].1))
    }

    /// The product of the most specific range matching the PAN (which must have at
    /// least 11 digits): the routing hot path, touching only the bucket's line.
    #[inline]
    pub fn lookup_product(&self, pan: &[u8]) -> Option<ProductIdx> {
        let (_, product) = self.interval(pan)?;
        (product != NO_PRODUCT).then_some(product)
    }

    /// The most specific range matching the PAN (which must have at least 11 digits).
    #[inline]
    pub fn lookup(&self, pan: &[u8]) -> Option<&BinRange> {
        let (i, _) = self.interval(pan)?;
        match *self.labels.get(i)? {
            NONE => None,
            r => self.ranges.get(r as usize),
        }
    }

    /// The configured ranges, in configuration order.
    pub fn ranges(&self) -> &[BinRange] {
        &self.ranges
    }

    /// Bytes used by the compiled table (for the size benchmark): the ranges, the
    /// bucket lines, the spilled intervals and the labels.
    pub fn heap_bytes(&self) -> usize {
        self.ranges.capacity() * std::mem::size_of::<BinRange>()
            + match &self.lines {
                Lines::Narrow(l) => l.capacity() * std::mem::size_of::<NarrowLine>(),
                Lines::Wide(l) => l.capacity() * std::mem::size_of::<Line>(),
            }
            + self.spill.capacity() * std::mem::size_of::<(u32, ProductIdx)>()
            + self.labels.capacity() * std::mem::size_of::<u32>()
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
    fn crowded_buckets_spill_and_still_match() {
        // Many 11-digit ranges packed together, one far away: their bucket holds more
        // intervals than a line.
        let mut ranges = vec![range("100000", "100000", 0), range("940800", "940899", 1)];
        for i in 0..40u64 {
            let low = 94080000000 + 10 * i;
            ranges.push(range(
                &low.to_string(),
                &(low + 4).to_string(),
                2 + i as u16,
            ));
        }
        let table = BinTable::build(ranges.clone());
        assert!(!table.spill.is_empty());
        for i in 0..40u64 {
            for (d, want) in [
                (0, Some(2 + i as u16)),
                (4, Some(2 + i as u16)),
                (5, Some(1)),
            ] {
                let pan = format!("{}00000", 94080000000 + 10 * i + d);
                assert_eq!(table.lookup_product(pan.as_bytes()), want, "{pan}");
                assert_eq!(
                    table.lookup(pan.as_bytes()).map(|r| r.product),
                    want,
                    "{pan}"
                );
            }
        }
        assert_eq!(table.lookup_product(b"1000000000000000"), Some(0));
        assert_eq!(table.lookup_product(b"1000010000000000"), None);
    }

    #[test]
    fn dense_tables_use_narrow_lines_and_match_a_scan() {
        // Many nested ranges under one prefix: buckets of at most 2^15 keys, with a
        // crowded stretch that spills.
        let mut ranges = vec![range("940800", "940899", 1)];
        for i in 0..3000u64 {
            let low = 940801000 + 30 * i;
            ranges.push(range(&low.to_string(), &(low + 9).to_string(), 2));
        }
        for i in 0..60u64 {
            let low = 94089000000 + 2 * i;
            ranges.push(range(&low.to_string(), &low.to_string(), 3 + i as u16));
        }
        let table = BinTable::build(ranges.clone());
        assert!(matches!(table.lines, Lines::Narrow(_)));
        assert!(table.shift <= NARROW_SHIFT);
        assert!(!table.spill.is_empty());
        let naive = |pan: &[u8]| {
            ranges
                .iter()
                .filter(|r| r.contains(pan))
                .max_by_key(|r| r.len)
                .map(|r| r.product)
        };
        let mut key = 94080000000u64;
        while key < 94090000000 {
            let pan = format!("{key}00000");
            let want = naive(pan.as_bytes());
            assert_eq!(table.lookup_product(pan.as_bytes()), want, "{pan}");
            assert_eq!(table.lookup(pan.as_bytes()).map(|r| r.product), want);
            key += if key >= 94089000000 { 1 } else { 977 };
            if key > 94089000200 {
                break;
            }
        }
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
