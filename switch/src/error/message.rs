//! Failures of one message: it does not decode (the error names the field and
//! the reason, never the content), or it cannot be encoded or sealed for the
//! link it is going to. The message's MTI says whether it is a request (which
//! is answered, or timed out) or not (dropped).

use codecs::{DecodeError, EncodeError, Mti};

use crate::security::message::SealError;

/// Why one message was not handled.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// A frame that does not decode under the link's spec; `mti` and `stan`:
    /// what could still be read of it (nothing when the MTI itself is broken).
    #[error("malformed message ({}): {error}", mti.map_or("MTI unreadable".to_string(), |m| format!("MTI {m}")))]
    Decode {
        /// Where and why decoding stopped.
        #[source]
        error: DecodeError,
        /// The MTI, when it could be read.
        mti: Option<Mti>,
        /// The STAN, when it could be read.
        stan: Option<u32>,
    },
    /// A message that does not encode under the spec of the link it goes to.
    #[error("MTI {mti} cannot be encoded for this link: {error}")]
    Encode {
        /// Where and why encoding stopped.
        #[source]
        error: EncodeError,
        /// The message's MTI.
        mti: Mti,
    },
    /// A message for a MAC link that cannot carry a MAC (or be encoded).
    #[error("MTI {mti} cannot be sealed for this link: {error}")]
    Seal {
        /// Why.
        #[source]
        error: SealError,
        /// The message's MTI.
        mti: Mti,
    },
}

impl MessageError {
    /// The message's MTI, when known.
    pub fn mti(&self) -> Option<Mti> {
        match self {
            MessageError::Decode { mti, .. } => *mti,
            MessageError::Encode { mti, .. } | MessageError::Seal { mti, .. } => Some(*mti),
        }
    }

    /// Whether the message is a request (it expects an answer).
    pub fn is_request(&self) -> bool {
        self.mti().is_some_and(|m| m.is_request())
    }
}
