//! `switch-compare`: the switch against a plain frame relay, with the same
//! simulators, in one run; and the switch's memory per transaction in flight.
//!
//! `cargo run --release -p benches --bin switch-compare -- [FLAGS]` prints one
//! JSON line per mode; `--help` lists the flags and their defaults (`--reps 3
//! --secs 5 --connections 64 --rate 10000 --in-flight 100000`, all three modes,
//! `--journal none`, `--middle process`). With `--journal relaxed|strict` the
//! switch keeps its durable journal (SQLite, a fresh database in the temporary
//! directory per run); by default it has none (records go to the debug log), which
//! measures the forwarding path alone.
//!
//! `--compare` replaces relay vs switch by the switch against itself, set up two or
//! three ways (transport, journal, channel, stand-in, store), in `closed64` and `rate10k` (the default modes then; not `memory`),
//! each repetition running every setup once, the order rotated from one
//! repetition to the next (see [Comparing the switch with
//! itself](#comparing-the-switch-with-itself)).
//!
//! **Throughput and latency** (`closed64`, `rate10k`). On 127.0.0.1, the acquirer
//! simulator (`simulators::acquirer::execute`: 0200s of the default mix from bank
//! 940857 for cards of bank 940810) sends through one of two middles to the issuer
//! simulator of 940810 (`simulators::issuer::start`); the simulators run in this
//! process on one tokio runtime (a worker per core), the middle in a child process
//! of its own (`--middle process`, the default: this binary with the hidden
//! `--serve-relay UPSTREAM` or `--serve-switch CONFIG`, see [`serve`]) or beside
//! them in this process (`--middle in-process`, how it ran before issue 17):
//!
//! - `relay`: a plain frame relay ([`benches::loopback::relay`]): for each acquirer
//!   connection it opens one connection to the issuer and copies whole frames both
//!   ways as they complete, parsing nothing (answers find their way back because
//!   each acquirer connection has its own issuer connection);
//! - `switch`: the switch itself (`switch::net::RunningSwitch`) with a small
//!   configuration: one acquirer listener, one issuer link (one connection) dialing
//!   the issuer, the national routing rules; it decodes, validates, checks
//!   duplicates, routes, rewrites, tracks in flight, matches and restores.
//!
//! The issuer and the middle are started afresh for every run, so each run sees the
//! same accounts and the same draws. `closed64`: C connections, one request
//! outstanding on each; `rate10k`: open loop at TPS requests per second over C
//! connections, latency counted from each request's intended send time. Each
//! repetition runs relay and switch (in alternating order) for S seconds each. One
//! line per mode:
//! `{"mode":"closed64","relay_tps":..,"switch_tps":..,"tps_ratio":..,"relay_p50_us":..,
//! "switch_p50_us":..,"relay_p99_us":..,"switch_p99_us":..,...}`: medians over the
//! repetitions (`tps_ratio` = median switch TPS / median relay TPS, `p99_ratio`
//! likewise), then the spread (`_min`/`_max`; for the ratios, over the
//! repetitions' relay/switch pairs); in `rate10k` how late the acquirer
//! itself sent (`*_send_lag_p99_us`: its pacing is part of every latency); the
//! time the switch itself added per hop as it measures it (`switch_added_p50_us`,
//! `switch_added_p99_us`); the share of answers that came from the issuer
//! (`*_issuer_share`, 1.0 when the middle declined nothing itself) and the response
//! codes of the first repetition; the target and whether it is `met`; the share of
//! the machine's CPU the run's processes used (this one and the middle's:
//! `relay_cpu`, `switch_cpu`, 1.0 = every core) and the largest share anything else
//! used during a run (`others_cpu_max`), because on a shared machine other work
//! skews the figures; then `middle` (`process` or `in-process`) and the CPU time
//! per answered transaction (`relay_cpu_us_per_txn`, `switch_cpu_us_per_txn`, with
//! `_min`/`_max`): with `--middle process` the middle process's own user + system
//! time over the load (`/proc/<pid>/stat`, see [`cpu`]), the switch's cost apart
//! from the simulators'; in-process, this whole process's (middle and simulators),
//! as `--compare` reports it; `cpu_ratio` = switch over relay (medians; `_min`/`_max`
//! over the repetitions' pairs); the load averages; and every run (each with its
//! `cpu_us_per_txn`).
//!
//! **Memory** (`memory`). The switch runs in a child process (this binary with the
//! hidden `--serve-switch CONFIG`, which starts `RunningSwitch` as `switch run`
//! does, without the log subscriber and the metrics endpoint; or `--switch-bin PATH` to run `PATH run
//! --config CONFIG`), configured with one acquirer listener and one issuer link to
//! a black-hole issuer ([`benches::loopback::black_hole`]: answers sign-on and echo,
//! never a transaction), timeouts of 10 minutes and an in-flight limit above N.
//! With C connections up and the issuer link signed on, its resident memory
//! (`VmRSS` of `/proc/<pid>/status`) is read (`rss_bytes_before`); then requests
//! built by the acquirer simulator's own builder are pushed in rounds until the
//! issuer has received exactly N of them (requests the rules decline are answered by
//! the switch at once and are not in flight; they are counted in `declined`); after
//! 500 ms the memory is read again (`rss_bytes_after`). `bytes_per_in_flight` =
//! (after − before) / N: everything the switch holds per transaction (in-flight
//! entry, duplicate key, recent-transactions entry, buffers), as the kernel sees it.
//! The child's global allocator also tracks the live heap, so `heap` tells how much
//! of that the switch itself requested (`heap_bytes_per_in_flight`, in
//! `heap_blocks_per_in_flight` allocations) and how much the allocator adds.
//!
//! Targets (reported, not enforced): switch TPS at least 0.8 × the relay's in
//! `closed64`; switch p99 at most 1.5 × the relay's in `rate10k`; at most 1 KiB per
//! transaction in flight. The process fails when a run had errors or timeouts.
//!
//! # Comparing the switch with itself
//!
//! The issuer, the switch and the acquirer are started afresh for every run as
//! above, only the switch's setup changes.
//!
//! **`--compare transport`**: `plain` (plain TCP, no MACs: the switch of the relay
//! comparison) against `secured`: with `--transport tls+mac` (the default) mutual
//! TLS on both links (certificates made once per process with
//! `switch::tls::generate` in a temporary directory, removed at the end, and put on
//! the configuration with `switch::tls::apply::use_generated`; the simulators
//! present their bank's certificate and verify the switch's) and a MAC on every
//! message both ways (`switch::security::apply::use_random_keys` without PIN keys:
//! fresh random keys per run, the hosts get theirs through
//! `simulators::security::HostSecurity::from_zone`); `tls` or `mac` alone to see
//! which costs what. The journal is `--journal` for both. One line per mode:
//! `{"mode":"closed64","compare":"transport","transport":"tls+mac","plain_tps":..,
//! "secured_tps":..,"tps_ratio":..,"plain_p50_us":..,"secured_p50_us":..,
//! "plain_p99_us":..,"secured_p99_us":..,"p50_ratio":..,"p99_ratio":..,...}`, then
//! the spreads (`tps_ratio_min`/`_max` over each repetition's pair, `plain_tps_min`,
//! ...), the acquirer's send lag (rate10k), the time the switch added per hop
//! (`*_added_p50_us`, `*_added_p99_us`), issuer shares, response codes, CPU shares
//! (`plain_cpu`, `secured_cpu`, `others_cpu_max`), the process's CPU time per
//! transaction (`plain_cpu_us_per_txn`, `secured_cpu_us_per_txn`: switch and
//! simulators together, steadier than TPS on a shared machine) with
//! `secured_cpu_efficiency` (plain's cost over secured's per repetition, with
//! `_min`/`_max`: the TPS ratio the CPU cost alone allows), the target and every run. Target
//! (issue 7): `tps_ratio` at least 0.7 in `closed64`; `rate10k` reports the p99 ratio
//! without a target (`"target":null`).
//!
//! **`--compare journal`**: `none`, `relaxed` and `strict` (plain TCP; a fresh
//! database per run in the temporary directory). Before each mode's runs, the
//! machine's fsync latency in that directory: `--fsyncs` appends of 4 KiB to a new
//! file, each followed by `fdatasync` (what a journal commit waits for), timed
//! together. One line per mode: `none_tps`, `relaxed_tps`, `strict_tps`,
//! `relaxed_tps_ratio`, `strict_tps_ratio` (over `none`), the p50s, the p99s with
//! `fsync_p50_us` and `fsync_p99_us` right after `strict_p99_us`, the p50 and p99
//! ratios, spreads and the rest as above (`relaxed_cpu_efficiency` and
//! `strict_cpu_efficiency` over `none`), and `fsync` (what was timed, where, how
//! many, p50/p99/max). Targets (issue 6): `strict_tps_ratio` at least 0.8 in
//! `closed64`; `relaxed_p99_ratio` at most 1.2 in `rate10k`.

