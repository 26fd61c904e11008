//! Test support for end-to-end tests over loopback sockets: start a switch from a
//! configuration text, play a bank host (acquirer client or issuer server) with
//! raw frames, and wait for messages with a bound on time; run the real simulators
//! in-process (issuer and acquirer options for small, fast runs), compare their
//! totals, and capture log lines.

// Test support: a helper fails the test by panicking, with a message saying what broke.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
pub mod cluster;
pub mod postgres;
pub mod secrets;
pub mod tap;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use codecs::framing::{Frame, FrameCodec, LengthHeader, DEFAULT_MAX_FRAME};
use codecs::luhn::luhn_check_digit;
use codecs::{Message, Mti, Spec};
use futures_util::{SinkExt, StreamExt};
use routing_rules::RoutingTable;
use simulators::acquirer::report::Report;
use simulators::acquirer::{AcquirerOptions, RequestType};
use simulators::issuer::faults::Latency;
use simulators::issuer::report::{Snapshot, Tally};
use simulators::issuer::IssuerOptions;
use switch::config::Config;
use switch::net::{RunningSwitch, SwitchOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

/// The national rules file.
pub fn national_rules() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../routing-rules/rules/national.toml"
    )
    .to_string()
}

/// A configuration with acquirer "morning-star" (bank 940810) listening on port 0
/// and issuer "central-bank-issuer" (bank 940800) dialled at `issuer` with
/// `timeout_ms`, under the national rules; `switch_extra` are more lines of the
/// `[switch]` table. Stand-in is off: an issuer that cannot answer is declined 91
/// (the switch's own answers are what these tests look at; `stand_in_e2e` tests
/// stand-in).
pub fn acquirer_and_issuer(
    issuer: std::net::SocketAddr,
    timeout_ms: u64,
    switch_extra: &str,
) -> String {
    format!(
        r#"
[switch]
institution_id = "940000"
rules = "{rules}"
{switch_extra}

[stand_in]
enabled = false

[[link]]
name = "morning-star"
role = "acquirer"
bank = "940810"
direction = "listen"
address = "127.0.0.1:0"

[[link]]
name = "central-bank-issuer"
role = "issuer"
bank = "940800"
direction = "dial"
address = "{issuer}"
timeout_ms = {timeout_ms}
"#,
        rules = national_rules()
    )
}

/// Start a switch from configuration `text` (its `rules` path is used as given).
pub async fn start_switch(text: &str) -> RunningSwitch {
    let options = switch_options(text);
    RunningSwitch::start(options)
        .await
        .unwrap_or_else(|e| panic!("start: {e}"))
}

/// [`start_switch`] with the security module `module` makes from the
/// configuration (an HSM adapter's stand-in: the switch asks it from tasks).
pub async fn start_switch_with_security(
    text: &str,
    module: impl FnOnce(&Config) -> Arc<dyn switch::security::SecurityModule>,
) -> RunningSwitch {
    let options = switch_options(text);
    let module = module(&options.config);
    RunningSwitch::start_with_security(options, module)
        .await
        .unwrap_or_else(|e| panic!("start: {e}"))
}

/// [`start_switch`] with the options changed by `edit` first (a journal's key,
/// the token vault's KEK, ...).
pub async fn start_switch_with(text: &str, edit: impl FnOnce(&mut SwitchOptions)) -> RunningSwitch {
    let mut options = switch_options(text);
    edit(&mut options);
    RunningSwitch::start(options)
        .await
        .unwrap_or_else(|e| panic!("start: {e}"))
}

/// What a switch starts from: configuration `text` and its routing rules.
fn switch_options(text: &str) -> SwitchOptions {
    // What the switch logs is captured (and, under scripts/test.sh, scanned).
    let _ = LogCapture::global();
    let config =
        Config::parse(text, Path::new("/test.toml")).unwrap_or_else(|e| panic!("config: {e:?}"));
    let (routing, _) = RoutingTable::load(&config.rules).unwrap_or_else(|e| panic!("rules: {e}"));
    SwitchOptions::new(config, routing)
}

/// What a [`Peer`] saw while it waited.
#[derive(Debug)]
pub enum Received {
    /// A message: its frame body as it came, and decoded.
    Message(Bytes, Message),
    /// Nothing within the time allowed; the connection is open.
    Silence,
    /// The connection ended (the peer closed it, or a read failed): why.
    Closed(String),
}

/// A framed ISO 8583 peer (binary2 framing, iso87ascii).
pub struct Peer {
    framed: Framed<TcpStream, FrameCodec>,
    spec: std::sync::Arc<Spec>,
}

impl Peer {
    /// Connect to `addr`.
    pub async fn connect(addr: SocketAddr) -> Peer {
        let stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        Peer::from_stream(stream)
    }

