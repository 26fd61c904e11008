//! Several switch addresses for one acquirer (`--connect A,B[,C]`: the nodes of a
//! cluster), and how a link notices a node that hangs without closing.
//!
//! - [`Peers`]: the addresses in the order given. A link dials the first that
//!   answers; when its connection is lost it dials the next one, cycling, a round
//!   at once and further rounds with backoff, so that it is talking to a live
//!   node again well within 2 s of losing one. With two nodes, the one after the
//!   second is the first again: a link fails over and, when that node fails in
//!   turn, back.
//! - [`Liveness`]: on a link with more than one address, the acquirer signs on
//!   (0800, 001) on each new connection, echoes (0800, 301) after a short silence,
//!   and takes the connection for lost when nothing at all arrived for
//!   [`Liveness::INTERVAL`]: a node that is stopped but whose sockets stay open
//!   (a hung process, a partition) is left as surely as one that closed.
//!
//! With one address none of this applies: the link redials that address with
//! backoff and sends no network management, as it always did.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bank_links::backoff::Backoff;
use bank_links::stream::LinkStream;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::tls::HostTls;
use crate::wire;

/// Most addresses in `--connect` (a cluster has at most 15 nodes).
const MAX_PEERS: usize = 16;
/// How long one dial (TCP connect and TLS handshake) may take in a failover
/// round before the next address is tried: a node that is gone refuses at once,
/// one that hangs must not hold the round up.
const DIAL_TIMEOUT: Duration = Duration::from_millis(600);
/// The longest pause between two failover rounds that found no node.
const MAX_ROUND_PAUSE: Duration = Duration::from_secs(1);

/// The switch addresses of one acquirer, in the order given (never empty).
#[derive(Clone, Debug)]
pub struct Peers {
    addrs: Vec<SocketAddr>,
    /// As written on the command line (for the report).
    names: Vec<String>,
}

/// The addresses of a `--connect` list: comma-separated, blanks ignored.
pub fn parse_list(list: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        return Err(format!("--connect {list:?} names no address"));
    }
    if names.len() > MAX_PEERS {
        return Err(format!("--connect names more than {MAX_PEERS} addresses"));
    }
    Ok(names)
}

impl Peers {
    /// Resolve every address of a `--connect` list.
    pub async fn resolve(list: &str) -> Result<Peers, String> {
        let names = parse_list(list)?;
        let mut addrs = Vec::with_capacity(names.len());
        for name in &names {
            addrs.push(super::resolve(name).await?);
        }
        Ok(Peers { addrs, names })
    }

    /// Already resolved addresses (named by themselves); at least one.
    pub fn from_addrs(addrs: Vec<SocketAddr>) -> Result<Peers, String> {
        if addrs.is_empty() || addrs.len() > MAX_PEERS {
            return Err(format!("1 to {MAX_PEERS} switch addresses"));
        }
        let names = addrs.iter().map(ToString::to_string).collect();
        Ok(Peers { addrs, names })
    }

    /// How many addresses.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// Never true: a list has at least one address.
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// More than one address: failover, sign-on and echoes apply.
    pub fn several(&self) -> bool {
        self.addrs.len() > 1
    }

    /// Address `i`.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.addrs[i % self.addrs.len()]
    }

    /// The addresses as given.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The first connection of a link: the first address that answers, trying
    /// them all in order for up to `rounds` rounds (one address: as many
    /// attempts at it, with the usual backoff). Returns the address's index.
    pub async fn dial_first(
        &self,
        tls: Option<&HostTls>,
        rounds: u32,
    ) -> io::Result<(usize, LinkStream)> {
        if !self.several() {
            let tcp = wire::connect_with_backoff(self.addrs[0], Some(rounds)).await?;
            return Ok((0, crate::tls::secure_client(tls, tcp).await?));
        }
        self.dial_rounds(0, tls, Some(rounds)).await
    }

    /// A new connection after losing the one to address `lost`: the next
    /// address first, cycling, until one answers (one address: that one, with
    /// backoff, forever).
    pub async fn dial_after(
        &self,
        lost: usize,
        tls: Option<&HostTls>,
    ) -> io::Result<(usize, LinkStream)> {
        if !self.several() {
            let tcp = wire::connect_with_backoff(self.addrs[0], None).await?;
            return Ok((0, crate::tls::secure_client(tls, tcp).await?));
        }
        self.dial_rounds(lost + 1, tls, None).await
    }

    /// Rounds over every address starting at `from`, each dial bounded by
    /// [`DIAL_TIMEOUT`], with a pause (doubling up to [`MAX_ROUND_PAUSE`])
    /// after each round that found no node.
    async fn dial_rounds(
        &self,
        from: usize,
        tls: Option<&HostTls>,
        rounds: Option<u32>,
    ) -> io::Result<(usize, LinkStream)> {
        let mut backoff = Backoff::new();
        let mut round = 0u32;
        loop {
            let mut last_error = None;
            for step in 0..self.addrs.len() {
                let i = (from + step) % self.addrs.len();
                match dial_one(self.addrs[i], tls).await {
                    Ok(stream) => return Ok((i, stream)),
                    Err(e) => {
                        tracing::debug!(addr = %self.addrs[i], error = %e, "node not answering");
                        last_error = Some(e);
                    }
                }
            }
            round += 1;
            if rounds.is_some_and(|max| round >= max) {
                return Err(last_error.unwrap_or_else(|| io::ErrorKind::NotFound.into()));
            }
            tokio::time::sleep(backoff.next_pause().min(MAX_ROUND_PAUSE)).await;
        }
    }
}

