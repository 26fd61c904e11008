//! A plain-TCP socket's proof: its first complete frame (a message or a
//! keep-alive) within a deadline, its first byte within a shorter one, and no
//! longer pause mid-frame than an established link may take (`read_timeout`).
//! Until then the socket holds a pending place, not one of the link's
//! connections.
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
#[derive(Debug, thiserror::Error)]
pub(crate) enum NoFrame {
    /// Nothing within the first-byte deadline.
    #[error("no byte within the first-byte deadline")]
    Silent,
    /// Bytes, but no complete frame within the first-frame deadline.
    #[error("no complete frame within the first-frame deadline")]
    TimedOut,
    /// Part of a frame, then nothing for the read deadline.
    #[error("stalled mid-frame")]
    Stalled,
    /// The peer closed first.
    #[error("closed before a frame")]
    Closed,
    /// The bytes are not a frame (a bad or oversized length header).
    #[error("framing error: {0}")]
    Framing(#[source] FramingError),
    /// The socket failed.
    #[error("read error: {0}")]
    Io(#[source] io::Error),
}

impl NoFrame {
    fn label(&self) -> &'static str {
        match self {
            NoFrame::Silent => "silent",
            NoFrame::TimedOut => "timeout",
            NoFrame::Stalled => "stalled",
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

/// When a pending plain-TCP socket must have sent what.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameDeadlines {
    /// Its first byte, from accept.
    pub(crate) first_byte: Duration,
    /// Its first complete frame, from accept.
    pub(crate) first_frame: Duration,
    /// Each further read, once part of a frame has come.
    pub(crate) stall: Duration,
}

/// Read from `tcp` until at least one complete frame has arrived, within
/// `deadlines` from the call.
pub(crate) async fn first_frame(
    tcp: &mut TcpStream,
    mut codec: FrameCodec,
    deadlines: FrameDeadlines,
) -> Result<Prefix, NoFrame> {
    let FrameDeadlines {
        first_byte: first_byte_within,
        first_frame: deadline,
        stall,
    } = deadlines;
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
        let stalled = Instant::now() + stall;
        match tokio::time::timeout_at(until.min(stalled), tcp.read_buf(&mut buf)).await {
            Err(_) if stalled < until => return Err(NoFrame::Stalled),
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

    fn within(first_byte: u64, first_frame: u64, stall: u64) -> FrameDeadlines {
        FrameDeadlines {
            first_byte: MS(first_byte),
            first_frame: MS(first_frame),
            stall: MS(stall),
        }
    }

    #[tokio::test]
    async fn frames_read_early_are_kept_with_the_rest_and_the_codec() {
        let (mut ours, mut peer) = pair().await;
        // Two frames and the header and first bytes of a third, in one write.
        peer.write_all(b"\x00\x02ab\x00\x00\x00\x05cd")
            .await
            .unwrap();
        let mut prefix = first_frame(&mut ours, codec(), within(500, 2000, 1000))
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

    /// Why `first_frame` refused a peer that sent `sent` (None: that closed at once).
    async fn refusal(sent: Option<&[u8]>, deadlines: FrameDeadlines) -> NoFrame {
        let (mut ours, mut peer) = pair().await;
        match sent {
            Some(bytes) => peer.write_all(bytes).await.unwrap(),
            None => drop(peer),
        }
        match first_frame(&mut ours, codec(), deadlines).await {
            Ok(_) => panic!("a frame from {sent:?}"),
            Err(why) => why,
        }
    }

    #[tokio::test]
    async fn silence_part_of_a_frame_and_garbage_are_refused() {
        let silent = refusal(Some(b""), within(50, 2000, 1000)).await;
        assert!(matches!(silent, NoFrame::Silent), "{silent:?}");
        let partial = refusal(Some(b"\x00\x05ab"), within(50, 200, 1000)).await;
        assert!(matches!(partial, NoFrame::TimedOut), "{partial:?}");
        // A pause mid-frame as long as an established link's read deadline.
        let stalled = refusal(Some(b"\x00\x05ab"), within(50, 2000, 100)).await;
        assert!(matches!(stalled, NoFrame::Stalled), "{stalled:?}");
        let oversized = refusal(Some(b"\xff\xff"), within(50, 200, 1000)).await;
        assert!(matches!(oversized, NoFrame::Framing(_)), "{oversized:?}");
        let closed = refusal(None, within(50, 200, 1000)).await;
        assert!(matches!(closed, NoFrame::Closed), "{closed:?}");
    }
}
