//! The client loop on `ses-dkim-client`: `--n` timed calls (after `--warmup` untimed ones),
//! `--concurrency` at a time, against `--endpoint` for `--domain`, each answer's tokens checked,
//! ending with one `RESULT` line.
//!
//! The client gets what the `aws-sdk-ses` loop gets: fixed fake credentials, region
//! `us-east-1`, the endpoint override, one attempt per call and a current-thread tokio runtime;
//! its pacing is set out of the way.

use std::process::ExitCode;

use ses_dkim_benches::harness::{self, ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};
use ses_dkim_client::{SesClient, Settings};
use ses_dkim_core::{Credentials, DkimToken, Domain};

fn main() -> ExitCode {
    harness::main("client-loop", |args| async move {
        let domain = Domain::parse(&args.domain).map_err(|e| e.to_string())?;
        let settings = Settings {
            region: Some(REGION.to_owned()),
            endpoint_url: Some(args.endpoint.clone()),
            credentials: Some(Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None)),
            max_attempts: Some(1),
            // Out of the way: a billion calls a second, in bursts of a million.
            rate: 1e9,
            burst: 1_000_000,
            ..Settings::default()
        };
        let client = SesClient::from_settings(settings)
            .await
            .map_err(|e| e.to_string())?;
        harness::run(&args, async move || {
            let records = client.verify(&domain).await.map_err(|e| e.to_string())?;
            harness::check_tokens(records.tokens.iter().map(DkimToken::as_str))
        })
        .await
    })
}
