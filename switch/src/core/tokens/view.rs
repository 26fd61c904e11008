//! What the token API deals in: who calls ([`Caller`]), what they ask
//! ([`LifecycleOp`]), what they get back ([`TokenView`], [`EnrolOutcome`],
//! [`TokenError`]). Plain data: the API's HTTP layer turns it into JSON.

use codecs::ResponseCode;

use super::record::{TokenSecret, TokenStatus};

/// The participant behind a token API request (from its listener and
/// certificate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A payment-app operator (`[[app]]` id).
    App(String),
    /// A bank (institution id), for the tokens of the cards it issued.
    Bank(String),
}

/// A change of a token's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifecycleOp {
    /// Stop it paying (62) until resumed.
    Suspend,
    /// Let it pay again.
    Resume,
    /// End it for good.
    Delete,
}

/// A token as the API shows it: no card number beyond its last four digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenView {
    /// The token number.
    pub token: String,
    /// Its standing (with who suspended it).
    pub status: TokenStatus,
    /// The app it was issued to.
    pub app: String,
    /// That app's token requestor id.
    pub requestor_id: String,
    /// The card's issuer.
    pub issuer: String,
    /// The card's last four digits.
    pub pan_last4: String,
    /// The token's expiry, YYMM.
    pub token_expiry: String,
}

/// How an enrolment ended.
#[derive(Debug)]
pub enum EnrolOutcome {
    /// A token was issued; `key` is given to the app once.
    Enrolled {
        /// The new token.
        view: TokenView,
        /// Its key for dynamic codes.
        key: TokenSecret,
    },
    /// The routing rules do not let this app hold this card.
    NotPermitted {
        /// The rule's response code.
        response_code: ResponseCode,
        /// The rule that decided, if a rule did.
        rule: Option<String>,
    },
    /// The issuer declined the account verification.
    Declined {
        /// The issuer's response code.
        response_code: ResponseCode,
    },
    /// The issuer could not be asked (no link, at its cap, or no answer in time).
    Unavailable {
        /// 91 (or 96 for a switch fault).
        response_code: ResponseCode,
    },
    /// The request itself is wrong.
    BadRequest {
        /// The JSON field at fault.
        field: &'static str,
        /// Why (never the card number).
        reason: String,
    },
}

/// Why a token operation was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No such token, or not one this caller may see.
    #[error("unknown token")]
    Unknown,
    /// The operation does not apply in the token's state.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The caller may not do this (an issuer deleting, an app acting on a card).
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
    /// The request itself is wrong.
    #[error("bad request: {field}: {reason}")]
    BadRequest {
        /// The JSON field at fault.
        field: &'static str,
        /// Why (never the card number).
        reason: &'static str,
    },
}
