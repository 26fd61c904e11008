//! The wallet against a stand-in token API on loopback (hyper's server): the
//! enrolment's requests, tokens and keys, refusals counted by label, codes
//! that verify under the keys the API issued, and the token commands.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use card_security::wallet::{CodeData, CodeKey, QrPayload, TokenKey};
use codecs::luhn::luhn_check_digit;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::*;
use crate::acquirer::traffic::tests::national;

/// What the stand-in API saw and issued.
#[derive(Default)]
struct Issued {
    /// token -> (key, status)
    tokens: HashMap<String, (TokenKey, String)>,
    /// PANs of the enrolment requests (to check what was sent).
    pans: Vec<String>,
}

/// The stand-in: the app `jonsong`, refusing by rule the cards of 940830 and
/// 940840 (banks it did not join), issuing tokens under 940899 otherwise.
async fn handle(
    state: Arc<Mutex<Issued>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut state = state.lock().unwrap();
    let (status, answer) = match (method.as_str(), path.as_str()) {
        ("POST", "/v1/tokens") => {
            let pan = body["pan"].as_str().unwrap_or("").to_string();
            state.pans.push(pan.clone());
            if pan.starts_with("940830") || pan.starts_with("940840") {
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"error": {"code": "not_permitted", "reason": "rule",
                        "response_code": "57", "rule": "app-accepts-joined-banks"}}),
                )
            } else {
                let n = state.tokens.len();
                let body = format!("940899{n:09}");
                let check = luhn_check_digit(body.as_bytes()).unwrap();
                let token = format!("{body}{}", char::from(check));
                let key = TokenKey::from_bytes([n as u8 + 1; 16]);
                let hex = key.to_hex();
                state.tokens.insert(token.clone(), (key, "active".into()));
                (
                    StatusCode::CREATED,
                    json!({"token": token, "status": "active", "suspended_by": null,
                        "app": "jonsong", "requestor_id": "94000000002",
                        "issuer": &pan[..6], "pan_last4": &pan[pan.len() - 4..],
                        "token_expiry": "2812", "key": hex}),
                )
            }
        }
        (m, p) => {
            let rest = p.strip_prefix("/v1/tokens/").unwrap_or("");
            let (token, action) = rest.split_once('/').unwrap_or((rest, ""));
            let new_status = match (m, action) {
                ("POST", "suspend") => "suspended",
                ("POST", "resume") => "active",
                ("DELETE", "") => "deleted",
                _ => "",
            };
            match state.tokens.get_mut(token) {
                Some(entry) if !new_status.is_empty() => {
                    entry.1 = new_status.to_string();
                    (
                        StatusCode::OK,
                        json!({"token": token, "status": new_status}),
                    )
                }
                _ => (
                    StatusCode::NOT_FOUND,
                    json!({"error": {"code": "unknown_token", "reason": "no such token"}}),
                ),
            }
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(answer.to_string())));
    *response.status_mut() = status;
    Ok(response)
}

async fn stand_in_api() -> (String, Arc<Mutex<Issued>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let state = Arc::new(Mutex::new(Issued::default()));
    let shared = state.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let state = shared.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (addr, state)
}

