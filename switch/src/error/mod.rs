//! One taxonomy of the switch's failures and what each becomes.
//!
//! Each layer has its own error enum (`thiserror`): the link (transport, TLS,
//! framing: [`LinkError`], and a listener's refusals before a socket becomes a
//! link), the message (decode with the field named, encode for a link:
//! [`MessageError`]), security (card-security's `SecurityError`, `MacFailure`,
//! `SealError`), the store (`StoreError`), the configuration (`ConfigError`)
//! and start-up ([`StartError`]). One mapping, [`Classify`], says for every one
//! of them what happens next ([`Disposition`]), which side failed ([`Side`]) and
//! whether doing the same again is safe ([`Retry`]), as pingora's errors carry
//! their source and retry type. The drivers act on that mapping instead of
//! deciding case by case; the core keeps deciding the response codes of what it
//! is handed (a malformed request, a MAC verdict, a PIN translation's result),
//! and the table below agrees with it (tested in `tests.rs`).
//!
//! | error | disposition | side | retry |
//! |---|---|---|---|
//! | link: peer closed, stalled mid-frame, I/O | close the link | peer | safe (a dialed link reconnects) |
//! | link: framing (bad or oversized header, truncated frame) | close the link | peer | safe |
//! | link: connect failed | close (dialer backs off) | peer | safe |
//! | link: TLS handshake timed out, silent, not TLS | refuse the socket | peer | safe |
//! | link: TLS certificate or identity refused | refuse the socket | peer | unsafe (security event) |
//! | listener: no first frame, connection limit | refuse the socket | peer | safe |
//! | message: decode error, MTI readable, a request | answer 30 (the core's answer) | peer | unsafe |
//! | message: decode error, anything else | drop the message | peer | unsafe |
//! | message: encode or seal for a link, a request | time out (91 and reversal) | switch | unsafe |
//! | message: encode or seal for a link, an answer | drop the message | switch | unsafe |
//! | security: MAC missing, misplaced, wrong, a request | answer 63 | peer | unsafe |
//! | security: MAC ..., an issuer's answer | time out (91 and reversal) | peer | unsafe |
//! | security: PIN block malformed (length, PAN) | answer 30 | peer | unsafe |
//! | security: PIN block does not decipher | answer 81 | peer | unsafe |
//! | security: module unavailable | answer 91 | switch | safe |
//! | security: no key, bad key (at run time) | answer 96 | configuration | unsafe |
//! | store, configuration, start-up (a key missing, a port taken) | fatal: do not start | configuration or switch | unsafe |
//!
//! "Time out": nothing is sent now; the core's deadline answers the acquirer
//! 91 and reverses what may have reached the issuer. No error here carries card
//! data or key material: fields are named by number, keys by zone.

mod classify;
pub mod link;
pub mod message;
pub mod start;
#[cfg(test)]
mod tests;

use codecs::ResponseCode;

pub use link::LinkError;
pub use message::MessageError;
pub use start::{StartError, TlsSetupError};

/// What a failure becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// The message is answered with this response code (by the core, which
    /// knows whether its link gets answers).
    Answer(ResponseCode),
    /// The message is dropped; the link carries on.
    DropMessage,
    /// Nothing is sent now: the core's deadline answers the acquirer (91) and
    /// reverses what the issuer may have seen.
    TimeOut,
    /// The connection is closed (a dialed link reconnects after its backoff).
    CloseLink,
    /// A socket that never became a link is closed.
    Refuse,
    /// The switch does not start (or the command fails).
    Fatal,
}

impl std::fmt::Display for Disposition {
    /// As logs say it (`action = RC 63`, `action = dropped`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Disposition::Answer(rc) => write!(f, "RC {rc}"),
            Disposition::DropMessage => f.write_str("dropped"),
            Disposition::TimeOut => f.write_str("left to time out (RC 91, reversal)"),
            Disposition::CloseLink => f.write_str("link closed"),
            Disposition::Refuse => f.write_str("refused"),
            Disposition::Fatal => f.write_str("fatal"),
        }
    }
}

/// Which side failed (pingora's error source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The bank host at the other end, or whoever reached the port.
    Peer,
    /// The switch itself (its store, its security module, its own encoding).
    Switch,
    /// The configuration (a key, a file, an address).
    Configuration,
}

/// Whether doing the same again may succeed and does no harm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Yes: the failure is of the moment (a connection, a time-out).
    Safe,
    /// No: the same input fails the same way (a malformed message, a wrong
    /// MAC, a missing key), or trying again would be a security event.
    Unsafe,
}

/// The mapping: what a failure becomes, who caused it, whether to retry.
pub trait Classify: std::error::Error {
    /// What happens next.
    fn disposition(&self) -> Disposition;
    /// Which side failed.
    fn side(&self) -> Side;
    /// Whether doing the same again is safe.
    fn retry(&self) -> Retry;
}
