//! What the comparison runners share to measure: a counting global allocator (and
//! one that tracks the live heap, [`TrackingAlloc`]), wall time per operation,
//! median/min/max of repetitions, and the command line (`--reps N --ops N`, or
//! named flags with [`parse_named`]).
//!
//! A runner installs the allocator itself (the library does not, so criterion benches
//! and tests keep the plain system allocator); [`allocs_per_op`] then counts heap
//! allocations (`alloc`, `alloc_zeroed` and `realloc` calls) in an untimed pass:
//!
//! ```
//! use std::hint::black_box;
//!
//! use benches::measure::{allocs_per_op, CountingAlloc};
//!
//! #[global_allocator]
//! static GLOBAL: CountingAlloc = CountingAlloc;
//!
//! fn main() {
//!     assert_eq!(allocs_per_op(100, || drop(black_box(vec![1u8; 16]))), 1.0);
//!     assert_eq!(allocs_per_op(100, || drop(black_box([1u8; 16]))), 0.0);
//! }
//! ```
//!
//! Without the `#[global_allocator]` line, [`allocs_per_op`] reports 0.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// Counts allocations while counting is on (see [`allocs_per_op`]); otherwise a plain
/// `System`.
pub struct CountingAlloc;

/// Whether allocations are being counted (off during the timed runs, so the
/// timings pay one relaxed load per allocation and no atomic add).
static COUNTING: AtomicBool = AtomicBool::new(false);
/// Allocations seen while counting.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

#[inline]
fn note_allocation() {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// `GlobalAlloc` is an unsafe trait, so counting allocations needs an `unsafe impl`.
// The impl only forwards each call unchanged to `System` and bumps a counter; it is
// used by the measurement binaries, never by the switch. (The workspace sets
// `unsafe_code = "deny"`, not "forbid", so that this one item can allow it.)
// SAFETY: every method forwards its arguments unchanged to `System`, which upholds
// the `GlobalAlloc` contract; the counter does not touch the memory.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller's guarantees for `layout` are passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation
        // goes through this wrapper); the caller's guarantees are passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Tracks the live heap (bytes and blocks allocated and not yet freed) once
/// [`start_tracking`] has been called, for a process's whole life after it; before
/// that, and in binaries that do not install it, a plain `System` (one relaxed
/// load per call). `switch-compare`'s switch process uses it to tell the heap the
/// switch holds per transaction from what the allocator and the kernel add.
pub struct TrackingAlloc;

static TRACKING: AtomicBool = AtomicBool::new(false);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LIVE_BLOCKS: AtomicI64 = AtomicI64::new(0);

/// Start tracking the live heap (call first thing in `main`: blocks allocated
/// before are not counted, and freeing them counts negatively).
pub fn start_tracking() {
    TRACKING.store(true, Ordering::SeqCst);
}

/// Live heap since [`start_tracking`]: (bytes, blocks) requested and not freed
/// (0, 0 without [`TrackingAlloc`] installed).
pub fn live_heap() -> (i64, i64) {
    (
        LIVE_BYTES.load(Ordering::Relaxed),
        LIVE_BLOCKS.load(Ordering::Relaxed),
    )
}

#[inline]
fn track(bytes: i64, blocks: i64) {
    if TRACKING.load(Ordering::Relaxed) {
        LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_add(blocks, Ordering::Relaxed);
    }
}

fn size_of(layout: Layout) -> i64 {
    i64::try_from(layout.size()).unwrap_or(i64::MAX)
}

// As for `CountingAlloc`: every method forwards unchanged to `System` and only
// adds to counters that do not touch the memory.
// SAFETY: see `CountingAlloc`; the counters are plain atomics.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for TrackingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees for `layout` are passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(size_of(layout), 1);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(size_of(layout), 1);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation
        // goes through this wrapper); the caller's guarantees are passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(
                i64::try_from(new_size).unwrap_or(i64::MAX) - size_of(layout),
                0,
            );
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-size_of(layout), -1);
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Heap allocations per call of `op`, over `ops` calls (0 unless the binary installs
/// [`CountingAlloc`] as its global allocator).
pub fn allocs_per_op(ops: u64, mut op: impl FnMut()) -> f64 {
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    for _ in 0..ops {
        op();
    }
    COUNTING.store(false, Ordering::Relaxed);
    ALLOCATIONS.load(Ordering::Relaxed) as f64 / ops.max(1) as f64
}

/// A wall-clock stopwatch for the runners.
// A benchmark measures wall time: `std::time::Instant` is what it needs (the
// workspace disallows it only to keep the switch core clock-free).
#[allow(clippy::disallowed_types)]
pub struct Stopwatch(std::time::Instant);

#[allow(clippy::disallowed_types)] // see `Stopwatch`
impl Stopwatch {
    /// Start timing now.
    pub fn start() -> Stopwatch {
        Stopwatch(std::time::Instant::now())
    }

    /// Nanoseconds since [`start`](Self::start).
    pub fn elapsed_ns(&self) -> f64 {
        self.0.elapsed().as_nanos() as f64
    }
}

/// Nanoseconds per call of `op`, over `ops` calls.
pub fn ns_per_op(ops: u64, mut op: impl FnMut()) -> f64 {
    let start = Stopwatch::start();
    for _ in 0..ops {
        op();
    }
    start.elapsed_ns() / ops.max(1) as f64
}

/// Median, minimum and maximum of a sample (NaN for an empty one).
pub fn stats(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    };
    let min = v.first().copied().unwrap_or(f64::NAN);
    let max = v.last().copied().unwrap_or(f64::NAN);
    (median, min, max)
}

