//! Outbound links: connect, serve until the connection ends, and reconnect with
//! exponential backoff (100 ms doubling to 5 s) until the switch stops.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use super::connection::serve;
use super::runtime::Shared;
use crate::config::LinkConfig;

pub(crate) async fn dial_loop(shared: Arc<Shared>, link: Arc<LinkConfig>) {
    let mut stop = shared.stop.subscribe();
    let mut delay = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            return;
        }
        let connected = tokio::select! {
            c = TcpStream::connect(link.address) => c,
            _ = stop.changed() => return,
        };
        match connected {
            Ok(stream) => {
                delay = Duration::from_millis(100);
                serve(shared.clone(), link.clone(), stream).await;
            }
            Err(e) => {
                tracing::debug!(link = %link.name, address = %link.address, error = %e, ?delay, "connect failed; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
