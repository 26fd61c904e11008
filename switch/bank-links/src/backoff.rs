//! Reconnect backoff: the pause before dialing a link again starts at
//! [`Backoff::FIRST`] and doubles after each failure up to [`Backoff::MAX`], so a
//! host that is down is not dialed in a tight loop and one that comes back is
//! found within seconds. The switch's dialer and the bank simulators use it.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

/// The pause before the next dial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    /// The first pause.
    pub const FIRST: Duration = Duration::from_millis(100);
    /// The longest pause.
    pub const MAX: Duration = Duration::from_secs(5);

    /// A backoff at its first pause.
    pub const fn new() -> Backoff {
        Backoff { next: Self::FIRST }
    }

    /// Back to the first pause (a link was made).
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    /// The pause [`Backoff::next_pause`] gives next (for a log line).
    pub fn upcoming(&self) -> Duration {
        self.next
    }

    /// The pause to wait now, doubling the one after it.
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (pause * 2).min(Self::MAX);
        pause
    }

    /// The pause after `failures` failures in a row (0: none).
    pub fn after_failures(failures: u32) -> Duration {
        match failures {
            0 => Duration::ZERO,
            n => Self::FIRST
                .saturating_mul(1 << (n - 1).min(6))
                .min(Self::MAX),
        }
    }
}

/// Dial `addr`, retrying with a [`Backoff`] until it connects or `attempts` run
/// out (None: forever).
pub async fn connect_with_backoff(
    addr: SocketAddr,
    attempts: Option<u32>,
) -> std::io::Result<TcpStream> {
    let mut backoff = Backoff::new();
    let mut tried = 0u32;
    loop {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => {
                tried += 1;
                if attempts.is_some_and(|max| tried >= max) {
                    return Err(e);
                }
                let delay = backoff.next_pause();
                tracing::debug!(%addr, error = %e, ?delay, "connect failed; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_and_restart() {
        let mut b = Backoff::new();
        let ms: Vec<u128> = (0..8).map(|_| b.next_pause().as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        b.reset();
        assert_eq!(b.upcoming(), Backoff::FIRST);
        assert_eq!(b.next_pause(), Backoff::FIRST);
        let by_count: Vec<u128> = (0..9)
            .map(|n| Backoff::after_failures(n).as_millis())
            .collect();
        assert_eq!(by_count, [0, 100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(Backoff::after_failures(u32::MAX), Backoff::MAX);
    }
}
