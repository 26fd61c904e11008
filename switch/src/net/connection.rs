//! One connection: register it with the core, read frames and feed them in,
//! write what the core sends through the link's batching writer
//! ([`super::writer`]), and close it when the peer goes, stalls mid-frame, breaks
//! framing, or the core asks.
//!
//! On a MAC link every message must carry a MAC that verifies under the link's
//! key; on a TLS acquirer link every request's fields 32 and 33 must name a bank
//! bound to the peer's certificate. The connection checks both and hands the
//! core its verdict with the message ([`crate::core::Verdict`]); the core
//! decides the answer (63 for a request, a dropped answer otherwise). A failure
//! is logged here as a security event, within the link's event budget.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use codecs::framing::{Frame, FrameCodec};
use codecs::Message;
use futures_util::StreamExt;
use tokio::sync::{mpsc, Notify};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::event_budget::may_log;
use super::first_frame::Prefix;
use super::original_lookup::{remember_unknown_original, Lookup};
use super::read_batch::gather_ready;
use super::runtime::{reads_while_draining, LinkHandle, Shared};
use super::stream::LinkStream;
use super::writer::{write_loop, Outgoing, Sealer};
use crate::config::{LinkConfig, Role};
use crate::core::Verdict;
use crate::error::{Classify, Disposition, LinkError, MessageError};
use crate::security::mac::MAC_LEN;
use crate::security::message::{precompute_macs, verify_precomputed, MacFailure};
use crate::tls::Binding;

/// Frames queued for one connection's writer before senders wait.
const WRITE_QUEUE: usize = 8192;

/// Serve one connected stream until it ends. `binding`: on a TLS link, the banks
/// the peer's certificate is bound to.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    config: Arc<LinkConfig>,
    stream: LinkStream,
    binding: Option<Arc<Binding>>,
) {
    serve_with(shared, config, stream, binding, None).await;
}

/// The frame codec of a link's connections. One place: a plain listener reads a
/// socket's first frames with it and hands it, possibly mid-frame, to the
/// connection's reader.
pub(crate) fn link_codec(shared: &Shared, link: &LinkConfig) -> FrameCodec {
    FrameCodec::new(link.framing, false, shared.config.max_frame)
}

