//! `sim wallet` against the switch's own token API server
//! (`switch::token_api::serve`) on loopback, with a backend that decides as the
//! switch does from the national rules (`decide_enrolment`) and the catalogue
//! (blocked cards declined 62 as their issuer would): the client and the server
//! agree on the wire, the refusals are counted by the server's labels, and the
//! wallet's codes verify under the keys the server issued.

// Test code (clippy does not see `cfg(all(test, ...))` as a test module).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use card_security::wallet::{CodeData, CodeKey, QrPayload, TokenKey};
use codecs::luhn::luhn_check_digit;
use codecs::ResponseCode;
use routing_rules::decide::Verdict;
use routing_rules::RoutingTable;
use switch::config::TokenApiConfig;
use switch::core::tokens::{
    Caller, EnrolOutcome, LifecycleOp, SecretPan, TokenError, TokenSecret, TokenStatus, TokenView,
};
use switch::token_api::TokenBackend;
use tokio::net::TcpListener;

use super::*;
use crate::acquirer::traffic::tests::national;
use crate::cards::{CardBase, CardStatus};

/// Tokens issued by the backend: token -> (view, key).
type Issued = Arc<Mutex<HashMap<String, (TokenView, [u8; 16])>>>;

struct RulesBackend {
    table: RoutingTable,
    cards: CardBase,
    issued: Issued,
}

impl TokenBackend for RulesBackend {
    fn enrol(
        &self,
        app: &str,
        pan: SecretPan,
        expiry: [u8; 4],
        _user: Option<String>,
    ) -> Pin<Box<dyn Future<Output = EnrolOutcome> + Send + 'static>> {
        let decision = self.table.decide_enrolment(pan.expose().as_bytes(), app);
        let card = self.cards.find(pan.expose().as_bytes());
        let outcome = if decision.verdict == Verdict::Decline {
            EnrolOutcome::NotPermitted {
                response_code: decision
                    .response_code
                    .unwrap_or(ResponseCode::NOT_PERMITTED_CARDHOLDER),
                rule: decision.rule.map(|r| r.id.clone()),
            }
        } else if card.is_none_or(|c| c.status != CardStatus::Active || c.expiry != expiry) {
            EnrolOutcome::Declined {
                response_code: ResponseCode::RESTRICTED_CARD,
            }
        } else {
            let mut issued = self.issued.lock().unwrap();
            let body = format!("940899{:09}", issued.len());
            let check = luhn_check_digit(body.as_bytes()).unwrap();
            let token = format!("{body}{}", char::from(check));
            let key = [issued.len() as u8 ^ 0x5A; 16];
            let view = TokenView {
                token: token.clone(),
                status: TokenStatus::Active,
                app: app.to_string(),
                requestor_id: self.table.app(app).unwrap().requestor_id.clone(),
                issuer: decision.issuer.map(|b| b.id.clone()).unwrap_or_default(),
                pan_last4: pan.last4().to_string(),
                token_expiry: "2812".into(),
            };
            issued.insert(token, (view.clone(), key));
            EnrolOutcome::Enrolled {
                view,
                key: TokenSecret::from_bytes(key),
            }
        };
        Box::pin(async move { outcome })
    }

    fn view(&self, _caller: &Caller, token: &str) -> Result<TokenView, TokenError> {
        let issued = self.issued.lock().unwrap();
        issued
            .get(token)
            .map(|(v, _)| v.clone())
            .ok_or(TokenError::Unknown)
    }

    fn change(
        &self,
        _caller: &Caller,
        token: &str,
        op: LifecycleOp,
    ) -> Result<TokenView, TokenError> {
        let mut issued = self.issued.lock().unwrap();
        let (view, _) = issued.get_mut(token).ok_or(TokenError::Unknown)?;
        view.status = match op {
            LifecycleOp::Suspend => TokenStatus::Suspended(switch::core::tokens::SuspendedBy::App),
            LifecycleOp::Resume => TokenStatus::Active,
            LifecycleOp::Delete => TokenStatus::Deleted,
        };
        Ok(view.clone())
    }

    fn change_card(
        &self,
        _bank: &str,
        _pan: &SecretPan,
        _op: LifecycleOp,
    ) -> Result<Vec<TokenView>, TokenError> {
        Err(TokenError::NotAllowed("not in this test"))
    }
}

#[tokio::test]
async fn enrols_through_the_switchs_token_api() {
    let run = async {
        let table = national();
        let cards = CardBase::generate(&table, 1, 50);
        let issued: Issued = Arc::default();
        let backend = Arc::new(RulesBackend {
            table: table.clone(),
            cards: CardBase::generate(&table, 1, 50),
            issued: issued.clone(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = TokenApiConfig::new("jonsong-api", Caller::App("jonsong".into()), addr);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(switch::token_api::serve(
            listener, config, None, backend, stop_rx,
        ));

        // Cards of every issuer: jonsong joined 940800, 940810 and 940820 only.
        let drawn = pick_cards(&cards, &table, 3, 60, &[]);
        let mut api = TokenApi::connect(&addr.to_string(), None).await.unwrap();
        let (wallet, summary) = enrol(&mut api, "jonsong", &drawn, &table).await.unwrap();
        assert_eq!(summary.enrolled + summary.refused_total(), 60);
        assert!(summary.enrolled > 0, "{summary:?}");
        let by_rule = summary
            .refused
            .get("not_permitted 57 app-accepts-joined-banks")
            .copied()
            .unwrap_or(0);
        assert!(by_rule > 0, "{summary:?}");
        assert_eq!(wallet.requestor_id, "94000000002");
        for t in &wallet.tokens {
            assert!(
                ["940800", "940810", "940820"].contains(&t.issuer.as_str()),
                "{t:?}"
            );
        }
        // The codes verify under the keys the server handed out.
        let keys = issued.lock().unwrap().clone();
        for (i, t) in wallet.tokens.iter().enumerate() {
            let read =
                QrPayload::from_base64(&wallet.next_payload(i).unwrap().to_base64()).unwrap();
            let data = CodeData::from_field55(&read.field55()).unwrap();
            let key = CodeKey::new(&TokenKey::from_bytes(keys[&t.token].1));
            assert!(key.verify(&data.code_input(t.token.as_bytes()), &data.cryptogram));
        }
        // The lifecycle through the real routes.
        let token = wallet.tokens[0].token.clone();
        let answer = api
            .call(Method::POST, &format!("/v1/tokens/{token}/suspend"), None)
            .await
            .unwrap();
        assert_eq!(
            (answer.status.as_u16(), answer.body["status"].as_str()),
            (200, Some("suspended"))
        );
        let answer = api
            .call(Method::DELETE, &format!("/v1/tokens/{token}"), None)
            .await
            .unwrap();
        assert_eq!(answer.body["status"], "deleted");
        let answer = api
            .call(Method::POST, "/v1/tokens/9408990000000999/resume", None)
            .await
            .unwrap();
        assert_eq!(
            (answer.status.as_u16(), answer.refusal().as_str()),
            (404, "unknown_token")
        );
        let _ = stop_tx.send(true);
        let _ = server.await;
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap();
}
