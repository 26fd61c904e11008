//! Failures of a link's transport: the socket, the framing, the TLS handshake.
//! Every one ends the connection it happened on (a dialed link reconnects); a
//! socket that fails before it became a link is refused instead (see
//! [`super::Classify`] for the table).

use std::io;

use codecs::framing::FramingError;

use crate::net::handshake::Refused;

/// Why a link's connection ended or never came up.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The peer closed the connection between frames (or a TLS peer without
    /// close_notify, which is still just a close).
    #[error("peer closed")]
    PeerClosed,
    /// Part of a frame, then nothing for the read deadline.
    #[error("peer stalled mid-frame")]
    Stalled,
    /// The socket failed while reading.
    #[error("read error: {0}")]
    Io(#[source] io::Error),
    /// The bytes are not frames of the link's framing (never an I/O error:
    /// those are [`LinkError::Io`] or [`LinkError::PeerClosed`]).
    #[error("framing error: {0}")]
    Framing(#[source] FramingError),
    /// A dialed link could not connect.
    #[error("connect failed: {0}")]
    Connect(#[source] io::Error),
    /// The TLS handshake did not give a usable link.
    #[error(transparent)]
    Handshake(#[from] Refused),
    /// A socket that proved itself, on a link with all its connections taken.
    #[error("connection limit of {max} reached")]
    LinkFull {
        /// The link's `max_connections`.
        max: usize,
    },
}

impl LinkError {
    /// What a failed read means: a close, a socket failure or broken framing.
    pub fn from_read(e: FramingError) -> LinkError {
        match e {
            // A TLS peer that closes without close_notify: still just a close.
            FramingError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                LinkError::PeerClosed
            }
            FramingError::Io(e) => LinkError::Io(e),
            other => LinkError::Framing(other),
        }
    }
}
