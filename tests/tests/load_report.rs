//! `sim acquirer --json --report-html FILE` against `sim issuer` over loopback:
//! the page embeds the very JSON report of the run, its per-second series add up
//! to the run's figures, and in a real browser (headless Chromium) it renders
//! without console errors, shows those figures, and makes a screenshot.
//!
//! Without Chromium the browser half prints that it skipped, unless
//! `CHROMIUM_REQUIRED=1` (CI), where a missing browser fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use simulators::acquirer::report_html::embedded_data;
use simulators::acquirer::{execute, write_html_report};
use simulators::issuer;
use tests::{acquirer_options, bounded, issuer_options, national_table};

const ISSUER: &str = "940810"; // Morning Star Commercial Bank
const ACQUIRER: &str = "940830"; // Harbour Trade Bank's host
/// The browser's program (Debian's `chromium` package).
const CHROMIUM: &str = "chromium";
/// Longest a browser run may take.
const BROWSER_BOUND: Duration = Duration::from_secs(40);

fn column(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_u64().unwrap_or(0))
        .collect()
}

/// The per-second series and the histogram add up to the report's figures.
fn assert_series_match(data: &Value, json: &Value) {
    let series = &data["series"];
    let answered: u64 = column(&series["answered"]).iter().sum();
    assert_eq!(answered, json["answered"].as_u64().unwrap(), "{series}");
    let timed_out: u64 = column(&series["timed_out"]).iter().sum();
    assert_eq!(timed_out, json["timed_out"].as_u64().unwrap());
    let codes: BTreeMap<String, u64> = series["response_codes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(rc, col)| (rc.clone(), column(col).iter().sum()))
        .collect();
    let reported: BTreeMap<String, u64> = json["response_codes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(rc, n)| (rc.clone(), n.as_u64().unwrap()))
        .collect();
    assert_eq!(codes, reported);
    let worst = column(&series["latency_us"]["max"]).into_iter().max();
    assert_eq!(worst, json["latency_us"]["max"].as_u64());
    let binned: u64 = data["latency_histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(binned, answered);
    let seconds = series["seconds"].as_u64().unwrap();
    assert!(
        seconds >= 3,
        "a 3 s run spans at least 3 seconds: {seconds}"
    );
}

/// Whether the browser is there; panics when it must be.
fn chromium_or_skip() -> bool {
    let found = Command::new(CHROMIUM)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CHROMIUM_REQUIRED").as_deref() != Ok("1"),
            "CHROMIUM_REQUIRED=1 and no {CHROMIUM} on the PATH"
        );
        eprintln!("skipped the browser checks: no {CHROMIUM}");
    }
    found
}

/// Run headless Chromium with `args` on `page` (its own profile in `dir`);
/// its stdout and stderr. Killed after [`BROWSER_BOUND`].
async fn chromium(dir: &Path, name: &str, args: &[&str], page: &Path) -> (String, String) {
    let out = dir.join(format!("{name}.stdout"));
    let err = dir.join(format!("{name}.stderr"));
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox", // the tests may run as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", dir.join(name).display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}"));
    let deadline = tokio::time::Instant::now() + BROWSER_BOUND;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = std::fs::read_to_string(&err).unwrap_or_default();
            assert!(status.success(), "{CHROMIUM} {name}: {status}\n{stderr}");
            return (std::fs::read_to_string(&out).unwrap(), stderr);
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{CHROMIUM} {name} did not finish within {BROWSER_BOUND:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `name="value"` attributes of the elements of `dom` that carry `key`.
fn attributes<'a>(dom: &'a str, key: &str, value: &str) -> BTreeMap<&'a str, &'a str> {
    let open = format!("{key}=\"");
    let mut found = BTreeMap::new();
    for (i, _) in dom.match_indices(&open) {
        let rest = &dom[i + open.len()..];
        let k = &rest[..rest.find('"').unwrap()];
        let tag_end = rest.find('>').unwrap();
        let tag = &rest[..tag_end];
        let vopen = format!("{value}=\"");
        if let Some(j) = tag.find(&vopen) {
            let v = &tag[j + vopen.len()..];
            found.insert(k, &v[..v.find('"').unwrap()]);
        }
    }
    found
}

/// The page as the browser drew it: rendered, no console errors, the figures
/// of the JSON report; and a screenshot.
async fn check_in_browser(page: &Path, json: &Value, dir: &Path) {
    let (dom, stderr) = chromium(dir, "dom", &["--dump-dom"], page).await;
    // What the script drew (the scripts themselves come after it).
    let drawn = &dom[..dom.find("<script").unwrap_or(dom.len())];
    let console: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(
        dom.contains(r#"data-rendered="ok""#),
        "the page did not finish drawing:\n{dom}"
    );
    assert!(drawn.matches("<svg").count() >= 4, "four charts");

    // Every summary figure shows the JSON report's value.
    let figures = attributes(drawn, "data-key", "data-value");
    for key in ["sent", "answered", "timed_out", "tps", "errors"] {
        assert_eq!(
            figures.get(key).copied(),
            Some(json[key].to_string().as_str()),
            "{key}"
        );
    }
    for q in ["p50", "p90", "p99", "p999", "max"] {
        let key = format!("latency_us.{q}");
        assert_eq!(
            figures.get(key.as_str()).copied(),
            Some(json["latency_us"][q].to_string().as_str()),
            "{key}"
        );
    }
    // The approvals table and the codes table are the report's.
    let approvals = attributes(drawn, "data-issuer", "data-count");
    let expected: BTreeMap<&str, String> = json["approved"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, t)| (id.as_str(), t["count"].to_string()))
        .collect();
    assert_eq!(
        approvals,
        expected.iter().map(|(k, v)| (*k, v.as_str())).collect()
    );
    let codes = attributes(drawn, "data-code", "data-count");
    assert_eq!(
        codes.len(),
        json["response_codes"].as_object().unwrap().len()
    );
    for (rc, n) in &codes {
        assert_eq!(json["response_codes"][*rc].to_string(), *n, "code {rc}");
    }

    let shot = dir.join("load-report.png");
    let arg = format!("--screenshot={}", shot.display());
    chromium(
        dir,
        "shot",
        &[&arg, "--window-size=1200,900", "--hide-scrollbars"],
        page,
    )
    .await;
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(
        png.len() > 10_000,
        "a screenshot of something: {} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_shows_the_json_reports_figures_in_a_browser() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("load_report");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    let json = {
        let page = page.clone();
        let mut report = None;
        bounded(async {
            let iss = issuer::start(issuer_options(ISSUER), &national_table())
                .await
                .unwrap_or_else(|e| panic!("issuer: {e}"));
            // Open loop, 3 s at 200 TPS over 2 links: several seconds to chart.
            let mut opts = acquirer_options(iss.addr.unwrap(), ACQUIRER, &[ISSUER], 0, 2, 1, 5000);
            (opts.rate, opts.concurrency, opts.count) = (Some(200.0), None, None);
            opts.duration = Some(3.0);
            // As `--report-html`: the run keeps its per-second counters.
            opts.report_html = Some(page.clone());
            let r = execute(&opts, false).await.unwrap();
            iss.stop().await.unwrap();
            // What `sim acquirer --json --report-html` does with its report.
            let json = r.to_json();
            write_html_report(&opts, &r, &json, &page).unwrap();
            eprintln!(
                "series: {} seconds, {} bytes of sealed seconds",
                r.stats.series.len(),
                r.stats.series.heap_bytes()
            );
            report = Some(json);
        })
        .await;
        report.unwrap()
    };
    assert!(json["answered"].as_u64().unwrap() > 500, "{json}");

    let html = std::fs::read_to_string(&page).unwrap();
    for remote in ["http://", "https://", "src=", "href="] {
        assert!(!html.contains(remote), "{remote:?} in the page");
    }
    let data = embedded_data(&html).unwrap();
    assert_eq!(data["report"], json, "the page embeds the JSON report");
    assert_series_match(&data, &json);

    if chromium_or_skip() {
        check_in_browser(&page, &json, &dir).await;
    }
}
