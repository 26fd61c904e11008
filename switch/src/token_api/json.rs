//! The API's JSON: request bodies read by hand from a parsed value (so that no
//! message of the JSON library, which may quote what it found, reaches an answer:
//! a request's values can be card numbers), token views, and error bodies.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::core::tokens::{EnrolOutcome, SecretPan, TokenError, TokenView};

/// What is wrong with a request, by JSON field; never quotes a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BadField {
    pub(crate) field: &'static str,
    pub(crate) reason: &'static str,
}

fn bad(field: &'static str, reason: &'static str) -> BadField {
    BadField { field, reason }
}

/// `POST /v1/tokens`.
#[derive(Debug)]
pub(crate) struct EnrolRequest {
    pub(crate) pan: SecretPan,
    pub(crate) expiry: [u8; 4],
    pub(crate) user: Option<String>,
}

/// The most characters of an app's own user reference.
const MAX_USER_LEN: usize = 64;

/// The body of `POST /v1/tokens`: `{"pan", "expiry", "user"?}`.
pub(crate) fn enrol_request(body: &[u8]) -> Result<EnrolRequest, BadField> {
    let map = object(body, &["pan", "expiry", "user"])?;
    let pan = pan(&map)?;
    let expiry = match map.get("expiry") {
        Some(Value::String(e)) => yymm(e).ok_or(bad("expiry", "must be YYMM"))?,
        Some(_) => return Err(bad("expiry", "must be YYMM")),
        None => return Err(bad("expiry", "is missing")),
    };
    let user = match map.get("user") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) if !u.is_empty() && u.chars().count() <= MAX_USER_LEN => {
            Some(u.clone())
        }
        Some(_) => return Err(bad("user", "must be a string of 1 to 64 characters")),
    };
    Ok(EnrolRequest { pan, expiry, user })
}

/// The body of `POST /v1/cards/{suspend,resume}`: `{"pan"}`.
pub(crate) fn card_request(body: &[u8]) -> Result<SecretPan, BadField> {
    pan(&object(body, &["pan"])?)
}

/// The body as a JSON object with only `allowed` keys.
fn object(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, BadField> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad("body", "must be a JSON object"));
    };
    // The unknown key is not named: it is the caller's text, and could be anything.
    if map.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err(bad("body", "has a field this endpoint does not take"));
    }
    Ok(map)
}

fn pan(map: &Map<String, Value>) -> Result<SecretPan, BadField> {
    const PAN: &str = "must be 12 to 19 digits with a valid check digit";
    match map.get("pan") {
        Some(Value::String(p)) => SecretPan::new(p)
            .filter(|p| codecs::luhn::luhn_valid(p.expose().as_bytes()))
            .ok_or(bad("pan", PAN)),
        Some(_) => Err(bad("pan", PAN)),
        None => Err(bad("pan", "is missing")),
    }
}

/// `YYMM` with a month 01 to 12.
fn yymm(text: &str) -> Option<[u8; 4]> {
    let b: [u8; 4] = text.as_bytes().try_into().ok()?;
    let month = text.get(2..)?.parse::<u8>().ok()?;
    (b.iter().all(u8::is_ascii_digit) && (1..=12).contains(&month)).then_some(b)
}

