//! A hyper-based client for Amazon SES's `VerifyDomainDkim`, wrapping [`ses_dkim_core`].
//!
//! The client adds what the core leaves out on purpose: HTTPS (rustls) with a pooled keep-alive
//! connection, the standard AWS credential chain and region lookup (`aws-config`), endpoint
//! overrides, timeouts, a response-size cap, retries with jittered backoff for throttling and
//! transient faults, and pacing to SES's rate limit.
//!
//! ```no_run
//! use ses_dkim_client::{Settings, SesClient};
//! use ses_dkim_core::Domain;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = Settings { region: Some("eu-west-1".into()), ..Settings::default() };
//! let client = SesClient::from_settings(settings).await?;
//! let records = client.verify(&Domain::parse("example.com")?).await?;
//! for record in &records.records {
//!     println!("{} CNAME {}", record.name(), record.value());
//! }
//! # Ok(())
//! # }
//! ```

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

mod client;
mod error;
mod settings;
mod transport;

pub use client::{CallOptions, SesClient};
pub use error::{ClientError, ConfigError};
pub use settings::{CaBundle, ResolvedSettings, Settings};
