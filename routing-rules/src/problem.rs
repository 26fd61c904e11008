//! Load problems: each names the file, the entry and what is wrong.

use std::fmt;
use std::path::Path;

/// One problem found while loading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// The entry, e.g. `bank 940001` or `rule capital-only`.
    pub entry: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem in `file` at `entry`.
    pub fn new(
        file: impl AsRef<Path>,
        entry: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            file: file.as_ref().display().to_string(),
            entry: entry.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entry.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.entry, self.message)
        }
    }
}

/// Errors and warnings collected during a load.
#[derive(Clone, Debug, Default)]
pub struct Problems {
    /// Problems that make the configuration unusable.
    pub errors: Vec<Problem>,
    /// Suspicious but usable (e.g. a rule shadowed by an earlier one).
    pub warnings: Vec<Problem>,
}

impl Problems {
    /// Record an error.
    pub fn error(&mut self, p: Problem) {
        self.errors.push(p);
    }

    /// Record a warning.
    pub fn warning(&mut self, p: Problem) {
        self.warnings.push(p);
    }
}

/// Loading failed: every error found, and the warnings.
#[derive(Debug, thiserror::Error)]
#[error("{} error(s) in the routing configuration; first: {}", .0.errors.len(), .0.errors.first().map(|p| p.to_string()).unwrap_or_default())]
pub struct LoadError(pub Problems);
