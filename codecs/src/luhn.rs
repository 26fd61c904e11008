//! The Luhn (mod 10) check digit of card numbers.

use crate::content::all_digits;

/// Whether `digits` (ASCII) is all digits and ends in a valid Luhn check digit.
pub fn luhn_valid(digits: &[u8]) -> bool {
    if digits.len() < 2 || !all_digits(digits) {
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

/// Per digit (indexed by the low nibble of its ASCII code): its value as is, and
/// doubled with the digits of the product added (9 * 2 = 18 -> 9).
const WEIGHTED: [[u8; 16]; 2] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0],
    [0, 2, 4, 6, 8, 1, 3, 5, 7, 9, 0, 0, 0, 0, 0, 0],
];

/// Luhn sum of ASCII digits from the right; `double_first` doubles the rightmost
/// digit (used when the check digit is not yet present). Branch-free: card digits are
/// random, so a branch on the doubled value would mispredict half the time.
fn luhn_sum(digits: &[u8], double_first: bool) -> u32 {
    // Counting from the left, digit j is doubled when its parity matches this.
    let doubled_parity = (digits.len() + usize::from(double_first)) % 2;
    digits
        .iter()
        .enumerate()
        .map(|(j, &c)| {
            let doubled = usize::from(j % 2 == doubled_parity);
            u32::from(WEIGHTED[doubled][usize::from(c & 0x0F)])
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
