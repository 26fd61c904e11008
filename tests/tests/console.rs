//! The operator console on the admin address, over loopback, with the real
//! simulators: two issuer hosts and two acquirer hosts loading the switch.
//! The status API and the page carry no card number (every PAN of the
//! simulators' catalogue is looked for), a wrong or missing token gets 401,
//! and a real browser (headless Chromium kept on the page, asked through the
//! DevTools protocol while the page polls /api/status every second) finds
//! every link with its state, sees an issuer's link go down within 3 s of its
//! host being stopped and come back, and saves a screenshot. Without Chromium the browser part prints that it
//! skipped, unless CHROMIUM_REQUIRED=1 (CI).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use simulators::acquirer::execute;
use simulators::cards::CardBase;
use simulators::issuer::{self, RunningIssuer};
use switch::admin::{AdminOptions, AdminToken};
use tests::browser::Browser;
use tests::{
    acquirer_options, bounded, issuer_options, national_rules, national_table, start_switch_with,
    wait_for_sign_on, CARDS_PER_RANGE,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const ISSUERS: [&str; 2] = ["940810", "940820"];
const ACQUIRERS: [(&str, &str); 2] = [("harbour-trade", "940830"), ("riverside", "940870")];
const TOKEN: &str = "console-test-token-0123456789";

fn config(issuers: &[(&str, SocketAddr)], journal: &Path) -> String {
    let mut text = format!(
        "[switch]\ninstitution_id = \"940000\"\nrules = \"{}\"\nshutdown_grace_ms = 500\n\n\
         [journal]\npath = \"{}\"\ndurability = \"strict\"\npan_key = {{ env = \"CONSOLE_TEST_UNSET_VARIABLE\" }}\n",
        national_rules(),
        journal.display()
    );
    for (name, bank) in ACQUIRERS {
        text.push_str(&format!(
            "\n[[link]]\nname = \"{name}\"\nrole = \"acquirer\"\nbank = \"{bank}\"\ndirection = \"listen\"\naddress = \"127.0.0.1:0\"\n"
        ));
    }
    for (bank, addr) in issuers {
        text.push_str(&format!(
            "\n[[link]]\nname = \"issuer-{bank}\"\nrole = \"issuer\"\nbank = \"{bank}\"\ndirection = \"dial\"\naddress = \"{addr}\"\ntimeout_ms = 2000\necho_interval_ms = 1000\n"
        ));
    }
    text
}

/// One GET with `Connection: close`: the status code and the body.
async fn get(addr: SocketAddr, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut response))
        .await
        .expect("answered within 5 s")
        .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// No PAN of the simulators' catalogue, nor anything the suite's log scan
/// takes for card data or key material (a Luhn-valid PAN under the national
/// prefix, track 2, a long hex run).
fn assert_no_card_data(what: &str, text: &str, pans: &[String]) {
    for pan in pans {
        assert!(!text.contains(pan.as_str()), "{what} holds a PAN");
    }
    let found = tests::secrets::findings(text);
    assert!(found.is_empty(), "{what}: {found:?}");
}