//!
//! **`--compare channel`** (issue 22): `card` (today's switch, card purchases)
//! against `qr`: the switch with a token API listener for the app `koryo-pay`
//! (plain TCP, 127.0.0.1 port 0), through which, before each run's load, the app
//! enrols 300 cards of 940810 drawn from the simulators' card base (the issuer
//! simulator answers the account verifications; blocked and expired cards get
//! no token); the acquirer then pays every purchase by QR from that wallet
//! (`qr_share` 1.0: token in field 2, field 22 = 031, the code in field 55). Both
//! setups send purchases only (`purchase=100`) on the national rules with the
//! app purchase limit raised from 1,000,000 to 2,000,000 KPW, the QR draws'
//! maximum, so that no QR payment is declined by the switch and both reach the
//! issuer alike (`card_issuer_share`, `qr_issuer_share`; see [`channel`]). No
//! journal (`--journal none` only: the vault and the tokens' counters are then
//! in memory; with a journal the store would keep them, under a KEK the
//! benchmark has not). One line per mode: `card_tps`, `qr_tps`, `tps_ratio` (qr /
//! card), p50s, p99s, their ratios, spreads, issuer shares, codes, the process's
//! CPU per transaction (`card_cpu_us_per_txn`, `qr_cpu_us_per_txn`, the
//! difference `qr_cpu_us_added_per_txn`: switch and simulators together, so the
//! app's code and the reader's parsing count too), the tokens enrolled
//! (`qr_tokens` with `_min`/`_max`, `qr_enrolment` of the first run), the
//! target and whether it is `met`. Unlike the other compares it honours
//! `--middle`: by default (`process`) the switch runs in a child process (its
//! token API on a free loopback port chosen by the parent, which enrols through
//! it), so the switch's own CPU per transaction is reported apart
//! (`card_switch_cpu_us_per_txn`, `qr_switch_cpu_us_per_txn`, `switch_cpu_ratio`
//! with `_min`/`_max`) and the simulators' QR work does not share its process;
//! `--middle in-process` runs everything here as the other compares do. Target
//! (issue 22): `tps_ratio` at least 0.9 in `closed64`; `rate10k` reports the p99
//! ratio without a target.
//!
//! **`--compare stand-in`** (issue 18): `normal` (the issuer simulator answers
//! every request the switch forwards) against `stand_in` (the same issuer host
//! taken down once the switch has signed on, before the load: the switch
//! answers its cards from stand-in, queues an advice for each decision in its
//! durable store-and-forward queue, journals it). Both send the same
//! purchases and cash withdrawals (`purchase=70,cash=20`: balance inquiries are
//! never approved in stand-in) with the journal (`--journal`, relaxed by
//! default) and the vault's key-encryption key (the benchmark's own, in the
//! variable the configuration names), so that stand-in is on, on the national
//! rules with every stand-in daily count and amount raised beyond what a run
//! draws (the per-transaction limits and every other check stay; see
//! [`stand_in`]). One line per mode: `normal_tps`, `stand_in_tps`, `tps_ratio`
//! (stand-in / normal), p50s, p99s, their ratios, spreads, issuer shares
//! (`stand_in_issuer_share` 0.0: the issuer saw nothing), the stand-in runs'
//! decisions per answer (`stand_in_decided_share`, 1.0), the approvals' share
//! of them (`stand_in_approved_share`: the simulators' expired cards are
//! declined 54), the advices owed at the end of a run (`stand_in_saf_depth`), CPU figures as in `--compare channel` (by default the
//! switch in a child process, its own CPU per transaction apart), the target
//! and whether it is `met`. A run is unclean (the exit status says so) when the
//! stand-in setup reached the issuer or answered anything but from stand-in, or
//! the normal one stood in. Target (issue 18): `tps_ratio` at least 0.9 in
//! `closed64`; `rate10k` reports the p99 ratio without a target.
//!
//! **`--compare store`** (issue 19): the strict journal on SQLite against the
//! same on PostgreSQL, and two nodes sharing one PostgreSQL database (see
//! [`store`]). Three setups, rotated: `sqlite` (one node, a fresh SQLite file
//! per run, as `--compare journal`'s strict), `pg` (one node, `[journal] url`
//! on a fresh database per run) and `pg2` (two nodes, `[cluster]` node-1/slot 1
//! and node-2/slot 2, on one fresh database, both dialing the same issuer
//! simulator). The PostgreSQL server is a throwaway one the benchmark starts
//! once per process from Debian's package (`simulators::demo::postgres`, the
//! logic of `scripts/postgres.sh`: `initdb` in a temporary folder, 127.0.0.1 on
//! a free port, its defaults: `synchronous_commit` and `fsync` on) and stops at
//! the end. Every node runs in a child process (`--serve-switch`); the
//! acquirer's connections reach the nodes through a frame relay in this
//! process that hands them to the nodes in turn (half to each in `pg2`), in
//! front of every setup so that all three pay the same hop; `pg2`'s TPS is
//! therefore the two nodes' together, as the acquirer saw it. One line per
//! mode: `sqlite_tps`, `pg_tps`, `pg2_tps`, `pg_tps_ratio` (pg / sqlite),
//! `pg2_tps_ratio` (pg2 / pg), p50s, p99s and their ratios (the same pairs),
//! spreads (`*_min`/`*_max`: the ratios' over each repetition's pair), the
//! time each switch added per hop (with two nodes, the larger), issuer shares,
//! codes, and CPU time per answered transaction: `*_switch_cpu_us_per_txn` the
//! nodes' processes' user + system time together (SQLite's work is inside
//! them), `*_db_cpu_us_per_txn` the PostgreSQL server's processes' (the
//! postmaster and every process it started, reaped ones included, from
//! `/proc`; not included in the former), `*_switch_and_db_cpu_us_per_txn`
//! both, each with its spread; `*_txn_per_commit` (answered transactions per
//! journal commit during the load, the nodes' commits together: two nodes
//! with half the load each commit about as often as one, with half the
//! records); `pg_switch_cpu_ratio` (over sqlite's) and
//! `pg2_switch_cpu_ratio` (over pg's); the server's version and settings
//! (`postgres`). A setup that could not run (PostgreSQL missing, or its server
//! or a node failing) is reported as `{label}_error` with its figures null,
//! not zero, is not tried again in later repetitions, and makes the run
//! unclean (the exit status says so); the SQLite setup still runs. Targets
//! (issue 19): `pg_tps_ratio` at least 0.5 and `pg2_tps_ratio` at least 1.0
//! in `closed64` (`pg_met`, `pg2_met`, `met` both); `rate10k` reports without
//! a target.

