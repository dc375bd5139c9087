//! The library side of the `ses-dkim` batch verifier: reading domain lists as a stream, and the
//! SQLite store that lets a run resume.
//!
//! The binary's command line and run loop live in `main.rs`; this library holds the parts that
//! tests and fuzzers exercise directly.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable
    )
)]

pub mod list;
pub mod state;
