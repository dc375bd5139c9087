//! The library side of the `ses-dkim` batch verifier: reading domain lists as a stream, and the
//! SQLite store that lets a run resume.
//!
//! The binary's command line and run loop live in `main.rs`; this library holds the parts that
//! tests and fuzzers exercise directly.

pub mod list;
pub mod state;
