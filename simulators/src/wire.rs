//! Links between hosts: framed TCP (or TLS, see [`crate::tls`]) connections
//! carrying one spec's messages (MAC'd when the link has a key, see
//! [`crate::security`]), dialing with backoff, and the writing side: an
//! [`Outbound`] buffer the connection's own task encodes frames into and writes
//! out when it has nothing left to read (a burst of answers in one syscall, and no
//! hand-over to another task per frame).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use codecs::framing::{Frame, FrameCodec, FramingError, LengthHeader, DEFAULT_MAX_FRAME};
use codecs::{Message, Spec};
use switch::net::stream::{LinkStream, ReadHalf, WriteHalf};
use switch::security::mac::MAC_LEN;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio_util::codec::{Encoder, FramedRead, FramedWrite};

/// How messages travel on a link.
#[derive(Clone, Debug)]
pub struct LinkFormat {
    /// The message dialect.
    pub spec: Arc<Spec>,
    /// The length header.
    pub framing: LengthHeader,
    /// Largest accepted frame.
    pub max_frame: usize,
    /// MAC and PIN keys of the link (None: neither).
    pub security: Option<Arc<crate::security::HostSecurity>>,
}

impl LinkFormat {
    /// From the command-line names (`--spec`, `--framing`).
    pub fn from_names(spec: &str, framing: &str) -> Result<LinkFormat, String> {
        let spec = Spec::by_name_or_path(spec).map_err(|e| e.to_string())?;
        let framing = LengthHeader::from_name(framing)
            .ok_or_else(|| format!("unknown framing {framing:?} (binary2, ascii4 or bcd2)"))?;
        Ok(LinkFormat {
            spec,
            framing,
            max_frame: DEFAULT_MAX_FRAME,
            security: None,
        })
    }

    fn codec(&self) -> FrameCodec {
        FrameCodec::new(self.framing, false, self.max_frame)
    }

    /// Split a connected stream (plain TCP or TLS) into a frame reader and a frame writer.
    pub fn split(
        &self,
        stream: impl Into<LinkStream>,
    ) -> (
        FramedRead<ReadHalf, FrameCodec>,
        FramedWrite<WriteHalf, FrameCodec>,
    ) {
        let stream = stream.into();
        let _ = stream.tcp().set_nodelay(true);
        let (r, w) = stream.split();
        (
            FramedRead::new(r, self.codec()),
            FramedWrite::new(w, self.codec()),
        )
    }

    /// Split a connected stream into a frame reader and an [`Outbound`] buffer
    /// written by the caller's own task.
    pub fn split_outbound(
        &self,
        stream: impl Into<LinkStream>,
    ) -> (FramedRead<ReadHalf, FrameCodec>, Outbound) {
        let stream = stream.into();
        let _ = stream.tcp().set_nodelay(true);
        let (r, w) = stream.split();
        (
            FramedRead::new(r, self.codec()),
            Outbound::new(w, self.codec()),
        )
    }

    /// Encode a message into a frame body, with a MAC on a MAC link.
    pub fn encode(&self, msg: &Message) -> Result<Bytes, crate::security::SendError> {
        match &self.security {
            Some(s) => s.encode(&self.spec, msg),
            None => Ok(self.spec.encode_to_bytes(msg)?),
        }
    }

    /// Encode several messages, in order, their MACs (on a MAC link) computed
    /// together.
    pub fn encode_all(&self, msgs: &[Message]) -> Vec<Result<Bytes, crate::security::SendError>> {
        match &self.security {
            Some(s) => s.encode_all(&self.spec, msgs),
            None => msgs.iter().map(|m| self.encode(m)).collect(),
        }
    }

    /// The MACs of several received frames, computed together on a MAC link
    /// (None each otherwise), for [`LinkFormat::check_with`].
    pub fn expected_macs(&self, bodies: &[Bytes]) -> Vec<Option<[u8; MAC_LEN]>> {
        match &self.security {
            Some(s) => s.expected_macs(&self.spec, bodies),
            None => vec![None; bodies.len()],
        }
    }

    /// [`LinkFormat::check`] with the frame's MAC computed beforehand, if it was.
    pub fn check_with(
        &self,
        body: &[u8],
        msg: &Message,
        expected: Option<[u8; MAC_LEN]>,
    ) -> Result<(), switch::security::message::MacFailure> {
        match &self.security {
            Some(s) => s.check_with(&self.spec, body, msg, expected),
            None => Ok(()),
        }
    }

    /// Whether the link's messages carry MACs.
    pub fn macs(&self) -> bool {
        self.security.as_ref().is_some_and(|s| s.macs())
    }

    /// Check a received frame's MAC (Ok on a link without MACs).
    pub fn check(
        &self,
        body: &[u8],
        msg: &Message,
    ) -> Result<(), switch::security::message::MacFailure> {
        self.check_with(body, msg, None)
    }
}

/// The first pause of a redial backoff, doubled after each failure...
pub const BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// ... up to this.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Dial `addr`, retrying with exponential backoff ([`BACKOFF_FIRST`] doubling to
/// [`BACKOFF_MAX`]) until it connects or `attempts` run out (None: forever).
pub async fn connect_with_backoff(
    addr: SocketAddr,
    attempts: Option<u32>,
) -> std::io::Result<TcpStream> {
    let mut delay = BACKOFF_FIRST;
    let mut tried = 0u32;
    loop {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => {
                tried += 1;
                if attempts.is_some_and(|max| tried >= max) {
                    return Err(e);
                }
                tracing::debug!(%addr, error = %e, ?delay, "connect failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(BACKOFF_MAX);
            }
        }
    }
}

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
