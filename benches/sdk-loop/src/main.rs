//! The client loop on `aws-sdk-ses`: the same calls, flags and `RESULT` line as
//! `client-loop`, measured by the same code (`benches/src/harness.rs`, included by path).
//!
//! The SDK gets what the ses-dkim loop gets: fixed fake credentials, region `us-east-1`, the
//! endpoint override, one attempt per call and a current-thread tokio runtime.

#[path = "../../src/harness.rs"]
mod harness;

use std::process::ExitCode;

use aws_sdk_ses::config::retry::RetryConfig;
use aws_sdk_ses::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ses::error::DisplayErrorContext;

use harness::{ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};

fn main() -> ExitCode {
    harness::main("sdk-loop", |args| async move {
        let config = aws_sdk_ses::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&args.endpoint)
            .credentials_provider(Credentials::new(
                ACCESS_KEY_ID,
                SECRET_ACCESS_KEY,
                None,
                None,
                "sdk-loop",
            ))
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .build();
        let client = aws_sdk_ses::Client::from_conf(config);
        let domain = args.domain.clone();
        harness::run(&args, async move || {
            let output = client
                .verify_domain_dkim()
                .domain(&domain)
                .send()
                .await
                .map_err(|e| DisplayErrorContext(&e).to_string())?;
            harness::check_tokens(output.dkim_tokens().iter().map(String::as_str))
        })
        .await
    })
}
