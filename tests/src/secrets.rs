//! What must never appear in a log or an error message: full PANs (a Luhn-valid
//! run of 13 to 19 digits under the national prefix 9408, where every simulated
//! card lies), track 2 data (a PAN, a separator and the expiry) and key material
//! (a run of 32 or more hex digits: a TDES/AES key, wrapped or not). Used by the
//! whole-suite log scan (`scan-logs`, run by `scripts/test.sh`) and by tests that
//! scan their own logs.

use codecs::luhn::luhn_valid;

/// One exposure found: what kind, and where (line number), with the value
/// itself masked so the report does not repeat the leak.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// `pan`, `track2` or `key`.
    pub kind: &'static str,
    /// 1-based line number.
    pub line: usize,
    /// The first 6 and last 4 characters.
    pub masked: String,
}

fn mask(s: &str) -> String {
    if s.len() <= 10 {
        return "*".repeat(s.len());
    }
    format!("{}…{}", &s[..6], &s[s.len() - 4..])
}

/// Runs of bytes satisfying `keep`, with their start offsets.
fn runs(line: &str, keep: impl Fn(u8) -> bool) -> Vec<(usize, &str)> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if keep(bytes[i]) {
            let start = i;
            while i < bytes.len() && keep(bytes[i]) {
                i += 1;
            }
            out.push((start, &line[start..i]));
        } else {
            i += 1;
        }
    }
    out
}

/// Every exposure in `text`.
pub fn findings(text: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = |kind, value: &str| Finding {
            kind,
            line: n + 1,
            masked: mask(value),
        };
        for (start, digits) in runs(line, |b| b.is_ascii_digit()) {
            let pan_like = (13..=19).contains(&digits.len())
                && digits.starts_with("9408")
                && luhn_valid(digits.as_bytes());
            if pan_like {
                found.push(at("pan", digits));
            }
            // Track 2: PAN, '=' or 'D', then at least the expiry (YYMM).
            let rest = &line.as_bytes()[start + digits.len()..];
            let separated = matches!(rest.first(), Some(b'=') | Some(b'D'));
            let expiry = rest.len() >= 5 && rest[1..5].iter().all(u8::is_ascii_digit);
            if digits.starts_with("9408") && digits.len() >= 13 && separated && expiry {
                found.push(at("track2", digits));
            }
        }
        for (_, hex) in runs(line, |b| b.is_ascii_hexdigit()) {
            // Key material: 32+ hex digits with letters and digits both (a long
            // run of digits alone is a number, not hex).
            let letters = hex.bytes().any(|b| b.is_ascii_alphabetic());
            let digits = hex.bytes().any(|b| b.is_ascii_digit());
            if hex.len() >= 32 && letters && digits {
                found.push(at("key", hex));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_pans_track_data_and_keys_and_masks_them() {
        let text = "ok line\npan=9408010000001238 rc=00\n\
                    track 9408010000001238=29121010000\n\
                    key 0123456789ABCDEFFEDCBA9876543210 here\n";
        let f = findings(text);
        let kinds: Vec<(&str, usize)> = f.iter().map(|f| (f.kind, f.line)).collect();
        assert_eq!(
            kinds,
            vec![("pan", 2), ("pan", 3), ("track2", 3), ("key", 4)]
        );
        assert!(f.iter().all(|f| !f.masked.contains("0000001")));
    }

    #[test]
    fn ordinary_log_content_is_not_a_finding() {
        let text = "pan=940801******1238 stan=000042 at 1795000000000\n\
                    test result: ok. 51 passed; 0 failed\n\
                    pan_hash 6e6174696f6e616c2d64656d6f2d6f6e6c792d6e6f742d612d7365637265\n";
        // A masked PAN, a timestamp, counts: nothing. (A 64-hex-digit run is a
        // hash or a key: the scan cannot tell them apart, so it is reported.)
        let f = findings(text);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, "key");
        // A Luhn-valid number outside the national prefix is not a card here.
        assert!(findings("id 4111111111111111").is_empty());
    }
}
