//! A link's writing side driven by the task that reads it (the bank
//! simulators' hosts): frames are encoded into a buffer as answers are made and
//! written out when the task has nothing left to read, so the answers to all the
//! frames one read brought leave in one write, with no hand-over to another task
//! per frame. The switch's links use a writer task instead ([`crate::writer`]).

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use codecs::framing::{Frame, FrameCodec, FramingError};
use tokio::io::AsyncWrite;
use tokio_util::codec::Encoder;

use crate::stream::WriteHalf;

/// Bytes an [`Outbound`] holds before [`Outbound::has_room`] turns false (its
/// owner then stops adding frames and reading until the peer takes some).
pub const WRITE_HIGH_WATER: usize = 256 * 1024;

/// The writing side of a link, driven by the task that reads it: frames are
/// encoded into a buffer ([`Outbound::push`]) and written out by
/// [`Outbound::write_some`], which the task awaits (in a `select!` after its
/// reader) whenever [`Outbound::busy`]; so the answers to all the frames one read
/// brought go out in one write, with no other task woken per frame.
pub struct Outbound {
    io: WriteHalf,
    codec: FrameCodec,
    buf: BytesMut,
    /// Written but not yet flushed (TLS keeps records until flushed).
    unflushed: bool,
}

impl Outbound {
    /// A writer over `io` framing with `codec`.
    pub fn new(io: WriteHalf, codec: FrameCodec) -> Outbound {
        Outbound {
            io,
            codec,
            buf: BytesMut::with_capacity(8 * 1024),
            unflushed: false,
        }
    }

    /// Queue a frame body (encoded at once, written by [`Outbound::write_some`]).
    pub fn push(&mut self, body: Bytes) -> Result<(), FramingError> {
        self.codec
            .encode(Frame::Message { tpdu: None, body }, &mut self.buf)
    }

    /// Whether more frames may be queued (below [`WRITE_HIGH_WATER`]).
    pub fn has_room(&self) -> bool {
        self.buf.len() < WRITE_HIGH_WATER
    }

    /// Whether anything waits to be written or flushed.
    pub fn busy(&self) -> bool {
        !self.buf.is_empty() || self.unflushed
    }

    fn poll_write_some(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.buf.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.buf))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.buf.advance(n);
            self.unflushed = true;
            if !self.buf.is_empty() {
                return Poll::Ready(Ok(()));
            }
        }
        if self.unflushed {
            ready!(Pin::new(&mut self.io).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Write what the socket takes now (waiting until it takes something), and
    /// flush once the buffer is empty. Cancel safe: nothing is lost when dropped.
    pub async fn write_some(&mut self) -> std::io::Result<()> {
        std::future::poll_fn(|cx| self.poll_write_some(cx)).await
    }

    /// Write and flush everything queued.
    pub async fn write_all(&mut self) -> std::io::Result<()> {
        while self.busy() {
            self.write_some().await?;
        }
        Ok(())
    }
}
