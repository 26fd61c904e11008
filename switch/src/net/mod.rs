//! The tokio drivers: they accept and dial links, frame bytes with the codec, feed
//! events to the core with `now`, and carry out its actions. They decide nothing.
//!
//! - [`listener`]: accept loops, one per listening link: they never wait to
//!   accept; sockets are pending until they prove themselves, then bounded by
//!   the link's connections;
//! - [`pending`]: the bound on a listener's pending sockets (evicting the
//!   oldest) and their first-byte deadline;
//! - [`first_frame`]: a plain-TCP socket's proof, its first complete frame;
//! - [`open_files`]: the soft limit on descriptors raised to the hard one;
//! - [`dialer`]: outbound links, reconnecting with backoff;
//! - `enrolments`: token enrolments waiting for their issuer's answer;
//! - [`handshake`]: TLS handshakes under a deadline, certificate identity binding;
//! - [`event_budget`]: how many lines a peer's security events may write;
//! - [`stream`]: plain or TLS streams and their read/write halves (and
//!   [`read_batch`], the frames a reader holds, taken together): both from the
//!   `bank-links` crate, shared with the bank simulators, as are the handshake's
//!   deadline, the writer's batching and the dialer's backoff;
//! - [`http1`]: HTTP/1.1 on an accepted stream (token APIs, admin address);
//! - [`writer`]: a connection's writer task, sealing MACs a batch at a time;
//! - [`connection`]: one connection's read loop and writer (and the check of the
//!   institutions a TLS peer claims);
//! - [`pin`]: the PIN translations the core asks for, answered at once (the
//!   software module) or from a task (an HSM adapter);
//! - [`publish`]: the core's statistics published as metrics once a second;
//! - `token_listeners`, `token_backend`: the token API's listeners and the
//!   switch as its backend (enrolments and token changes as core events);
//! - [`runtime`]: the shared driver state, the tick loop (asleep until the core
//!   next needs it), action execution,
//!   graceful drain and reload.

pub mod added_latency;
pub(crate) mod cluster_node;
pub mod connection;
pub mod dialer;
pub(crate) mod enrolments;
pub mod event_budget;
pub mod first_frame;
pub mod handshake;
pub mod http1;
pub(crate) mod lease_gate;
pub mod listener;
pub mod open_files;
pub(crate) mod original_lookup;
pub mod pending;
pub mod pin;
pub mod publish;
pub mod runtime;
pub(crate) mod stand_in_state;
pub(crate) mod token_backend;
pub(crate) mod token_listeners;
pub mod writer;

pub use bank_links::{read_batch, stream};
pub use runtime::{RunningSwitch, SwitchOptions};
