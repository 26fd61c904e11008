//! The memory mode: the switch in a child process holds `--in-flight`
//! transactions for a black-hole issuer that never answers; its resident memory
//! (and, for this binary's child, its live heap) before and after gives the bytes
//! per transaction in flight.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use benches::loopback::{
    black_hole, peak_rss_bytes, rss_bytes, switch_config, traffic_plan, RequestStream, SwitchShape,
    HEADER,
};
use benches::measure::round;
use bytes::{Buf, BytesMut};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::args::Options;
use crate::process::{spawn, Serve};
use crate::setup::{free_port, TempJournal};

/// The target: at most 1 KiB per transaction in flight.
const TARGET_BYTES_PER_IN_FLIGHT: f64 = 1024.0;
/// Requests pushed per round.
const PUSH_ROUND: u64 = 2048;
/// How long a round may wait for the switch to forward or answer what was pushed.
const ROUND_PATIENCE: Duration = Duration::from_secs(20);

/// Reads the switch's answers on one connection: counts them by response code.
async fn count_answers(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    answered: Arc<AtomicU64>,
    codes: Arc<Mutex<BTreeMap<String, u64>>>,
) {
    let spec = codecs::Spec::builtin("iso87ascii").ok();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        match reader.read_buf(&mut buf).await {
            Ok(n) if n > 0 => {}
            _ => return,
        }
        while buf.len() >= HEADER {
            let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
            if buf.len() < HEADER + len {
                break;
            }
            buf.advance(HEADER);
            let body = buf.split_to(len).freeze();
            let rc = spec
                .as_ref()
                .and_then(|s| s.decode(body).ok())
                .and_then(|m| m.text(39).map(|t| t.into_owned()))
                .unwrap_or_else(|| "??".into());
            if let Ok(mut c) = codes.lock() {
                *c.entry(rc).or_default() += 1;
            }
            answered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The memory mode's JSON line and whether exactly `--in-flight` were held.
pub async fn memory(
    o: &Options,
    table: &routing_rules::RoutingTable,
) -> Result<(Value, bool), String> {
    let (hole, counts) = black_hole().await?;
    let listen = free_port()?;
    let journal = TempJournal::new(o.journal);
    let text = switch_config(&SwitchShape {
        acquirer_listen: listen,
        issuer: hole.addr,
        max_in_flight: usize::try_from(o.in_flight * 2).map_err(|e| e.to_string())?,
        timeout_ms: 600_000,
        echo_interval_secs: 600,
        journal: journal.config(),
    });
    let mut process = spawn(Serve::Switch {
        config: &text,
        switch_bin: o.switch_bin.as_deref(),
    })
    .await?;
    let pid = process.pid();

    // Signed on to the black hole, then the acquirer connections.
    let waiting = Instant::now();
    while counts.network.load(Ordering::Relaxed) == 0 {
        process.check_alive()?;
        if waiting.elapsed() > Duration::from_secs(20) {
            return Err("the switch process did not sign on within 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut writers: Vec<OwnedWriteHalf> = Vec::with_capacity(o.connections);
    let answered = Arc::new(AtomicU64::new(0));
    let codes = Arc::new(Mutex::new(BTreeMap::new()));
    let mut readers = Vec::new();
    for _ in 0..o.connections {
        let stream = loop {
            match TcpStream::connect(listen).await {
                Ok(s) => break s,
                Err(e) if waiting.elapsed() > Duration::from_secs(20) => {
                    return Err(format!("cannot connect to the switch at {listen}: {e}"));
                }
                Err(_) => {
                    process.check_alive()?;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        readers.push(tokio::spawn(count_answers(
            r,
            answered.clone(),
            codes.clone(),
        )));
        writers.push(w);
    }
    let plan = traffic_plan(table)?;
    let mut streams = (0..o.connections)
        .map(|c| RequestStream::new(plan.clone(), c, o.connections))
        .collect::<Result<Vec<_>, _>>()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    process.check_alive()?;
    let before = rss_bytes(Some(pid)).ok_or("cannot read the switch's VmRSS")?;
    let heap_before = process.heap();

    // Push until exactly `in_flight` requests have reached the issuer.
    let pushing = Instant::now();
    let mut sent = 0u64;
    let mut next_conn = 0usize;
    loop {
        let forwarded = counts.requests.load(Ordering::Relaxed);
        if forwarded >= o.in_flight {
            break;
        }
        let batch = (o.in_flight - forwarded).min(PUSH_ROUND);
        let mut per_conn: Vec<Vec<u8>> = vec![Vec::new(); o.connections];
        for _ in 0..batch {
            let frame = streams[next_conn].next_frame()?;
            per_conn[next_conn].extend_from_slice(&frame);
            next_conn = (next_conn + 1) % o.connections;
        }
        for (w, bytes) in writers.iter_mut().zip(&per_conn) {
            if !bytes.is_empty() {
                w.write_all(bytes)
                    .await
                    .map_err(|e| format!("write to the switch: {e}"))?;
            }
        }
        sent += batch;
        let round = Instant::now();
        while counts.requests.load(Ordering::Relaxed) + answered.load(Ordering::Relaxed) < sent {
            if round.elapsed() > ROUND_PATIENCE {
                process.check_alive()?;
                return Err(format!(
                    "the switch neither forwarded nor answered {} requests within {ROUND_PATIENCE:?} \
                     (forwarded {}, answered {})",
                    sent - counts.requests.load(Ordering::Relaxed) - answered.load(Ordering::Relaxed),
                    counts.requests.load(Ordering::Relaxed),
                    answered.load(Ordering::Relaxed)
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let push_secs = pushing.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    process.check_alive()?;
    let after = rss_bytes(Some(pid)).ok_or("cannot read the switch's VmRSS")?;
    let heap_after = process.heap();
    let peak = peak_rss_bytes(Some(pid)).unwrap_or(0);
    let in_flight = counts.requests.load(Ordering::Relaxed);
    let declined = answered.load(Ordering::Relaxed);
    let codes = codes.lock().map(|c| c.clone()).unwrap_or_default();
    process.stop().await;
    drop(journal);
    for r in readers {
        r.abort();
    }
    drop(hole);

    let n = in_flight.max(1) as f64;
    let per = (after as f64 - before as f64) / n;
    let heap = match (heap_before, heap_after) {
        (Some(b), Some(a)) => json!({
            "heap_bytes_before": b.0,
            "heap_bytes_after": a.0,
            "heap_bytes_per_in_flight": round((a.0 - b.0) as f64 / n, 1),
            "heap_blocks_per_in_flight": round((a.1 - b.1) as f64 / n, 2),
        }),
        _ => Value::Null,
    };
    let line = json!({
        "mode": "memory",
        "in_flight": in_flight,
        "rss_bytes_before": before,
        "rss_bytes_after": after,
        "bytes_per_in_flight": round(per, 1),
        "target": {"bytes_per_in_flight_at_most": TARGET_BYTES_PER_IN_FLIGHT},
        "met": per <= TARGET_BYTES_PER_IN_FLIGHT,
        "peak_rss_bytes": peak,
        "heap": heap,
        "sent": sent,
        "declined": declined,
        "declined_codes": codes,
        "journal": o.journal,
        "connections": o.connections,
        "push_secs": round(push_secs, 2),
        "process": match &o.switch_bin {
            Some(p) => format!("{} run --config", p.display()),
            None => "switch-compare --serve-switch (RunningSwitch in a child process)".into(),
        },
    });
    Ok((line, in_flight == o.in_flight))
}
