//! One unit per key family: every duration key ends in `_ms`. Files written for
//! earlier releases used `_secs` for some; those names still load, as
//! deprecated aliases, so that an operator's file keeps working after an
//! upgrade: a warning names the file, the key and its new spelling, and giving
//! both spellings is an error (which one was meant cannot be guessed).
//!
//! The journal's `group_commit_us` stays in microseconds on purpose: its useful
//! values lie below a millisecond (a relaxed journal's window of 200 us is a
//! real setting), which `_ms` could not express.

use std::time::Duration;

use super::error::{ConfigWarning, Problems};

/// A duration key as written: its `_ms` name and value, and the value of its
/// deprecated `_secs` spelling (the same name with `_secs` for `_ms`).
#[derive(Clone, Copy)]
pub(crate) struct Millis {
    /// The key's name, ending in `_ms`.
    pub(crate) name: &'static str,
    /// `name = N` (milliseconds).
    pub(crate) ms: Option<u64>,
    /// `name_secs = N` (seconds, deprecated).
    pub(crate) secs: Option<u64>,
}

impl Millis {
    /// The duration written, or `default`; both spellings given is a problem,
    /// the old one alone a warning.
    pub(crate) fn resolve(
        self,
        default: Duration,
        problems: &mut Problems<'_>,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Duration {
        let old = self.deprecated_name();
        match (self.ms, self.secs) {
            (Some(_), Some(_)) => {
                problems.push(format!(
                    "{} and {old} are the same setting ({old} is its deprecated name): give only {}",
                    self.name, self.name
                ));
                default
            }
            (Some(ms), None) => Duration::from_millis(ms),
            (None, Some(secs)) => {
                warnings.push(problems.warning(format!(
                    "{old} is deprecated: write {} = {} (milliseconds)",
                    self.name,
                    secs.saturating_mul(1000)
                )));
                Duration::from_secs(secs)
            }
            (None, None) => default,
        }
    }

    /// `name` with `_secs` for `_ms`.
    fn deprecated_name(&self) -> String {
        format!("{}_secs", self.name.trim_end_matches("_ms"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ms: Option<u64>, secs: Option<u64>) -> Millis {
        Millis {
            name: "read_timeout_ms",
            ms,
            secs,
        }
    }

    #[test]
    fn the_new_name_and_the_old_one() {
        let default = Duration::from_secs(30);
        let mut problems = Problems::new("f.toml", "switch");
        let mut warnings = Vec::new();
        let got = key(Some(1500), None).resolve(default, &mut problems, &mut warnings);
        assert_eq!(got, Duration::from_millis(1500));
        assert!(warnings.is_empty() && problems.is_empty());
        assert_eq!(
            key(None, None).resolve(default, &mut problems, &mut warnings),
            default
        );

        let got = key(None, Some(2)).resolve(default, &mut problems, &mut warnings);
        assert_eq!(got, Duration::from_secs(2));
        assert!(problems.is_empty());
        assert_eq!(
            warnings[0].to_string(),
            "f.toml: switch: read_timeout_secs is deprecated: write read_timeout_ms = 2000 (milliseconds)"
        );
    }
}
