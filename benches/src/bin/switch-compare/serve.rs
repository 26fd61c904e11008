//! The child side of [`crate::process`]: the middle served in a process of its own.
//!
//! - `--serve-switch CONFIG`: the switch from CONFIG, as `switch run` starts it
//!   without the log subscriber and the metrics endpoint, with the live heap tracked
//!   from the start (the memory mode reads it);
//! - `--serve-relay UPSTREAM`: the plain frame relay ([`benches::loopback::relay`]).
//!
//! Once it serves (the switch: signed on to its issuer link within 5 s, or it
//! fails, as [`benches::loopback::start_switch_with`] waits), the child
//! prints `ready ADDR` on stdout (where the acquirer connects), then answers one
//! line per line on stdin: `heap` → `heap BYTES BLOCKS`, `added` → `added P50 P99`
//! (the switch's added time per hop in µs; the relay answers `added`, no figures),
//! `commits` → `commits N` (its journal writer's commits so far; no figure
//! without a journal),
//! `stand-in` → `stand-in LINKS_UP APPROVED DECLINED SAF_DEPTH` (the switch's
//! issuer links signed on, its stand-in decisions for the benchmark's issuer and
//! its store-and-forward queue; see [`StandInCount`]).
//! At end of stdin it exits at once (what is in flight is dropped with it).

use std::io::{BufRead as _, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use benches::loopback::{config_errors, relay, start_switch_with};
use benches::measure::{live_heap, start_tracking};
use tokio::sync::mpsc;

use crate::stand_in::StandInCount;

/// `--serve-switch CONFIG`.
pub fn serve_switch(config: &Path) -> ExitCode {
    start_tracking();
    child_main("--serve-switch", async {
        let config =
            switch::config::Config::load(config).map_err(|errors| config_errors(&errors))?;
        let running = start_switch_with(config).await?;
        let addr = *running
            .listening
            .get("acquirer")
            .ok_or("the configuration has no acquirer listener")?;
        serve_commands(addr, |question| match question {
            "added" => {
                let added = running.added_latency();
                Some(format!(
                    " {} {}",
                    added.value_at_quantile(0.5),
                    added.value_at_quantile(0.99)
                ))
            }
            "commits" => Some(
                running
                    .journal_commits()
                    .map(|n| format!(" {n}"))
                    .unwrap_or_default(),
            ),
            "stand-in" => Some(StandInCount::of(running.core()).line()),
            _ => None,
        })
        .await
    })
}

/// `--serve-relay UPSTREAM`.
pub fn serve_relay(upstream: SocketAddr) -> ExitCode {
    child_main("--serve-relay", async {
        let server = relay(upstream).await?;
        serve_commands(server.addr, |question| {
            (question == "added").then(String::new)
        })
        .await
    })
}

/// Run `serve` on a runtime of its own (a worker per core, as the switch runs);
/// it returns only on failure.
fn child_main(
    mode: &str,
    serve: impl std::future::Future<Output = Result<(), String>>,
) -> ExitCode {
    match crate::on_runtime(serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switch-compare {mode}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Say `ready ADDR`, then answer stdin's lines until it ends; then exit the
/// process at once (no drain). `answer` gives the rest of the answer line to a
/// question other than `heap` (`added`, `stand-in`), None for one it does not know.
async fn serve_commands(
    addr: SocketAddr,
    answer: impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let (lines, mut rx) = mpsc::unbounded_channel::<String>();
    // Stdin is read on a thread of its own: a blocking read has no place on the
    // runtime's workers.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(l) => {
                    if lines.send(l).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    let mut out = std::io::stdout();
    let say = |out: &mut std::io::Stdout, text: String| -> Result<(), String> {
        writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))
    };
    say(&mut out, format!("ready {addr}"))?;
    while let Some(line) = rx.recv().await {
        let question = line.trim();
        if question == "heap" {
            let (bytes, blocks) = live_heap();
            say(&mut out, format!("heap {bytes} {blocks}"))?;
        } else if let Some(rest) = answer(question) {
            say(&mut out, format!("{question}{rest}"))?;
        }
    }
    std::process::exit(0)
}
