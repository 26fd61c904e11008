//! The endpoints: axum routes over a [`TokenBackend`], each answer JSON. One
//! middleware names the endpoint, counts the answer
//! (`switch_token_api_requests_total{api,endpoint,status}`) and logs it with the
//! token's last four digits at most.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use serde_json::Value;
use zeroize::Zeroizing;

use super::backend::TokenBackend;
use super::json::{self, ApiError};
use crate::core::tokens::{Caller, EnrolOutcome, LifecycleOp};

/// Largest request body.
pub const MAX_BODY: usize = 4096;

/// A request's headers, and then its body, must each arrive within this; the
/// connection is closed otherwise (and a TLS handshake has as long).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What every handler shares: the listener's name and participant, the backend.
pub(crate) struct Api {
    pub(crate) name: String,
    pub(crate) caller: Caller,
    pub(crate) backend: Arc<dyn TokenBackend>,
}

type Shared = State<Arc<Api>>;

/// The routes of one listener.
pub(crate) fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/v1/tokens", post(enrol).fallback(wrong_method))
        .route(
            "/v1/tokens/{token}",
            get(view).delete(delete).fallback(wrong_method),
        )
        .route(
            "/v1/tokens/{token}/suspend",
            post(suspend).fallback(wrong_method),
        )
        .route(
            "/v1/tokens/{token}/resume",
            post(resume).fallback(wrong_method),
        )
        .route(
            "/v1/cards/suspend",
            post(cards_suspend).fallback(wrong_method),
        )
        .route(
            "/v1/cards/resume",
            post(cards_resume).fallback(wrong_method),
        )
        .fallback(unknown_path)
        .layer(middleware::from_fn_with_state(api.clone(), count_and_log))
        .with_state(api)
}

/// The endpoint's name for metrics and logs, and the token in its path.
fn endpoint_of(method: &Method, path: &str) -> (&'static str, Option<String>) {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let token = |t: &str| json::is_token_number(t).then(|| t.to_string());
    match (method, parts.as_slice()) {
        (&Method::POST, ["", "v1", "tokens"]) => ("enrol", None),
        (&Method::GET, ["", "v1", "tokens", t]) => ("view", token(t)),
        (&Method::DELETE, ["", "v1", "tokens", t]) => ("delete", token(t)),
        (&Method::POST, ["", "v1", "tokens", t, "suspend"]) => ("suspend", token(t)),
        (&Method::POST, ["", "v1", "tokens", t, "resume"]) => ("resume", token(t)),
        (&Method::POST, ["", "v1", "cards", "suspend"]) => ("cards_suspend", None),
        (&Method::POST, ["", "v1", "cards", "resume"]) => ("cards_resume", None),
        _ => ("other", None),
    }
}

async fn count_and_log(State(api): Shared, request: Request, next: Next) -> Response {
    let (endpoint, token) = endpoint_of(request.method(), request.uri().path());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics::counter!(
        "switch_token_api_requests_total",
        "api" => api.name.clone(),
        "endpoint" => endpoint,
        "status" => status.to_string(),
    )
    .increment(1);
    // The token's last four digits at most; the card never.
    let last4 = token.as_deref().map(|t| &t[t.len() - 4..]);
    tracing::info!(api = %api.name, endpoint, status, token_last4 = last4, "token API request");
    response
}

/// A JSON answer.
fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = answer(self.status, self.body());
        // After an oversized or late body the connection's bytes are not trusted
        // any more: the answer closes it.
        if matches!(
            self.status,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
        ) {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// The body, at most [`MAX_BODY`] bytes, within [`REQUEST_TIMEOUT`]; wiped when
/// dropped (it may hold a card number).
async fn read_body(body: Body) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is over {MAX_BODY} bytes"),
        )
    };
    let read = async {
        let mut stream = body.into_data_stream();
        let mut buf = Zeroizing::new(Vec::new());
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "the body could not be read",
                )
            })?;
            if buf.len() + chunk.len() > MAX_BODY {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    };
    tokio::time::timeout(REQUEST_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the body did not arrive in time",
            ))
        })
}

/// The app behind the listener, or 403 for a bank.
fn app_only(api: &Api, what: &'static str) -> Result<String, ApiError> {
    match &api.caller {
        Caller::App(app) => Ok(app.clone()),
        Caller::Bank(_) => Err(ApiError::not_allowed(what)),
    }
}

fn token_path(token: &str) -> Result<(), ApiError> {
    if json::is_token_number(token) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_token",
            "unknown token",
        ))
    }
}

async fn enrol(State(api): Shared, body: Body) -> Result<Response, ApiError> {
    let app = app_only(&api, "only an app enrols cards")?;
    let body = read_body(body).await?;
    let request = json::enrol_request(&body).map_err(ApiError::bad_request)?;
    drop(body);
    let outcome = api
        .backend
        .enrol(&app, request.pan, request.expiry, request.user)
        .await;
    if let Some(refusal) = json::enrol_refusal(&outcome) {
        return Err(refusal);
    }
    let EnrolOutcome::Enrolled { view, key } = outcome else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "no outcome",
        ));
    };
    let mut body = json::view(&view);
    // The per-token key leaves the switch here, once.
    let hex = Zeroizing::new(
        key.expose()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>(),
    );
    if let Value::Object(map) = &mut body {
        map.insert("key".into(), Value::String(hex.to_string()));
    }
    Ok(answer(StatusCode::CREATED, body))
}

async fn view(State(api): Shared, Path(token): Path<String>) -> Result<Response, ApiError> {
    token_path(&token)?;
    let view = api.backend.view(&api.caller, &token)?;
    Ok(answer(StatusCode::OK, json::view(&view)))
}

/// Suspend, resume or delete the token in the path; answered once the change
/// is kept.
async fn change(api: &Api, token: &str, op: LifecycleOp) -> Result<Response, ApiError> {
    token_path(token)?;
    let view = api.backend.change(&api.caller, token, op)?;
    api.backend.kept().await;
    Ok(answer(StatusCode::OK, json::view(&view)))
}

async fn suspend(State(api): Shared, Path(token): Path<String>) -> Result<Response, ApiError> {
    change(&api, &token, LifecycleOp::Suspend).await
}

async fn resume(State(api): Shared, Path(token): Path<String>) -> Result<Response, ApiError> {
    change(&api, &token, LifecycleOp::Resume).await
}

async fn delete(State(api): Shared, Path(token): Path<String>) -> Result<Response, ApiError> {
    app_only(&api, "only the app deletes its tokens")?;
    change(&api, &token, LifecycleOp::Delete).await
}

/// Suspend or resume every token of a card: its issuer only.
async fn change_card(api: &Api, body: Body, op: LifecycleOp) -> Result<Response, ApiError> {
    let Caller::Bank(bank) = &api.caller else {
        return Err(ApiError::not_allowed(
            "only the card's issuer acts on a card",
        ));
    };
    let body = read_body(body).await?;
    let pan = json::card_request(&body).map_err(ApiError::bad_request)?;
    let views = api.backend.change_card(bank, &pan, op)?;
    api.backend.kept().await;
    let tokens: Vec<Value> = views.iter().map(json::view).collect();
    Ok(answer(
        StatusCode::OK,
        serde_json::json!({ "tokens": tokens }),
    ))
}

async fn cards_suspend(State(api): Shared, body: Body) -> Result<Response, ApiError> {
    change_card(&api, body, LifecycleOp::Suspend).await
}

async fn cards_resume(State(api): Shared, body: Body) -> Result<Response, ApiError> {
    change_card(&api, body, LifecycleOp::Resume).await
}

async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not take that method",
    )
}

async fn unknown_path() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
