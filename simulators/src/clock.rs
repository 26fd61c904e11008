//! Wall-clock date and time fields (7, 12, 13) for messages the simulators send.

use std::time::{SystemTime, UNIX_EPOCH};

pub use codecs::datetime::DateTimeFields;

/// The fields for `t` (UTC).
pub fn fields_at(t: SystemTime) -> DateTimeFields {
    codecs::datetime::fields_at_unix(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// The fields for now.
pub fn now_fields() -> DateTimeFields {
    fields_at(SystemTime::now())
}