// The relay vs switch line is one `json!` literal of some 50 keys.
#![recursion_limit = "256"]

mod args;
mod channel;
mod cpu;
mod fsync;
mod memory;
mod process;
mod relay_vs_switch;
mod runs;
mod serve;
mod setup;
mod stand_in;
mod store;
mod variants;

use std::process::ExitCode;

use benches::loopback::load_rules;
use benches::measure::TrackingAlloc;
use clap::Parser as _;

use args::{Cli, Compare, Mode, Options};
use setup::Certs;

/// Tracks the live heap in the memory mode's switch process (`--serve-switch`);
/// elsewhere a plain `System` behind one relaxed load per call.
#[global_allocator]
static GLOBAL: TrackingAlloc = TrackingAlloc;

async fn run(o: &Options) -> Result<bool, String> {
    let table = load_rules()?;
    let certs = match o.compare {
        Some(Compare::Transport) if o.transport.tls() => Some(Certs::generate()?),
        _ => None,
    };
    // Once per process: a fresh database per run on it.
    let pg = (o.compare == Some(Compare::Store)).then(store::start_server);
    let mut clean = true;
    for &mode in &o.modes {
        let (line, ok) = match (o.compare, mode) {
            (None, Mode::Memory) => memory::memory(o, &table).await?,
            (None, _) => relay_vs_switch::compare(mode, o, &table).await?,
            (Some(Compare::Transport), _) => {
                variants::compare_transport(mode, o, &table, certs.as_ref()).await?
            }
            (Some(Compare::Journal), _) => variants::compare_journal(mode, o, &table).await?,
            (Some(Compare::Channel), _) => variants::compare_channel(mode, o, &table).await?,
            (Some(Compare::StandIn), _) => variants::compare_stand_in(mode, o, &table).await?,
            (Some(Compare::Store), _) => {
                let pg = pg.as_ref().ok_or("the PostgreSQL server was not set up")?;
                store::compare_store(mode, o, &table, pg).await?
            }
        };
        println!("{line}");
        clean &= ok;
    }
    Ok(clean)
}

/// Run `work` on a multi-thread runtime (a worker per core).
fn on_runtime<T>(work: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?
        .block_on(work)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(config) = &cli.serve_switch {
        return serve::serve_switch(config);
    }
    if let Some(upstream) = cli.serve_relay {
        return serve::serve_relay(upstream);
    }
    if let Some(issuer) = cli.print_config {
        return match setup::bench_shape(issuer, None) {
            Ok(shape) => {
                print!("{}", benches::loopback::switch_config(&shape));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("switch-compare: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let options = match cli.options() {
        Ok(o) => o,
        Err(message) => {
            eprintln!("switch-compare: {message}");
            return ExitCode::from(2);
        }
    };
    match on_runtime(run(&options)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("switch-compare: a run had errors, timeouts or fell short (see the lines)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("switch-compare: {e}");
            ExitCode::FAILURE
        }
    }
}
