//! A cluster node's view of the other nodes' stand-in: their approvals of the
//! business day (a card's cumulative limits are the card's, wherever it was
//! approved) and the negative-file updates any node received (0302). Read
//! about once a second by the runtime (`net::stand_in_poll`), as the writer
//! reads the business day, on a connection of its own: a slow read never
//! delays a commit, nor a commit the read.
//!
//! Each read is whole (the day's approvals of the other nodes, summed per card
//! in the database; every update kept), so nothing is missed or counted twice
//! whatever order the other nodes' commits land in. Its cost is one indexed
//! read of the day's stand-in rows (`journal_stand_in`) and of the small
//! `negative_file` table: stand-in approvals are the exception (an issuer's
//! outage), updates a few a day.

use super::connection::LazyClient;
use super::recover::{negative_updates, usage_of_day, Rows};
use crate::config::PostgresConfig;
use crate::store::stand_in::Elsewhere;

/// Reads the other nodes' stand-in state.
pub struct StandInPoll {
    node: String,
    client: LazyClient,
}

impl StandInPoll {
    /// For node `node`, on the database of `config` (connects at first use).
    pub fn new(config: PostgresConfig, node: String) -> Self {
        StandInPoll {
            node,
            client: LazyClient::new(config),
        }
    }

    /// The other nodes' approvals of `day` and every update; a failure drops
    /// the connection, opened again next time. The caller bounds the wait.
    pub async fn read(&self, day: i64) -> Result<Elsewhere, String> {
        let mut slot = self.client.connected().await?;
        let Some(client) = slot.as_ref() else {
            return Err("no connection".to_string());
        };
        let read = async {
            let usage = usage_of_day(client, day, Rows::Besides(&self.node)).await?;
            let negative = negative_updates(client).await?;
            Ok::<_, tokio_postgres::Error>(Elsewhere { usage, negative })
        };
        match read.await {
            Ok(read) => Ok(read),
            Err(e) => {
                *slot = None;
                Err(super::connection::describe(&e))
            }
        }
    }
}