async fn start_issuer(bank: &str, listen: &str) -> RunningIssuer {
    let mut opts = issuer_options(bank);
    opts.listen = Some(listen.to_string());
    issuer::start(opts, &national_table())
        .await
        .unwrap_or_else(|e| panic!("issuer {bank}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_under_load_shows_links_and_no_card_data() {
    bounded(async {
        let mut issuers = Vec::new();
        for bank in ISSUERS {
            issuers.push((bank, start_issuer(bank, "127.0.0.1:0").await));
        }
        let addrs: Vec<_> = issuers.iter().map(|(b, r)| (*b, r.addr.unwrap())).collect();
        // A journal (SQLite, strict): the console shows it, the business day
        // and the last settlement. Its keys are the test's own.
        let dir = std::env::temp_dir().join(format!("console-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut sw = start_switch_with(&config(&addrs, &dir.join("journal.db")), |options| {
            options.config.journal.as_mut().unwrap().pan_key =
                Some(switch::config::SecretKey::new(vec![7; 32]));
            options.vault_kek = Some(card_security::KeyMaterial::new(vec![9; 32]));
        })
        .await;
        wait_for_sign_on(&sw, ISSUERS.len(), Duration::from_secs(5)).await;
        let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
        // Beyond loopback without a token: refused (the switch binary exits).
        assert!(AdminToken::checked(None, "SWITCH_ADMIN_TOKEN", any).is_err());
        let token = AdminToken::checked(Some(TOKEN.into()), "SWITCH_ADMIN_TOKEN", any).unwrap();
        let admin = sw
            .serve_admin(AdminOptions {
                address: "127.0.0.1:0".parse().unwrap(),
                token,
                metrics: None,
            })
            .unwrap();

        // Load: both acquirers at 150 TPS each, for at most 60 s (stopped
        // when the checks are done), so their links stay up while the browser
        // looks.
        let load: Vec<_> = ACQUIRERS
            .iter()
            .map(|(name, bank)| {
                let mut opts =
                    acquirer_options(sw.listening[*name], bank, &ISSUERS, 9_000, 2, 4, 4_000);
                opts.concurrency = None;
                opts.rate = Some(150.0);
                opts.duration = Some(60.0);
                tokio::spawn(async move { execute(&opts, false).await })
            })
            .collect();
        let pans: Vec<String> = CardBase::generate(&national_table(), 1, CARDS_PER_RANGE)
            .cards()
            .iter()
            .map(|c| c.pan_str().to_string())
            .collect();
        assert!(pans.len() > 100);

        // Under load: the API (several times) and the page's files.
        let (mut answered, mut settled) = (false, false);
        for _ in 0..40 {
            let (status, body) = get(admin, "/api/status", Some(&bearer())).await;
            assert_eq!(status, 200, "{body}");
            assert_no_card_data("/api/status", &body, &pans);
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(json["version"], 1);
            assert_eq!(json["links"].as_array().unwrap().len(), 4);
            assert_eq!(json["journal"]["backend"], "sqlite", "{json}");
            assert_eq!(json["journal"]["durability"], "strict");
            assert!(json["business_day"].is_string(), "{json}");
            answered |= json["response_codes"]["by_acquirer"]["940830"].is_array()
                && json["journal"]["commits_measured"].as_u64() > Some(0);
            // Computed off the request path: there from a later answer on.
            settled |= json["last_settlement"]["currencies"].is_array();
            if answered && settled {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(answered, "no answers or commits counted within 10 s");
        assert!(settled, "no last settlement within 10 s");
        for path in ["/", "/console.js", "/console.css"] {
            let (status, body) = get(admin, path, None).await;
            assert_eq!(status, 200, "{path}");
            assert_no_card_data(path, &body, &pans);
        }

        // Access: wrong or missing token 401, also on /metrics; 404 and 405.
        for auth in [None, Some("Bearer wrong-token-0123456789"), Some(TOKEN)] {
            assert_eq!(get(admin, "/api/status", auth).await.0, 401, "{auth:?}");
            assert_eq!(get(admin, "/metrics", auth).await.0, 401, "{auth:?}");
        }
        assert_eq!(get(admin, "/nowhere", None).await.0, 404);
        let mut tcp = TcpStream::connect(admin).await.unwrap();
        tcp.write_all(b"POST /api/status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 405"), "{}", String::from_utf8_lossy(&answer));

        browser(admin, &mut issuers, &pans).await;

        for t in &load {
            assert!(!t.is_finished(), "the load ended before the checks did");
            t.abort();
        }
        sw.shutdown().await;
        for (_, i) in issuers {
            let _ = i.stop().await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

/// Where the test writes the screenshot (beside cargo's output).
fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the page shows now: each link's `data-link` and `data-state`.
const LINK_STATES: &str = "JSON.stringify(Array.from(document.querySelectorAll('[data-link]')).map(e => [e.dataset.link, e.dataset.state]))";

/// The state the page shows for each link, asked of the live page.
async fn shown_states(page: &mut Browser) -> BTreeMap<String, String> {
    let reply: serde_json::Value = serde_json::from_str(&page.evaluate(LINK_STATES).await).unwrap();
    let value = reply["result"]["result"]["value"].as_str().unwrap_or("[]");
    let pairs: Vec<(String, String)> = serde_json::from_str(value).unwrap();
    pairs.into_iter().collect()
}

/// Ask the page every 100 ms, for at most `within`, until `link` shows a
/// state `wanted` accepts; how long that took.
async fn until_shown(
    page: &mut Browser,
    link: &str,
    within: Duration,
    wanted: impl Fn(&str) -> bool,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if shown_states(page)
            .await
            .get(link)
            .is_some_and(|s| wanted(s))
        {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

async fn browser(admin: SocketAddr, issuers: &mut Vec<(&str, RunningIssuer)>, pans: &[String]) {
    let Some(chrome) = tests::browser::chromium() else {
        assert!(
            !tests::browser::required(),
            "CHROMIUM_REQUIRED=1 but no chromium (apt-get install chromium)"
        );
        println!(
            "skipped: the browser part of the console test (no chromium; apt-get install chromium)"
        );
        return;
    };
    let url = format!("http://{admin}/#token={TOKEN}");
    let mut page = Browser::open(&chrome, &url).await;
    // Every configured link, with the state it has (the page's first polls).
    let mut states = BTreeMap::new();
    let loaded = Instant::now();
    while loaded.elapsed() < Duration::from_secs(10) {
        states = shown_states(&mut page).await;
        if states.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // An acquirer host with one switch address does not sign on: connected is "up".
    for (name, _) in ACQUIRERS {
        assert_eq!(
            states.get(name).map(String::as_str),
            Some("up"),
            "{name}: {states:?}"
        );
    }
    for bank in ISSUERS {
        let name = format!("issuer-{bank}");
        assert_eq!(
            states.get(&name).map(String::as_str),
            Some("signed-on"),
            "{states:?}"
        );
    }
    let dom = page.evaluate("document.documentElement.outerHTML").await;
    assert_no_card_data("the page's DOM", &dom, pans);

    // The second issuer's host stops: its link is shown down within 3 s.
    let (bank, host) = issuers.pop().unwrap();
    let addr = host.addr.unwrap();
    let link = format!("issuer-{bank}");
    let _ = host.stop().await;
    let took = until_shown(&mut page, &link, Duration::from_secs(10), |s| {
        s == "down" || s == "connecting"
    })
    .await
    .expect("the link shown down within 10 s");
    println!(
        "console: {link} shown down {} ms after its host stopped",
        took.as_millis()
    );
    assert!(
        took <= Duration::from_secs(3),
        "shown down only after {took:?}"
    );

    // It comes back on the same address: shown signed on again (the switch
    // redials with backoff, up to 5 s between tries).
    issuers.push((bank, start_issuer(bank, &addr.to_string()).await));
    let took = until_shown(&mut page, &link, Duration::from_secs(15), |s| {
        s == "signed-on"
    })
    .await
    .expect("the link shown signed on again within 15 s");
    println!(
        "console: {link} shown signed on {} ms after its host came back",
        took.as_millis()
    );
    page.close();

    let shot = out_dir().join("console.png");
    let _ = std::fs::remove_file(&shot);
    let path = shot.clone();
    tokio::task::spawn_blocking(move || {
        tests::browser::screenshot(&chrome, &url, &path, (1100, 900), 1500)
    })
    .await
    .unwrap();
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    println!("console: screenshot {}", shot.display());
}
