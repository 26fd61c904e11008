//! The run second by second, for the HTML report's charts: answers (TPS),
//! time-outs, response codes and latency percentiles per second of the load.
//!
//! Each connection keeps its own [`Series`] (nothing shared on the hot path); the
//! run's is their merge at the end, like the other counters. Seconds are kept
//! only when asked for ([`Series::keeping`]: a run that writes an HTML report);
//! otherwise the series only follows the second in progress, for the p99 of the
//! progress line, and costs the same whatever the run's length. A second is placed
//! by when its answers arrived, counted from the start of the load. Latencies
//! are the ones the whole-run histogram records (from each request's intended
//! send time in open loop: coordinated omission corrected the same way).
//!
//! A second keeps its latencies in buckets 1 % wide (two significant digits,
//! where the whole-run histogram has three), so its p50/p90/p99 are within 1 %
//! of the exact ones, and its largest latency exactly (shown in the whole-run
//! histogram's precision, so the worst second's max is the report's max).
//! Memory: a connection holds one growing histogram for the second in progress
//! (about 12 KiB for latencies up to 0.1 s) and, per second of the run, 64 bytes
//! plus 6 bytes per response code seen and 8 bytes per latency bucket used: at
//! most 128 buckets per doubling of latency, whatever the rate (a second whose
//! latencies span 100 µs to 100 ms uses at most 1,280, 10 KiB).

use hdrhistogram::Histogram;
use serde_json::{Map, Value};

use super::stats::MAX_TRACKED_US;

/// Most seconds a series holds (a week); later events count in the last one.
const MAX_SECONDS: u64 = 7 * 24 * 3600;
/// Significant digits of a second's latency buckets (1 % wide).
const SECOND_DIGITS: u8 = 2;
/// Significant digits of the whole-run histogram ([`super::stats::latency_histogram`]).
const RUN_DIGITS: u8 = 3;

/// One second of the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Second {
    /// Requests answered in time during the second.
    pub answered: u32,
    /// Requests that timed out (or were lost with their link) during the second.
    pub timed_out: u32,
    /// Answers by response code.
    pub codes: Vec<([u8; 2], u32)>,
    /// Latencies, µs, as (highest value of the bucket, count), by value: only
    /// the non-empty buckets. Empty until the second is sealed.
    pub latency: Vec<(u32, u32)>,
    /// The largest latency, µs (exact).
    pub max_us: u64,
}

/// Per-second counters of one connection, or of the run.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Whether complete seconds are kept (else only the open one is followed).
    keep: bool,
    seconds: Vec<Second>,
    /// The second whose latencies `current` holds, if any.
    open: Option<usize>,
    /// Latencies of the open second; dense while it fills, sparse once sealed.
    /// Made at the first answer (None also if it could not be: latencies
    /// then go uncounted in the series, never in the run's histogram).
    current: Option<Histogram<u64>>,
    /// p99 of the last sealed second, µs (for the progress line).
    last_p99: u64,
}

/// An empty histogram of `digits` significant digits that grows to the largest
/// value recorded (a fixed one up to an hour would not: 180 KiB at three
/// digits). None only if hdrhistogram refused the digits, which it accepts.
fn growing_histogram(digits: u8) -> Option<Histogram<u64>> {
    Histogram::new(digits).ok()
}

/// Record `count` latencies of `micros` in `h` (growing it as needed).
fn record(h: &mut Histogram<u64>, micros: u64, count: u64) {
    let micros = micros.min(MAX_TRACKED_US);
    if h.record_n(micros, count).is_err() {
        h.saturating_record_n(micros, count);
    }
}

/// The non-empty buckets of `h`.
fn buckets(h: &Histogram<u64>) -> Vec<(u32, u32)> {
    h.iter_recorded()
        .map(|v| {
            (
                u32::try_from(v.value_iterated_to()).unwrap_or(u32::MAX),
                u32::try_from(v.count_at_value()).unwrap_or(u32::MAX),
            )
        })
        .collect()
}

