//! Stall watch: notices a peer that leaves part of a frame in the read buffer
//! without progress (no frame completed) for too long: a host that is stuck
//! mid-frame, or one holding a connection open with a trickle of bytes. An empty
//! buffer is idle, not stalled.

use std::time::Duration;

use tokio::time::Instant;

/// Since when a partial frame has waited, and how many frames had completed then.
#[derive(Debug, Default)]
pub struct StallWatch {
    since: Option<Instant>,
    frames_then: u64,
}

impl StallWatch {
    /// True when `buffered` bytes of an incomplete frame have waited `limit` with
    /// no frame completing in between (`frames` counts the frames read so far).
    pub fn stalled(&mut self, buffered: usize, frames: u64, now: Instant, limit: Duration) -> bool {
        if buffered == 0 {
            self.since = None;
            return false;
        }
        match self.since {
            Some(t) if self.frames_then == frames => now.saturating_duration_since(t) >= limit,
            _ => {
                self.since = Some(now);
                self.frames_then = frames;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_watch_needs_a_stuck_partial_frame() {
        let mut w = StallWatch::default();
        let t0 = Instant::now();
        let d = Duration::from_secs(30);
        assert!(!w.stalled(0, 0, t0, d));
        assert!(!w.stalled(10, 0, t0, d));
        assert!(!w.stalled(10, 0, t0 + Duration::from_secs(29), d));
        // Progress (a frame completed) restarts the clock.
        assert!(!w.stalled(10, 1, t0 + Duration::from_secs(31), d));
        assert!(!w.stalled(10, 1, t0 + Duration::from_secs(60), d));
        assert!(w.stalled(10, 1, t0 + Duration::from_secs(61), d));
        // An empty buffer is idle, not stalled.
        assert!(!w.stalled(0, 1, t0 + Duration::from_secs(100), d));
    }
}
