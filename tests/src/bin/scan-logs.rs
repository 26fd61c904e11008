//! `scan-logs DIR|FILE...`: scan every file given (and every file under each
//! folder given) for full PANs, track data and key material
//! ([`tests::secrets::findings`]); print each finding masked and exit 1 if there
//! is any. `scripts/test.sh` runs it over the logs of the whole test suite.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for entry in entries {
            files(&entry, out);
        }
    } else {
        out.push(path.to_path_buf());
    }
}

fn main() -> ExitCode {
    let mut all = Vec::new();
    for arg in std::env::args_os().skip(1) {
        files(Path::new(&arg), &mut all);
    }
    if all.is_empty() {
        eprintln!("usage: scan-logs DIR|FILE...");
        return ExitCode::from(2);
    }
    let (mut bytes, mut found) = (0usize, 0usize);
    for file in &all {
        let Ok(raw) = std::fs::read(file) else {
            eprintln!("scan-logs: cannot read {}", file.display());
            return ExitCode::from(2);
        };
        bytes += raw.len();
        for f in tests::secrets::findings(&String::from_utf8_lossy(&raw)) {
            found += 1;
            println!("{}:{}: {} {}", file.display(), f.line, f.kind, f.masked);
        }
    }
    println!(
        "scan-logs: {} files, {bytes} bytes, {found} findings",
        all.len()
    );
    if found > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
