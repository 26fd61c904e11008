//! What the host-level runners (`sim-compare`, `switch-compare`) put on loopback
//! beside the real simulators and switch: the references they are measured against
//! and the glue to start everything on free ports.
//!
//! - frames: [`complete_frames`] finds the whole `binary2` frames (two-byte
//!   big-endian length, then the body) at the start of a buffer without reading
//!   their content; [`mark_answers`] turns each request frame into an answer-shaped
//!   one by one byte (the MTI's function digit: 0200 → 0210);
//! - references: [`echo_server`] (writes every whole frame back, optionally with
//!   that one byte changed), [`relay`] (one upstream connection per downstream
//!   connection, whole frames copied both ways, nothing parsed), [`black_hole`] (an
//!   issuer host that answers network management and never answers a transaction)
//!   and [`echo_client`] (a bare load generator: N connections, one frame outstanding
//!   on each, latency per round trip);
//! - the real hosts: option builders for the issuer and acquirer simulators
//!   ([`issuer_options`], [`acquirer_options`]), a small switch configuration
//!   ([`switch_config`]) started in-process ([`start_switch`]);
//! - [`RequestStream`]: the acquirer simulator's own request builder and draws, for
//!   the runners' own clients; [`Figures`]: throughput and latency of a run;
//!   [`rss_bytes`]: a process's resident memory.
//!
//! Everything listens on 127.0.0.1 port 0 (a free port) and every run has a bound.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use codecs::{Mti, ResponseCode};
use hdrhistogram::Histogram;
use routing_rules::RoutingTable;
use serde_json::{json, Value};
use simulators::acquirer::report::Report;
use simulators::acquirer::request::{ClockCache, RequestBuilder, RequestKeys, StanSequence};
use simulators::acquirer::traffic::{Mix, PlanOptions, TrafficGen, TrafficPlan};
use simulators::acquirer::{AcquirerOptions, RequestType};
use simulators::cards::CardBase;
use simulators::issuer::faults::Latency;
use simulators::issuer::IssuerOptions;
use simulators::wire::LinkFormat;
use switch::config::Config;
use switch::net::{RunningSwitch, SwitchOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Bytes of the `binary2` length header.
pub const HEADER: usize = 2;

/// The acquiring bank of the load: the Central Bank's host in Hamhung. The
/// national rules route every card of [`ISSUER_BANK`] acquired there (its payroll
/// cards are those of South Hamgyong enterprises, at home in Hamhung), so the
/// switch declines nothing itself and every request reaches the issuer, as through
/// the relay (`switch-compare` checks this: `*_issuer_share`).
pub const ACQUIRER_BANK: &str = "940857";
/// The issuing bank whose cards the load uses (Morning Star Bank).
pub const ISSUER_BANK: &str = "940810";
/// Seed of the card base and the draws (the simulators' default).
pub const SEED: u64 = 1;
/// Cards per BIN range (the simulators' default).
pub const CARDS_PER_RANGE: usize = 1000;
/// The transaction mix (the acquirer simulator's default).
pub const MIX: &str = "purchase=70,cash=20,balance=10";

/// Read buffer of the references' connections (grown when a frame is larger).
const READ_BUF: usize = 64 * 1024;

/// The national routing rules the simulators and the switch load.
pub fn national_rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../routing-rules/rules/national.toml")
}

/// Load the national routing rules.
pub fn load_rules() -> Result<RoutingTable, String> {
    let path = national_rules();
    RoutingTable::load(&path)
        .map(|(table, _warnings)| table)
        .map_err(|e| format!("{}: {e}", path.display()))
}

// ------------------------------------------------------------------ frames

/// Bytes taken by the complete `binary2` frames at the start of `buf` (headers
/// included); what follows is the start of a frame still arriving.
pub fn complete_frames(buf: &[u8]) -> usize {
    let mut at = 0;
    while let Some(&[hi, lo]) = buf.get(at..at + HEADER) {
        let end = at + HEADER + usize::from(u16::from_be_bytes([hi, lo]));
        if end > buf.len() {
            break;
        }
        at = end;
    }
    at
}

/// In each complete `binary2` frame of `frames`, turn a request MTI's function
/// digit into the answer's (0200 → 0210, 0800 → 0810) by adding one to that
/// ASCII digit when it is even. One byte per frame; nothing else is read.
pub fn mark_answers(frames: &mut [u8]) {
    let mut at = 0;
    while let Some(&[hi, lo]) = frames.get(at..at + HEADER) {
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len >= 4 {
            if let Some(digit) = frames.get_mut(at + HEADER + 2) {
                if matches!(*digit, b'0' | b'2' | b'4' | b'6' | b'8') {
                    *digit += 1;
                }
            }
        }
        at += HEADER + len;
    }
}

/// `body` with its `binary2` header.
pub fn with_header(body: &[u8]) -> Result<Vec<u8>, String> {
    let len = u16::try_from(body.len()).map_err(|_| "frame longer than 65535 bytes")?;
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Read into `buf`, making room first; Ok(false) at end of stream.
async fn fill(reader: &mut (impl AsyncRead + Unpin), buf: &mut BytesMut) -> bool {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(READ_BUF);
    }
    matches!(reader.read_buf(buf).await, Ok(n) if n > 0)
}