    /// Wrap an accepted stream.
    pub fn from_stream(stream: TcpStream) -> Peer {
        // No Nagle delay: a second small message written before the first is
        // acknowledged would otherwise wait for the peer's delayed ACK (tens of
        // milliseconds of real time, an eternity on tokio's paused clock, which
        // advances whenever every task waits).
        let _ = stream.set_nodelay(true);
        Peer {
            framed: Framed::new(
                stream,
                FrameCodec::new(LengthHeader::Binary2, false, DEFAULT_MAX_FRAME),
            ),
            spec: Spec::builtin("iso87ascii").unwrap_or_else(|e| panic!("{e}")),
        }
    }

    /// The same peer speaking `spec` instead of iso87ascii (a link
    /// configured with a host's spec file).
    pub fn with_spec(self, spec: Arc<Spec>) -> Peer {
        Peer { spec, ..self }
    }

    /// Send a message.
    pub async fn send(&mut self, msg: &Message) {
        let body = self
            .spec
            .encode_to_bytes(msg)
            .unwrap_or_else(|e| panic!("encode: {e}"));
        self.send_raw(body).await;
    }

    /// Send a frame body as is.
    pub async fn send_raw(&mut self, body: Bytes) {
        self.framed
            .send(Frame::Message { tpdu: None, body })
            .await
            .unwrap_or_else(|e| panic!("send: {e}"));
    }

    /// Write raw bytes on the socket, bypassing framing.
    pub async fn write_bytes(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.framed
            .get_mut()
            .write_all(bytes)
            .await
            .unwrap_or_else(|e| panic!("write: {e}"));
    }

    /// What arrives within `within`: a frame (as it came, and decoded), nothing,
    /// or the end of the connection (keep-alives are skipped).
    pub async fn next_frame(&mut self, within: Duration) -> Received {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.framed.next()).await {
                Err(_) => return Received::Silence,
                Ok(Some(Ok(Frame::Message { body, .. }))) => {
                    let msg = self
                        .spec
                        .decode(body.clone())
                        .unwrap_or_else(|e| panic!("decode: {e}"));
                    return Received::Message(body, msg);
                }
                Ok(Some(Ok(Frame::KeepAlive))) => continue,
                Ok(None) => return Received::Closed("end of stream".into()),
                Ok(Some(Err(e))) => return Received::Closed(e.to_string()),
            }
        }
    }

    /// The next message within `within`, or None when nothing came in time.
    /// Panics when the connection ends instead: a test that waits for a message,
    /// or for none, never means a dead link.
    pub async fn recv(&mut self, within: Duration) -> Option<Message> {
        self.recv_frame(within).await.map(|(_, msg)| msg)
    }

    /// [`Peer::recv`], with the frame as it came (for checking its MAC).
    pub async fn recv_frame(&mut self, within: Duration) -> Option<(Bytes, Message)> {
        match self.next_frame(within).await {
            Received::Message(body, msg) => Some((body, msg)),
            Received::Silence => None,
            Received::Closed(why) => {
                panic!("the connection closed ({why}) while a message was awaited")
            }
        }
    }

    /// Assert that nothing arrives within `within` and that the connection is
    /// still open after it: `what` says what must not arrive.
    pub async fn expect_silence(&mut self, within: Duration, what: &str) {
        match self.next_frame(within).await {
            Received::Silence => {}
            Received::Message(_, msg) => {
                panic!("{what}: got {} (RC {:?})", msg.mti(), msg.text(39))
            }
            Received::Closed(why) => panic!("{what}: the connection closed instead ({why})"),
        }
    }

    /// Whether the other side closed the connection within `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        matches!(
            tokio::time::timeout(within, self.framed.next()).await,
            Ok(None) | Ok(Some(Err(_)))
        )
    }
}

/// Accept one connection on `listener` within `within`.
pub async fn accept(listener: &TcpListener, within: Duration) -> Peer {
    let (stream, _) = tokio::time::timeout(within, listener.accept())
        .await
        .unwrap_or_else(|_| panic!("no connection"))
        .unwrap_or_else(|e| panic!("accept: {e}"));
    Peer::from_stream(stream)
}

/// A Luhn-valid 16-digit PAN starting with `prefix`.
pub fn pan(prefix: &str) -> String {
    let mut p = format!("{prefix:0<15}").into_bytes();
    if let Some(d) = luhn_check_digit(&p) {
        p.push(d);
    }
    String::from_utf8(p).unwrap_or_default()
}

