//! Business days: a transaction belongs to the day its time falls in, counted from
//! the configured cutover (e.g. with a 22:00 cutover, 22:30 on the 4th belongs to
//! the 5th). A cutover on request (0800 with field 70 = 201, or `switch cutover`)
//! starts the next business day at once; the day in force is kept in the database.

/// Days since 1970-01-01 of the business day at `unix_ms`, by the schedule alone.
pub fn scheduled_day(unix_ms: i64, cutover_secs: u32) -> i64 {
    let shift = (86_400 - i64::from(cutover_secs)) % 86_400;
    (unix_ms.div_euclid(1000) + shift).div_euclid(86_400)
}

/// Unix time (ms) at which business day `day` begins by the schedule: its
/// cutover, on the calendar day before when the cutover is not midnight.
pub fn scheduled_start_ms(day: i64, cutover_secs: u32) -> i64 {
    let shift = (86_400 - i64::from(cutover_secs)) % 86_400;
    (day * 86_400 - shift) * 1000
}

/// A day number as the number `YYYYMMDD` (the `switch_business_day` gauge).
pub fn day_as_number(day: i64) -> i64 {
    let (y, m, d) = codecs::datetime::civil_from_days(day);
    y * 10_000 + i64::from(m) * 100 + i64::from(d)
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = codecs::datetime::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day number of `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> Option<i64> {
    let mut parts = text.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let day = codecs::datetime::days_from_civil(y, m, d);
    // Reject dates that do not exist (31 February).
    (codecs::datetime::civil_from_days(day) == (y, m, d)).then_some(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutover_moves_late_transactions_to_the_next_day() {
        let day = parse_day("2026-11-25").unwrap();
        let at = |h: i64, m: i64| (day * 86_400 + h * 3600 + m * 60) * 1000;
        assert_eq!(scheduled_day(at(21, 59), 22 * 3600), day);
        assert_eq!(scheduled_day(at(22, 0), 22 * 3600), day + 1);
        assert_eq!(scheduled_day(at(0, 0), 0), day);
        assert_eq!(scheduled_day(at(23, 59), 0), day);
        assert_eq!(format_day(day), "2026-11-25");
        assert_eq!(parse_day("2026-02-31"), None);
        assert_eq!(parse_day("2026-13-01"), None);
    }

    #[test]
    fn a_day_starts_at_its_cutover_the_evening_before() {
        let day = parse_day("2026-11-25").unwrap();
        let start = scheduled_start_ms(day, 22 * 3600);
        assert_eq!(start, ((day - 1) * 86_400 + 22 * 3600) * 1000);
        assert_eq!(scheduled_day(start, 22 * 3600), day);
        assert_eq!(scheduled_day(start - 1, 22 * 3600), day - 1);
        assert_eq!(scheduled_start_ms(day, 0), day * 86_400_000);
        assert_eq!(day_as_number(day), 20_261_125);
    }
}
