//! What a configuration problem looks like: an error names the file, the entry
//! and what is wrong (users and tests match on that shape); a warning has the
//! same shape and does not stop the load. [`Problems`] gathers one entry's.

/// A configuration problem: file, entry, message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {entry}: {message}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// The entry (e.g. `link hamhung-host`).
    pub entry: String,
    /// What is wrong.
    pub message: String,
}

/// Something the configuration should change that does not stop it loading
/// (a deprecated key name, a secret this environment cannot supply yet).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigWarning(pub ConfigError);

/// One entry's problems, gathered so that a section reports all of them at
/// once rather than the first.
pub(crate) struct Problems<'f> {
    file: &'f str,
    entry: String,
    errors: Vec<ConfigError>,
}

impl<'f> Problems<'f> {
    /// No problems yet with `entry` of `file`.
    pub(crate) fn new(file: &'f str, entry: impl Into<String>) -> Problems<'f> {
        Problems {
            file,
            entry: entry.into(),
            errors: Vec::new(),
        }
    }

    /// A problem with the entry.
    pub(crate) fn push(&mut self, message: impl Into<String>) {
        let error = self.error(message);
        self.errors.push(error);
    }

    /// An error naming this entry, not recorded.
    pub(crate) fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            entry: self.entry.clone(),
            message: message.into(),
        }
    }

    /// A warning naming this entry.
    pub(crate) fn warning(&self, message: impl Into<String>) -> ConfigWarning {
        ConfigWarning(self.error(message))
    }

    /// Whether nothing is wrong so far.
    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `value` if nothing was wrong, else every problem.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, Vec<ConfigError>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }

    /// The problems, whatever else happened.
    pub(crate) fn into_errors(self) -> Vec<ConfigError> {
        self.errors
    }
}
