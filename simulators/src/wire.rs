//! Links between hosts: framed TCP (or TLS, see [`crate::tls`]) connections
//! carrying one spec's messages (MAC'd when the link has a key, see
//! [`crate::security`]). Dialing with backoff and the writing side (an
//! [`Outbound`] buffer the connection's own task encodes frames into and writes
//! out when it has nothing left to read) are `bank_links`', re-exported here.

use std::sync::Arc;

use bank_links::stream::{LinkStream, ReadHalf, WriteHalf};
use bytes::Bytes;
use card_security::mac::MAC_LEN;
use codecs::framing::{FrameCodec, LengthHeader, DEFAULT_MAX_FRAME};
use codecs::{Message, Spec};
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
    ) -> Result<(), card_security::message::MacFailure> {
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
    ) -> Result<(), card_security::message::MacFailure> {
        self.check_with(body, msg, None)
    }
}

pub use bank_links::backoff::connect_with_backoff;
pub use bank_links::outbound::{Outbound, WRITE_HIGH_WATER};