/// [`serve`] a stream that already sent `prefix` (read while it was pending on a
/// plain listener): its frames are handled first, in order.
pub(crate) async fn serve_with(
    shared: Arc<Shared>,
    config: Arc<LinkConfig>,
    stream: LinkStream,
    binding: Option<Arc<Binding>>,
    prefix: Option<Prefix>,
) {
    let peer = stream.tcp().peer_addr().ok();
    let _ = stream.tcp().set_nodelay(true);
    let id = shared.next_link.fetch_add(1, Ordering::Relaxed);
    let codec = || link_codec(&shared, &config);
    let certificate = binding.as_ref().map(|b| b.certificate.clone());
    // Only acquirer links claim institutions (issuer responses echo field 32).
    let binding = binding.filter(|_| config.role == Role::Acquirer);
    let (r, w) = stream.split();
    // Frames read before the link came up, then the reader. The prefix's codec
    // goes on with the rest of its bytes (an incomplete frame, whose header it
    // may already have taken), so the reader carries on where it stopped.
    let (mut early, mut reader) = match prefix {
        Some(p) => {
            let mut reader = FramedRead::new(r, p.codec);
            *reader.read_buffer_mut() = p.rest;
            (p.frames, reader)
        }
        None => (VecDeque::new(), FramedRead::new(r, codec())),
    };
    let (frames, rx) = mpsc::channel::<Outgoing>(WRITE_QUEUE);
    let sealer = config.security.mac.map(|padding| Sealer {
        security: shared.security.clone(),
        zone: Arc::from(config.name.as_str()),
        padding,
    });
    let sealed = sealer.is_some();
    let writer = tokio::spawn(write_loop(FramedWrite::new(w, codec()), rx, sealer));
    let close = Arc::new(Notify::new());
    shared.links.insert(
        id,
        LinkHandle {
            spec: config.spec.clone(),
            frames,
            close: close.clone(),
            sealed,
            certificate: certificate.clone(),
        },
    );
    tracing::info!(link = id, name = %config.name, ?peer, role = ?config.role, ?certificate, "link up");
    let actions = shared.core.on_link_up(shared.now(), id, config.clone());
    shared.execute(actions).await;

    let read_timeout = shared.config.read_timeout;
    let mut stop = shared.stop.subscribe();
    // What the reader gave after a batch of frames (an error, the end): handled
    // next, as if just read.
    let mut after_batch = None;
    let why = loop {
        if *stop.borrow() && !reads_while_draining(config.role) {
            // Draining: no new requests from acquirers; keep the writer for answers.
            close.notified().await;
            break Down::Shutdown;
        }
        let next = match after_batch.take() {
            Some(item) => Ok(item),
            None if !early.is_empty() => Ok(early.pop_front().map(Ok)),
            None => tokio::select! {
                r = tokio::time::timeout(read_timeout, reader.next()) => r,
                _ = close.notified() => break Down::ClosedBySwitch,
                _ = stop.changed() => continue,
            },
        };
        let failed = match next {
            Err(_) if reader.read_buffer().is_empty() => continue, // idle is fine
            Err(_) => LinkError::Stalled,
            Ok(None) => LinkError::PeerClosed,
            Ok(Some(Err(e))) => LinkError::from_read(e),
            Ok(Some(Ok(Frame::KeepAlive))) => continue,
            Ok(Some(Ok(Frame::Message { body, .. }))) if config.security.mac.is_some() => {
                // On a MAC link, the frames already read arrive with it (a link
                // carrying many transactions, such as an issuer's, brings several
                // per read): their MACs are computed together, then each frame is
                // checked and handled in order.
                // (Frames read early go one by one: the reader's come after them.)
                let (bodies, after) = if early.is_empty() {
                    gather_ready(&mut reader, body)
                } else {
                    (vec![body], None)
                };
                after_batch = after;
                let expected = expected_macs(&shared, &config, &bodies);
                for (body, expected) in bodies.into_iter().zip(expected) {
                    on_frame(&shared, id, &config, binding.as_deref(), body, expected).await;
                }
                continue;
            }
            Ok(Some(Ok(Frame::Message { body, .. }))) => {
                on_frame(&shared, id, &config, binding.as_deref(), body, None).await;
                continue;
            }
        };
        // Every read failure closes the connection (see `crate::error`).
        debug_assert_eq!(failed.disposition(), Disposition::CloseLink);
        report_read_failure(id, &config, &failed);
        break Down::Failed(failed);
    };
    tracing::info!(link = id, name = %config.name, why = %why, "link down");
    shared.links.remove(&id);
    let actions = shared.core.on_link_down(shared.now(), id);
    shared.execute(actions).await;
    writer.abort();
}

/// Why a connection's reader stopped.
enum Down {
    /// The switch is draining and the link's last answers are out.
    Shutdown,
    /// The core (or the drain) closed it.
    ClosedBySwitch,
    /// The peer or the socket failed.
    Failed(LinkError),
}

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Down::Shutdown => f.write_str("shutdown"),
            Down::ClosedBySwitch => f.write_str("closed by the switch"),
            Down::Failed(e) => e.fmt(f),
        }
    }
}

/// Log and count a read failure: broken framing is the peer's fault and
/// worth a warning; a socket error is only news; a close or a stall is said by
/// the "link down" line.
fn report_read_failure(id: u32, config: &LinkConfig, failed: &LinkError) {
    match failed {
        LinkError::Framing(e) => {
            tracing::warn!(link = id, name = %config.name, error = %e, "framing error; closing this connection");
            metrics::counter!("switch_framing_errors_total", "link" => config.name.clone())
                .increment(1);
        }
        LinkError::Io(e) => tracing::info!(link = id, error = %e, "read error"),
        _ => {}
    }
}

/// The MACs of a batch of received frames on a MAC link, computed together
/// ([`precompute_macs`]); a module that fails leaves each check to ask again
/// and say why.
fn expected_macs(
    shared: &Shared,
    config: &LinkConfig,
    bodies: &[Bytes],
) -> Vec<Option<[u8; MAC_LEN]>> {
    let padding = config.security.mac.unwrap_or_default();
    precompute_macs(&config.spec, bodies, |regions| {
        shared
            .security
            .generate_macs(&config.name, padding, regions)
            .ok()
    })
}

