//! A wiretap between the switch and an issuer host: a loopback relay that the
//! switch dials in place of the issuer, which forwards every frame both ways
//! unchanged and keeps a decoded copy of what the switch sent. Tests use it to
//! see exactly what reached an issuer that is a real simulator (whose report
//! says what it booked, not which card number it was given).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use codecs::framing::{FrameCodec, LengthHeader, DEFAULT_MAX_FRAME};
use codecs::{Message, Spec};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

/// A running relay toward one issuer (binary2 framing, iso87ascii).
pub struct IssuerTap {
    /// Where the switch should dial.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Message>>>,
    task: tokio::task::JoinHandle<()>,
}

impl IssuerTap {
    /// Relay connections on a free loopback port to `issuer`.
    pub async fn start(issuer: SocketAddr) -> IssuerTap {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("tap: bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("tap: {e}"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        let task = tokio::spawn(async move {
            // One relay per connection: the switch redials after a link loss.
            while let Ok((from_switch, _)) = listener.accept().await {
                let Ok(to_issuer) = TcpStream::connect(issuer).await else {
                    continue;
                };
                tokio::spawn(relay(from_switch, to_issuer, kept.clone()));
            }
        });
        IssuerTap { addr, seen, task }
    }

    /// The messages the switch sent so far, in order.
    pub fn seen(&self) -> Vec<Message> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The messages of MTI `mti` the switch sent so far.
    pub fn seen_of(&self, mti: &str) -> Vec<Message> {
        self.seen()
            .into_iter()
            .filter(|m| m.mti().to_string() == mti)
            .collect()
    }
}

impl Drop for IssuerTap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn framed(stream: TcpStream) -> Framed<TcpStream, FrameCodec> {
    let _ = stream.set_nodelay(true);
    Framed::new(
        stream,
        FrameCodec::new(LengthHeader::Binary2, false, DEFAULT_MAX_FRAME),
    )
}

/// Forward frames both ways until either side closes; decode and keep what the
/// switch sends (a frame that does not decode is forwarded, not kept).
async fn relay(switch: TcpStream, issuer: TcpStream, seen: Arc<Mutex<Vec<Message>>>) {
    let spec = Spec::builtin("iso87ascii").unwrap_or_else(|e| panic!("{e}"));
    let (mut to_switch, mut from_switch) = framed(switch).split();
    let (mut to_issuer, mut from_issuer) = framed(issuer).split();
    let upstream = async {
        while let Some(Ok(frame)) = from_switch.next().await {
            if let codecs::framing::Frame::Message { body, .. } = &frame {
                if let Ok(msg) = spec.decode(body.clone()) {
                    seen.lock().unwrap_or_else(|p| p.into_inner()).push(msg);
                }
            }
            if to_issuer.send(frame).await.is_err() {
                break;
            }
        }
    };
    let downstream = async {
        while let Some(Ok(frame)) = from_issuer.next().await {
            if to_switch.send(frame).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}