/// A 0200 purchase from `acquirer`.
pub fn purchase(pan: &str, acquirer: &str, stan: u32, amount_minor: u64) -> Message {
    let mut m = Message::new(Mti::FINANCIAL_REQUEST);
    m.set(2, pan);
    m.set(3, "000000");
    m.set(4, &format!("{amount_minor:012}"));
    m.set(7, "1125103000");
    m.set_stan(stan);
    m.set(32, acquirer);
    m.set(37, &format!("{stan:012}"));
    m.set(41, "TERM0001");
    m.set(49, "408");
    m
}

/// The answer an issuer gives to `req`, echoing its keys.
pub fn answer(req: &Message, rc: &str) -> Message {
    let mut m = Message::new(req.mti().response().unwrap_or(req.mti()));
    for n in [2u8, 3, 4, 7, 11, 32, 33, 37, 41, 49, 70, 90, 100] {
        if let Some(v) = req.text(n) {
            m.set(n, &v);
        }
    }
    m.set(39, rc);
    if rc == "00" {
        m.set(38, "AUTH01");
    }
    m
}

// ------------------------------------------------------------- the simulators

/// Cards per BIN range in every simulator of these tests (small: quick to generate,
/// and enough to see declines for insufficient funds too). The issuer and the
/// acquirer must agree on it and on the seed.
pub const CARDS_PER_RANGE: usize = 50;

/// The national routing table.
pub fn national_table() -> RoutingTable {
    RoutingTable::load(Path::new(&national_rules()))
        .unwrap_or_else(|e| panic!("rules: {e}"))
        .0
}

/// A `sim issuer` for `bank` listening on a free loopback port, without latency or
/// faults (set them on the result), with a short read deadline.
pub fn issuer_options(bank: &str) -> IssuerOptions {
    IssuerOptions {
        listen: Some("127.0.0.1:0".into()),
        connect: None,
        bank: bank.into(),
        on_behalf_of: Vec::new(),
        rules: PathBuf::from(national_rules()),
        spec: "iso87ascii".into(),
        framing: "binary2".into(),
        max_frame: DEFAULT_MAX_FRAME,
        seed: 1,
        cards_per_range: CARDS_PER_RANGE,
        latency: Latency::None,
        drop_rate: 0.0,
        late_rate: 0.0,
        late_ms: 5000,
        disconnect_every: None,
        malformed_rate: 0.0,
        fault_seed: 1,
        read_deadline: Duration::from_secs(2),
        max_connections: 16,
        txn_log: 100_000,
        sign_on: false,
        report_json: None,
    }
}

/// A closed-loop `sim acquirer` for `bank` at `connect`: `count` requests over
/// `connections` links with `concurrency` outstanding on each, cards of `issuers`
/// only, 0200 requests of the default mix, no deliberately bad requests.
pub fn acquirer_options(
    connect: SocketAddr,
    bank: &str,
    issuers: &[&str],
    count: u64,
    connections: usize,
    concurrency: usize,
    timeout_ms: u64,
) -> AcquirerOptions {
    AcquirerOptions {
        connect: connect.to_string(),
        bank: bank.into(),
        rules: PathBuf::from(national_rules()),
        seed: 1,
        cards_per_range: CARDS_PER_RANGE,
        issuers: issuers.iter().map(|s| s.to_string()).collect(),
        spec: "iso87ascii".into(),
        framing: "binary2".into(),
        connections,
        rate: None,
        concurrency: Some(concurrency),
        duration: None,
        count: Some(count),
        mix: "purchase=70,cash=20,balance=10"
            .parse()
            .unwrap_or_else(|e| panic!("mix: {e}")),
        invalid_rate: 0.0,
        timeout_ms,
        json: true,
        report_html: None,
        mti: RequestType::Financial,
        currency: None,
    }
}

/// An issuer's approvals net of the reversals it applied.
pub fn issuer_net(s: &Snapshot) -> Tally {
    let approved = s.approved_total();
    assert!(
        s.reversed.count <= approved.count,
        "more reversals applied ({}) than approvals ({})",
        s.reversed.count,
        approved.count
    );
    Tally {
        count: approved.count - s.reversed.count,
        amount: approved.amount - s.reversed.amount,
    }
}

/// What the acquirers saw approved for cards of `issuer`, added over `reports`.
pub fn acquirers_approved(reports: &[&Report], issuer: &str) -> Tally {
    let mut total = Tally::default();
    for r in reports {
        if let Some(t) = r.approved().get(issuer) {
            total.count += t.count;
            total.amount += t.amount;
        }
    }
    total
}

