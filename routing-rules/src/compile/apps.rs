//! Validation of the app channel's entities: `[[app]]` (unique id and requestor id,
//! banks that exist and issue cards) and `[[token_range]]` (prefix digits, low <=
//! high, one length, no overlap with any `[[bin]]`).

use std::collections::HashMap;
use std::ops::RangeInclusive;

use super::Names;
use crate::apps::{is_app_id, App};
use crate::bins::{BinRange, MAX_PREFIX, MIN_PREFIX};
use crate::file::SourceFile;
use crate::model::Bank;
use crate::problem::{Problem, Problems};
use crate::tokens::TokenRange;

/// Digits of an EMV token requestor id.
const REQUESTOR_ID_DIGITS: usize = 11;

/// The apps of every file, and their ids for rule references.
pub(super) fn compile_apps<'a>(
    sources: &'a [SourceFile],
    bank_names: &Names<'_>,
    banks: &[Bank],
    p: &mut Problems,
) -> (Vec<App>, Names<'a>) {
    let mut names = Names::new("app");
    let mut apps = Vec::new();
    // Requestor id -> the app that has it, to name both in a duplicate.
    let mut requestors: HashMap<&str, &str> = HashMap::new();
    for source in sources {
        let file = source.path.as_str();
        for a in &source.config.apps {
            let entry = format!("app {}", a.id);
            let mut ok = true;
            if !is_app_id(&a.id) {
                p.error(Problem::new(
                    file,
                    &entry,
                    "id must be lowercase letters, digits and -",
                ));
                ok = false;
            }
            let rid = a.requestor_id.as_str();
            if rid.len() != REQUESTOR_ID_DIGITS || !rid.bytes().all(|b| b.is_ascii_digit()) {
                p.error(Problem::new(
                    file,
                    &entry,
                    format!("requestor_id {rid:?} must be {REQUESTOR_ID_DIGITS} digits"),
                ));
                ok = false;
            } else if let Some(other) = requestors.insert(rid, &a.id) {
                p.error(Problem::new(
                    file,
                    &entry,
                    format!("requestor_id {rid} is already app {other}'s"),
                ));
                ok = false;
            }
            let mut joined = Vec::with_capacity(a.banks.len());
            for bank in &a.banks {
                match bank_names.get(bank) {
                    Some(b) if banks[b as usize].issuer => joined.push(b),
                    Some(_) => {
                        p.error(Problem::new(
                            file,
                            &entry,
                            format!("bank {bank} does not have the issuer role"),
                        ));
                        ok = false;
                    }
                    None => {
                        p.error(Problem::new(file, &entry, format!("unknown bank {bank:?}")));
                        ok = false;
                    }
                }
            }
            joined.sort_unstable();
            joined.dedup();
            if ok && names.add(&a.id, file, p) {
                apps.push(App {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    requestor_id: a.requestor_id.clone(),
                    banks: joined,
                });
            }
        }
    }
    (apps, names)
}

/// The token ranges of every file. `bins` are the valid BIN ranges with their file
/// and entry, to name the one a token range overlaps.
pub(super) fn compile_token_ranges(
    sources: &[SourceFile],
    bins: &[(BinRange, &str, String)],
    p: &mut Problems,
) -> Vec<TokenRange> {
    let mut ranges = Vec::new();
    for source in sources {
        let file = source.path.as_str();
        for t in &source.config.token_ranges {
            let entry = format!("token_range {}-{}", t.low, t.high);
            let Some(range) = prefix_range(&t.low, &t.high, file, &entry, p) else {
                continue;
            };
            let range = TokenRange {
                low: range.0,
                high: range.1,
                len: range.2,
            };
            let (lo, hi) = range.span();
            let mut overlaps = false;
            for (bin, bin_file, bin_entry) in bins {
                let (blo, bhi) = bin.span();
                if blo <= hi && lo <= bhi {
                    p.error(Problem::new(
                        file,
                        &entry,
                        format!(
                            "overlaps {bin_entry} ({bin_file}): tokens must not look like cards"
                        ),
                    ));
                    overlaps = true;
                }
            }
            if !overlaps {
                ranges.push(range);
            }
        }
    }
    ranges
}

/// `low` and `high` as prefix numbers and their length, if both are 6-11 digits of
/// one length and `low <= high`; otherwise the problem is reported. Shared by
/// `[[bin]]` and `[[token_range]]`.
pub(super) fn prefix_range(
    low: &str,
    high: &str,
    file: &str,
    entry: &str,
    p: &mut Problems,
) -> Option<(u64, u64, u8)> {
    digit_range(low, high, MIN_PREFIX..=MAX_PREFIX, file, entry, p)
}

/// `low` and `high` as numbers and their length, if both are digits of one length
/// within `lengths` and `low <= high`; otherwise the problem is reported.
pub(super) fn digit_range(
    low: &str,
    high: &str,
    lengths: RangeInclusive<usize>,
    file: &str,
    entry: &str,
    p: &mut Problems,
) -> Option<(u64, u64, u8)> {
    let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    let len = low.len();
    if !lengths.contains(&len) || !digits(low) || !digits(high) {
        p.error(Problem::new(
            file,
            entry,
            format!(
                "low and high must be {}-{} digits",
                lengths.start(),
                lengths.end()
            ),
        ));
        return None;
    }
    if high.len() != len {
        p.error(Problem::new(
            file,
            entry,
            "low and high must have the same length",
        ));
        return None;
    }
    let (Ok(lo), Ok(hi)) = (low.parse::<u64>(), high.parse::<u64>()) else {
        return None;
    };
    if lo > hi {
        p.error(Problem::new(file, entry, "low > high"));
        return None;
    }
    Some((lo, hi, len as u8))
}