/// A token number in a path: 12 to 19 digits.
pub(crate) fn is_token_number(text: &str) -> bool {
    (12..=19).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// A token view's JSON.
pub(crate) fn view(v: &TokenView) -> Value {
    json!({
        "token": v.token,
        "status": v.status.name(),
        "suspended_by": v.status.suspended_by().map(|b| b.name()),
        "app": v.app,
        "requestor_id": v.requestor_id,
        "issuer": v.issuer,
        "pan_last4": v.pan_last4,
        "token_expiry": v.token_expiry,
    })
}

/// An error answer: its status and `{"error": {...}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    code: &'static str,
    reason: String,
    response_code: Option<String>,
    rule: Option<String>,
    field: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, reason: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            reason: reason.into(),
            response_code: None,
            rule: None,
            field: None,
        }
    }

    pub(crate) fn bad_request(b: BadField) -> Self {
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{}: {}", b.field, b.reason),
        );
        e.field = Some(b.field);
        e
    }

    pub(crate) fn not_allowed(reason: &'static str) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "not_allowed", reason)
    }

    pub(crate) fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), self.code.into());
        error.insert("reason".into(), self.reason.clone().into());
        if let Some(rc) = &self.response_code {
            error.insert("response_code".into(), rc.clone().into());
        }
        if let Some(rule) = &self.rule {
            error.insert("rule".into(), rule.clone().into());
        }
        if let Some(field) = self.field {
            error.insert("field".into(), field.into());
        }
        json!({ "error": error })
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Unknown => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_token", "unknown token")
            }
            TokenError::Conflict(reason) => ApiError::new(StatusCode::CONFLICT, "conflict", reason),
            TokenError::NotAllowed(reason) => ApiError::not_allowed(reason),
            TokenError::BadRequest { field, reason } => {
                ApiError::bad_request(BadField { field, reason })
            }
        }
    }
}

/// An enrolment's refusal as an error answer (None: it enrolled).
pub(crate) fn enrol_refusal(outcome: &EnrolOutcome) -> Option<ApiError> {
    let with_code = |status, code, reason: &str, rc: &codecs::ResponseCode| {
        let mut e = ApiError::new(status, code, reason);
        e.response_code = Some(rc.as_str().to_string());
        e
    };
    Some(match outcome {
        EnrolOutcome::Enrolled { .. } => return None,
        EnrolOutcome::NotPermitted {
            response_code,
            rule,
        } => {
            let mut e = with_code(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_permitted",
                "the network's rules do not let this app hold this card",
                response_code,
            );
            e.rule = rule.clone();
            e
        }
        EnrolOutcome::Declined { response_code } => with_code(
            StatusCode::UNPROCESSABLE_ENTITY,
            "declined",
            "the issuer declined the card",
            response_code,
        ),
        EnrolOutcome::Unavailable { response_code } => with_code(
            StatusCode::SERVICE_UNAVAILABLE,
            "issuer_unavailable",
            "the issuer could not be asked; try again later",
            response_code,
        ),
        EnrolOutcome::BadRequest { field, reason } => {
            let mut e = ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("{field}: {reason}"),
            );
            e.field = Some(field);
            e
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn enrolment_bodies() {
        let ok =
            enrol_request(br#"{"pan":"4111111111111111","expiry":"2912","user":"u-1"}"#).unwrap();
        assert_eq!(ok.pan.expose(), "4111111111111111");
        assert_eq!(&ok.expiry, b"2912");
        assert_eq!(ok.user.as_deref(), Some("u-1"));
        let cases: [(&[u8], &str); 8] = [
            (br#"{"pan":"4111111111111112","expiry":"2912"}"#, "pan"),
            (br#"{"pan":4111111111111111,"expiry":"2912"}"#, "pan"),
            (br#"{"pan":"41111111111","expiry":"2912"}"#, "pan"),
            (br#"{"pan":"4111111111111111","expiry":"2913"}"#, "expiry"),
            (br#"{"pan":"4111111111111111"}"#, "expiry"),
            (
                br#"{"pan":"4111111111111111","expiry":"2912","x":1}"#,
                "body",
            ),
            (br#"["4111111111111111"]"#, "body"),
            (
                br#"{"pan":"4111111111111111","expiry":"2912","user":7}"#,
                "user",
            ),
        ];
        for (body, field) in cases {
            let e = enrol_request(body).unwrap_err();
            assert_eq!(e.field, field, "{}", String::from_utf8_lossy(body));
            assert!(!e.reason.contains("4111"), "{e:?}");
        }
    }

    #[test]
    fn yymm_months() {
        assert_eq!(yymm("2901"), Some(*b"2901"));
        assert_eq!(yymm("2900"), None);
        assert_eq!(yymm("29-1"), None);
        assert_eq!(yymm("290"), None);
    }
}