/// Check what every acquirer run must show, whatever the faults: every request
/// got exactly one outcome (an answer in time or a timeout), no answer matched
/// nothing or the wrong request, every answer carried a response code, nothing
/// failed to encode, and every reversal started was acknowledged. `label` names
/// the run in failure messages.
pub fn assert_one_outcome_each(r: &Report, label: &str) {
    let s = &r.stats;
    let summary = r.to_json();
    assert_eq!(
        s.answered + s.timed_out,
        s.sent,
        "{label}: answered + timed out != sent: {summary}"
    );
    assert_eq!(
        (s.unmatched, s.wrong_type, s.encode_failures),
        (0, 0, 0),
        "{label}: unmatched / wrong type / unencodable: {summary}"
    );
    let coded: u64 = r.response_codes().values().sum();
    assert_eq!(coded, s.answered, "{label}: one code per answer: {summary}");
    assert!(
        !r.response_codes().contains_key("??"),
        "{label}: answers without field 39: {summary}"
    );
    assert_eq!(
        s.reversals_sent, s.timed_out,
        "{label}: one reversal per timed-out request: {summary}"
    );
    assert_eq!(
        (s.reversals_acknowledged, s.reversals_unacknowledged),
        (s.reversals_sent, 0),
        "{label}: every reversal acknowledged: {summary}"
    );
    assert!(
        !r.approved().contains_key("unknown"),
        "{label}: approvals of unknown cards: {summary}"
    );
}

/// How long an end-to-end test may run, whatever happens.
pub const TEST_BOUND: Duration = Duration::from_secs(60);

/// Run a test's body, failing it when it takes longer than [`TEST_BOUND`].
pub async fn bounded<F: std::future::Future<Output = ()>>(f: F) {
    tokio::time::timeout(TEST_BOUND, f)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {TEST_BOUND:?}"));
}

/// Wait until `done` holds, polling every 10 ms, for at most `within`; whether it did.
pub async fn wait_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Wait until the switch has at least `links` usable (connected and signed-on)
/// issuer links; panics after `within`.
pub async fn wait_for_sign_on(sw: &RunningSwitch, links: usize, within: Duration) {
    let usable = || (1..=256).filter(|&id| sw.core().link_usable(id)).count();
    assert!(
        wait_until(within, || usable() >= links).await,
        "the switch signed on to {} of {links} issuer links within {within:?}",
        usable()
    );
}

// ------------------------------------------------------------- log capture

/// Log lines captured in memory (plain text, no colours), for tests that check
/// what a component logs.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

/// A writer appending to a [`LogCapture`].
pub struct LogWriter(Arc<Mutex<Vec<u8>>>);

/// With `SUITE_LOG_DIR` set (as `scripts/test.sh` does), everything any capture
/// of this test binary receives is also appended to a file there, so that the
/// logs of the whole suite can be scanned for card data afterwards (`scan-logs`).
fn suite_log() -> Option<&'static Mutex<std::fs::File>> {
    static FILE: std::sync::OnceLock<Option<Mutex<std::fs::File>>> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let dir = PathBuf::from(std::env::var_os("SUITE_LOG_DIR")?);
        let exe = std::env::current_exe().ok()?;
        let name = exe.file_stem()?.to_string_lossy().into_owned();
        std::fs::create_dir_all(&dir).ok()?;
        let path = dir.join(format!("{name}-{}.log", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()?;
        Some(Mutex::new(file))
    })
    .as_ref()
}

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        if let Some(file) = suite_log() {
            let _ = file
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .write_all(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter(self.0.clone())
    }
}

impl LogCapture {
    /// Capture every event (down to `trace`) on this thread while the returned
    /// guard lives. Use it in a current-thread runtime, where every spawned task
    /// runs on the test's thread.
    #[must_use = "the capture stops when the guard is dropped"]
    pub fn install(&self) -> impl Sized {
        use tracing_subscriber::util::SubscriberInitExt as _;
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_ansi(false)
            .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
            .set_default()
    }

    /// One capture for the whole test binary: a global subscriber at `info` and
    /// above, installed on first use (for multi-threaded runtimes, where a
    /// thread's default would miss events of tasks on other workers). Tests of
    /// the binary running at the same time log into it too: look for lines only
    /// the test at hand can produce. Captures nothing if another global
    /// subscriber was installed first.
    pub fn global() -> &'static LogCapture {
        static GLOBAL: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(|| {
            use tracing_subscriber::util::SubscriberInitExt as _;
            let capture = LogCapture::default();
            let _ = tracing_subscriber::fmt()
                .with_writer(capture.clone())
                .with_ansi(false)
                .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
                .finish()
                .try_init();
            capture
        })
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// The captured lines containing every one of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_string)
            .collect()
    }

    /// Add a marker line (to split the log into phases).
    pub fn mark(&self, text: &str) {
        let _ = writeln!(LogWriter(self.0.clone()), "--- {text}");
    }
}
