//! The token API: HTTP/1.1 with JSON bodies, one listener per participant
//! (`[[token_api]]`, see [`crate::config::token_api`]). A payment-app operator
//! enrols its users' cards and manages their tokens; an issuer suspends and
//! resumes the tokens of the cards it issued. The listener's participant is the
//! caller: with TLS, once the client certificate (verified against the switch's
//! CAs and CRLs) names the listener's `identity`; without, whoever connects
//! (loopback and tests).
//!
//! | method, path | who | answer |
//! |---|---|---|
//! | `POST /v1/tokens` `{"pan","expiry":"YYMM","user"?}` | app | 201 view + `"key"` |
//! | `GET /v1/tokens/{token}` | app (its tokens), bank (its cards' tokens) | 200 view |
//! | `POST /v1/tokens/{token}/suspend` | app, bank | 200 view |
//! | `POST /v1/tokens/{token}/resume` | app, bank | 200 view |
//! | `DELETE /v1/tokens/{token}` | app | 200 view (`deleted`) |
//! | `POST /v1/cards/suspend` `{"pan"}` | bank | 200 `{"tokens":[views]}` |
//! | `POST /v1/cards/resume` `{"pan"}` | bank | 200 `{"tokens":[views]}` |
//!
//! A view: `{"token","status":"active"|"suspended"|"deleted",
//! "suspended_by":"app"|"issuer"|"both"|null,"app","requestor_id","issuer","pan_last4",
//! "token_expiry":"YYMM"}`. The enrolment's 201 adds `"key"`: the per-token
//! AES-128 key for dynamic codes, 32 hex digits, given this once and never again.
//!
//! Errors are `{"error":{"code","reason","response_code"?,"rule"?,"field"?}}`:
//!
//! | status | code | when |
//! |---|---|---|
//! | 400 | `bad_request` | a body that is not a JSON object, an unknown field, a bad value (`field` names it) |
//! | 403 | `not_allowed` | the caller's kind may not do this (an app on `/v1/cards/...`, a bank enrolling or deleting) |
//! | 404 | `unknown_token` | no such token, or not one this caller may see |
//! | 404 | `not_found` | no such path |
//! | 405 | `method_not_allowed` | a known path, another method |
//! | 408 | `timeout` | the body did not arrive within 5 s (the connection is closed) |
//! | 409 | `conflict` | resuming a deleted token, or an app resuming its issuer's suspension |
//! | 413 | `too_large` | a body over 4 KiB (the connection is closed) |
//! | 422 | `not_permitted` | enrolment: a rule refuses this app this card (`response_code`, `rule`) |
//! | 422 | `declined` | enrolment: the issuer declined the account verification (`response_code`) |
//! | 503 | `issuer_unavailable` | enrolment: the issuer could not be asked (`response_code` 91) |
//!
//! A request's head must arrive within 5 s (else the connection is closed), as
//! must a TLS handshake. No answer and no log line holds a card number (a bad
//! PAN is "pan: must be 12 to 19 digits with a valid check digit", never the
//! value) or a key but the enrolment's own; logs name the api, endpoint, status
//! and the token's last four digits. Every answer is counted in
//! `switch_token_api_requests_total{api,endpoint,status}`.
//!
//! - [`backend`]: what the API asks of the switch ([`TokenBackend`]);
//! - [`server`]: the listener, its connections, TLS and identity;
//! - `routes`: the endpoints, metrics and logs; `json`: bodies in and out.

pub mod backend;
mod json;
mod routes;
pub mod server;

pub use backend::TokenBackend;
pub use routes::{MAX_BODY, REQUEST_TIMEOUT};
pub use server::serve;
