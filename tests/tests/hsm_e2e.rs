//! A security module that answers from elsewhere (an HSM adapter) end to end:
//! the switch asks it for PIN translations from a task, so a slow answer holds
//! up only its own request; an answer later than the switch's deadline (2 s)
//! means RC 91 for the acquirer, nothing forwarded, and the answer is ignored
//! when it comes (counted).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use codecs::Message;
use simulators::security::HostSecurity;
use switch::config::Config;
use switch::net::{RunningSwitch, SwitchOptions};
use switch::security::{
    KeyMaterial, MacPadding, PinFormat, PinZone, SecurityError, SecurityModule,
    SoftwareSecurityModule,
};
use tests::{accept, answer, national_rules, purchase, Peer};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(5);
/// Every test is over in this time, whatever happens.
const BOUND: Duration = Duration::from_secs(60);

const ACQ_ZPK: &str = "7A1C3E5B9D2F4A6C8E0B1D3F5A7C9E2B";
const ISS_ZPK: &str = "5E2D8C1B4A7F6E3D0C9B2A1F8E7D6C5B";
const ACQUIRER: &str = "940810";
const ISSUER: &str = "940800";

/// The software module behind a delay, as a network HSM might answer: the
/// delay in milliseconds is set by the test as it goes.
struct SlowModule {
    inner: SoftwareSecurityModule,
    delay_ms: Arc<AtomicU64>,
}

impl SecurityModule for SlowModule {
    fn name(&self) -> &str {
        "slow"
    }
    fn has_mac_key(&self, zone: &str) -> bool {
        self.inner.has_mac_key(zone)
    }
    fn has_pin_key(&self, zone: &str) -> bool {
        self.inner.has_pin_key(zone)
    }
    fn generate_mac(
        &self,
        zone: &str,
        padding: MacPadding,
        data: &[u8],
    ) -> Result<[u8; 8], SecurityError> {
        self.inner.generate_mac(zone, padding, data)
    }
    fn verify_mac(
        &self,
        zone: &str,
        padding: MacPadding,
        data: &[u8],
        mac: &[u8],
    ) -> Result<bool, SecurityError> {
        self.inner.verify_mac(zone, padding, data, mac)
    }
    fn translate_pin(
        &self,
        from: PinZone<'_>,
        to: PinZone<'_>,
        block: &[u8],
        pan: &[u8],
    ) -> Result<Vec<u8>, SecurityError> {
        std::thread::sleep(Duration::from_millis(self.delay_ms.load(Ordering::SeqCst)));
        self.inner.translate_pin(from, to, block, pan)
    }
}

fn key(hex: &str) -> KeyMaterial {
    KeyMaterial::from_hex(hex).unwrap()
}

fn host(zpk: &str) -> HostSecurity {
    HostSecurity::new(None, Some((key(zpk), PinFormat::Iso0))).unwrap()
}

fn config(issuer: SocketAddr) -> String {
    std::env::set_var("HSM_ACQ_ZPK", ACQ_ZPK);
    std::env::set_var("HSM_ISS_ZPK", ISS_ZPK);
    format!(
        r#"
[switch]
institution_id = "940000"
rules = "{rules}"

[[link]]
name = "hsm-acquirer"
role = "acquirer"
bank = "{ACQUIRER}"
direction = "listen"
address = "127.0.0.1:0"
pin_key = {{ env = "HSM_ACQ_ZPK" }}

[[link]]
name = "hsm-issuer"
role = "issuer"
bank = "{ISSUER}"
direction = "dial"
address = "{issuer}"
timeout_ms = 5000
pin_key = {{ env = "HSM_ISS_ZPK" }}
"#,
        rules = national_rules()
    )
}

/// An active card of the issuer, from the simulators' card base.
fn card() -> simulators::cards::Card {
    use simulators::cards::{CardBase, CardStatus};
    let table = tests::national_table();
    let idx = table.bank_index(ISSUER.as_bytes()).unwrap();
    CardBase::generate(&table, 1, tests::CARDS_PER_RANGE)
        .cards()
        .iter()
        .find(|c| {
            c.issuer == idx && c.status == CardStatus::Active && c.pan_str().starts_with("940801")
        })
        .cloned()
        .expect("an active card")
}

fn purchase_with_pin(card: &simulators::cards::Card, stan: u32) -> Message {
    let mut m = purchase(card.pan_str(), ACQUIRER, stan, 1500);
    m.set(14, std::str::from_utf8(&card.expiry).unwrap());
    let block = host(ACQ_ZPK)
        .pin_block(&card.pin(), &card.pan)
        .unwrap()
        .unwrap();
    m.set_binary(52, &block);
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_module_answers_in_time_or_the_acquirer_gets_91() {
    tokio::time::timeout(BOUND, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let text = config(listener.local_addr().unwrap());
        let config = Config::parse(&text, Path::new("/test.toml")).unwrap();
        let (routing, _) = routing_rules::RoutingTable::load(&config.rules).unwrap();
        let delay_ms = Arc::new(AtomicU64::new(100));
        let module = SlowModule {
            inner: SoftwareSecurityModule::from_config(&config.security),
            delay_ms: delay_ms.clone(),
        };
        let sw = RunningSwitch::start_with_security(
            SwitchOptions {
                config,
                routing,
                saf: None,
                journal: None,
            },
            Arc::new(module),
        )
        .await
        .unwrap();
        let mut iss = accept(&listener, WAIT).await;
        let sign_on = iss.recv(WAIT).await.expect("sign-on");
        iss.send(&answer(&sign_on, "00")).await;
        tests::wait_for_sign_on(&sw, 1, WAIT).await;
        let mut acq = Peer::connect(sw.listening["hsm-acquirer"]).await;
        let card = card();

        // 100 ms: forwarded, translated under the issuer's key.
        acq.send(&purchase_with_pin(&card, 1)).await;
        let fwd = iss
            .recv(WAIT)
            .await
            .expect("forwarded after the module answered");
        let block = fwd.get(52).unwrap().bytes().into_owned();
        assert_eq!(
            host(ISS_ZPK).pin_matches(&block, &card.pan, &card.pin()),
            Some(Ok(true))
        );
        iss.send(&answer(&fwd, "00")).await;
        let r = acq.recv(WAIT).await.expect("answer");
        assert_eq!(r.response_code().as_deref(), Some("00"));

        // 3 s, past the switch's 2 s: 91 at the deadline, nothing forwarded.
        delay_ms.store(3000, Ordering::SeqCst);
        let sent = tokio::time::Instant::now();
        acq.send(&purchase_with_pin(&card, 2)).await;
        let r = acq.recv(WAIT).await.expect("91 at the deadline");
        assert_eq!(
            (r.response_code().as_deref(), r.stan()),
            (Some("91"), Some(2))
        );
        let waited = sent.elapsed();
        assert!(
            waited >= Duration::from_millis(1900) && waited < Duration::from_millis(2900),
            "{waited:?}"
        );
        iss.expect_silence(
            Duration::from_millis(1500),
            "a request whose translation came too late",
        )
        .await;
        assert!(
            tests::wait_until(WAIT, || sw.core().stats().pin_late_answers == 1).await,
            "the late answer is counted"
        );
        sw.shutdown().await;
    })
    .await
    .unwrap_or_else(|_| panic!("test did not finish within {BOUND:?}"));
}
