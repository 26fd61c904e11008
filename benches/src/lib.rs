//! Benchmarks and comparison runners: criterion benches under `benches/`, and
//! binaries that measure the project and a reference side by side in one run.
