//! One connection: register it with the core, read frames and feed them in,
//! write what the core sends through a batching writer, and close it when the
//! peer goes, stalls mid-frame, breaks framing, or the core asks.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use codecs::framing::{Frame, FrameCodec, FramingError};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::runtime::{reads_while_draining, LinkHandle, Shared};
use crate::config::LinkConfig;

/// Frames queued for one connection's writer before senders wait.
const WRITE_QUEUE: usize = 8192;

/// Serve one connected stream until it ends.
pub(crate) async fn serve(shared: Arc<Shared>, config: Arc<LinkConfig>, stream: TcpStream) {
    let peer = stream.peer_addr().ok();
    let _ = stream.set_nodelay(true);
    let id = shared.next_link.fetch_add(1, Ordering::Relaxed);
    let codec = || FrameCodec::new(config.framing, false, shared.config.max_frame);
    let (r, w) = stream.into_split();
    let mut reader = FramedRead::new(r, codec());
    let (frames, rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    let writer = tokio::spawn(write_loop(FramedWrite::new(w, codec()), rx));
    let close = Arc::new(Notify::new());
    shared.links.insert(
        id,
        LinkHandle {
            spec: config.spec.clone(),
            frames,
            close: close.clone(),
        },
    );
    tracing::info!(link = id, name = %config.name, ?peer, role = ?config.role, "link up");
    let actions = shared.core.on_link_up(shared.now(), id, config.clone());
    shared.execute(actions).await;

    let read_timeout = shared.config.read_timeout;
    let mut stop = shared.stop.subscribe();
    let why = loop {
        if *stop.borrow() && !reads_while_draining(config.role) {
            // Draining: no new requests from acquirers; keep the writer for answers.
            close.notified().await;
            break "shutdown";
        }
        let next = tokio::select! {
            r = tokio::time::timeout(read_timeout, reader.next()) => r,
            _ = close.notified() => break "closed by the switch",
            _ = stop.changed() => continue,
        };
        match next {
            Err(_) if reader.read_buffer().is_empty() => continue, // idle is fine
            Err(_) => break "peer stalled mid-frame",
            Ok(None) => break "peer closed",
            Ok(Some(Err(FramingError::Io(e)))) => {
                tracing::info!(link = id, error = %e, "read error");
                break "read error";
            }
            Ok(Some(Err(e))) => {
                tracing::warn!(link = id, name = %config.name, error = %e, "framing error; closing this connection");
                metrics::counter!("switch_framing_errors_total", "link" => config.name.clone())
                    .increment(1);
                break "framing error";
            }
            Ok(Some(Ok(Frame::KeepAlive))) => continue,
            Ok(Some(Ok(Frame::Message { body, .. }))) => on_frame(&shared, id, &config, body).await,
        }
    };
    tracing::info!(link = id, name = %config.name, why, "link down");
    shared.links.remove(&id);
    let actions = shared.core.on_link_down(shared.now(), id);
    shared.execute(actions).await;
    writer.abort();
}

async fn on_frame(shared: &Arc<Shared>, id: u32, config: &LinkConfig, body: Bytes) {
    let now = shared.now();
    let arrived = tokio::time::Instant::now();
    match config.spec.decode(body.clone()) {
        Ok(msg) => {
            let actions = shared.core.on_message(now, id, msg);
            shared.execute(actions).await;
            // Time the switch itself adds on this hop: decode, decide, encode, queue.
            let added = arrived.elapsed();
            metrics::histogram!("switch_added_latency_seconds", "side" => crate::core::role_name(config.role))
                .record(added.as_secs_f64());
            if let Ok(mut h) = shared.added_latency.lock() {
                let _ = h.record(added.as_micros().max(1) as u64);
            }
        }
        Err(e) => {
            // The error names the field and reason, never the content.
            tracing::warn!(link = id, name = %config.name, error = %e, "malformed message");
            metrics::counter!("switch_malformed_total", "link" => config.name.clone()).increment(1);
            if let Some((mti, stan)) = config.spec.peek_mti_and_stan(&body) {
                let actions = shared.core.on_malformed(now, id, mti, stan);
                shared.execute(actions).await;
            }
        }
    }
}

/// Write queued frames, flushing only when the queue is momentarily empty.
async fn write_loop(
    mut sink: FramedWrite<tokio::net::tcp::OwnedWriteHalf, FrameCodec>,
    mut rx: mpsc::Receiver<Bytes>,
) {
    while let Some(body) = rx.recv().await {
        if sink
            .feed(Frame::Message { tpdu: None, body })
            .await
            .is_err()
        {
            return;
        }
        while let Ok(body) = rx.try_recv() {
            if sink
                .feed(Frame::Message { tpdu: None, body })
                .await
                .is_err()
            {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}