// ------------------------------------------------------------------ main

/// The `main` of a runner: with `parsed` flags (`None`: `--help`, print `usage`),
/// run `body` on a multi-thread runtime and print the report line it returns.
/// Exit status 2 for bad flags; 1 when `body` fails, or reports an unclean run
/// (then `unclean` goes to stderr).
pub fn runner_main<O, Fut>(
    name: &str,
    usage: &str,
    parsed: Result<Option<O>, String>,
    unclean: &str,
    body: impl FnOnce(O) -> Fut,
) -> std::process::ExitCode
where
    Fut: Future<Output = Result<(Value, bool), String>>,
{
    use std::process::ExitCode;
    let options = match parsed {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{usage}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{name}: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let outcome = match runtime {
        Ok(runtime) => runtime.block_on(body(options)),
        Err(e) => Err(format!("cannot start the runtime: {e}")),
    };
    match outcome {
        Ok((report, clean)) => {
            println!("{report}");
            if clean {
                return ExitCode::SUCCESS;
            }
            eprintln!("{name}: {unclean}");
        }
        Err(e) => eprintln!("{name}: {e}"),
    }
    ExitCode::FAILURE
}

// ------------------------------------------------------------- references

/// A server task on a loopback port; dropping it stops the server and every
/// connection it serves.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Bind a free loopback port.
pub async fn bind() -> Result<TcpListener, String> {
    TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))
}

/// Accept connections on `listener`, each served by `handler` in its own task
/// (`TCP_NODELAY` on, as the simulators and the switch set it).
pub fn serve<F, Fut>(listener: TcpListener, handler: F) -> Result<Server, String>
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let task = tokio::spawn(async move {
        // Dropped with the accept task: aborts every connection task.
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        connections.spawn(handler(stream));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    });
    Ok(Server { addr, task })
}

/// The bare echo: every whole frame read is written back at once, unchanged or,
/// with `answer`, with [`mark_answers`] applied (so that a load generator that
/// matches answers by MTI and STAN takes it for the answer).
pub async fn echo_server(answer: bool) -> Result<Server, String> {
    serve(bind().await?, move |stream| echo(stream, answer))
}

async fn echo(mut stream: TcpStream, answer: bool) {
    let mut buf = BytesMut::with_capacity(READ_BUF);
    while fill(&mut stream, &mut buf).await {
        let n = complete_frames(&buf);
        if n == 0 {
            continue;
        }
        if answer {
            mark_answers(&mut buf[..n]);
        }
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
        buf.advance(n);
    }
}

/// The plain frame relay: for each connection accepted, one connection to
/// `upstream`; whole frames are copied both ways as they complete, never parsed.
/// Answers find their way back because each downstream connection has its own
/// upstream connection.
pub async fn relay(upstream: SocketAddr) -> Result<Server, String> {
    serve(bind().await?, move |down| {
        relay_connection(down, upstream, None)
    })
}

/// [`relay`] spread over several upstreams: the k-th connection accepted goes to
/// `upstreams[k % n]`, so that a load generator's links are split evenly between
/// the switch nodes of a cluster (`switch-compare --compare store`).
pub async fn relay_spread(upstreams: Vec<SocketAddr>) -> Result<Server, String> {
    if upstreams.is_empty() {
        return Err("a spread relay needs at least one upstream".into());
    }
    let accepted = AtomicUsize::new(0);
    serve(bind().await?, move |down| {
        let k = accepted.fetch_add(1, Ordering::Relaxed);
        relay_connection(down, upstreams[k % upstreams.len()], None)
    })
}

/// Sees the whole `binary2` frames a [`relay_watching`] passes upstream, headers
/// included, as they go.
pub type FrameWatch = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// [`relay`], showing `watch` every frame sent upstream (to count what an issuer
/// host receives without touching it).
pub async fn relay_watching(upstream: SocketAddr, watch: FrameWatch) -> Result<Server, String> {
    serve(bind().await?, move |down| {
        relay_connection(down, upstream, Some(watch.clone()))
    })
}

async fn relay_connection(down: TcpStream, upstream: SocketAddr, watch: Option<FrameWatch>) {
    let Ok(up) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = up.set_nodelay(true);
    let (down_r, down_w) = down.into_split();
    let (up_r, up_w) = up.into_split();
    // Either direction ending ends both (the sockets close when dropped).
    tokio::select! {
        _ = forward(down_r, up_w, watch) => {}
        _ = forward(up_r, down_w, None) => {}
    }
}

