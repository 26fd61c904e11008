//! The original of an acquirer's reversal or advice, found in the shared
//! journal (cluster mode): another node forwarded it, so this node's index of
//! recent originals does not hold it (see `core::unknown_original`). One
//! indexed read (`journal_keys`: acquirer, field 7, field 11) per key tried, on
//! a connection of its own, only for such messages.

use super::connection::LazyClient;
use super::recover::{forwarded_row, FORWARDED_COLUMNS, FORWARDED_ROWS};
use crate::config::PostgresConfig;
use crate::core::recent::AcquirerKey;
use crate::store::ForwardedRow;

/// Looks originals up in the shared journal.
pub struct OriginalLookup {
    client: LazyClient,
}

impl OriginalLookup {
    /// On the database of `config` (connects at first use).
    pub fn new(config: PostgresConfig) -> Self {
        OriginalLookup {
            client: LazyClient::new(config),
        }
    }

    /// The most recent forwarded row with the first of `keys` (in the order
    /// given) that names one; None when none does. The caller bounds the wait
    /// (the acquirer's connection waits for it); a failure drops the connection,
    /// opened again next time.
    pub async fn find(&self, keys: &[AcquirerKey]) -> Result<Option<ForwardedRow>, String> {
        let mut slot = self.client.connected().await?;
        let Some(client) = slot.as_ref() else {
            return Err("no connection".to_string());
        };
        let sql = format!(
            "SELECT {FORWARDED_COLUMNS} FROM journal
             WHERE acquirer = $1 AND transmission = $2 AND stan = $3 AND {FORWARDED_ROWS}
             ORDER BY id DESC LIMIT 1"
        );
        for key in keys {
            let stan = format!("{:06}", key.stan);
            match client
                .query_opt(&sql, &[&key.acquirer, &key.transmission, &stan])
                .await
            {
                Ok(Some(row)) => return Ok(Some(forwarded_row(&row))),
                Ok(None) => {}
                Err(e) => {
                    *slot = None;
                    return Err(super::connection::describe(&e));
                }
            }
        }
        Ok(None)
    }
}
