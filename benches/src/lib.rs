//! Criterion benchmarks of ses-dkim; the benchmarks themselves are in `benches/core.rs`.