/// `a` and `b` (each sorted by value) added into one sorted list.
fn merge_buckets(a: &[(u32, u32)], b: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        if x.0 == y.0 {
            out.push((x.0, x.1.saturating_add(y.1)));
            i += 1;
            j += 1;
        } else if x.0 < y.0 {
            out.push(x);
            i += 1;
        } else {
            out.push(y);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

fn add_code(codes: &mut Vec<([u8; 2], u32)>, rc: [u8; 2], n: u32) {
    // A handful of distinct codes: a linear scan beats hashing.
    match codes.iter_mut().find(|(c, _)| *c == rc) {
        Some((_, m)) => *m = m.saturating_add(n),
        None => codes.push((rc, n)),
    }
}

impl Series {
    /// A series that keeps every second (for the HTML report).
    pub fn keeping() -> Series {
        Series {
            keep: true,
            ..Series::default()
        }
    }

    /// Whether it keeps every second.
    pub fn keeps(&self) -> bool {
        self.keep
    }

    /// The slot of `second`: never before the open one (a connection's events
    /// come in time order; this keeps counts and latencies in one slot if not).
    fn slot(&self, second: u64) -> usize {
        let capped = usize::try_from(second.min(MAX_SECONDS - 1)).unwrap_or(0);
        capped.max(self.open.unwrap_or(0))
    }

    /// Where second `i` is kept (None when seconds are not kept).
    fn stored(&mut self, i: usize) -> Option<&mut Second> {
        if !self.keep {
            return None;
        }
        if self.seconds.len() <= i {
            self.seconds.resize_with(i + 1, Second::default);
        }
        self.seconds.get_mut(i)
    }

    /// Close the open second: its p99 for the progress line and, when kept,
    /// its latencies as buckets.
    fn seal(&mut self) {
        if let (Some(i), Some(h)) = (self.open.take(), self.current.as_mut()) {
            if let Some(s) = self.seconds.get_mut(i) {
                s.latency = buckets(h);
            }
            self.last_p99 = h.value_at_quantile(0.99);
            h.reset();
        }
    }

    /// An answer `second`s into the load, `micros` after its request (was due).
    pub fn record_answer(&mut self, second: u64, micros: u64, rc: [u8; 2]) {
        let i = self.slot(second);
        if self.open != Some(i) {
            self.seal();
            self.open = Some(i);
        }
        if let Some(s) = self.stored(i) {
            s.answered = s.answered.saturating_add(1);
            s.max_us = s.max_us.max(micros.min(MAX_TRACKED_US));
            add_code(&mut s.codes, rc, 1);
        }
        if self.current.is_none() {
            self.current = growing_histogram(SECOND_DIGITS);
        }
        if let Some(h) = self.current.as_mut() {
            record(h, micros, 1);
        }
    }

    /// `n` requests timed out `second`s into the load.
    pub fn record_timeouts(&mut self, second: u64, n: u64) {
        if n == 0 {
            return;
        }
        let i = self.slot(second);
        if let Some(s) = self.stored(i) {
            s.timed_out = s
                .timed_out
                .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        }
    }

    /// p99 of the last complete second with answers, µs (0 before the first).
    pub fn last_p99(&self) -> u64 {
        self.last_p99
    }

    /// Seconds covered (up to the last with an event).
    pub fn len(&self) -> usize {
        self.seconds.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.seconds.is_empty()
    }

    /// Second `i`, its latencies included even when it is still open.
    pub fn second(&self, i: usize) -> Option<Second> {
        let mut s = self.seconds.get(i)?.clone();
        if self.open == Some(i) {
            s.latency = self.current.as_ref().map(buckets).unwrap_or_default();
        }
        Some(s)
    }

    /// Bytes held on the heap by the sealed seconds (what grows with the run).
    pub fn heap_bytes(&self) -> usize {
        self.seconds.capacity() * std::mem::size_of::<Second>()
            + self
                .seconds
                .iter()
                .map(|s| s.codes.capacity() * 6 + s.latency.capacity() * 8)
                .sum::<usize>()
    }

    /// Add another connection's seconds to these (second by second).
    pub fn merge(&mut self, other: &Series) {
        self.seal();
        self.keep |= other.keep;
        if self.seconds.len() < other.seconds.len() {
            self.seconds
                .resize_with(other.seconds.len(), Second::default);
        }
        for i in 0..other.seconds.len() {
            let Some(theirs) = other.second(i) else {
                continue;
            };
            let mine = &mut self.seconds[i];
            mine.answered = mine.answered.saturating_add(theirs.answered);
            mine.timed_out = mine.timed_out.saturating_add(theirs.timed_out);
            mine.max_us = mine.max_us.max(theirs.max_us);
            for &(rc, n) in &theirs.codes {
                add_code(&mut mine.codes, rc, n);
            }
            if !theirs.latency.is_empty() {
                mine.latency = merge_buckets(&mine.latency, &theirs.latency);
            }
        }
    }

    /// The series as columns, one entry per second:
    ///
    /// ```json
    /// {"seconds":N,"answered":[..],"timed_out":[..],
    ///  "latency_us":{"p50":[..],"p90":[..],"p99":[..],"max":[..]},
    ///  "response_codes":{"00":[..],"51":[..]}}
    /// ```
    ///
    /// A second without answers has `null` latencies (a gap, not a zero). The
    /// max is given as the whole-run histogram gives its own (the highest value
    /// of its bucket), so that the worst second's is the report's max.
    pub fn to_json(&self) -> Value {
        let n = self.seconds.len();
        let mut answered = Vec::with_capacity(n);
        let mut timed_out = Vec::with_capacity(n);
        let mut quantiles: [Vec<Value>; 4] = Default::default();
        let mut codes: std::collections::BTreeMap<String, Vec<u32>> = Default::default();
        let mut h = growing_histogram(SECOND_DIGITS);
        // Only its bucket layout is used (for the max), never its counts.
        let run_layout = growing_histogram(RUN_DIGITS);
        for i in 0..n {
            let Some(s) = self.second(i) else { continue };
            answered.push(s.answered);
            timed_out.push(s.timed_out);
            for &(rc, count) in &s.codes {
                let column = codes
                    .entry(String::from_utf8_lossy(&rc).into_owned())
                    .or_insert_with(|| vec![0; n]);
                column[i] = count;
            }
            let values = match h.as_mut() {
                Some(h) if !s.latency.is_empty() => {
                    h.reset();
                    for &(v, count) in &s.latency {
                        record(h, u64::from(v), u64::from(count));
                    }
                    [
                        h.value_at_quantile(0.5).into(),
                        h.value_at_quantile(0.9).into(),
                        h.value_at_quantile(0.99).into(),
                        run_layout
                            .as_ref()
                            .map_or(s.max_us, |r| r.highest_equivalent(s.max_us))
                            .into(),
                    ]
                }
                _ => [Value::Null, Value::Null, Value::Null, Value::Null],
            };
            for (column, v) in quantiles.iter_mut().zip(values) {
                column.push(v);
            }
        }
        let [p50, p90, p99, max] = quantiles;
        let mut latency = Map::new();
        latency.insert("p50".into(), p50.into());
        latency.insert("p90".into(), p90.into());
        latency.insert("p99".into(), p99.into());
        latency.insert("max".into(), max.into());
        let mut m = Map::new();
        m.insert("seconds".into(), n.into());
        m.insert("answered".into(), answered.into());
        m.insert("timed_out".into(), timed_out.into());
        m.insert("latency_us".into(), Value::Object(latency));
        m.insert(
            "response_codes".into(),
            Value::Object(codes.into_iter().map(|(k, v)| (k, v.into())).collect()),
        );
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquirer::stats::latency_histogram;

    #[test]
    fn seconds_count_answers_codes_and_timeouts_where_they_happened() {
        let mut s = Series::keeping();
        s.record_answer(0, 100, *b"00");
        s.record_answer(0, 200, *b"51");
        s.record_timeouts(1, 2);
        s.record_answer(2, 1_000, *b"00");
        s.record_timeouts(2, 0); // nothing: no slot
        let v = s.to_json();
        assert_eq!(v["seconds"], 3);
        assert_eq!(v["answered"].to_string(), "[2,0,1]");
        assert_eq!(v["timed_out"].to_string(), "[0,2,0]");
        assert_eq!(v["response_codes"]["00"].to_string(), "[1,0,1]");
        assert_eq!(v["response_codes"]["51"].to_string(), "[1,0,0]");
        // A second without answers is a gap in the latency lines.
        assert_eq!(v["latency_us"]["p50"][1], Value::Null);
        assert_eq!(v["latency_us"]["max"][0], 200);
        // Buckets 1 % wide: 1,000 µs is told as its bucket's top.
        let p50 = v["latency_us"]["p50"][2].as_u64().unwrap();
        assert!((1_000..=1_010).contains(&p50), "{p50}");
        assert_eq!(v["latency_us"]["max"][2], 1_000, "the max is exact");
        assert_eq!(s.last_p99(), 200, "second 0 was sealed by second 2");
    }

    #[test]
    fn merged_seconds_give_the_percentiles_of_the_whole_run() {
        let template = latency_histogram().unwrap();
        let mut whole = template.clone();
        let mut total = Series::default();
        // Three connections, latencies spread over several seconds and decades.
        for conn in 0..3u64 {
            let mut s = Series::keeping();
            for k in 0..3_000u64 {
                let micros = (k * 7_919 + conn * 13) % 250_000 + 50;
                let second = k / 1_000;
                s.record_answer(second, micros, *b"00");
                whole.saturating_record(micros);
            }
            // The last second is still open: merge takes it anyway.
            total.merge(&s);
        }
        let mut again = growing_histogram(SECOND_DIGITS).unwrap();
        let mut answered = 0;
        for i in 0..total.len() {
            let sec = total.second(i).unwrap();
            answered += u64::from(sec.answered);
            for (v, n) in sec.latency {
                record(&mut again, u64::from(v), u64::from(n));
            }
        }
        assert_eq!(answered, whole.len());
        for q in [0.5, 0.9, 0.99, 0.999] {
            let (coarse, exact) = (again.value_at_quantile(q), whole.value_at_quantile(q));
            assert!(
                coarse.abs_diff(exact) * 100 <= exact,
                "q {q}: {coarse} vs {exact}"
            );
        }
        // The worst second's max is the run's, exactly as the report gives it.
        let v = total.to_json();
        let maxima: Vec<u64> = v["latency_us"]["max"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_u64().unwrap())
            .collect();
        assert_eq!(maxima.iter().max().copied(), Some(whole.max()));
    }

    #[test]
    fn a_second_holds_few_buckets_however_many_answers() {
        let mut s = Series::keeping();
        // 100,000 distinct latencies from 100 µs to 100 ms in one second.
        for k in 0..100_000u64 {
            s.record_answer(0, 100 + k * 999 % 99_900, *b"00");
        }
        s.record_answer(1, 1, *b"00"); // seals second 0
        let buckets = s.second(0).unwrap().latency.len();
        assert!(buckets <= 1_280, "{buckets} buckets");
        assert!(s.heap_bytes() < 16 * 1024, "{} bytes", s.heap_bytes());
    }

    #[test]
    fn a_late_event_counts_in_the_open_second_and_huge_seconds_are_capped() {
        let mut s = Series::keeping();
        s.record_answer(5, 10, *b"00");
        s.record_answer(3, 20, *b"00"); // out of order: kept with second 5
        assert_eq!(s.len(), 6);
        assert_eq!(s.second(5).unwrap().answered, 2);
        assert_eq!(s.second(5).unwrap().latency.len(), 2);
        s.record_timeouts(u64::MAX, 1);
        assert_eq!(s.len() as u64, MAX_SECONDS);
        assert!(s.heap_bytes() >= s.len() * std::mem::size_of::<Second>());
    }

    #[test]
    fn without_keeping_only_the_open_second_is_followed() {
        let mut s = Series::default();
        for second in 0..100 {
            s.record_answer(second, 50 + second, *b"00");
            s.record_timeouts(second, 1);
        }
        assert!(s.is_empty() && s.heap_bytes() == 0 && !s.keeps());
        assert_eq!(s.last_p99(), 148, "second 98's");
        let mut total = Series::default();
        total.merge(&s);
        assert!(total.is_empty());
        assert_eq!(total.to_json()["seconds"], 0);
    }

    #[test]
    fn buckets_merge_in_order() {
        assert_eq!(
            merge_buckets(&[(1, 1), (5, 2), (9, 1)], &[(2, 1), (5, 3)]),
            [(1, 1), (2, 1), (5, 5), (9, 1)]
        );
    }
}
