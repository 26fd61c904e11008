//! Links between hosts: framed TCP (or TLS, see [`crate::tls`]) connections
//! carrying one spec's messages (MAC'd when the link has a key, see
//! [`crate::security`]), dialing with backoff, and a writer task that batches
//! frames into few syscalls.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use codecs::framing::{Frame, FrameCodec, LengthHeader, DEFAULT_MAX_FRAME};
use codecs::{Message, Spec};
use futures_util::SinkExt;
use switch::net::stream::{LinkStream, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

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

    /// Encode a message into a frame body, with a MAC on a MAC link.
    pub fn encode(&self, msg: &Message) -> Result<Bytes, crate::security::SendError> {
        match &self.security {
            Some(s) => s.encode(&self.spec, msg),
            None => Ok(self.spec.encode_to_bytes(msg)?),
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
        match &self.security {
            Some(s) => s.check(&self.spec, body, msg),
            None => Ok(()),
        }
    }
}

/// Dial `addr`, retrying with exponential backoff (100 ms doubling to 5 s) until
/// it connects or `attempts` run out (None: forever).
pub async fn connect_with_backoff(
    addr: SocketAddr,
    attempts: Option<u32>,
) -> std::io::Result<TcpStream> {
    let mut delay = Duration::from_millis(100);
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
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Queue depth of a link's writer; senders wait (backpressure) when it is full.
pub const WRITE_QUEUE: usize = 4096;

/// Start a task that writes queued frame bodies, flushing only when the queue is
/// momentarily empty (so bursts go out in few syscalls). Ends when every sender is
/// dropped or the peer stops reading.
pub fn spawn_writer(mut sink: FramedWrite<WriteHalf, FrameCodec>) -> mpsc::Sender<Bytes> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    tokio::spawn(async move {
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
    });
    tx
}
