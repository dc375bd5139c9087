//! The I/O-free core of ses-dkim: everything about Amazon SES's `VerifyDomainDkim` call except
//! moving bytes.
//!
//! This crate opens no socket, reads no file or clock and needs no async runtime. It validates
//! and normalises domains, builds the Query-protocol request, signs it with SigV4 for a time the
//! caller passes, parses the XML answer, and turns the DKIM tokens into the CNAME records to
//! publish, in every output format. A program with its own HTTP stack needs only this crate.
//!
//! # Calling sequence
//!
//! 1. Parse what the user typed with [`Domain::parse`], and the region with [`Region::parse`].
//! 2. Resolve the [`Endpoint`] for the region (or parse an override) and build the request with
//!    [`request::verify_domain_dkim`].
//! 3. Sign it with [`sign`], passing [`Credentials`] and the current time; a program that sends
//!    more than one request keeps a [`Signer`] instead, which derives the SigV4 signing key once
//!    a day rather than for every request. Headers added after signing (`content-length`,
//!    `connection`, `user-agent`) are not signed and do no harm; changing a signed header or the
//!    body does.
//! 4. Send it by any means; pace sends with a [`Pacer`] and retry what
//!    [`ErrorKind::is_retryable`] allows, after [`backoff_delay`]. The request's URI is the
//!    endpoint's absolute URL, as HTTP client libraries want it; a program that writes HTTP/1.1
//!    itself sends the path, `/`, in the request line, and connects to [`Endpoint::host`] and
//!    [`Endpoint::port`].
//! 5. Hand the status and body to [`parse_verify_domain_dkim`] for the tokens or a typed error.
//!    SES puts its request id in the body; an error body without one can take it from the
//!    response's `x-amzn-RequestId` header ([`REQUEST_ID_HEADER`]) with
//!    [`ResponseError::or_request_id`].
//! 6. Build the records with [`DkimRecordSet::new`] and the region's [`DkimZone`], and render
//!    them with a [`Renderer`].
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! use ses_dkim_core::{
//!     Credentials, DkimRecordSet, DkimZone, Domain, Endpoint, EndpointVariant, OutputFormat,
//!     Region, RenderOptions, Renderer, parse_verify_domain_dkim, request, sign,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let domain = Domain::parse("Example.COM.")?;
//! let region = Region::parse("af-south-1")?;
//! let endpoint = Endpoint::for_region(&region, EndpointVariant::Standard)?;
//!
//! let mut http_request = request::verify_domain_dkim(&endpoint, &domain);
//! let credentials = Credentials::new("AKIDEXAMPLE", "secret", None);
//! let now = UNIX_EPOCH + Duration::from_secs(1_704_067_200); // pass SystemTime::now()
//! sign(&mut http_request, &credentials, &region, now)?;
//! assert!(http_request.headers().contains_key("authorization"));
//!
//! // ... send `http_request`, then hand back what came in:
//! let body = include_str!("../tests/data/responses/verify-domain-dkim.response.moto-5.2.5.xml");
//! let output = parse_verify_domain_dkim(200, body.as_bytes())?;
//!
//! let zone = DkimZone::for_region(&region)?;
//! let set = DkimRecordSet::new(domain, region, &zone, output.tokens, output.request_id)?;
//! let zone_file = Renderer::render_all(OutputFormat::Zone, RenderOptions::default(), [&set])?;
//! assert!(zone_file.contains(
//!     "vvjuipp74whm76gqoni7qmwwn4w4qusjiainivf6sf._domainkey.example.com.\t1800\tIN\tCNAME\t\
//!      vvjuipp74whm76gqoni7qmwwn4w4qusjiainivf6sf.dkim.af-south-1.amazonses.com."
//! ));
//! # Ok(())
//! # }
//! ```
//!
//! Step 4 in a program of its own: one [`Pacer`] per account and region (SES allows one call a
//! second; `Pacer::new(1.0 / 1.01, 1)` keeps 1% more than the interval between calls, as the
//! client does, so that network jitter never brings two arrivals closer than a second),
//! [`Pacer::reserve`] before each attempt and [`Pacer::sent`]
//! the moment the request leaves, so that a late send pushes the next slot back; up to three
//! attempts, each retry after [`backoff_delay`] with a ceiling of 1 s doubling to 20 s, as the
//! AWS SDKs' standard mode does. The request is signed again for each attempt, after its wait.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! use ses_dkim_core::{Pacer, ResponseError, backoff_delay, parse_verify_domain_dkim};
//!
//! # fn main() -> Result<(), ResponseError> {
//! // Stands in for signing and sending; SES throttles the first attempt here.
//! let answers = [
//!     (400, include_str!("../tests/data/responses/error.throttling.ses-real.xml")),
//!     (200, include_str!("../tests/data/responses/verify-domain-dkim.response.moto-5.2.5.xml")),
//! ];
//! let mut pacer = Pacer::new(1.0 / 1.01, 1);
//! let mut waits = Vec::new(); // a real program sleeps for each of these
//! let mut attempt = 0;
//! let output = loop {
//!     waits.push(pacer.reserve(Instant::now()));
//!     // sign the request for now, then send it:
//!     pacer.sent(Instant::now());
//!     let (status, body) = answers[attempt];
//!     attempt += 1;
//!     match parse_verify_domain_dkim(status, body.as_bytes()) {
//!         Ok(output) => break output,
//!         Err(error) if error.kind().is_retryable() && attempt < 3 => {
//!             let random = 0.5; // from the program's random source, in [0, 1)
//!             let initial = Duration::from_secs(1);
//!             waits.push(backoff_delay(attempt as u32, initial, Duration::from_secs(20), random));
//!         }
//!         Err(error) => return Err(error),
//!     }
//! };
//! assert_eq!(output.tokens.len(), 3);
//! assert_eq!(waits[0], Duration::ZERO); // the first slot is free
//! assert_eq!(waits[1], Duration::from_millis(500)); // half the first retry's ceiling
//! # Ok(())
//! # }
//! ```
//!
//! The status call, `GetIdentityDkimAttributes`, follows the same sequence with
//! [`status::get_identity_dkim_attributes`] and [`parse_get_identity_dkim_attributes`].
//!
//! The crate re-exports [`http`], whose `Request` type the requests are.
//!
//! # Errors
//!
//! Each failure domain has its own error type: [`DomainError`] for input, [`RegionError`] and
//! [`EndpointError`] for configuration, [`SigningError`] for signing, [`ResponseError`] (a
//! [`ServiceError`] or a [`ParseError`]) for answers, [`ZoneError`] and [`RecordError`] for
//! records, and [`RenderError`] for output. [`ErrorKind`] classifies answers for retrying.
//!
//! # Features
//!
//! - `ring` (on by default): the signer's SHA-256 and HMAC come from ring, whose assembly is the
//!   fastest where the CPU has no SHA extensions; ring's build compiles C and assembly, so the
//!   target needs a C compiler. Without it, they come from RustCrypto's `sha2` and `hmac`, and
//!   the crate builds with nothing but Rust (`default-features = false`). Signatures are the
//!   same either way.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::disallowed_methods
    )
)]