/// Handle one frame; `expected`: its MAC computed beforehand with others of its
/// batch ([`expected_macs`]).
async fn on_frame(
    shared: &Arc<Shared>,
    id: u32,
    config: &LinkConfig,
    binding: Option<&Binding>,
    body: Bytes,
    expected: Option<[u8; MAC_LEN]>,
) {
    let now = shared.now();
    let arrived = tokio::time::Instant::now();
    match config.spec.decode(body.clone()) {
        Ok(msg) => {
            let verdict = verdict(shared, config, binding, &body, &msg, expected);
            let authentic = matches!(verdict, Verdict::Ok);
            let lookup = match shared.store.as_deref().filter(|_| authentic) {
                Some(store) => remember_unknown_original(&shared.core, store, id, &msg).await,
                None => Lookup::NotNeeded,
            };
            let actions = match lookup {
                Lookup::NotNeeded => shared.core.on_message_with(now, id, msg, verdict),
                // It waited for the lookup: the clock reading is stale.
                Lookup::Done => shared.core.on_message_with(shared.now(), id, msg, verdict),
                Lookup::Unreadable => shared.core.original_unreadable(shared.now(), id, &msg),
            };
            shared.execute(actions).await;
            if !authentic {
                return;
            }
            // Time the switch itself adds on this hop: decode, decide, encode, queue
            // (one record, published as a metric from there).
            shared.added_latency.record(config.role, arrived.elapsed());
        }
        Err(error) => {
            let (mti, stan) = config
                .spec
                .peek_mti_and_stan(&body)
                .map_or((None, None), |(mti, stan)| (Some(mti), stan));
            let malformed = MessageError::Decode { error, mti, stan };
            let disposition = malformed.disposition();
            // The error names the field and reason, never the content.
            if let Some(suppressed) = may_log(&config.name, "malformed") {
                tracing::warn!(link = id, name = %config.name, error = %malformed, action = %disposition, suppressed, "malformed message");
            }
            metrics::counter!("switch_malformed_total", "link" => config.name.clone()).increment(1);
            // The core answers (30) what it can: it knows the link's role.
            if let (Disposition::Answer(_), Some(mti)) = (disposition, mti) {
                let actions = shared.core.on_malformed(now, id, mti, stan);
                shared.execute(actions).await;
            }
        }
    }
}

/// On a MAC link, whether `msg` (decoded from `body`) carries a MAC that
/// verifies (against `expected`, when computed beforehand over the right bytes).
fn check_mac(
    shared: &Shared,
    config: &LinkConfig,
    body: &[u8],
    msg: &Message,
    expected: Option<[u8; MAC_LEN]>,
) -> Result<(), MacFailure> {
    let Some(padding) = config.security.mac else {
        return Ok(());
    };
    verify_precomputed(&config.spec, body, msg, expected, |data, mac| {
        shared.security.verify_mac(&config.name, padding, data, mac)
    })
}

/// The verdict on `msg` (decoded from `body`): its MAC on a MAC link, then on a
/// TLS acquirer link the institutions a request claims. A failure is logged as
/// a security event (paced per link) and counted by link.
fn verdict(
    shared: &Shared,
    config: &LinkConfig,
    binding: Option<&Binding>,
    body: &[u8],
    msg: &Message,
    expected: Option<[u8; MAC_LEN]>,
) -> Verdict {
    if let Err(failure) = check_mac(shared, config, body, msg, expected) {
        if let Some(suppressed) = may_log(&config.name, failure.label()) {
            tracing::warn!(
                target: "switch::security",
                link = %config.name,
                mti = %msg.mti(),
                stan = ?msg.stan(),
                reason = %failure,
                action = %failure.disposition().given(msg.mti().is_request()),
                suppressed,
                "security event: message authentication failed"
            );
        }
        metrics::counter!("switch_security_events_total", "link" => config.name.clone(), "event" => failure.label())
            .increment(1);
        return Verdict::BadMac(failure);
    }
    let Some(binding) = binding.filter(|_| msg.mti().is_request()) else {
        return Verdict::Ok;
    };
    let Err(mismatch) = binding.check(msg) else {
        return Verdict::Ok;
    };
    if let Some(suppressed) = may_log(&config.name, "identity mismatch") {
        tracing::warn!(
            target: "switch::security",
            link = %config.name,
            mti = %msg.mti(),
            field = mismatch.field,
            claimed = %mismatch.claimed,
            certificate = %binding.certificate,
            suppressed,
            "security event: institution claimed is not bound to the peer's certificate; RC 63"
        );
    }
    metrics::counter!("switch_security_events_total", "link" => config.name.clone(), "event" => "identity mismatch")
        .increment(1);
    Verdict::UnboundInstitution {
        field: mismatch.field,
    }
}
