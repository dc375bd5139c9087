//! The library side of the `ses-dkim` batch verifier: reading domain lists as a stream.
//!
//! The binary's command line and run loop live in `main.rs`; this library holds the parts that
//! tests and fuzzers exercise directly.

pub mod list;