/// Round for display: `digits` decimals.
pub fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// Command line options of a comparison runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Timed repetitions; the reported figures are medians over them.
    pub reps: usize,
    /// Operations per repetition.
    pub ops: u64,
}

/// Parse `--reps N` and `--ops N` (also `--reps=N`), starting from `defaults`;
/// `Ok(None)` for `--help`. Errors end with `usage`.
pub fn parse_args(
    args: impl IntoIterator<Item = String>,
    defaults: Options,
    usage: &str,
) -> Result<Option<Options>, String> {
    let mut options = defaults;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if flag != "--reps" && flag != "--ops" {
            return Err(format!("unknown argument {flag:?}\n{usage}"));
        }
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{flag} needs a value\n{usage}"))?;
        let n: u64 = value
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{flag}: {value:?} is not a positive integer\n{usage}"))?;
        if flag == "--reps" {
            options.reps = usize::try_from(n).map_err(|e| format!("--reps: {e}"))?;
        } else {
            options.ops = n;
        }
    }
    Ok(Some(options))
}

/// Parse `--name value` (also `--name=value`) flags whose names are in `known`,
/// in order of appearance; `Ok(None)` for `--help`. Errors end with `usage`. The
/// runners with more than `--reps` and `--ops` convert the values themselves
/// ([`positive`]).
pub fn parse_named(
    args: impl IntoIterator<Item = String>,
    known: &[&str],
    usage: &str,
) -> Result<Option<Vec<(String, String)>>, String> {
    let mut out = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if !known.contains(&flag.as_str()) {
            return Err(format!("unknown argument {flag:?}\n{usage}"));
        }
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{flag} needs a value\n{usage}"))?;
        out.push((flag, value));
    }
    Ok(Some(out))
}

/// `value` of `flag` as a positive finite number.
pub fn positive<T>(flag: &str, value: &str) -> Result<T, String>
where
    T: std::str::FromStr + Copy + Into<f64>,
{
    value
        .parse::<T>()
        .ok()
        .filter(|v| {
            let x: f64 = (*v).into();
            x.is_finite() && x > 0.0
        })
        .ok_or_else(|| format!("{flag}: {value:?} is not a positive number"))
}

#[cfg(test)]
mod tests {
    use std::hint::black_box;

    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_flags() {
        let d = Options { reps: 5, ops: 200 };
        let o = parse_args(args(""), d, "usage").unwrap().unwrap();
        assert_eq!(o, d);
        let o = parse_args(args("--reps 7 --ops=1000"), d, "usage")
            .unwrap()
            .unwrap();
        assert_eq!((o.reps, o.ops), (7, 1000));
        assert!(parse_args(args("--help"), d, "usage").unwrap().is_none());
        assert!(parse_args(args("--reps"), d, "usage").is_err());
        assert!(parse_args(args("--reps 0"), d, "usage").is_err());
        assert!(parse_args(args("--ops x"), d, "usage").is_err());
        let e = parse_args(args("--fast"), d, "usage: x").unwrap_err();
        assert!(e.ends_with("usage: x"), "{e}");
    }

    #[test]
    fn parses_named_flags() {
        let known = ["--secs", "--reps"];
        let got = parse_named(args("--secs 2.5 --reps=3"), &known, "u")
            .unwrap()
            .unwrap();
        assert_eq!(
            got,
            vec![
                ("--secs".to_string(), "2.5".to_string()),
                ("--reps".to_string(), "3".to_string())
            ]
        );
        assert!(parse_named(args("-h"), &known, "u").unwrap().is_none());
        assert!(parse_named(args("--fast 1"), &known, "u").is_err());
        assert!(parse_named(args("--secs"), &known, "u").is_err());
        assert_eq!(positive::<f64>("--secs", "2.5"), Ok(2.5));
        assert_eq!(positive::<u32>("--reps", "3"), Ok(3));
        assert!(positive::<f64>("--secs", "0").is_err());
        assert!(positive::<f64>("--secs", "-1").is_err());
        assert!(positive::<f64>("--secs", "inf").is_err());
        assert!(positive::<u32>("--reps", "x").is_err());
    }

    #[test]
    fn median_min_max() {
        assert_eq!(stats(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(stats(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
        assert!(stats(&[]).0.is_nan());
        assert_eq!(round(1.23456, 2), 1.23);
    }

    #[test]
    fn without_the_tracking_allocator_no_heap_is_tracked() {
        start_tracking();
        drop(black_box(vec![1u8; 64]));
        assert_eq!(live_heap(), (0, 0));
    }

    #[test]
    fn without_the_global_allocator_nothing_is_counted() {
        // The test binary keeps the system allocator: the counter stays at zero.
        assert_eq!(allocs_per_op(10, || drop(black_box(vec![1u8; 8]))), 0.0);
    }
}
