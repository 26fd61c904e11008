//! What the token API asks of the switch: the HTTP layer parses and answers, the
//! backend (the switch's core, or a fake in tests) decides. Enrolment is
//! asynchronous (the issuer is asked); the other operations are memory lookups.

use std::future::Future;
use std::pin::Pin;

use crate::core::tokens::{Caller, EnrolOutcome, LifecycleOp, SecretPan, TokenError, TokenView};

/// The token vault's operations as the API calls them.
pub trait TokenBackend: Send + Sync + 'static {
    /// Enrol the card `pan` (expiry YYMM) for `app`'s `user`: the rules and the
    /// issuer's account verification decide.
    fn enrol(
        &self,
        app: &str,
        pan: SecretPan,
        expiry: [u8; 4],
        user: Option<String>,
    ) -> Pin<Box<dyn Future<Output = EnrolOutcome> + Send + 'static>>;

    /// The token `token` as `caller` may see it.
    fn view(&self, caller: &Caller, token: &str) -> Result<TokenView, TokenError>;

    /// Suspend, resume or delete `token` on `caller`'s behalf.
    fn change(
        &self,
        caller: &Caller,
        token: &str,
        op: LifecycleOp,
    ) -> Result<TokenView, TokenError>;

    /// Suspend or resume every token of the card `pan`, on its issuer `bank`'s
    /// behalf.
    fn change_card(
        &self,
        bank: &str,
        pan: &SecretPan,
        op: LifecycleOp,
    ) -> Result<Vec<TokenView>, TokenError>;

    /// Resolves once every change made so far is kept (durable in the store):
    /// the API answers a change only then, so a suspension it confirmed
    /// survives a crash. By default at once (a backend that keeps nothing).
    fn kept(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(std::future::ready(()))
    }
}
