//! Loading of `[[negative_file]]` entries: an issuer bank (one file each), a file
//! name a file update can give (field 101), and the file itself, read relative to
//! the rules file that names it, every card a 64-hex-digit SHA-256 digest and every
//! range 6-19 digits of one length, with a known reason. Problems inside the negative
//! file name that file and the card's position or the range.

use std::path::Path;

use super::apps::digit_range;
use super::Names;
use crate::file::{parse_toml, RawNegativeFile, RawNegativeList, SourceFile};
use crate::model::Bank;
use crate::negative::{HotRange, HotReason, NegativeFile};
use crate::problem::{Problem, Problems};

/// Longest file name field 101 carries (ans..17).
const MAX_NAME: usize = 17;
/// Range bounds: from a BIN (6 digits) to a whole card number (19).
const RANGE_DIGITS: std::ops::RangeInclusive<usize> = 6..=19;

/// The negative files, and for each bank the index of its file.
pub(super) fn compile_negative_files(
    sources: &[SourceFile],
    bank_names: &Names<'_>,
    banks: &[Bank],
    p: &mut Problems,
) -> (Vec<NegativeFile>, Vec<Option<u16>>) {
    let mut files: Vec<NegativeFile> = Vec::new();
    let mut by_bank: Vec<Option<u16>> = vec![None; banks.len()];
    for source in sources {
        let file = source.path.as_str();
        for raw in &source.config.negative_files {
            let entry = format!("negative_file {}", raw.issuer);
            let Some(nf) = compile_file(raw, file, &entry, bank_names, banks, p) else {
                continue;
            };
            let slot = &mut by_bank[nf.issuer as usize];
            if let Some(other) = *slot {
                p.error(Problem::new(
                    file,
                    &entry,
                    format!(
                        "a second negative file for issuer {} (the first: {})",
                        raw.issuer, files[other as usize].path
                    ),
                ));
                continue;
            }
            *slot = Some(files.len() as u16);
            files.push(nf);
        }
    }
    (files, by_bank)
}

fn compile_file(
    raw: &RawNegativeFile,
    file: &str,
    entry: &str,
    bank_names: &Names<'_>,
    banks: &[Bank],
    p: &mut Problems,
) -> Option<NegativeFile> {
    let before = p.errors.len();
    let issuer = match bank_names.get(&raw.issuer) {
        Some(b) if banks[b as usize].issuer => Some(b),
        Some(_) => {
            p.error(Problem::new(
                file,
                entry,
                format!("bank {} does not have the issuer role", raw.issuer),
            ));
            None
        }
        None => {
            p.error(Problem::new(
                file,
                entry,
                format!("unknown issuer bank {:?}", raw.issuer),
            ));
            None
        }
    };
    let name_ok =
        (1..=MAX_NAME).contains(&raw.name.len()) && raw.name.bytes().all(|b| b.is_ascii_graphic());
    if !name_ok {
        p.error(Problem::new(
            file,
            entry,
            format!(
                "name {:?} must be 1-{MAX_NAME} printable characters",
                raw.name
            ),
        ));
    }
    // Relative to the rules file that names it, so a directory of rules moves whole.
    let path = Path::new(file)
        .parent()
        .unwrap_or(Path::new(""))
        .join(&raw.path);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            p.error(Problem::new(
                file,
                entry,
                format!("cannot read negative file {}: {e}", path.display()),
            ));
            return None;
        }
    };
    let list: RawNegativeList = parse_toml(&text, &path, p)?;
    let path_text = path.display().to_string();
    let (cards, ranges) = compile_list(&list, &path_text, p);
    if p.errors.len() != before {
        return None;
    }
    let mut nf =
        NegativeFile::new(issuer?, &raw.name, raw.apply_when_up).with_entries(cards, ranges);
    nf.path = path_text;
    Some(nf)
}

/// The cards and ranges of one negative file; problems name `path`.
fn compile_list(
    list: &RawNegativeList,
    path: &str,
    p: &mut Problems,
) -> (Vec<([u8; 32], HotReason)>, Vec<HotRange>) {
    let reason = |r: &str, entry: &dyn Fn() -> String, p: &mut Problems| {
        let parsed = HotReason::from_name(r);
        if parsed.is_none() {
            p.error(Problem::new(
                path,
                entry(),
                format!("unknown reason {r:?} (expected lost, stolen or restricted)"),
            ));
        }
        parsed
    };
    let mut cards = Vec::with_capacity(list.cards.len());
    for (i, c) in list.cards.iter().enumerate() {
        let entry = || format!("card {}", i + 1);
        let digest = hex_digest(&c.sha256);
        if digest.is_none() {
            p.error(Problem::new(
                path,
                entry(),
                "sha256 must be 64 lowercase hex digits",
            ));
        }
        let why = reason(&c.reason, &entry, p);
        if let (Some(d), Some(r)) = (digest, why) {
            cards.push((d, r));
        }
    }
    let mut ranges: Vec<HotRange> = Vec::with_capacity(list.ranges.len());
    for r in &list.ranges {
        let entry = format!("range {}-{}", r.low, r.high);
        let bounds = digit_range(&r.low, &r.high, RANGE_DIGITS, path, &entry, p);
        let why = reason(&r.reason, &|| entry.clone(), p);
        if let (Some((low, high, len)), Some(reason)) = (bounds, why) {
            ranges.push(HotRange {
                low,
                high,
                len,
                reason,
            });
        }
    }
    // Ranges of one length must be disjoint: lookup finds the one that can match.
    ranges.sort_by_key(|r| (r.len, r.low));
    for w in ranges.windows(2) {
        if w[0].len == w[1].len && w[1].low <= w[0].high {
            let n = w[0].len as usize;
            p.error(Problem::new(
                path,
                format!("range {:0n$}-{:0n$}", w[1].low, w[1].high),
                format!(
                    "overlaps range {:0n$}-{:0n$} of the same length",
                    w[0].low, w[0].high
                ),
            ));
        }
    }
    (cards, ranges)
}

/// 64 lowercase hex digits as 32 bytes (uppercase is refused: one spelling per card).
fn hex_digest(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}
