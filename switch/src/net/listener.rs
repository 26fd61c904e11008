//! Accept loops: a permit is taken before each accept, so a listener never holds
//! more than its link's `max_connections`; over the bound, new peers wait in the
//! kernel's backlog instead of consuming the switch's memory.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::connection::serve;
use super::runtime::Shared;
use crate::config::LinkConfig;

pub(crate) async fn accept_loop(shared: Arc<Shared>, link: Arc<LinkConfig>, listener: TcpListener) {
    let permits = Arc::new(Semaphore::new(link.max_connections));
    let mut stop = shared.stop.subscribe();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                let (shared, link) = (shared.clone(), link.clone());
                tokio::spawn(async move {
                    serve(shared, link, stream).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!(link = %link.name, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
