//! Commits fenced by epoch (cluster mode): every batch's transaction first
//! checks that this node still holds its lease under the epoch it registered
//! with. A node that wakes from a pause, or whose network to the database
//! heals, after another node took it over must not commit its held batch: the
//! survivor has reversed its forwarded rows, and the answers held for that
//! batch ("approved") would contradict the reversals. So the transaction is
//! rolled back, the node that took over is named in the log, and the process
//! stops (exit 3, as when a renewal finds the lease lost) without releasing
//! anything held for that batch.
//!
//! The check is part of the batch's statement ([`super::batch::FENCED`]),
//! sent in one go with the rest of the batch (one round trip): it cannot
//! answer "no" to the writer in time, so it fails the statement itself (by
//! `switch_refuse_commit`, a function of schema version 4), and with it the
//! transaction (the statement's own, or the batch's, whose COMMIT then rolls
//! back).
//!
//! The check takes `FOR KEY SHARE` on the node's row: it conflicts with a
//! take-over's `FOR UPDATE` (a take-over skips a node mid-commit and takes it
//! on its next pass; a commit that starts during a take-over waits for it and
//! then sees the epoch moved), but not with the renewal's update of the lease
//! columns, so a slow commit never delays this node's own renewal.

use std::sync::Mutex;

use tokio_postgres::GenericClient;

/// The error `switch_refuse_commit` raises when the node is fenced off (a class of
/// our own: no PostgreSQL error is in it).
pub const FENCED_SQLSTATE: &str = "SW001";

/// Whether `e` is the fence's refusal (not a failure of the database).
pub fn is_fenced(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|db| db.code().code() == FENCED_SQLSTATE)
}

/// What happens once the writer finds its node fenced off: the process exits
/// (3) unless a test installed a hook, which is given the node that took over.
pub type FencedHook = Box<dyn Fn(&str) + Send + Sync>;

/// The exit code of a node fenced off (the lease loop's, when it finds the
/// lease lost: a supervisor starts it again under a new epoch).
pub const FENCED_EXIT: i32 = crate::cluster::LEASE_LOST_EXIT;

/// The hook, shared by the store and its writer.
#[derive(Default)]
pub struct Fence {
    hook: Mutex<Option<FencedHook>>,
}

impl Fence {
    /// Call `hook` instead of exiting (tests).
    pub fn set_hook(&self, hook: FencedHook) {
        *self.hook.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// This node (`node`) was fenced off, by `taken_by`: logged, then the hook,
    /// or the process stops.
    pub fn fenced(&self, node: &str, epoch: i64, taken_by: &str, records: usize) {
        tracing::error!(
            %node,
            epoch,
            %taken_by,
            records,
            "cluster lease lost: a commit found this node taken over; its batch is rolled back \
             and nothing held for it is released; stopping"
        );
        match self.hook.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(hook) => hook(taken_by),
            None => std::process::exit(FENCED_EXIT),
        }
    }
}

/// Who holds `node`'s obligations now (for the log): the node that took it
/// over, or what its row says when nobody did (a newer start of the node).
pub async fn taken_by(client: &impl GenericClient, node: &str) -> String {
    let row = client
        .query_opt(
            "SELECT coalesce(taken_by, ''), state, epoch FROM nodes WHERE name = $1",
            &[&node],
        )
        .await;
    match row {
        Ok(Some(row)) => {
            let (by, state, epoch): (String, String, i64) = (row.get(0), row.get(1), row.get(2));
            if by.is_empty() {
                format!("(none: the node's row is {state} at epoch {epoch})")
            } else {
                by
            }
        }
        Ok(None) => "(none: the node's row is gone)".to_string(),
        Err(e) => format!("(unknown: {})", super::connection::describe(&e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_raises_the_code_the_writer_looks_for() {
        let code = format!("ERRCODE = '{}'", super::FENCED_SQLSTATE);
        assert!(super::super::schema::V4.contains(&code));
    }
}
