//! A client of the switch's token API (HTTP/1.1 JSON): one keep-alive
//! connection over TCP or mutual TLS (the `bank-links` stream the bank hosts
//! use), hyper 1's client connection driving it. Every call has a deadline and
//! a bounded answer; a request body may carry a PAN, so bodies are never logged.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::tls::HostTls;

/// How long one call (connect, or request and answer) may take.
pub const CALL_DEADLINE: Duration = Duration::from_secs(10);
/// Largest answer read.
const MAX_ANSWER: usize = 64 * 1024;

/// Why a call to the token API failed (no answer to read; an error answer is
/// an [`Answer`] with its status).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Could not connect or secure the connection.
    #[error("cannot reach the token API at {addr}: {reason}")]
    Connect {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The call failed on the wire or took too long.
    #[error("token API call {what}: {reason}")]
    Call {
        /// The method and path (no PAN: paths hold tokens at most).
        what: String,
        /// Why.
        reason: String,
    },
}

/// An answer: its status and JSON body (`Value::Null` when not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: Value,
}

impl Answer {
    /// The error answer's `code`, `response_code` and `rule`, as one label for
    /// the summary (e.g. `not_permitted 57 app-accepts-joined-banks`).
    pub fn refusal(&self) -> String {
        let error = &self.body["error"];
        let mut label = match error["code"].as_str() {
            Some(code) => code.to_string(),
            None => format!("http {}", self.status.as_u16()),
        };
        for part in ["response_code", "rule"] {
            if let Some(v) = error[part].as_str() {
                label.push(' ');
                label.push_str(v);
            }
        }
        label
    }
}

/// A connection to one token API listener.
pub struct TokenApi {
    addr: String,
    sender: SendRequest<Full<Bytes>>,
}

impl TokenApi {
    /// Connect to `addr` (with `tls`: mutual TLS, the switch's name checked).
    pub async fn connect(addr: &str, tls: Option<Arc<HostTls>>) -> Result<TokenApi, ApiError> {
        let fail = |reason: String| ApiError::Connect {
            addr: addr.to_string(),
            reason,
        };
        let tcp = tokio::time::timeout(CALL_DEADLINE, TcpStream::connect(addr))
            .await
            .map_err(|_| fail("timed out".into()))?
            .map_err(|e| fail(e.to_string()))?;
        let stream = crate::tls::secure_client(tls.as_deref(), tcp)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let (read, write) = stream.split();
        let io = TokioIo::new(tokio::io::join(read, write));
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| fail(e.to_string()))?;
        // The connection task ends when the sender is dropped or the peer closes.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "token API connection ended");
            }
        });
        Ok(TokenApi {
            addr: addr.to_string(),
            sender,
        })
    }

    /// One call: `method path` with an optional JSON body.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ApiError> {
        let what = format!("{method} {path}");
        let fail = |reason: String| ApiError::Call {
            what: what.clone(),
            reason,
        };
        let bytes = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(hyper::header::HOST, &self.addr)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(bytes))
            .map_err(|e| fail(e.to_string()))?;
        let exchange = async {
            self.sender.ready().await.map_err(|e| fail(e.to_string()))?;
            let response = self
                .sender
                .send_request(request)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let status = response.status();
            let collected = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| fail(e.to_string()))?;
            let body = serde_json::from_slice(&collected.to_bytes()).unwrap_or(Value::Null);
            Ok(Answer { status, body })
        };
        tokio::time::timeout(CALL_DEADLINE, exchange)
            .await
            .map_err(|_| fail("no answer in time".into()))?
    }
}
