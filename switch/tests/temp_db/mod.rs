//! A fresh database path per test, in a folder of its own under the system's
//! temporary folder (the store's tests and the vault's).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh database path in a folder of its own under the system's temporary
/// folder, removed (with whatever the test left in it) when this is dropped.
pub struct TempDb(PathBuf);

impl std::ops::Deref for TempDb {
    type Target = PathBuf;

    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempDb {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub fn temp_db(name: &str) -> TempDb {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "switch-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    TempDb(dir.join("journal.db"))
}
