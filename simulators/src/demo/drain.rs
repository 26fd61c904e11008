//! The switch after the traffic: what it still holds (requests waiting for an
//! issuer, store-and-forward deliveries in flight, messages queued for issuers),
//! waited on for a grace period before the switch is shut down. The shutdown itself
//! would answer the rest with RC 91, so this is the moment that tells whether the
//! switch drained by itself.

use std::time::Duration;

use switch::net::RunningSwitch;
use tokio::time::Instant;

/// How often the switch is looked at while it drains.
const POLL: Duration = Duration::from_millis(100);

/// What the switch held when the wait ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwitchDrain {
    /// Acquirer requests still waiting for an issuer's answer.
    pub pending_requests: usize,
    /// Requests and store-and-forward deliveries in flight.
    pub in_flight: usize,
    /// Reversals and advices still queued for issuers (owed).
    pub saf_depth: usize,
    /// How long the wait took.
    pub waited: Duration,
}

impl SwitchDrain {
    /// Whether nothing is left.
    pub fn drained(&self) -> bool {
        self.pending_requests == 0 && self.in_flight == 0 && self.saf_depth == 0
    }
}

fn look(sw: &RunningSwitch, since: Instant) -> SwitchDrain {
    let core = sw.core();
    SwitchDrain {
        pending_requests: core.pending_requests(),
        in_flight: core.in_flight(),
        saf_depth: core.saf_depth(),
        waited: since.elapsed(),
    }
}

/// Wait until the switch holds nothing, or `grace` has passed; what it held then.
pub async fn wait(sw: &RunningSwitch, grace: Duration) -> SwitchDrain {
    let since = Instant::now();
    loop {
        let state = look(sw, since);
        if state.drained() || state.waited >= grace {
            return state;
        }
        tokio::time::sleep(POLL).await;
    }
}
