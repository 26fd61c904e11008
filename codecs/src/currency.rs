//! ISO 4217 currencies: numeric code, alphabetic code and minor units.

/// One ISO 4217 currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Currency {
    /// Numeric code, as carried in fields 49-51 (e.g. 408).
    pub numeric: u16,
    /// Alphabetic code (e.g. "KPW").
    pub code: &'static str,
    /// Digits after the decimal point in amounts (fields 4-6 carry minor units).
    pub minor_units: u32,
}

const fn c(numeric: u16, code: &'static str, minor_units: u32) -> Currency {
    Currency {
        numeric,
        code,
        minor_units,
    }
}

/// The currencies the switch knows; sorted by numeric code.
pub const CURRENCIES: &[Currency] = &[
    c(36, "AUD", 2),
    c(48, "BHD", 3),
    c(124, "CAD", 2),
    c(156, "CNY", 2),
    c(344, "HKD", 2),
    c(356, "INR", 2),
    c(392, "JPY", 0),
    c(398, "KZT", 2),
    c(408, "KPW", 2),
    c(410, "KRW", 0),
    c(414, "KWD", 3),
    c(458, "MYR", 2),
    c(496, "MNT", 2),
    c(643, "RUB", 2),
    c(702, "SGD", 2),
    c(704, "VND", 0),
    c(756, "CHF", 2),
    c(764, "THB", 2),
    c(784, "AED", 2),
    c(826, "GBP", 2),
    c(840, "USD", 2),
    c(933, "BYN", 2),
    c(978, "EUR", 2),
];

/// The currency with this numeric code.
pub fn by_numeric(numeric: u16) -> Option<Currency> {
    CURRENCIES
        .binary_search_by_key(&numeric, |c| c.numeric)
        .ok()
        .map(|i| CURRENCIES[i])
}

/// The currency with this alphabetic code (case-insensitive).
pub fn by_code(code: &str) -> Option<Currency> {
    CURRENCIES
        .iter()
        .copied()
        .find(|c| c.code.eq_ignore_ascii_case(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_has_the_required_codes() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].numeric < w[1].numeric));
        for (n, code, minor) in [
            (408, "KPW", 2),
            (840, "USD", 2),
            (978, "EUR", 2),
            (156, "CNY", 2),
            (643, "RUB", 2),
            (392, "JPY", 0),
        ] {
            let cur = by_numeric(n).unwrap();
            assert_eq!((cur.code, cur.minor_units), (code, minor));
            assert_eq!(by_code(code), Some(cur));
        }
        assert_eq!(by_numeric(999), None);
    }
}
