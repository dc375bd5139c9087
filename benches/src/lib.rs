//! Criterion benchmarks of ses-dkim; see `benches/core.rs`.
