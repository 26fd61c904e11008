//! Payment tokens: the app channel's card numbers.
//!
//! An app enrols a card ([`enrol`]): the card is checked with its issuer (an
//! account verification) and a token is issued, bound to that card, that app and
//! the QR channel, with a per-token key for dynamic codes. The vault
//! ([`vault`]) keeps token -> card in memory for the hot path; every change a
//! restart must see leaves as a [`super::StoreOp`] (the store keeps the PAN only
//! encrypted). A QR payment ([`payment`]) is checked (status, domain, counter,
//! cryptogram) and the token swapped for the card toward the issuer, and back in
//! the answer. The app and the issuer change a token's status ([`lifecycle`]).
//!
//! - [`record`]: a token as the store keeps it, its status, the PAN holder;
//! - [`view`]: what the token API sees: callers, operations, answers, errors;
//! - [`atc`]: the application transaction counter's replay window;
//! - [`vault`]: the in-memory vault;
//! - [`enrol`]: enrolment, the account verification and the token's issue;
//! - [`payment`]: the checks of a QR payment and the swap token <-> card;
//! - [`lifecycle`]: suspension, resumption, deletion; restore at start.

pub mod atc;
pub mod enrol;
pub mod lifecycle;
pub mod payment;
pub mod record;
pub mod vault;
pub mod view;

pub use atc::AtcWindow;
pub use enrol::{EnrolRequest, TokenSeed};
pub use record::{SecretPan, SuspendedBy, TokenRecord, TokenSecret, TokenStatus};
pub use view::{Caller, EnrolOutcome, LifecycleOp, TokenError, TokenView};