pub mod credentials;
pub mod domain;
pub mod endpoint;
pub mod error;
pub mod format;
mod hash;
pub mod list;
pub mod pacing;
pub mod records;
pub mod region;
pub mod request;
pub mod response;
pub mod signing;
pub mod status;
mod xml;

/// The `http` crate this crate's requests are built with, so that callers name the same types.
pub use http;

pub use credentials::Credentials;
pub use domain::{Domain, DomainError, DomainErrorReason};
pub use endpoint::{Endpoint, EndpointError, EndpointVariant};
pub use error::{ErrorKind, ParseError, ParseErrorKind, ResponseError, ServiceError};
pub use format::{
    OutputFormat, ROUTE53_UPSERT_MAX_RECORDS, ROUTE53_UPSERT_MAX_VALUE_CHARS, RenderError,
    RenderOptions, Renderer, Route53Limit,
};
pub use list::{DomainList, ListLine, parse_list_line};
pub use pacing::{Pacer, backoff_delay};
pub use records::{DkimRecord, DkimRecordSet, DkimZone, RecordError, ZoneError};
pub use region::{Region, RegionError};
pub use response::{
    DkimToken, REQUEST_ID_HEADER, VerifyDomainDkimOutput, parse_verify_domain_dkim,
};
pub use signing::{Signer, SigningError, sign};
pub use status::{
    DkimAttributes, DkimAttributesOutput, VerificationStatus, parse_get_identity_dkim_attributes,
};
