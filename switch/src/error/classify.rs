//! The mapping itself: [`Classify`] for every layer's error, the table of the
//! module doc in code.

use codecs::ResponseCode;

use super::{
    Classify, Disposition, LinkError, MessageError, Retry, Side, StartError, TlsSetupError,
};
use crate::config::ConfigError;
use crate::core::pin::pin_crypto_error;
use crate::net::first_frame::NoFrame;
use crate::net::handshake::Refused;
use crate::security::message::{MacFailure, SealError};
use crate::security::pin::PinBlockError;
use crate::security::{KeyError, SecurityError};
use crate::store::StoreError;

impl Disposition {
    /// This disposition for a message that is (`request`) or is not a request:
    /// only a request is answered; any other message is dropped instead (an
    /// issuer's answer so dropped leaves its request to time out: 91 and a
    /// reversal).
    pub fn given(self, request: bool) -> Disposition {
        match self {
            Disposition::Answer(_) if !request => Disposition::DropMessage,
            other => other,
        }
    }
}

impl Classify for LinkError {
    fn disposition(&self) -> Disposition {
        match self {
            LinkError::Handshake(refused) => refused.disposition(),
            LinkError::LinkFull { .. } => Disposition::Refuse,
            _ => Disposition::CloseLink,
        }
    }

    fn side(&self) -> Side {
        Side::Peer
    }

    fn retry(&self) -> Retry {
        match self {
            LinkError::Handshake(refused) => refused.retry(),
            _ => Retry::Safe,
        }
    }
}

impl Classify for Refused {
    fn disposition(&self) -> Disposition {
        Disposition::Refuse
    }

    fn side(&self) -> Side {
        Side::Peer
    }

    fn retry(&self) -> Retry {
        match self {
            // A certificate or identity refused fails again until someone
            // changes it: each attempt is a security event.
            Refused::Certificate(_) | Refused::Identity(_) => Retry::Unsafe,
            Refused::Silent | Refused::TimedOut | Refused::Closed | Refused::Other(_) => {
                Retry::Safe
            }
        }
    }
}

impl Classify for NoFrame {
    fn disposition(&self) -> Disposition {
        Disposition::Refuse
    }

    fn side(&self) -> Side {
        Side::Peer
    }

    fn retry(&self) -> Retry {
        Retry::Safe
    }
}

impl Classify for MessageError {
    fn disposition(&self) -> Disposition {
        match self {
            // The core answers 30 what it can still read the MTI of.
            MessageError::Decode { mti: Some(_), .. } => {
                Disposition::Answer(ResponseCode::FORMAT_ERROR).given(self.is_request())
            }
            MessageError::Decode { mti: None, .. } => Disposition::DropMessage,
            // Not sent: a request's deadline answers and reverses it.
            MessageError::Encode { .. } | MessageError::Seal { .. } if self.is_request() => {
                Disposition::TimeOut
            }
            MessageError::Encode { .. } | MessageError::Seal { .. } => Disposition::DropMessage,
        }
    }

    fn side(&self) -> Side {
        match self {
            MessageError::Decode { .. } => Side::Peer,
            MessageError::Seal {
                error: SealError::Module(e),
                ..
            } => e.side(),
            MessageError::Encode { .. } | MessageError::Seal { .. } => Side::Switch,
        }
    }

    fn retry(&self) -> Retry {
        match self {
            MessageError::Seal {
                error: SealError::Module(e),
                ..
            } => e.retry(),
            _ => Retry::Unsafe,
        }
    }
}

impl Classify for MacFailure {
    /// For a request; [`Disposition::given`] says what it is for an answer.
    fn disposition(&self) -> Disposition {
        Disposition::Answer(ResponseCode::SECURITY_VIOLATION)
    }

    fn side(&self) -> Side {
        match self {
            MacFailure::Module(e) => e.side(),
            _ => Side::Peer,
        }
    }

    fn retry(&self) -> Retry {
        match self {
            MacFailure::Module(e) => e.retry(),
            _ => Retry::Unsafe,
        }
    }
}

impl Classify for SecurityError {
    /// At run time, for a request (a PIN translation); a key missing at start
    /// is a [`StartError`].
    fn disposition(&self) -> Disposition {
        Disposition::Answer(match self {
            SecurityError::PinBlock(PinBlockError::Length { .. } | PinBlockError::Pan) => {
                ResponseCode::FORMAT_ERROR
            }
            SecurityError::PinBlock(_) => pin_crypto_error(),
            SecurityError::Unavailable(_) => ResponseCode::ISSUER_INOPERATIVE,
            SecurityError::NoKey { .. } | SecurityError::BadKey { .. } => {
                ResponseCode::SYSTEM_MALFUNCTION
            }
        })
    }

    fn side(&self) -> Side {
        match self {
            SecurityError::PinBlock(_) => Side::Peer,
            SecurityError::Unavailable(_) => Side::Switch,
            SecurityError::NoKey { .. } | SecurityError::BadKey { .. } => Side::Configuration,
        }
    }

    fn retry(&self) -> Retry {
        match self {
            SecurityError::Unavailable(_) => Retry::Safe,
            _ => Retry::Unsafe,
        }
    }
}

impl Classify for SealError {
    /// A message the writer cannot seal is not sent.
    fn disposition(&self) -> Disposition {
        Disposition::DropMessage
    }

    fn side(&self) -> Side {
        match self {
            SealError::Module(e) => e.side(),
            _ => Side::Switch,
        }
    }

    fn retry(&self) -> Retry {
        match self {
            SealError::Module(e) => e.retry(),
            _ => Retry::Unsafe,
        }
    }
}

/// [`Classify`] for an error that stops a start or a command: fatal, and the
/// same again fails the same way.
macro_rules! fatal {
    ($error:ty, $side:expr) => {
        impl Classify for $error {
            fn disposition(&self) -> Disposition {
                Disposition::Fatal
            }

            fn side(&self) -> Side {
                $side
            }

            fn retry(&self) -> Retry {
                Retry::Unsafe
            }
        }
    };
}

fatal!(StoreError, Side::Switch);
fatal!(ConfigError, Side::Configuration);
fatal!(TlsSetupError, Side::Configuration);

impl Classify for StartError {
    fn disposition(&self) -> Disposition {
        Disposition::Fatal
    }

    fn side(&self) -> Side {
        match self {
            StartError::MissingKey { .. }
            | StartError::JournalKeyMissing
            | StartError::Tls { .. }
            | StartError::Listen { .. }
            | StartError::Admin { .. }
            | StartError::Vault(_)
            | StartError::TokenApiListen { .. }
            | StartError::TokenApiTls(_)
            | StartError::TokenApiRules(_) => Side::Configuration,
            StartError::Store(e) => e.side(),
            StartError::Histogram(_) => Side::Switch,
        }
    }

    fn retry(&self) -> Retry {
        match self {
            // The address may be free again in a moment (a previous run's).
            StartError::Listen { .. }
            | StartError::TokenApiListen { .. }
            | StartError::Admin { .. } => Retry::Safe,
            _ => Retry::Unsafe,
        }
    }
}

impl Classify for KeyError {
    /// A key the configuration names and the switch cannot have: it does not start.
    fn disposition(&self) -> Disposition {
        Disposition::Fatal
    }

    fn side(&self) -> Side {
        match self {
            KeyError::Random(_) => Side::Switch,
            _ => Side::Configuration,
        }
    }

    fn retry(&self) -> Retry {
        match self {
            KeyError::Random(_) => Retry::Safe,
            _ => Retry::Unsafe,
        }
    }
}
