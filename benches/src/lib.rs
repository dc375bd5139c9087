//! Benchmarks of ses-dkim: criterion benchmarks of the core (`benches/core.rs`), and the client
//! loops that `benches/compare.sh` runs side by side with their twin on `aws-sdk-ses`
//! (`sdk-loop/`) against the loopback stub (`src/bin/ses-stub.rs`).

pub mod harness;
