//! The Luhn (mod 10) check digit of card numbers.

/// Whether `digits` (ASCII) is all digits and ends in a valid Luhn check digit.
pub fn luhn_valid(digits: &[u8]) -> bool {
    if digits.len() < 2 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    luhn_sum(digits, false) % 10 == 0
}

/// The check digit (ASCII) to append to `payload` (ASCII digits), or None if
/// `payload` is empty or has a non-digit.
pub fn luhn_check_digit(payload: &[u8]) -> Option<u8> {
    if payload.is_empty() || !payload.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum = luhn_sum(payload, true);
    Some(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// Luhn sum from the right; `double_first` doubles the rightmost digit (used when
/// the check digit is not yet present).
fn luhn_sum(digits: &[u8], double_first: bool) -> u32 {
    digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &c)| {
            let d = u32::from(c - b'0');
            if (i % 2 == 0) == double_first {
                let dd = d * 2;
                if dd > 9 {
                    dd - 9
                } else {
                    dd
                }
            } else {
                d
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_numbers() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(luhn_valid(b"79927398713"));
        assert!(!luhn_valid(b"79927398710"));
        assert!(!luhn_valid(b"4111-1111"));
        assert!(!luhn_valid(b""));
        assert_eq!(luhn_check_digit(b"7992739871"), Some(b'3'));
        assert_eq!(luhn_check_digit(b"411111111111111"), Some(b'1'));
        assert_eq!(luhn_check_digit(b"12a"), None);
    }

    #[test]
    fn check_digit_makes_valid() {
        for p in ["940800000000001", "94080012345678", "1"] {
            let mut v = p.as_bytes().to_vec();
            v.push(luhn_check_digit(p.as_bytes()).unwrap());
            assert!(luhn_valid(&v), "{p}");
        }
    }
}
