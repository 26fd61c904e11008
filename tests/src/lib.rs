//! End-to-end tests of the switch and simulators over real loopback sockets.
//!
//! This crate will hold the test-support helpers (spawning a switch and simulators on
//! `127.0.0.1:0`, bounded traffic loops, assertions on exactly-one-answer and totals)
//! and the end-to-end tests under `tests/`. The codec's own tests live beside the
//! codec in `codecs`.