/// One dial of `addr`, TLS included, within [`DIAL_TIMEOUT`].
async fn dial_one(addr: SocketAddr, tls: Option<&HostTls>) -> io::Result<LinkStream> {
    let dial = async {
        let tcp = TcpStream::connect(addr).await?;
        crate::tls::secure_client(tls, tcp).await
    };
    tokio::time::timeout(DIAL_TIMEOUT, dial)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer to the dial"))?
}

/// Whether the node at the other end of a connection is still there.
#[derive(Clone, Copy, Debug)]
pub struct Liveness {
    last_heard: Instant,
    echo_sent: bool,
}

impl Liveness {
    /// Silence after which the connection is taken for lost. The switch answers
    /// an echo at once, whatever its issuers do, so a second of nothing at all
    /// means the node is gone, and failing over after it keeps within 2 s.
    pub const INTERVAL: Duration = Duration::from_secs(1);
    /// Silence after which an echo is sent (once per silence).
    const ECHO_AFTER: Duration = Duration::from_millis(300);

    /// A connection made at `now`.
    pub fn new(now: Instant) -> Liveness {
        Liveness {
            last_heard: now,
            echo_sent: false,
        }
    }

    /// Something arrived at `now`.
    pub fn heard(&mut self, now: Instant) {
        self.last_heard = now;
        self.echo_sent = false;
    }

    /// Whether to send an echo now (true once per silence).
    pub fn echo_due(&mut self, now: Instant) -> bool {
        let due = !self.echo_sent && self.silence(now) >= Self::ECHO_AFTER;
        self.echo_sent |= due;
        due
    }

    /// Whether nothing arrived for [`Liveness::INTERVAL`].
    pub fn silent(&self, now: Instant) -> bool {
        self.silence(now) >= Self::INTERVAL
    }

    fn silence(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_heard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn lists_are_split_on_commas() {
        assert_eq!(parse_list("a:1").unwrap(), ["a:1"]);
        assert_eq!(
            parse_list(" a:1, b:2 ,,c:3").unwrap(),
            ["a:1", "b:2", "c:3"]
        );
        assert!(parse_list(" , ").is_err());
        assert!(parse_list(&vec!["a:1"; 17].join(",")).is_err());
    }

    #[test]
    fn an_echo_once_per_silence_and_lost_after_the_interval() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0);
        assert!(!l.echo_due(t0 + Duration::from_millis(100)));
        assert!(l.echo_due(t0 + Duration::from_millis(300)));
        assert!(
            !l.echo_due(t0 + Duration::from_millis(600)),
            "one echo per silence"
        );
        assert!(!l.silent(t0 + Duration::from_millis(999)));
        assert!(l.silent(t0 + Duration::from_millis(1000)));
        l.heard(t0 + Duration::from_millis(900));
        assert!(!l.silent(t0 + Duration::from_millis(1800)));
        assert!(l.echo_due(t0 + Duration::from_millis(1200)));
    }

    #[tokio::test]
    async fn after_a_loss_the_next_address_that_answers_cycling() {
        let live = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead); // refuses from now on
        let peers = Peers::from_addrs(vec![
            live.local_addr().unwrap(),
            dead_addr,
            live.local_addr().unwrap(),
        ])
        .unwrap();
        let (i, _) = peers.dial_first(None, 1).await.unwrap();
        assert_eq!(i, 0);
        // Lost 0: 1 refuses, 2 answers.
        assert_eq!(peers.dial_after(0, None).await.unwrap().0, 2);
        // Lost 2: the next is 0 again (and back).
        assert_eq!(peers.dial_after(2, None).await.unwrap().0, 0);
        let only_dead = Peers::from_addrs(vec![dead_addr, dead_addr]).unwrap();
        assert!(Peers::from_addrs(Vec::new()).is_err());
        assert!(only_dead.dial_first(None, 1).await.is_err());
    }
}
