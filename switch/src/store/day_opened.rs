//! When the open business day began (`switch_business_day_opened_timestamp_seconds`,
//! which the "business day not closed" alert reads). A day opened by the
//! schedule began at its cutover; one opened by a manual cutover began when
//! that cutover happened, which the database does not keep: this process
//! knows it when the cutover was its own or when it saw the day move while
//! running (another process's `switch cutover`, another node's), and estimates
//! it otherwise.

use std::sync::Mutex;

use super::business_day::{scheduled_day, scheduled_start_ms};

/// The open day as last seen and when it began (Unix ms).
#[derive(Debug, Default)]
pub(crate) struct DayOpened(Mutex<Option<(i64, i64)>>);

impl DayOpened {
    /// When `day`, the day in force at `unix_ms`, began.
    pub(crate) fn observe(&self, day: i64, unix_ms: i64, cutover_secs: u32) -> i64 {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((d, at)) = *seen {
            if d == day {
                return at;
            }
        }
        let scheduled = scheduled_day(unix_ms, cutover_secs);
        let at = if day <= scheduled {
            // The schedule opened it (a manual cutover to it, if any, happened
            // before this process started or was overtaken by the schedule).
            scheduled_start_ms(day, cutover_secs)
        } else if seen.is_some() {
            // Ahead of the schedule and new since the last look (about a
            // second ago): a manual cutover, just now.
            unix_ms
        } else {
            // Ahead of the schedule at start: a manual cutover whose time is
            // not kept. Taken as the start of the scheduled day it cut short,
            // the earliest one cutover could have happened: the alert on an
            // old day then errs towards firing rather than staying silent.
            scheduled_start_ms(scheduled, cutover_secs)
        };
        *seen = Some((day, at));
        at
    }

    /// This process cut over to `day` at `unix_ms`.
    pub(crate) fn cut_over(&self, day: i64, unix_ms: i64) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((day, unix_ms));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::business_day::parse_day;

    const CUTOVER: u32 = 22 * 3600;

    fn at(day: i64, h: i64, m: i64) -> i64 {
        (day * 86_400 + h * 3600 + m * 60) * 1000
    }

    #[test]
    fn a_scheduled_day_began_at_its_cutover_the_evening_before() {
        let d = parse_day("2026-11-25").unwrap();
        let opened = DayOpened::default();
        // 10:00 on the 25th: the 25th, open since 22:00 on the 24th.
        assert_eq!(opened.observe(d, at(d, 10, 0), CUTOVER), at(d - 1, 22, 0));
        // 22:00:01: the schedule moved to the 26th, open since 22:00.
        assert_eq!(
            opened.observe(d + 1, at(d, 22, 0) + 1000, CUTOVER),
            at(d, 22, 0)
        );
    }

    #[test]
    fn a_manual_cutover_opens_the_day_when_it_happens_and_the_schedule_keeps_it() {
        let d = parse_day("2026-11-25").unwrap();
        let opened = DayOpened::default();
        opened.observe(d, at(d, 10, 0), CUTOVER);
        // Another process cut over at 15:00: seen a second later.
        let seen = at(d, 15, 0) + 1000;
        assert_eq!(opened.observe(d + 1, seen, CUTOVER), seen);
        // The schedule reaches the 26th at 22:00: still the day opened at 15:00.
        assert_eq!(opened.observe(d + 1, at(d + 1, 9, 0), CUTOVER), seen);
        // This process's own cutover is exact.
        opened.cut_over(d + 2, at(d + 1, 12, 0));
        assert_eq!(
            opened.observe(d + 2, at(d + 1, 12, 1), CUTOVER),
            at(d + 1, 12, 0)
        );
    }

    #[test]
    fn a_day_ahead_of_the_schedule_at_start_is_dated_from_the_day_it_cut_short() {
        let d = parse_day("2026-11-25").unwrap();
        let opened = DayOpened::default();
        assert_eq!(
            opened.observe(d + 1, at(d, 15, 0), CUTOVER),
            at(d - 1, 22, 0)
        );
    }
}
