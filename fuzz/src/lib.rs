//! The checks behind the fuzz targets.
//!
//! They live in the core's test folder, where the stable replay of the corpora uses them too;
//! including the one file from both places keeps a single copy of every invariant.

#[path = "../../crates/ses-dkim-core/tests/fuzz_checks/mod.rs"]
pub mod checks;
