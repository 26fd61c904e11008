//! The admin listener: a bounded number of connections, each HTTP/1.1 under
//! the limits of [`crate::net::http1`]; routes for the console's files (no
//! data in them: served without the token, so a browser can load the page and
//! ask for the token), the status API and the metrics (both behind the token
//! when there is one). Unknown paths are 404, other methods 405, and a request
//! hyper cannot parse gets 400 from hyper itself.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::access::AdminToken;
use super::status::{self, Inputs, JournalStatus, SettlementTotals};
use crate::net::http1::{accept_within, serve_connection, Limits};
use crate::net::runtime::{unix_ms, Shared};

/// Connections served at once; more wait in the backlog.
pub const MAX_CONNECTIONS: usize = 16;
/// The bounds on a request (nothing the console sends comes near them).
const LIMITS: Limits = Limits {
    max_head: 8192,
    max_headers: 32,
    header_timeout: Duration::from_secs(5),
};
/// How often the last settlement is computed again (it reads the journal).
const SETTLEMENT_EVERY: Duration = Duration::from_secs(60);

const PAGE: &str = include_str!("console.html");
const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");

/// How to serve the admin address.
pub struct AdminOptions {
    /// Where to listen (port 0: any free port).
    pub address: SocketAddr,
    /// The token requests must carry (see [`super::access`]).
    pub token: AdminToken,
    /// The metrics to render on `/metrics`; None: 404 there.
    pub metrics: Option<PrometheusHandle>,
}

/// What the handlers share.
struct Console {
    shared: Arc<Shared>,
    token: AdminToken,
    metrics: Option<PrometheusHandle>,
    /// The last settlement computed, and when it was asked for.
    settlement: Mutex<(Option<Instant>, Option<SettlementTotals>)>,
}

/// Bind the admin address; the returned task serves it until the switch stops.
pub(crate) fn bind(
    shared: Arc<Shared>,
    options: AdminOptions,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()>)> {
    let listener = crate::net::runtime::listen(options.address)?;
    let address = listener.local_addr()?;
    let console = Arc::new(Console {
        shared,
        token: options.token,
        metrics: options.metrics,
        settlement: Mutex::new((None, None)),
    });
    Ok((address, serve(listener, console)))
}

async fn serve(listener: TcpListener, console: Arc<Console>) {
    let mut stop = console.shared.stop.subscribe();
    let app = router(console.clone());
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    while let Some((tcp, _, permit)) = accept_within(&listener, &limit, &mut stop, "admin").await {
        let (app, stop) = (app.clone(), stop.clone());
        tokio::spawn(async move {
            if let Err(e) = serve_connection(tcp, app, stop, LIMITS).await {
                tracing::debug!(error = %e, "admin connection ended");
            }
            drop(permit);
        });
    }
}

fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/console.js", get(script))
        .route("/console.css", get(style))
        .route("/api/status", get(api_status))
        .route("/metrics", get(metrics))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(console)
}

/// One of the page's files, never cached (a new switch may bring a new page).
fn file(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'",
            ),
        ],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    file(PAGE, "text/html; charset=utf-8")
}

async fn script() -> Response {
    file(SCRIPT, "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    file(STYLE, "text/css; charset=utf-8")
}

fn unauthorized() -> Response {
    let mut r = (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

async fn metrics(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if !console.token.allows(&headers) {
        return unauthorized();
    }
    match &console.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "no metrics recorder in this process\n",
        )
            .into_response(),
    }
}

async fn api_status(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if !console.token.allows(&headers) {
        return unauthorized();
    }
    let last_settlement = console.last_settlement();
    let shared = &console.shared;
    let now = shared.now();
    let unix = unix_ms();
    let stats = shared.core.stats();
    let certificates = shared
        .links
        .iter()
        .filter_map(|h| h.certificate.clone().map(|c| (*h.key(), c)))
        .collect();
    let dialing: Vec<String> = shared.dialing.iter().map(|d| d.key().clone()).collect();
    let journal = shared.store.as_ref().map(|store| {
        let p99 = store.commit_p99();
        JournalStatus {
            backend: store.backend(),
            durability: match store.durability() {
                crate::config::Durability::Strict => "strict",
                crate::config::Durability::Relaxed => "relaxed",
            },
            backlog: store.backlog(),
            commit_p99_ms: p99.map(|(d, _)| d.as_secs_f64() * 1000.0),
            commits_measured: p99.map_or(0, |(_, n)| n),
        }
    });
    let business_day = shared.store.as_ref().map(|s| s.business_day(unix));
    let history = shared.history.lock().unwrap_or_else(|p| p.into_inner());
    let document = status::build(Inputs {
        config: &shared.config,
        stats: &stats,
        now,
        unix_ms: unix,
        certificates: &certificates,
        dialing: &dialing,
        history: &history,
        saf: shared.core.saf_by_issuer(now),
        journal,
        business_day,
        last_settlement,
    });
    drop(history);
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(document)).into_response()
}

impl Console {
    /// The last settlement computed; asks for a new one (off the workers) when
    /// the last is older than [`SETTLEMENT_EVERY`].
    fn last_settlement(self: &Arc<Console>) -> Option<SettlementTotals> {
        let journal = self.shared.config.journal.as_ref()?;
        let mut g = self.settlement.lock().unwrap_or_else(|p| p.into_inner());
        let due = g.0.is_none_or(|at| at.elapsed() >= SETTLEMENT_EVERY);
        if due {
            g.0 = Some(Instant::now());
            let me = self.clone();
            let cutover_secs = journal.cutover_secs;
            tokio::task::spawn_blocking(move || {
                // The open day as the running switch has it (a manual cutover
                // moves it); the last settlement is the day before.
                let open = me.shared.store.as_ref().map_or_else(
                    || crate::store::business_day::scheduled_day(unix_ms(), cutover_secs),
                    |s| s.business_day(unix_ms()),
                );
                let day = crate::store::business_day::format_day(open - 1);
                match crate::store::commands::settlement(&me.shared.config, Some(&day)) {
                    Ok(report) => {
                        let totals = totals_of(&day, &report.settlement);
                        me.settlement.lock().unwrap_or_else(|p| p.into_inner()).1 = Some(totals);
                    }
                    Err(e) => tracing::warn!(error = %e, "console: last settlement not computed"),
                }
            });
        }
        g.1.clone()
    }
}

/// A settlement's totals per currency.
fn totals_of(day: &str, s: &crate::store::settlement::Settlement) -> SettlementTotals {
    let mut by: std::collections::BTreeMap<u16, (i64, rust_decimal::Decimal, i64)> =
        Default::default();
    for p in &s.pairs {
        let t = by.entry(p.currency).or_default();
        t.0 += p.count;
        t.1 += p.amount;
        t.2 += p.stand_in_count;
    }
    SettlementTotals {
        day: day.to_string(),
        currencies: by
            .into_iter()
            .map(
                |(currency, (count, amount, stand_in_count))| status::CurrencyTotal {
                    currency,
                    count,
                    amount: amount.to_string(),
                    stand_in_count,
                },
            )
            .collect(),
    }
}
