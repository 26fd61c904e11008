//! The process's limit on open files. Every socket a listener holds, pending or
//! established, is a descriptor; the usual soft limit (1,024) is below what a
//! flood on a few listeners can take, the hard limit usually far above. The
//! soft limit is raised to the hard one once, when the first listener starts.

use std::sync::Once;

/// Raise the soft limit on open files to the hard limit, once per process; logs
/// what it did. Only on Unix; elsewhere nothing happens.
pub fn raise_once() {
    static RAISED: Once = Once::new();
    RAISED.call_once(raise);
}

#[cfg(unix)]
fn raise() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    // None is "unlimited".
    if limit.current.is_none() || limit.current == limit.maximum {
        return;
    }
    let before = limit.current;
    limit.current = limit.maximum;
    match setrlimit(Resource::Nofile, limit) {
        Ok(()) => tracing::info!(from = ?before, to = ?limit.maximum, "open-file limit raised"),
        Err(e) => tracing::warn!(limit = ?before, error = %e, "open-file limit not raised"),
    }
}

#[cfg(not(unix))]
fn raise() {}