/// Copy whole frames from `from` to `to` until either side ends, showing them to
/// `watch` first.
async fn forward(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    watch: Option<FrameWatch>,
) {
    let mut buf = BytesMut::with_capacity(READ_BUF);
    while fill(&mut from, &mut buf).await {
        let n = complete_frames(&buf);
        if n == 0 {
            continue;
        }
        if let Some(watch) = &watch {
            watch(&buf[..n]);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        buf.advance(n);
    }
}

/// What the [`black_hole`] issuer saw.
#[derive(Debug, Default)]
pub struct BlackHoleCounts {
    /// Transaction requests (0100, 0200) received and never answered.
    pub requests: AtomicU64,
    /// Network management requests (0800) answered 00.
    pub network: AtomicU64,
    /// Anything else (reversals, advices, answers).
    pub other: AtomicU64,
}

/// An issuer host that answers network management (sign-on, echo) with 00 and
/// reads and counts everything else without ever answering: every transaction the
/// switch forwards to it stays in flight in the switch.
pub async fn black_hole() -> Result<(Server, Arc<BlackHoleCounts>), String> {
    let counts = Arc::new(BlackHoleCounts::default());
    let format = LinkFormat::from_names("iso87ascii", "binary2")?;
    let shared = counts.clone();
    let server = serve(bind().await?, move |stream| {
        black_hole_connection(stream, format.clone(), shared.clone())
    })?;
    Ok((server, counts))
}

async fn black_hole_connection(
    mut stream: TcpStream,
    format: LinkFormat,
    counts: Arc<BlackHoleCounts>,
) {
    let mut buf = BytesMut::with_capacity(READ_BUF);
    while fill(&mut stream, &mut buf).await {
        let n = complete_frames(&buf);
        let mut frames = buf.split_to(n).freeze();
        while frames.len() >= HEADER {
            let len = usize::from(frames.get_u16());
            let body = frames.split_to(len.min(frames.len()));
            match body.get(..4) {
                Some(b"0800") => {
                    counts.network.fetch_add(1, Ordering::Relaxed);
                    let Ok(msg) = format.spec.decode(body) else {
                        continue;
                    };
                    let answer = simulators::messages::response_to(&msg, ResponseCode::APPROVED);
                    let Ok(out) = format.encode(&answer).map_err(|e| e.to_string()) else {
                        continue;
                    };
                    let Ok(frame) = with_header(&out) else {
                        continue;
                    };
                    if stream.write_all(&frame).await.is_err() {
                        return;
                    }
                }
                Some(b"0100" | b"0200") => {
                    counts.requests.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    counts.other.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Answers and latencies of a load run.
pub struct LoadResult {
    /// Requests sent.
    pub sent: u64,
    /// Requests answered.
    pub answered: u64,
    /// From the start of the load to its last answer.
    pub window: Duration,
    /// Round-trip time of each answered request, microseconds.
    pub latency: Histogram<u64>,
}

/// A bare closed-loop load generator: `frames.len()` connections to `addr`, each
/// sending its frames in turn (cycling), one outstanding, until `duration` has
/// passed; latency from just before the write to the whole answer frame read.
pub async fn echo_client(
    addr: SocketAddr,
    frames: Vec<Vec<Vec<u8>>>,
    duration: Duration,
) -> Result<LoadResult, String> {
    let histogram = latency_histogram()?;
    let mut streams = Vec::with_capacity(frames.len());
    for _ in 0..frames.len() {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        streams.push(stream);
    }
    let start = Instant::now();
    let end = start + duration;
    let mut tasks = JoinSet::new();
    for (stream, frames) in streams.into_iter().zip(frames) {
        tasks.spawn(echo_client_connection(
            stream,
            frames,
            end,
            histogram.clone(),
        ));
    }
    let mut result = LoadResult {
        sent: 0,
        answered: 0,
        window: Duration::ZERO,
        latency: histogram,
    };
    let mut last = start;
    while let Some(joined) = tasks.join_next().await {
        let (sent, answered, latency, finished) =
            joined.map_err(|e| format!("echo client task: {e}"))??;
        result.sent += sent;
        result.answered += answered;
        result
            .latency
            .add(&latency)
            .map_err(|e| format!("histogram: {e}"))?;
        last = last.max(finished);
    }
    result.window = last.saturating_duration_since(start);
    Ok(result)
}

type ConnectionResult = Result<(u64, u64, Histogram<u64>, Instant), String>;

async fn echo_client_connection(
    mut stream: TcpStream,
    frames: Vec<Vec<u8>>,
    end: Instant,
    mut latency: Histogram<u64>,
) -> ConnectionResult {
    let (mut sent, mut answered) = (0u64, 0u64);
    let mut buf = BytesMut::with_capacity(READ_BUF);
    let mut last = Instant::now();
    for frame in frames.iter().cycle() {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        stream
            .write_all(frame)
            .await
            .map_err(|e| format!("echo client write: {e}"))?;
        sent += 1;
        loop {
            let n = complete_frames(&buf);
            if n > 0 {
                // One outstanding: the first whole frame is the answer.
                let first = HEADER + usize::from(u16::from_be_bytes([buf[0], buf[1]]));
                buf.advance(first);
                break;
            }
            if !fill(&mut stream, &mut buf).await {
                return Err("the echo server closed the connection".into());
            }
        }
        last = Instant::now();
        answered += 1;
        let us = last.saturating_duration_since(t0).as_micros() as u64;
        let _ = latency.record(us.max(1));
    }
    Ok((sent, answered, latency, last))
}

/// An empty latency histogram: microseconds, 1 µs to 1 hour, 3 significant digits
/// (the acquirer simulator's).
pub fn latency_histogram() -> Result<Histogram<u64>, String> {
    simulators::acquirer::stats::latency_histogram()
}

// ----------------------------------------------------------- real hosts

/// Options of an issuer simulator for [`ISSUER_BANK`] listening on a free
/// loopback port: the command line's defaults, with `latency`.
pub fn issuer_options(latency: Latency) -> Result<IssuerOptions, String> {
    let mut o = IssuerOptions::defaults(ISSUER_BANK)?;
    o.rules = national_rules();
    o.spec = "iso87ascii".into();
    o.framing = "binary2".into();
    o.seed = SEED;
    o.cards_per_range = CARDS_PER_RANGE;
    o.latency = latency;
    o.max_connections = 256;
    Ok(o)
}

/// How an acquirer simulator drives its load.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Load {
    /// Closed loop: `connections` links, one request outstanding on each.
    Closed {
        /// Links.
        connections: usize,
    },
    /// Open loop at `tps` requests per second in all, over `connections` links.
    Rate {
        /// Links.
        connections: usize,
        /// Requests per second.
        tps: f64,
    },
}

/// Options of an acquirer simulator for [`ACQUIRER_BANK`] sending 0200s for
/// cards of [`ISSUER_BANK`] to `addr` for `secs` seconds.
pub fn acquirer_options(
    addr: SocketAddr,
    load: Load,
    secs: f64,
) -> Result<AcquirerOptions, String> {
    let (connections, rate, concurrency) = match load {
        Load::Closed { connections } => (connections, None, Some(1)),
        Load::Rate { connections, tps } => (connections, Some(tps), None),
    };
    let mut o = AcquirerOptions::defaults(&addr.to_string(), ACQUIRER_BANK)?;
    o.rules = national_rules();
    o.seed = SEED;
    o.cards_per_range = CARDS_PER_RANGE;
    o.issuers = vec![ISSUER_BANK.into()];
    o.spec = "iso87ascii".into();
    o.framing = "binary2".into();
    o.connections = connections;
    o.rate = rate;
    o.concurrency = concurrency;
    o.duration = Some(secs);
    o.count = None;
    o.mix = MIX.parse()?;
    o.invalid_rate = 0.0;
    o.timeout_ms = 10_000;
    o.mti = RequestType::Financial;
    o.currency = None;
    Ok(o)
}

/// What a runner puts in a switch configuration.
#[derive(Clone, Debug)]
pub struct SwitchShape {
    /// The acquirer listener (port 0: any free port).
    pub acquirer_listen: SocketAddr,
    /// The issuer host the switch dials.
    pub issuer: SocketAddr,
    /// Requests in flight per connection (both links) before RC 91.
    pub max_in_flight: usize,
    /// Issuer response timeout (both links; purchases and cash).
    pub timeout_ms: u64,
    /// Idle time before the switch echoes the issuer link.
    pub echo_interval_secs: u64,
    /// The durable journal (`[journal]`): database path and durability
    /// (`strict` or `relaxed`); None: no journal (records go to the debug log).
    pub journal: Option<(PathBuf, &'static str)>,
}

/// A key for the journal's keyed PAN hash in benchmark runs (32 bytes of hex; the
/// benchmark's own, protecting no real card).
pub const BENCH_PAN_KEY: &str = "62656e63682d6f6e6c792d6e6f742d612d7365637265742d6b65792d30303030";

/// The variable a benchmark configuration names for that key (keys are never
/// written in a configuration in the clear): [`parse_config`] puts the key in
/// for a switch in this process, a child switch gets the variable.
pub const BENCH_PAN_KEY_ENV: &str = "SWITCH_BENCH_PAN_KEY";

/// A key-encryption key for the vault of benchmark runs that need one (stand-in
/// keeps its advices' cards sealed under it when there is a journal): 32 bytes of
/// hex, the benchmark's own, protecting no real card.
pub const BENCH_KEK: &str = "62656e63682d6b656b2d70726f74656374732d6e6f2d7265616c2d636172642e";

/// The variable a benchmark configuration names for that key (`kek_env` of
/// [`kek_config`]): a child switch gets it in its environment, a switch in this
/// process gets the key itself ([`start_switch_with_kek`]).
pub const BENCH_KEK_ENV: &str = "SWITCH_BENCH_KEK";

/// What a configuration from [`switch_config`] adds to name [`BENCH_KEK_ENV`].
pub fn kek_config() -> String {
    format!("\n[switch.security]\nkek_env = \"{BENCH_KEK_ENV}\"\n")
}

/// [`BENCH_KEK`] as key material.
pub fn bench_kek() -> Result<card_security::KeyMaterial, String> {
    card_security::KeyMaterial::from_hex(BENCH_KEK).map_err(|e| e.to_string())
}

/// A switch configuration with one acquirer listener ([`ACQUIRER_BANK`]) and one
/// issuer link dialing [`ISSUER_BANK`]'s host, on the national rules; no metrics
/// endpoint; a journal only if `shape.journal` says so.
pub fn switch_config(shape: &SwitchShape) -> String {
    let mut text = links_config(shape);
    if let Some((path, durability)) = &shape.journal {
        text.push_str(&format!(
            "\n[journal]\npath = \"{}\"\ndurability = \"{durability}\"\npan_key = {{ env = \"{BENCH_PAN_KEY_ENV}\" }}\n",
            path.display().to_string().replace('\\', "/")
        ));
    }
    text
}

fn links_config(shape: &SwitchShape) -> String {
    format!(
        r#"[switch]
institution_id = "940000"
rules = "{rules}"
duplicate_window_ms = 300000
shutdown_grace_ms = 2000
read_timeout_ms = 60000

[[link]]
name = "acquirer"
role = "acquirer"
bank = "{acquirer}"
direction = "listen"
address = "{listen}"
spec = "iso87ascii"
framing = "binary2"
max_connections = 256
max_in_flight = {max_in_flight}
timeout_ms = {timeout}
cash_timeout_ms = {timeout}

[[link]]
name = "issuer"
role = "issuer"
bank = "{issuer_bank}"
direction = "dial"
address = "{issuer}"
spec = "iso87ascii"
framing = "binary2"
max_in_flight = {max_in_flight}
timeout_ms = {timeout}
cash_timeout_ms = {timeout}
echo_interval_ms = {echo}
"#,
        rules = national_rules().display().to_string().replace('\\', "/"),
        acquirer = ACQUIRER_BANK,
        listen = shape.acquirer_listen,
        max_in_flight = shape.max_in_flight,
        timeout = shape.timeout_ms,
        issuer_bank = ISSUER_BANK,
        issuer = shape.issuer,
        echo = shape.echo_interval_secs * 1000,
    )
}

/// A configuration's problems on one line.
pub fn config_errors(errors: &[impl std::fmt::Display]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Parse a configuration text (absolute paths inside).
pub fn parse_config(text: &str) -> Result<Config, String> {
    let mut config = Config::parse(text, Path::new("switch-bench.toml"))
        .map_err(|errors| config_errors(&errors))?;
    if let Some(journal) = config.journal.as_mut().filter(|j| j.pan_key.is_none()) {
        let key = (0..BENCH_PAN_KEY.len() / 2)
            .map(|i| u8::from_str_radix(&BENCH_PAN_KEY[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|e| e.to_string())?;
        journal.pan_key = Some(switch::config::SecretKey::new(key));
    }
    Ok(config)
}

/// Start the switch in this process from a configuration text and wait (at most
/// 5 s) until it has signed on to its issuer link.
pub async fn start_switch(text: &str) -> Result<RunningSwitch, String> {
    start_switch_with(parse_config(text)?).await
}

/// [`start_switch`] from a configuration already parsed (and adjusted: TLS, keys,
/// addresses).
pub async fn start_switch_with(config: Config) -> Result<RunningSwitch, String> {
    start_switch_with_kek(config, None).await
}

/// [`start_switch_with`] with the vault's key-encryption key given (else the
/// configuration's variable is read, when there is a journal).
pub async fn start_switch_with_kek(
    config: Config,
    vault_kek: Option<card_security::KeyMaterial>,
) -> Result<RunningSwitch, String> {
    let (routing, _) = RoutingTable::load(&config.rules).map_err(|e| e.to_string())?;
    let sw = RunningSwitch::start(SwitchOptions {
        config,
        routing,
        saf: None,
        journal: None,
        vault_kek,
    })
    .await
    .map_err(|e| e.to_string())?;
    for _ in 0..500 {
        // Link ids count up from 1; the issuer link is among the first.
        if (1..=16).any(|id| sw.core().link_usable(id)) {
            return Ok(sw);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err("the switch did not sign on to the issuer within 5 s".into())
}

// ------------------------------------------------------------- requests

/// The acquirer simulator's requests (0200 from [`ACQUIRER_BANK`] for cards of
/// [`ISSUER_BANK`], the default mix), built by its own [`RequestBuilder`] and
/// draws, for one connection: unique STANs (spread over connections as the
/// simulator spreads them), RRNs and terminals.
pub struct RequestStream {
    plan: Arc<TrafficPlan>,
    format: LinkFormat,
    builder: RequestBuilder,
    gen: TrafficGen,
    stans: StanSequence,
    rrn: u64,
    clock: ClockCache,
}

/// The traffic plan of the simulators' default card base, cards of [`ISSUER_BANK`].
pub fn traffic_plan(table: &RoutingTable) -> Result<Arc<TrafficPlan>, String> {
    let issuer = table
        .bank_index(ISSUER_BANK.as_bytes())
        .ok_or("the issuer bank is not in the rules")?;
    let cards = Arc::new(CardBase::generate(table, SEED, CARDS_PER_RANGE));
    let plan = TrafficPlan::new(
        table,
        cards,
        &PlanOptions {
            issuers: vec![issuer],
            mix: Mix::parse(MIX)?,
            invalid_rate: 0.0,
            currency: None,
            seed: SEED,
        },
    )?;
    Ok(Arc::new(plan))
}

impl RequestStream {
    /// The requests of connection `connection` of `connections`.
    pub fn new(
        plan: Arc<TrafficPlan>,
        connection: usize,
        connections: usize,
    ) -> Result<RequestStream, String> {
        let format = LinkFormat::from_names("iso87ascii", "binary2")?;
        Ok(RequestStream {
            builder: RequestBuilder::new(
                Mti::FINANCIAL_REQUEST,
                ACQUIRER_BANK,
                connection,
                &format.spec,
            ),
            gen: plan.generator(connection),
            stans: StanSequence::for_connection(connection, connections),
            rrn: 1,
            clock: ClockCache::default(),
            format,
            plan,
        })
    }

    /// The next request's frame body.
    pub fn next_body(&mut self) -> Result<Bytes, String> {
        let draw = self.gen.next(&self.plan);
        let keys = RequestKeys {
            stan: self.stans.next_stan(),
            rrn: self.rrn,
            when: self.clock.now(),
        };
        self.rrn = self.rrn % 99_999_999 + 1;
        self.builder
            .frame(&self.format, &self.plan, &draw, &keys)
            .map_err(|e| e.to_string())
    }

    /// The next request with its `binary2` header.
    pub fn next_frame(&mut self) -> Result<Vec<u8>, String> {
        with_header(&self.next_body()?)
    }
}

// --------------------------------------------------------------- figures

/// Throughput and latency of one run, from the acquirer simulator's report or
/// from [`echo_client`].
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Answers per second over the load window.
    pub tps: f64,
    /// Latency percentiles, microseconds.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Requests sent.
    pub sent: u64,
    /// Requests answered in time.
    pub answered: u64,
    /// Requests not answered in time.
    pub timed_out: u64,
    /// Link and protocol errors the acquirer counted.
    pub errors: u64,
    /// Answers by response code.
    pub codes: BTreeMap<String, u64>,
    /// Open loop: how late the acquirer sent its requests after their intended
    /// time (99th percentile, microseconds): the load generator's own share of the
    /// latency tail (latency counts from the intended time).
    pub send_lag_p99_us: Option<u64>,
    /// Share of the machine's CPU time this process used during the run
    /// ([`CpuTicks::shares_since`]; 1.0 = every core busy with it).
    pub cpu_self: f64,
    /// Share used by everything else that was busy meanwhile.
    pub cpu_others: f64,
}

impl Figures {
    fn percentiles(mut self, h: &Histogram<u64>) -> Figures {
        self.p50_us = h.value_at_quantile(0.50);
        self.p90_us = h.value_at_quantile(0.90);
        self.p99_us = h.value_at_quantile(0.99);
        self.p999_us = h.value_at_quantile(0.999);
        self.max_us = h.max();
        self
    }

    /// From an acquirer simulator's report.
    pub fn of_report(report: &Report) -> Figures {
        let s = &report.stats;
        Figures {
            tps: report.tps(),
            sent: s.sent,
            answered: s.answered,
            timed_out: s.timed_out,
            errors: s.errors(),
            codes: report.response_codes(),
            send_lag_p99_us: s.send_lag.as_ref().map(|h| h.value_at_quantile(0.99)),
            ..Figures::default()
        }
        .percentiles(&s.latency)
    }

    /// From an [`echo_client`] run.
    pub fn of_load(load: &LoadResult) -> Figures {
        let secs = load.window.as_secs_f64();
        Figures {
            tps: if secs > 0.0 {
                load.answered as f64 / secs
            } else {
                0.0
            },
            sent: load.sent,
            answered: load.answered,
            ..Figures::default()
        }
        .percentiles(&load.latency)
    }

    /// With what a [`RunWatch`] saw during the run.
    pub fn watched(mut self, seen: Watched) -> Figures {
        (self.cpu_self, self.cpu_others) = seen.cpu;
        self
    }

    /// One run as JSON (TPS rounded to 0.1; codes only when there are some).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "tps": crate::measure::round(self.tps, 1),
            "p50_us": self.p50_us,
            "p90_us": self.p90_us,
            "p99_us": self.p99_us,
            "p999_us": self.p999_us,
            "max_us": self.max_us,
            "sent": self.sent,
            "answered": self.answered,
            "timed_out": self.timed_out,
            "errors": self.errors,
            "cpu_self": crate::measure::round(self.cpu_self, 3),
            "cpu_others": crate::measure::round(self.cpu_others, 3),
        });
        if let Some(map) = v.as_object_mut() {
            if let Some(lag) = self.send_lag_p99_us {
                map.insert("send_lag_p99_us".into(), json!(lag));
            }
            if !self.codes.is_empty() {
                map.insert("codes".into(), json!(self.codes));
            }
        }
        v
    }
}

// ---------------------------------------------------------------- memory

pub use simulators::demo::memory::parse_status_kib;
use simulators::demo::memory::status_kib;

/// Resident memory of process `pid` (this process for None) in bytes, from
/// `/proc/<pid>/status` (`VmRSS`); None where there is no such file (not Linux).
pub fn rss_bytes(pid: Option<u32>) -> Option<u64> {
    status_kib(pid, "VmRSS:").map(|kib| kib * 1024)
}

/// Peak resident memory (`VmHWM`) of process `pid`, bytes.
pub fn peak_rss_bytes(pid: Option<u32>) -> Option<u64> {
    status_kib(pid, "VmHWM:").map(|kib| kib * 1024)
}

/// CPU time of the whole machine and of this process, in clock ticks, from
/// `/proc/stat` and `/proc/self/stat`: to tell, per run, how much of the machine
/// this process used and how much went elsewhere (other processes, kernel threads
/// such as `ksoftirqd`, interrupts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTicks {
    /// All CPUs, every state.
    pub total: u64,
    /// All CPUs, idle or waiting for I/O.
    pub idle: u64,
    /// This process: user and system time of all its threads.
    pub process: u64,
}

impl CpuTicks {
    /// Now; None where `/proc` cannot be read.
    pub fn now() -> Option<CpuTicks> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        let (total, idle) = parse_proc_stat(&stat)?;
        Some(CpuTicks {
            total,
            idle,
            process: parse_process_ticks(&own)?,
        })
    }

    /// Shares of the machine's CPU time since `earlier`: (this process, everything
    /// else that was busy).
    pub fn shares_since(&self, earlier: &CpuTicks) -> (f64, f64) {
        let total = self.total.saturating_sub(earlier.total).max(1) as f64;
        let busy = (self.total - self.idle).saturating_sub(earlier.total - earlier.idle) as f64;
        let process = self.process.saturating_sub(earlier.process) as f64;
        (process / total, ((busy - process) / total).max(0.0))
    }
}

/// (all ticks, idle + iowait ticks) of the `cpu` line of `/proc/stat`.
pub fn parse_proc_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8) // user nice system idle iowait irq softirq steal (guest is in user)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let idle = v.get(3)? + v.get(4)?;
    Some((v.iter().sum(), idle))
}

/// utime + stime of a `/proc/<pid>/stat` text (fields 14 and 15; the command
/// name in parentheses may hold spaces).
pub fn parse_process_ticks(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// What a runner watches during a run besides its load: how the machine's CPU
/// time was shared.
pub struct RunWatch {
    cpu: Option<CpuTicks>,
}

/// What a [`RunWatch`] saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Watched {
    /// (this process, everything else): shares of the machine's CPU time.
    pub cpu: (f64, f64),
}

impl RunWatch {
    /// Start watching.
    pub fn start() -> RunWatch {
        RunWatch {
            cpu: CpuTicks::now(),
        }
    }

    /// Stop watching.
    pub fn finish(self) -> Watched {
        let cpu = match (self.cpu, CpuTicks::now()) {
            (Some(start), Some(now)) => now.shares_since(&start),
            _ => (0.0, 0.0),
        };
        Watched { cpu }
    }
}

/// The 1-minute load average (`/proc/loadavg`).
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        with_header(body).unwrap()
    }

    #[test]
    fn complete_frames_stop_before_a_partial_one() {
        let mut buf = frame(b"0200abc");
        buf.extend(frame(b"0800"));
        let whole = buf.len();
        buf.extend_from_slice(&[0, 10, b'0']);
        assert_eq!(complete_frames(&buf), whole);
        assert_eq!(complete_frames(&buf[..whole - 1]), 2 + 7);
        assert_eq!(complete_frames(&[0]), 0);
        assert_eq!(complete_frames(&[]), 0);
        // A keep-alive (empty frame) is a whole frame.
        assert_eq!(complete_frames(&[0, 0, 0]), 2);
    }

    #[test]
    fn answers_differ_from_requests_in_one_byte() {
        let mut buf = frame(b"0200xyz");
        buf.extend(frame(b"0800"));
        buf.extend(frame(b"0210"));
        buf.extend(frame(b"02"));
        let before = buf.clone();
        mark_answers(&mut buf);
        let mut expected = frame(b"0210xyz");
        expected.extend(frame(b"0810"));
        expected.extend(frame(b"0210"));
        expected.extend(frame(b"02"));
        assert_eq!(buf, expected);
        let changed = before.iter().zip(&buf).filter(|(a, b)| a != b).count();
        assert_eq!(changed, 2);
    }

    #[test]
    fn reads_status_lines() {
        let text = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(parse_status_kib(text, "VmRSS:"), Some(1024));
        assert_eq!(parse_status_kib(text, "VmHWM:"), Some(2048));
        assert_eq!(parse_status_kib(text, "VmSwap:"), None);
        assert!(rss_bytes(None).is_some_and(|b| b > 0));
    }

    #[test]
    fn reads_cpu_ticks() {
        let stat = "cpu  10 1 5 80 4 0 0 0 0 0\ncpu0 5 0 2 40 2 0 0 0 0 0\n";
        assert_eq!(parse_proc_stat(stat), Some((100, 84)));
        let own = "42 (a b) S 1 2 3 4 5 6 7 8 9 10 33 44 0 0 20 0";
        assert_eq!(parse_process_ticks(own), Some(77));
        let a = CpuTicks {
            total: 100,
            idle: 50,
            process: 10,
        };
        let b = CpuTicks {
            total: 300,
            idle: 100,
            process: 110,
        };
        assert_eq!(b.shares_since(&a), (0.5, 0.25));
        assert!(CpuTicks::now().is_some());
        assert!(load_average().is_some());
    }

    #[test]
    fn the_switch_configuration_is_valid() {
        let text = switch_config(&SwitchShape {
            acquirer_listen: "127.0.0.1:0".parse().unwrap(),
            issuer: "127.0.0.1:9".parse().unwrap(),
            max_in_flight: 200_000,
            timeout_ms: 600_000,
            echo_interval_secs: 600,
            journal: None,
        });
        let config = parse_config(&text).unwrap();
        assert_eq!(config.links.len(), 2);
        assert!(config.links.iter().all(|l| l.max_in_flight == 200_000));
        assert!(config.journal.is_none());
        let text = switch_config(&SwitchShape {
            acquirer_listen: "127.0.0.1:0".parse().unwrap(),
            issuer: "127.0.0.1:9".parse().unwrap(),
            max_in_flight: 10,
            timeout_ms: 10,
            echo_interval_secs: 10,
            journal: Some((std::env::temp_dir().join("bench.db"), "relaxed")),
        });
        let journal = parse_config(&text).unwrap().journal.unwrap();
        assert_eq!(journal.path, std::env::temp_dir().join("bench.db"));
    }

    #[test]
    fn request_streams_make_distinct_decodable_requests() {
        let table = load_rules().unwrap();
        let plan = traffic_plan(&table).unwrap();
        let mut a = RequestStream::new(plan.clone(), 0, 2).unwrap();
        let mut b = RequestStream::new(plan, 1, 2).unwrap();
        let spec = codecs::Spec::builtin("iso87ascii").unwrap();
        let mut keys = std::collections::HashSet::new();
        for s in [&mut a, &mut b] {
            for _ in 0..100 {
                let frame = s.next_frame().unwrap();
                assert_eq!(complete_frames(&frame), frame.len());
                let msg = spec.decode(Bytes::from(frame[HEADER..].to_vec())).unwrap();
                assert_eq!(msg.mti(), Mti::FINANCIAL_REQUEST);
                assert_eq!(msg.text(32).unwrap(), ACQUIRER_BANK);
                let key = (
                    msg.text(7).unwrap().into_owned(),
                    msg.stan(),
                    msg.text(41).unwrap().into_owned(),
                );
                assert!(keys.insert(key));
            }
        }
    }

    /// The spread relay hands its connections to its upstreams in turn.
    #[tokio::test]
    async fn the_spread_relay_alternates_upstreams() {
        // Each upstream names itself in a frame as a connection arrives.
        let named = |name: &'static [u8]| {
            let hello = frame(name);
            async move {
                serve(bind().await.unwrap(), move |mut up| {
                    let hello = hello.clone();
                    async move {
                        let _ = up.write_all(&hello).await;
                        let mut sink = BytesMut::new();
                        while fill(&mut up, &mut sink).await {}
                    }
                })
                .unwrap()
            }
        };
        let (a, b) = (named(b"A").await, named(b"B").await);
        assert!(relay_spread(Vec::new()).await.is_err());
        let relay = relay_spread(vec![a.addr, b.addr]).await.unwrap();
        let mut seen = Vec::new();
        let mut clients = Vec::new();
        for _ in 0..4 {
            let mut client = TcpStream::connect(relay.addr).await.unwrap();
            let mut buf = BytesMut::new();
            while complete_frames(&buf) == 0 {
                let read =
                    tokio::time::timeout(Duration::from_secs(5), fill(&mut client, &mut buf));
                assert!(read.await.expect("an upstream answers within 5 s"));
            }
            seen.push(buf[HEADER..].to_vec());
            clients.push(client);
        }
        assert_eq!(seen, [b"A", b"B", b"A", b"B"].map(|n| n.to_vec()));
    }

    #[tokio::test]
    async fn echo_relay_and_black_hole_on_loopback() {
        let echo = echo_server(true).await.unwrap();
        let relay = relay(echo.addr).await.unwrap();
        let frames = vec![vec![frame(b"0200abc"), frame(b"0100")]; 2];
        let load = echo_client(relay.addr, frames, Duration::from_millis(100))
            .await
            .unwrap();
        assert!(load.answered > 10, "{}", load.answered);
        assert_eq!(load.sent, load.answered);

        let (hole, counts) = black_hole().await.unwrap();
        let mut stream = TcpStream::connect(hole.addr).await.unwrap();
        let sign_on =
            simulators::messages::network_request("001", 7, &simulators::clock::now_fields());
        let spec = codecs::Spec::builtin("iso87ascii").unwrap();
        let body = spec.encode_to_bytes(&sign_on).unwrap();
        let mut out = frame(b"0200abc");
        out.extend(frame(&body));
        stream.write_all(&out).await.unwrap();
        let mut buf = BytesMut::new();
        while complete_frames(&buf) == 0 {
            assert!(fill(&mut stream, &mut buf).await);
        }
        let answer = spec.decode(buf.split_off(HEADER).freeze()).unwrap();
        assert_eq!(answer.mti().as_str(), "0810");
        assert_eq!(answer.stan(), Some(7));
        assert_eq!(counts.requests.load(Ordering::Relaxed), 1);
        assert_eq!(counts.network.load(Ordering::Relaxed), 1);
    }
}
