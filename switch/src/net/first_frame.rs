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
/// (No `Debug`: the frames may carry card data.)
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

#[cfg(test)]
mod tests {
    use super::*;
    use codecs::framing::LengthHeader;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// A connected pair over loopback: (the switch's end, the peer's end).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (ours, _) = listener.accept().await.unwrap();
        (ours, peer)
    }

    fn codec() -> FrameCodec {
        FrameCodec::new(LengthHeader::Binary2, false, 1024)
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[tokio::test]
    async fn frames_read_early_are_kept_with_the_rest_and_the_codec() {
        let (mut ours, mut peer) = pair().await;
        // Two frames and the header and first bytes of a third, in one write.
        peer.write_all(b"\x00\x02ab\x00\x00\x00\x05cd")
            .await
            .unwrap();
        let mut prefix = first_frame(&mut ours, codec(), MS(500), MS(2000))
            .await
            .unwrap();
        let bodies: Vec<_> = prefix.frames.iter().cloned().collect();
        assert_eq!(
            bodies,
            [
                Frame::Message {
                    tpdu: None,
                    body: "ab".into()
                },
                Frame::KeepAlive
            ]
        );
        // The third frame completes with the codec and bytes handed over.
        prefix.rest.extend_from_slice(b"efg");
        let third = prefix.codec.decode(&mut prefix.rest).unwrap();
        assert_eq!(
            third,
            Some(Frame::Message {
                tpdu: None,
                body: "cdefg".into()
            })
        );
    }

    #[tokio::test]
    async fn silence_part_of_a_frame_and_garbage_are_refused() {
        let (mut ours, _peer) = pair().await;
        let silent = first_frame(&mut ours, codec(), MS(50), MS(2000)).await;
        assert!(matches!(silent, Err(NoFrame::Silent)), "{:?}", silent.err());

        let (mut ours, mut peer) = pair().await;
        peer.write_all(b"\x00\x05ab").await.unwrap();
        let partial = first_frame(&mut ours, codec(), MS(50), MS(200)).await;
        assert!(
            matches!(partial, Err(NoFrame::TimedOut)),
            "{:?}",
            partial.err()
        );

        let (mut ours, mut peer) = pair().await;
        peer.write_all(b"\xff\xff").await.unwrap();
        let oversized = first_frame(&mut ours, codec(), MS(50), MS(200)).await;
        assert!(
            matches!(oversized, Err(NoFrame::Framing(_))),
            "{:?}",
            oversized.err()
        );

        let (mut ours, peer) = pair().await;
        drop(peer);
        let closed = first_frame(&mut ours, codec(), MS(50), MS(200)).await;
        assert!(matches!(closed, Err(NoFrame::Closed)), "{:?}", closed.err());
    }
}
