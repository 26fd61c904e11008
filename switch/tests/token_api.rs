//! The token API over real loopback sockets, on a fake backend: every endpoint
//! and its errors, wrong methods and paths, an oversized body, a request that
//! does not arrive in time, an app on a bank-only endpoint, a stop, and mutual
//! TLS with the right and a wrong client certificate (from `gen-certs`). No
//! answer or log line holds a card number.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use codecs::ResponseCode;
use serde_json::Value;
use switch::config::TokenApiConfig;
use switch::core::tokens::{
    Caller, EnrolOutcome, LifecycleOp, SecretPan, SuspendedBy, TokenError, TokenSecret,
    TokenStatus, TokenView,
};
use switch::token_api::{serve, TokenBackend};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The fake vault's one live token and one deleted token.
const TOKEN: &str = "9408990000000018";
const DELETED: &str = "9408990000000026";
/// A key no answer but the enrolment's may carry.
const KEY: [u8; 16] = [0xA7; 16];

/// A Luhn-valid PAN: `payload` and its check digit.
fn pan(payload: &str) -> String {
    let check = codecs::luhn::luhn_check_digit(payload.as_bytes()).unwrap();
    format!("{payload}{}", char::from(check))
}

/// Cards the fake knows, by what enrolling them does.
fn approved_pan() -> String {
    pan("940810000000123")
}
fn ruled_out_pan() -> String {
    pan("940820000000123")
}
fn declined_pan() -> String {
    pan("940830000000123")
}
fn unavailable_pan() -> String {
    pan("940840000000123")
}

fn view(token: &str, status: TokenStatus) -> TokenView {
    TokenView {
        token: token.into(),
        status,
        app: "koryo-pay".into(),
        requestor_id: "94000000001".into(),
        issuer: "940810".into(),
        pan_last4: approved_pan()[12..].into(),
        token_expiry: "2811".into(),
    }
}

/// Answers as the design says the core does, for the cards and tokens above.
struct FakeBackend;

impl TokenBackend for FakeBackend {
    fn enrol(
        &self,
        app: &str,
        pan: SecretPan,
        _expiry: [u8; 4],
        _user: Option<String>,
    ) -> Pin<Box<dyn Future<Output = EnrolOutcome> + Send + 'static>> {
        assert_eq!(app, "koryo-pay");
        let outcome = match pan.expose() {
            p if p == approved_pan() => EnrolOutcome::Enrolled {
                view: view(TOKEN, TokenStatus::Active),
                key: TokenSecret::from_bytes(KEY),
            },
            p if p == ruled_out_pan() => EnrolOutcome::NotPermitted {
                response_code: ResponseCode::NOT_PERMITTED_CARDHOLDER,
                rule: Some("app-accepts-joined-banks".into()),
            },
            p if p == declined_pan() => EnrolOutcome::Declined {
                response_code: ResponseCode::RESTRICTED_CARD,
            },
            p if p == unavailable_pan() => EnrolOutcome::Unavailable {
                response_code: ResponseCode::ISSUER_INOPERATIVE,
            },
            _ => EnrolOutcome::BadRequest {
                field: "pan",
                reason: "no product for this card".into(),
            },
        };
        Box::pin(async move { outcome })
    }

    fn view(&self, caller: &Caller, token: &str) -> Result<TokenView, TokenError> {
        let visible = match caller {
            Caller::App(app) => app == "koryo-pay",
            Caller::Bank(bank) => bank == "940810",
        };
        match token {
            TOKEN if visible => Ok(view(TOKEN, TokenStatus::Active)),
            _ => Err(TokenError::Unknown),
        }
    }

    fn change(
        &self,
        caller: &Caller,
        token: &str,
        op: LifecycleOp,
    ) -> Result<TokenView, TokenError> {
        let by = match caller {
            Caller::App(_) => SuspendedBy::App,
            Caller::Bank(_) => SuspendedBy::Issuer,
        };
        match (token, op) {
            (DELETED, LifecycleOp::Resume) => Err(TokenError::Conflict("the token is deleted")),
            (TOKEN, LifecycleOp::Suspend) => Ok(view(TOKEN, TokenStatus::Suspended(by))),
            (TOKEN, LifecycleOp::Resume) => Ok(view(TOKEN, TokenStatus::Active)),
            (TOKEN, LifecycleOp::Delete) => Ok(view(TOKEN, TokenStatus::Deleted)),
            _ => Err(TokenError::Unknown),
        }
    }

    fn change_card(
        &self,
        bank: &str,
        pan: &SecretPan,
        op: LifecycleOp,
    ) -> Result<Vec<TokenView>, TokenError> {
        if bank != "940810" || pan.expose() != approved_pan() {
            return Ok(Vec::new());
        }
        let status = match op {
            LifecycleOp::Suspend => TokenStatus::Suspended(SuspendedBy::Issuer),
            _ => TokenStatus::Active,
        };
        Ok(vec![view(TOKEN, status)])
    }
}

