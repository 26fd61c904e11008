//! Date and time fields (7 transmission date-time, 12 local time, 13 local date)
//! computed from a Unix time, in UTC, without a calendar crate. Callers pass the
//! time in; nothing here reads a clock.

/// Field values for one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTimeFields {
    /// Field 7: MMDDhhmmss.
    pub transmission: [u8; 10],
    /// Field 12: hhmmss.
    pub local_time: [u8; 6],
    /// Field 13: MMDD.
    pub local_date: [u8; 4],
    /// YYMM, to compare with card expiry dates.
    pub year_month: [u8; 4],
}

/// Civil date (year, month, day) from days since 1970-01-01 (Howard Hinnant's
/// well-known algorithm, written out here).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a civil date (the inverse of [`civil_from_days`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [b'0'; N];
    out.copy_from_slice(&text.as_bytes()[..N]);
    out
}

/// YYMM (UTC) `secs` seconds after 1970-01-01, by arithmetic alone (no
/// formatting: card and token expiry checks read it per transaction).
pub fn year_month_at_unix(secs: u64) -> [u8; 4] {
    let (year, month, _) = civil_from_days((secs / 86_400) as i64);
    let (yy, mm) = (year.rem_euclid(100) as u8, month as u8);
    [
        b'0' + yy / 10,
        b'0' + yy % 10,
        b'0' + mm / 10,
        b'0' + mm % 10,
    ]
}

/// The fields for `secs` seconds after 1970-01-01 00:00:00 UTC.
pub fn fields_at_unix(secs: u64) -> DateTimeFields {
    let year_month = year_month_at_unix(secs);
    let secs = secs as i64;
    let (_, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let (hh, mm, ss) = (s / 3600, s / 60 % 60, s % 60);
    DateTimeFields {
        transmission: digits(&format!("{m:02}{d:02}{hh:02}{mm:02}{ss:02}")),
        local_time: digits(&format!("{hh:02}{mm:02}{ss:02}")),
        local_date: digits(&format!("{m:02}{d:02}")),
        year_month,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_year_month_counts_across_a_years_end() {
        assert_eq!(&year_month_at_unix(1_795_602_600), b"2611"); // 2026-11-25
        assert_eq!(&year_month_at_unix(1_798_761_599), b"2612"); // 2026-12-31 23:59:59
        assert_eq!(&year_month_at_unix(1_798_761_600), b"2701"); // 2027-01-01
        assert_eq!(&year_month_at_unix(946_684_800), b"0001"); // 2000-01-01
    }

    #[test]
    fn known_instants() {
        // 2026-11-25 10:30:00 UTC
        let f = fields_at_unix(1_795_602_600);
        assert_eq!(&f.transmission, b"1125103000");
        assert_eq!(&f.local_date, b"1125");
        assert_eq!(&f.year_month, b"2611");
        // 2024-02-29 23:59:59 UTC
        let f = fields_at_unix(1_709_251_199);
        assert_eq!(&f.transmission, b"0229235959");
        assert_eq!(&f.year_month, b"2402");
    }
}
