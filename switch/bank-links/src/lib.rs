//! Bank links: the transport both ends of a link share, the switch and the bank
//! simulators (no routing, no storage, no switch):
//!
//! - [`stream`]: a link's byte stream, plain TCP or TLS, and its read/write halves;
//! - [`tls`]: rustls client and server configurations from PEM files, and the
//!   folder layout `switch gen-certs` writes them in;
//! - [`handshake`]: TLS handshakes under a deadline, failures sorted;
//! - [`writer`]: a writer task that batches queued frames to the socket, with a
//!   hook where a MAC link seals them;
//! - [`outbound`]: the same written from the reading task's own loop;
//! - [`read_batch`]: the frames a reader already holds, taken together;
//! - [`backoff`]: the pause between dials of a link that is down;
//! - [`stall`]: a peer stuck mid-frame.

pub mod backoff;
pub mod handshake;
pub mod outbound;
pub mod read_batch;
pub mod stall;
pub mod stream;
pub mod tls;
pub mod writer;
