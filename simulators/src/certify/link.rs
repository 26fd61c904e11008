//! One message at a time on a framed link, for certification and scripted
//! hosts: send a message (sealed on a MAC link), wait for the next one until a
//! deadline. Sequential on purpose: a certification case is a conversation,
//! not a load; the load generator's pipelined link is in `acquirer::connection`.

use bank_links::stream::{LinkStream, ReadHalf, WriteHalf};
use codecs::framing::{Frame, FrameCodec};
use codecs::Message;
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::messages::response_to;
use crate::wire::LinkFormat;

/// Dial attempts before giving up (about 6 s of backoff): a host just started
/// may still be building its card base.
const DIAL_ATTEMPTS: u32 = 7;

/// Connect to `addr` (HOST:PORT), trying again with backoff for a few seconds.
pub async fn dial(addr: &str) -> Result<tokio::net::TcpStream, String> {
    let resolved = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr} resolves to no address"))?;
    crate::wire::connect_with_backoff(resolved, Some(DIAL_ATTEMPTS))
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))
}

/// An answer matched to its request.
#[derive(Debug)]
pub struct Answer {
    /// The answer.
    pub msg: Message,
    /// Why its MAC failed, on a MAC link.
    pub mac: Option<String>,
}

/// What arrived.
#[derive(Debug)]
pub enum Received {
    /// A message; `mac` is the finding when its MAC is missing or wrong.
    Message {
        /// The message.
        msg: Message,
        /// Why its MAC failed, on a MAC link.
        mac: Option<String>,
    },
    /// A frame that does not decode (the reason names the field).
    Undecodable(String),
}

/// A framed link used one message at a time.
pub struct Conversation {
    reader: FramedRead<ReadHalf, FrameCodec>,
    writer: FramedWrite<WriteHalf, FrameCodec>,
    format: LinkFormat,
}

impl Conversation {
    /// Over a connected stream.
    pub fn new(format: LinkFormat, stream: impl Into<LinkStream>) -> Conversation {
        let (reader, writer) = format.split(stream);
        Conversation {
            reader,
            writer,
            format,
        }
    }

    /// Send `msg` (with a MAC on a MAC link).
    pub async fn send(&mut self, msg: &Message) -> Result<(), String> {
        let body = self
            .format
            .encode(msg)
            .map_err(|e| format!("cannot encode a {}: {e}", msg.mti()))?;
        self.writer
            .send(Frame::Message { tpdu: None, body })
            .await
            .map_err(|e| format!("cannot send: {e}"))
    }

    /// The next message, or None when `deadline` passes first. An error when
    /// the link closes or its framing breaks.
    pub async fn recv(&mut self, deadline: Instant) -> Result<Option<Received>, String> {
        loop {
            let next = match tokio::time::timeout_at(deadline, self.reader.next()).await {
                Err(_) => return Ok(None),
                Ok(next) => next,
            };
            let body = match next {
                None => return Err("the peer closed the link".into()),
                Some(Err(e)) => return Err(format!("framing error: {e}")),
                Some(Ok(Frame::KeepAlive)) => continue,
                Some(Ok(Frame::Message { body, .. })) => body,
            };
            return Ok(Some(match self.format.spec.decode(body.clone()) {
                Ok(msg) => {
                    let mac = self.format.check(&body, &msg).err().map(|e| e.to_string());
                    Received::Message { msg, mac }
                }
                Err(e) => Received::Undecodable(e.to_string()),
            }));
        }
    }

    /// Send `request` and wait until `limit` for its answer (the response MTI
    /// with the same STAN). Meanwhile the peer's own sign-ons and echoes are
    /// answered, and anything else is skipped. None: no answer in time.
    pub async fn exchange(
        &mut self,
        request: &Message,
        limit: std::time::Duration,
    ) -> Result<Option<Answer>, String> {
        let sent = Instant::now();
        self.send(request).await?;
        let want = request.mti().response();
        let deadline = sent + limit;
        loop {
            let Some(received) = self.recv(deadline).await? else {
                return Ok(None);
            };
            let Received::Message { msg, mac } = received else {
                continue;
            };
            if Some(msg.mti()) == want && msg.stan() == request.stan() {
                return Ok(Some(Answer { msg, mac }));
            }
            if msg.mti() == codecs::Mti::NETWORK_REQUEST {
                self.send(&response_to(&msg, codecs::ResponseCode::APPROVED))
                    .await?;
            }
        }
    }
}
