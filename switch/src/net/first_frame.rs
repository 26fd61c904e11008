//! A plain-TCP socket's proof: its first complete frame (a message or a
//! keep-alive) within a deadline, its first byte within a shorter one. Until
//! then the socket holds a pending place, not one of the link's connections.
//!
//! The frames read here are handed to the connection ([`Prefix`]) with the codec
//! that read them, so nothing read is lost or read twice. Failures only count in
//! the metrics and the debug log: anyone who can reach the port can cause them.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use codecs::framing::{Frame, FrameCodec, FramingError};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::Decoder;

use super::pending::{first_byte, NoFirstByte};

/// Bytes read at a time while pending: most first frames fit in one read.
const READ_CHUNK: usize = 4096;

/// What a socket sent while pending: every complete frame in order, the codec
/// that decoded them (it may hold the header of the incomplete frame that
/// follows) and the bytes of that incomplete frame.
pub(crate) struct Prefix {
    pub(crate) codec: FrameCodec,
    pub(crate) frames: VecDeque<Frame>,
    pub(crate) rest: BytesMut,
}

/// Why a pending plain-TCP socket was closed without a frame.
#[derive(Debug)]
pub(crate) enum NoFrame {
    /// Nothing within the first-byte deadline.
    Silent,
    /// Bytes, but no complete frame within the first-frame deadline.
    TimedOut,
    /// The peer closed first.
    Closed,
    /// The bytes are not a frame (a bad or oversized length header).
    Framing(FramingError),
    /// The socket failed.
    Io(io::Error),
}

impl NoFrame {
    fn label(&self) -> &'static str {
        match self {
            NoFrame::Silent => "silent",
            NoFrame::TimedOut => "timeout",
            NoFrame::Closed => "closed",
            NoFrame::Framing(_) => "framing",
            NoFrame::Io(_) => "io",
        }
    }

    /// Count (`switch_first_frame_failures_total{link,reason}`) and log at debug.
    pub(crate) fn report(&self, link: &str, peer: SocketAddr) {
        metrics::counter!("switch_first_frame_failures_total", "link" => link.to_string(), "reason" => self.label())
            .increment(1);
        match self {
            NoFrame::Framing(e) => {
                tracing::debug!(link, %peer, error = %e, "no first frame; closed")
            }
            NoFrame::Io(e) => tracing::debug!(link, %peer, error = %e, "no first frame; closed"),
            _ => tracing::debug!(link, %peer, reason = self.label(), "no first frame; closed"),
        }
    }
}

impl From<NoFirstByte> for NoFrame {
    fn from(n: NoFirstByte) -> Self {
        match n {
            NoFirstByte::Silent => NoFrame::Silent,
            NoFirstByte::Closed => NoFrame::Closed,
            NoFirstByte::Io(e) => NoFrame::Io(e),
        }
    }
}

/// Read from `tcp` until at least one complete frame has arrived: the first
/// byte within `first_byte`, the frame within `deadline` of the call.
pub(crate) async fn first_frame(
    tcp: &mut TcpStream,
    mut codec: FrameCodec,
    first_byte_within: Duration,
    deadline: Duration,
) -> Result<Prefix, NoFrame> {
    let until = Instant::now() + deadline;
    first_byte(tcp, first_byte_within.min(deadline)).await?;
    // Allocated only once the peer has spoken: an idle socket costs no buffer.
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        if buf.len() == buf.capacity() {
            // Bounded: the codec refuses a header over the maximum frame size,
            // and a complete frame ends the wait.
            buf.reserve(READ_CHUNK);
        }
        match tokio::time::timeout_at(until, tcp.read_buf(&mut buf)).await {
            Err(_) => return Err(NoFrame::TimedOut),
            Ok(Err(e)) => return Err(NoFrame::Io(e)),
            Ok(Ok(0)) => return Err(NoFrame::Closed),
            Ok(Ok(_)) => {}
        }
        let mut frames = VecDeque::new();
        while let Some(frame) = codec.decode(&mut buf).map_err(NoFrame::Framing)? {
            frames.push_back(frame);
        }
        if !frames.is_empty() {
            return Ok(Prefix {
                codec,
                frames,
                rest: buf,
            });
        }
    }
}
