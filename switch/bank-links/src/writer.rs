//! A link's framed writer task: it takes what is queued for the link, a batch at
//! a time, turns each item into a frame body through a [`Sealing`] hook (where a
//! MAC link seals a whole batch's messages together), writes the frames, and
//! flushes only when the queue is momentarily empty, so a burst leaves in few
//! syscalls.

use bytes::Bytes;
use codecs::framing::{Frame, FrameCodec};
use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio_util::codec::FramedWrite;

use crate::stream::WriteHalf;

/// Most items taken from the queue per batch.
pub const WRITE_BATCH: usize = 32;

/// How queued items become frame bodies, a batch at a time.
pub trait Sealing<T> {
    /// What [`Sealing::prepare`] computes for a batch (its MACs, say).
    type Prepared;

    /// Whether a batch is worth one scheduler turn of waiting for more items
    /// (computing a batch's MACs together pays; plain frames do not wait).
    fn gathers(&self) -> bool;

    /// The work done once for the whole batch, before any item is written.
    fn prepare(&self, batch: &[T]) -> Self::Prepared;

    /// An item's frame body, in batch order; None leaves it unsent (the hook
    /// logs why, by link and error, never by content).
    fn body(&self, item: T, prepared: &mut Self::Prepared) -> Option<Bytes>;
}

/// Finished bodies: nothing to prepare.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unsealed;

impl Sealing<Bytes> for Unsealed {
    type Prepared = ();

    fn gathers(&self) -> bool {
        false
    }

    fn prepare(&self, _batch: &[Bytes]) {}

    fn body(&self, item: Bytes, _prepared: &mut ()) -> Option<Bytes> {
        Some(item)
    }
}

/// Write what is queued on `rx` until the queue closes or the peer stops
/// taking it.
pub async fn write_loop<T, S: Sealing<T>>(
    mut sink: FramedWrite<WriteHalf, FrameCodec>,
    mut rx: mpsc::Receiver<T>,
    sealing: S,
) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        // Items to seal: the tasks ready to run first (most likely sending on
        // this link too, when it carries many transactions) get their turn, so
        // that their messages are sealed with it. A writer woken by one send
        // otherwise runs before the next is queued, and every batch is one.
        if sealing.gathers() && batch.len() < WRITE_BATCH {
            tokio::task::yield_now().await;
            while batch.len() < WRITE_BATCH {
                match rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
        }
        let mut prepared = sealing.prepare(&batch);
        for item in batch.drain(..) {
            let Some(body) = sealing.body(item, &mut prepared) else {
                continue;
            };
            if sink
                .feed(Frame::Message { tpdu: None, body })
                .await
                .is_err()
            {
                return;
            }
        }
        if rx.is_empty() && sink.flush().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::stream::LinkStream;
    use codecs::framing::{LengthHeader, DEFAULT_MAX_FRAME};
    use futures_util::StreamExt;
    use tokio::net::{TcpListener, TcpStream};
    use tokio_util::codec::FramedRead;

    fn codec() -> FrameCodec {
        FrameCodec::new(LengthHeader::Binary2, false, DEFAULT_MAX_FRAME)
    }

    /// A hook that drops odd items and numbers the rest by their batch's size.
    struct EvenOnly;

    impl Sealing<u8> for EvenOnly {
        type Prepared = usize;

        fn gathers(&self) -> bool {
            true
        }

        fn prepare(&self, batch: &[u8]) -> usize {
            batch.len()
        }

        fn body(&self, item: u8, batch_len: &mut usize) -> Option<Bytes> {
            (item % 2 == 0).then(|| Bytes::from(vec![item, *batch_len as u8]))
        }
    }

    /// Everything queued before the queue closes is written, in order, through
    /// the hook (what it leaves out is not sent), and flushed.
    #[tokio::test]
    async fn queued_items_go_out_in_order_through_the_hook() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (dialed, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (_r, w) = LinkStream::Plain(dialed.unwrap()).split();
        let (tx, rx) = mpsc::channel(16);
        for item in 0..6u8 {
            tx.send(item).await.unwrap();
        }
        drop(tx);
        let writer = tokio::spawn(write_loop(FramedWrite::new(w, codec()), rx, EvenOnly));
        let mut reader = FramedRead::new(accepted.unwrap().0, codec());
        let mut got = Vec::new();
        while let Some(frame) =
            tokio::time::timeout(std::time::Duration::from_secs(5), reader.next())
                .await
                .expect("frames within 5 s")
        {
            match frame.unwrap() {
                Frame::Message { body, .. } => got.push(body.to_vec()),
                Frame::KeepAlive => {}
            }
        }
        writer.await.unwrap();
        // One batch of six (all queued before the writer ran), odd ones left out.
        assert_eq!(got, [vec![0, 6], vec![2, 6], vec![4, 6]]);
    }
}