#[tokio::test]
async fn enrols_cards_and_pays_with_codes_the_keys_verify() {
    let run = async {
        let (addr, state) = stand_in_api().await;
        let table = national();
        let base = CardBase::generate(&table, 1, 20);
        let issuers = ["940810".to_string(), "940840".to_string()];
        let cards = pick_cards(&base, &table, 7, 30, &issuers);
        assert_eq!(cards.len(), 30);
        // Drawn without repeats, only of those issuers, the same for the same seed.
        let again = pick_cards(&base, &table, 7, 30, &issuers);
        assert!(cards.iter().zip(&again).all(|(a, b)| a.pan == b.pan));
        let distinct: std::collections::HashSet<_> = cards.iter().map(|c| c.pan).collect();
        assert_eq!(distinct.len(), 30);
        let refused_by_rule = cards
            .iter()
            .filter(|c| enrol::bank_id(&table, c) == "940840")
            .count() as u64;
        assert!(refused_by_rule > 0 && refused_by_rule < 30);

        let mut api = TokenApi::connect(&addr, None).await.unwrap();
        let (wallet, summary) = enrol(&mut api, "jonsong", &cards, &table).await.unwrap();
        assert_eq!(summary.enrolled, 30 - refused_by_rule);
        assert_eq!(
            summary.refused,
            [(
                "not_permitted 57 app-accepts-joined-banks".to_string(),
                refused_by_rule
            )]
            .into()
        );
        assert_eq!(wallet.requestor_id, "94000000002");
        assert_eq!(wallet.tokens.len() as u64, summary.enrolled);
        let line = summary.line("jonsong");
        assert!(
            line.starts_with(&format!("jonsong: enrolled {}", summary.enrolled)),
            "{line}"
        );

        // Every code verifies under the key the API issued for its token.
        let issued = std::mem::take(&mut *state.lock().unwrap());
        assert_eq!(issued.pans.len(), 30);
        for (i, t) in wallet.tokens.iter().enumerate() {
            assert!(t.token.starts_with("940899") && t.issuer == "940810");
            assert!(t.card.contains("******"), "{}", t.card);
            let payload = wallet.next_payload(i).unwrap();
            let read = QrPayload::from_base64(&payload.to_base64()).unwrap();
            let data = CodeData::from_field55(&read.field55()).unwrap();
            let key = CodeKey::new(&issued.tokens[&t.token].0);
            assert!(key.verify(&data.code_input(read.token.as_bytes()), &data.cryptogram));
        }
        // The wallet's file and Debug never show a full PAN.
        let text = wallet.to_json();
        for pan in &issued.pans {
            assert!(!text.contains(pan.as_str()));
        }
        // The stand-in keeps serving the tokens it issued.
        state.lock().unwrap().tokens = issued.tokens;

        // Suspend, resume, delete; an unknown token is refused with its label.
        let token = wallet.tokens[0].token.clone();
        for (method, path, want) in [
            (
                Method::POST,
                format!("/v1/tokens/{token}/suspend"),
                "suspended",
            ),
            (Method::POST, format!("/v1/tokens/{token}/resume"), "active"),
            (Method::DELETE, format!("/v1/tokens/{token}"), "deleted"),
        ] {
            let answer = api.call(method, &path, None).await.unwrap();
            assert_eq!(answer.status, StatusCode::OK);
            assert_eq!(answer.body["status"], want);
        }
        let answer = api
            .call(Method::POST, "/v1/tokens/1/suspend", None)
            .await
            .unwrap();
        assert_eq!(
            (answer.status.as_u16(), answer.refusal().as_str()),
            (404, "unknown_token")
        );
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_api_that_is_not_there_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let e = TokenApi::connect(&addr, None).await.err().unwrap();
    assert!(e.to_string().contains(&addr), "{e}");
}

#[derive(clap::Parser)]
struct Cli {
    #[command(subcommand)]
    command: WalletCommand,
}

fn command(argv: &[&str]) -> WalletArgs {
    let cli = <Cli as clap::Parser>::try_parse_from(
        std::iter::once("wallet").chain(argv.iter().copied()),
    )
    .unwrap();
    WalletArgs {
        command: cli.command,
    }
}

/// The command line: enrol writes a private wallet file, qr shows a code and
/// advances the file's counter, suspend calls the API; a bad --token is refused
/// before any call.
#[tokio::test]
async fn command_line_enrol_qr_and_suspend() {
    let run = async {
        let (addr, state) = stand_in_api().await;
        let dir = std::env::temp_dir().join(format!("wallet-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("jonsong.json");
        let rules = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../routing-rules/rules/national.toml"
        );
        let out_text = out.to_str().unwrap();
        run(command(&[
            "enrol",
            "--api",
            &addr,
            "--app",
            "jonsong",
            "--rules",
            rules,
            "--cards-per-range",
            "20",
            "--cards",
            "12",
            "--issuers",
            "940810",
            "--out",
            out_text,
        ]))
        .await
        .unwrap();
        let wallet = Wallet::load(&out).unwrap();
        assert_eq!(wallet.tokens.len(), 12);
        assert_eq!(wallet.tokens[0].next_atc(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let second = wallet.tokens[1].token.clone();
        run(command(&["qr", "--wallet", out_text, "--token", &second]))
            .await
            .unwrap();
        let after = Wallet::load(&out).unwrap();
        assert_eq!(
            (after.tokens[0].next_atc(), after.tokens[1].next_atc()),
            (1, 2)
        );
        run(command(&[
            "suspend", "--api", &addr, "--app", "jonsong", "--token", &second,
        ]))
        .await
        .unwrap();
        assert_eq!(state.lock().unwrap().tokens[&second].1, "suspended");
        let e = run(command(&[
            "delete", "--api", &addr, "--app", "jonsong", "--token", "12ab",
        ]))
        .await
        .unwrap_err();
        assert!(e.contains("--token"), "{e}");
        assert!(run(command(&["qr", "--wallet", out_text, "--token", "1"]))
            .await
            .is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap();
}
