//! HTTP/1.1 on one accepted stream, for the switch's HTTP listeners (the token
//! APIs, the admin address): hyper with a bounded request head and header
//! count and a deadline on reading it, serving an axum router until the
//! client closes or the listener stops (then gracefully: the answer in
//! progress is finished).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// The bounds on what a client may send before it is answered.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request head (hyper's minimum is 8192): a longer one is refused.
    pub max_head: usize,
    /// Most header lines in a request.
    pub max_headers: usize,
    /// How long a request's head may take to arrive.
    pub header_timeout: Duration,
}

/// Serve `app` on `io` until the client closes, a deadline passes or `stop`
/// turns true.
pub async fn serve_connection<I>(
    io: I,
    app: Router,
    mut stop: watch::Receiver<bool>,
    limits: Limits,
) -> Result<(), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_head)
        .max_headers(limits.max_headers);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        ended = connection.as_mut() => ended,
        () = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    }
}

/// The next connection of `listener` with a permit of `limit` (taken first: at
/// the bound, connections wait in the backlog), or None once `stop` turns
/// true. A failed accept (out of descriptors and the like) is logged for
/// `what` and waited out briefly rather than spun on.
pub async fn accept_within(
    listener: &TcpListener,
    limit: &Arc<Semaphore>,
    stop: &mut watch::Receiver<bool>,
    what: &str,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => permit.ok()?,
            () = stopped(stop) => return None,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(stop) => return None,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                return Some((tcp, peer, permit));
            }
            Err(e) => {
                tracing::warn!(listener = what, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Resolves once `stop` is true or its sender is gone.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LIMITS: Limits = Limits {
        max_head: 8192,
        max_headers: 8,
        header_timeout: Duration::from_millis(300),
    };

    /// What a connection answers to `request` (the status line's code, or
    /// None when it closed without one).
    async fn answer_to(request: &[u8]) -> Option<u16> {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let app = Router::new().route("/ok", get(|| async { "fine" }));
        let (_stop, stopping) = watch::channel(false);
        let serving = tokio::spawn(serve_connection(server, app, stopping, LIMITS));
        client.write_all(request).await.unwrap();
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut out));
        read.await.expect("the connection ends").unwrap();
        let _ = serving.await;
        let text = String::from_utf8_lossy(&out);
        text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
    }

    #[tokio::test]
    async fn a_plain_get_is_served() {
        let get = b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        assert_eq!(answer_to(get).await, Some(200));
    }

    #[tokio::test]
    async fn garbage_is_a_bad_request() {
        assert_eq!(answer_to(b"HELLO THERE\r\n\r\n").await, Some(400));
    }

    #[tokio::test]
    async fn too_many_headers_are_refused() {
        let mut req = b"GET /ok HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..LIMITS.max_headers {
            req.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        req.extend_from_slice(b"Connection: close\r\n\r\n");
        assert_eq!(answer_to(&req).await, Some(431));
    }

    #[tokio::test]
    async fn an_oversized_head_is_refused() {
        let mut req = b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
        req.extend(std::iter::repeat_n(b'a', LIMITS.max_head + 1));
        req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        let answer = answer_to(&req).await;
        assert!(matches!(answer, Some(431) | None), "{answer:?}");
    }

    #[tokio::test]
    async fn a_head_that_never_ends_is_cut_off() {
        let started = tokio::time::Instant::now();
        // No blank line: the head never completes.
        let answer = answer_to(b"GET /ok HTTP/1.1\r\nHost: x\r\n").await;
        assert!(matches!(answer, Some(408) | None), "{answer:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