/// Every log line of this test process, to scan for card numbers.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A running API: its address and its stop switch.
struct Running {
    address: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(participant: Caller, tls: Option<Arc<rustls::ServerConfig>>) -> Running {
    start_with(participant, tls, 64).await
}

async fn start_with(
    participant: Caller,
    tls: Option<Arc<rustls::ServerConfig>>,
    max_connections: usize,
) -> Running {
    logs();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mut config = TokenApiConfig::new("test-api", participant, address);
    config.tls = tls.is_some();
    config.max_connections = max_connections;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(serve(listener, config, tls, Arc::new(FakeBackend), stopped));
    Running {
        address,
        stop,
        task,
    }
}

/// One request on its own connection (`Connection: close`): the status and the
/// body, read to the end within 10 s.
async fn call_on<S>(mut stream: S, method: &str, path: &str, body: Option<&str>) -> (u16, String)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let text = String::from_utf8(answer).unwrap();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

async fn call(at: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let stream = TcpStream::connect(at).await.unwrap();
    let (status, body) = call_on(stream, method, path, body).await;
    let json = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body:?}"));
    (status, json)
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn an_app_enrols_views_suspends_resumes_and_deletes() {
    let api = start(Caller::App("koryo-pay".into()), None).await;
    let body = format!(
        r#"{{"pan":"{}","expiry":"2912","user":"u-1"}}"#,
        approved_pan()
    );
    let (status, enrolled) = call(api.address, "POST", "/v1/tokens", Some(&body)).await;
    assert_eq!(status, 201, "{enrolled}");
    assert_eq!(enrolled["token"], TOKEN);
    assert_eq!(enrolled["status"], "active");
    assert_eq!(enrolled["suspended_by"], Value::Null);
    assert_eq!(enrolled["app"], "koryo-pay");
    assert_eq!(enrolled["requestor_id"], "94000000001");
    assert_eq!(enrolled["issuer"], "940810");
    assert_eq!(enrolled["pan_last4"], approved_pan()[12..]);
    assert_eq!(enrolled["token_expiry"], "2811");
    assert_eq!(enrolled["key"], "A7".repeat(16), "the key, 32 hex digits");

    let (status, viewed) = call(api.address, "GET", &format!("/v1/tokens/{TOKEN}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(viewed["token"], TOKEN);
    assert!(
        viewed.get("key").is_none(),
        "the key is given once: {viewed}"
    );

    let path = format!("/v1/tokens/{TOKEN}/suspend");
    let (status, suspended) = call(api.address, "POST", &path, None).await;
    assert_eq!(
        (status, &suspended["status"]),
        (200, &Value::from("suspended"))
    );
    assert_eq!(suspended["suspended_by"], "app");
    let path = format!("/v1/tokens/{TOKEN}/resume");
    let (status, resumed) = call(api.address, "POST", &path, None).await;
    assert_eq!((status, &resumed["status"]), (200, &Value::from("active")));
    let (status, deleted) = call(api.address, "DELETE", &format!("/v1/tokens/{TOKEN}"), None).await;
    assert_eq!((status, &deleted["status"]), (200, &Value::from("deleted")));
    api.stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), api.task)
        .await
        .expect("serve returns once stopped")
        .unwrap();
}

#[tokio::test]
async fn enrolment_refusals_and_bad_requests() {
    let api = start(Caller::App("koryo-pay".into()), None).await;
    let enrol = |pan: String| format!(r#"{{"pan":"{pan}","expiry":"2912"}}"#);

    let (status, e) = call(
        api.address,
        "POST",
        "/v1/tokens",
        Some(&enrol(ruled_out_pan())),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(error_code(&e), "not_permitted");
    assert_eq!(e["error"]["response_code"], "57");
    assert_eq!(e["error"]["rule"], "app-accepts-joined-banks");

    let (status, e) = call(
        api.address,
        "POST",
        "/v1/tokens",
        Some(&enrol(declined_pan())),
    )
    .await;
    assert_eq!((status, error_code(&e)), (422, "declined"));
    assert_eq!(e["error"]["response_code"], "62");

    let (status, e) = call(
        api.address,
        "POST",
        "/v1/tokens",
        Some(&enrol(unavailable_pan())),
    )
    .await;
    assert_eq!((status, error_code(&e)), (503, "issuer_unavailable"));
    assert_eq!(e["error"]["response_code"], "91");

    // A PAN with a wrong check digit: refused without being quoted.
    let mut bad = approved_pan();
    let last = bad.pop().unwrap();
    bad.push(if last == '0' { '1' } else { '0' });
    let (status, e) = call(api.address, "POST", "/v1/tokens", Some(&enrol(bad.clone()))).await;
    assert_eq!((status, error_code(&e)), (400, "bad_request"));
    assert_eq!(e["error"]["field"], "pan");
    assert_eq!(
        e["error"]["reason"],
        "pan: must be 12 to 19 digits with a valid check digit"
    );
    assert!(!e.to_string().contains(&bad[6..]), "{e}");

    // The backend's own refusal of the request.
    let (status, e) = call(
        api.address,
        "POST",
        "/v1/tokens",
        Some(&enrol(pan("940850000000123"))),
    )
    .await;
    assert_eq!((status, error_code(&e)), (400, "bad_request"));
    assert_eq!(e["error"]["field"], "pan");

    let unknown_field = format!(
        r#"{{"pan":"{}","expiry":"2912","cvv":"123"}}"#,
        approved_pan()
    );
    let (status, e) = call(api.address, "POST", "/v1/tokens", Some(&unknown_field)).await;
    assert_eq!((status, error_code(&e)), (400, "bad_request"));
    let (status, e) = call(api.address, "POST", "/v1/tokens", Some("not json")).await;
    assert_eq!((status, error_code(&e)), (400, "bad_request"));
    let (status, e) = call(
        api.address,
        "POST",
        "/v1/tokens",
        Some(r#"{"expiry":"2912"}"#),
    )
    .await;
    assert_eq!((status, &e["error"]["field"]), (400, &Value::from("pan")));
}

#[tokio::test]
async fn unknown_tokens_conflicts_paths_methods_and_oversized_bodies() {
    let api = start(Caller::App("koryo-pay".into()), None).await;
    let (status, e) = call(api.address, "GET", "/v1/tokens/9408990000000999", None).await;
    assert_eq!((status, error_code(&e)), (404, "unknown_token"));
    let (status, e) = call(api.address, "GET", "/v1/tokens/not-a-token", None).await;
    assert_eq!((status, error_code(&e)), (404, "unknown_token"));
    let path = format!("/v1/tokens/{DELETED}/resume");
    let (status, e) = call(api.address, "POST", &path, None).await;
    assert_eq!((status, error_code(&e)), (409, "conflict"));
    let (status, e) = call(api.address, "GET", "/v2/anything", None).await;
    assert_eq!((status, error_code(&e)), (404, "not_found"));
    let (status, e) = call(api.address, "PUT", "/v1/tokens", None).await;
    assert_eq!((status, error_code(&e)), (405, "method_not_allowed"));
    let (status, e) = call(api.address, "POST", &format!("/v1/tokens/{TOKEN}"), None).await;
    assert_eq!((status, error_code(&e)), (405, "method_not_allowed"));
    let (status, e) = call(api.address, "GET", "/v1/cards/suspend", None).await;
    assert_eq!((status, error_code(&e)), (405, "method_not_allowed"));

    let big = format!(
        r#"{{"pan":"{}","expiry":"2912","user":"{}"}}"#,
        approved_pan(),
        "x".repeat(5000)
    );
    let (status, e) = call(api.address, "POST", "/v1/tokens", Some(&big)).await;
    assert_eq!((status, error_code(&e)), (413, "too_large"));

    // An app on a bank-only endpoint.
    let body = format!(r#"{{"pan":"{}"}}"#, approved_pan());
    let (status, e) = call(api.address, "POST", "/v1/cards/suspend", Some(&body)).await;
    assert_eq!((status, error_code(&e)), (403, "not_allowed"));
}

#[tokio::test]
async fn an_issuer_suspends_and_resumes_its_cards_and_may_not_enrol_or_delete() {
    let api = start(Caller::Bank("940810".into()), None).await;
    let body = format!(r#"{{"pan":"{}"}}"#, approved_pan());
    let (status, answer) = call(api.address, "POST", "/v1/cards/suspend", Some(&body)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["tokens"][0]["token"], TOKEN);
    assert_eq!(answer["tokens"][0]["suspended_by"], "issuer");
    let (status, answer) = call(api.address, "POST", "/v1/cards/resume", Some(&body)).await;
    assert_eq!(
        (status, &answer["tokens"][0]["status"]),
        (200, &Value::from("active"))
    );
    assert!(!answer.to_string().contains(&approved_pan()));

    let (status, viewed) = call(api.address, "GET", &format!("/v1/tokens/{TOKEN}"), None).await;
    assert_eq!((status, &viewed["token"]), (200, &Value::from(TOKEN)));
    let path = format!("/v1/tokens/{TOKEN}/suspend");
    let (status, suspended) = call(api.address, "POST", &path, None).await;
    assert_eq!(
        (status, &suspended["suspended_by"]),
        (200, &Value::from("issuer"))
    );

    let enrol = format!(r#"{{"pan":"{}","expiry":"2912"}}"#, approved_pan());
    let (status, e) = call(api.address, "POST", "/v1/tokens", Some(&enrol)).await;
    assert_eq!((status, error_code(&e)), (403, "not_allowed"));
    let (status, e) = call(api.address, "DELETE", &format!("/v1/tokens/{TOKEN}"), None).await;
    assert_eq!((status, error_code(&e)), (403, "not_allowed"));
    let (status, e) = call(api.address, "POST", "/v1/cards/suspend", Some("{}")).await;
    assert_eq!((status, &e["error"]["field"]), (400, &Value::from("pan")));
}

/// Read until the server closes (Ok(bytes)) or 10 s pass (Err).
async fn until_closed(stream: &mut TcpStream) -> Result<Vec<u8>, ()> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return Err(()),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_request_that_does_not_arrive_in_time_is_closed() {
    let api = start(Caller::App("koryo-pay".into()), None).await;
    // Half a head, then nothing.
    let mut slow_head = TcpStream::connect(api.address).await.unwrap();
    slow_head
        .write_all(b"GET /v1/tokens/9408990000000018 HTTP/1.1\r\nHost:")
        .await
        .unwrap();
    // A whole head announcing a body that never comes.
    let mut slow_body = TcpStream::connect(api.address).await.unwrap();
    slow_body
        .write_all(b"POST /v1/tokens HTTP/1.1\r\nHost: t\r\nContent-Length: 40\r\n\r\n{\"pan\":")
        .await
        .unwrap();
    // A connection that says nothing at all.
    let mut silent = TcpStream::connect(api.address).await.unwrap();
    let started = tokio::time::Instant::now();
    assert!(
        until_closed(&mut slow_head).await.is_ok(),
        "a slow head is closed"
    );
    assert!(
        until_closed(&mut silent).await.is_ok(),
        "a silent connection is closed"
    );
    let answered = until_closed(&mut slow_body)
        .await
        .expect("a slow body is closed");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(4) && elapsed < Duration::from_secs(9),
        "closed after about 5 s: {elapsed:?}"
    );
    let text = String::from_utf8_lossy(&answered);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test]
async fn connections_beyond_the_bound_wait_for_one_to_close() {
    let api = start_with(Caller::App("koryo-pay".into()), None, 1).await;
    let holder = TcpStream::connect(api.address).await.unwrap();
    // Let the server accept the holder (its one permit) first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let path = format!("/v1/tokens/{TOKEN}");
    let waiting = tokio::spawn(async move { call(api.address, "GET", &path, None).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "the bound holds the second connection back"
    );
    drop(holder);
    let (status, _) = tokio::time::timeout(Duration::from_secs(3), waiting)
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn no_answer_or_log_line_holds_a_card_number() {
    let api = start(Caller::App("koryo-pay".into()), None).await;
    let cards = [
        approved_pan(),
        ruled_out_pan(),
        declined_pan(),
        unavailable_pan(),
    ];
    let mut answers = String::new();
    for card in &cards {
        let body = format!(r#"{{"pan":"{card}","expiry":"2912"}}"#);
        let (_, answer) = call(api.address, "POST", "/v1/tokens", Some(&body)).await;
        answers.push_str(&answer.to_string());
        let body = format!(r#"{{"pan":{card},"expiry":"2912"}}"#);
        let (_, answer) = call(api.address, "POST", "/v1/tokens", Some(&body)).await;
        answers.push_str(&answer.to_string());
        let body = format!(r#"{{"pan":"{card}","expiry":"{card}"}}"#);
        let (_, answer) = call(api.address, "POST", "/v1/tokens", Some(&body)).await;
        answers.push_str(&answer.to_string());
        let body = format!(r#"{{"{card}":1}}"#);
        let (_, answer) = call(api.address, "POST", "/v1/tokens", Some(&body)).await;
        answers.push_str(&answer.to_string());
    }
    let logged = String::from_utf8_lossy(&logs().lock().unwrap()).to_string();
    assert!(
        logged.contains("token API request"),
        "the requests were logged"
    );
    for card in &cards {
        assert!(
            !answers.contains(&card[6..]),
            "an answer holds a card: {answers}"
        );
        assert!(!logged.contains(&card[6..]), "a log line holds a card");
    }
    assert!(
        !logged.contains(&"A7".repeat(16)),
        "a log line holds the key"
    );
}

#[cfg(feature = "gen-certs")]
mod tls {
    use super::*;
    use switch::tls::generate::{generate, CertPlan};
    use switch::tls::layout::Layout;
    use tokio_rustls::TlsConnector;

    /// A CA, the switch's certificate, and two apps' certificates.
    fn certificates(dir: &std::path::Path) -> Layout {
        let mut banks = std::collections::BTreeMap::new();
        banks.insert(
            "koryo-pay".to_string(),
            vec!["koryo-pay.apps.test".to_string()],
        );
        banks.insert("jonsong".to_string(), vec!["jonsong.apps.test".to_string()]);
        let plan = CertPlan {
            switch_identity: "switch.banks.test".into(),
            banks,
            apps: Default::default(),
            test_bank: None,
        };
        generate(dir, &plan).unwrap();
        Layout::new(dir)
    }

    async fn tls_call(
        layout: &Layout,
        party: &str,
        at: SocketAddr,
        path: &str,
    ) -> Result<(u16, String), String> {
        let bundle = layout.bank(party);
        let client = bank_links::tls::endpoint::client_from_files(
            &[bundle.ca()],
            &[bundle.crl()],
            &bundle.cert(),
            &bundle.key(),
        )
        .unwrap();
        let tcp = TcpStream::connect(at).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("switch.banks.test").unwrap();
        let mut stream = TlsConnector::from(client)
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .map_err(|_| "no answer in 10 s".to_string())?;
        // A server that closes without TLS close_notify reads as an error.
        if answer.is_empty() {
            return Err(format!("closed without an answer ({read:?})"));
        }
        let text = String::from_utf8_lossy(&answer).to_string();
        let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        Ok((status, text))
    }

    #[tokio::test]
    async fn mutual_tls_admits_the_listeners_identity_only() {
        let dir = std::env::temp_dir().join(format!("token-api-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let layout = certificates(&dir);
        let switch = layout.switch();
        let server = bank_links::tls::endpoint::server_from_files(
            &[switch.ca()],
            &[switch.crl()],
            &switch.cert(),
            &switch.key(),
        )
        .unwrap();
        let api = start(Caller::App("koryo-pay".into()), Some(server)).await;
        let path = format!("/v1/tokens/{TOKEN}");
        let (status, text) = tls_call(&layout, "koryo-pay", api.address, &path)
            .await
            .unwrap();
        assert_eq!(status, 200, "{text}");
        assert!(text.contains(TOKEN));
        // Another app's certificate, from the same CA: no answer, the connection closed.
        let refused = tls_call(&layout, "jonsong", api.address, &path).await;
        assert!(refused.is_err(), "{refused:?}");
        // Plain HTTP on the TLS listener: no answer either.
        let mut plain = TcpStream::connect(api.address).await.unwrap();
        plain
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let seen = until_closed(&mut plain).await.expect("closed");
        assert!(!String::from_utf8_lossy(&seen).contains(TOKEN));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
