//! The client loop on `ses-dkim-client`: `--n` timed calls (after `--warmup` untimed ones),
//! `--concurrency` at a time, against `--endpoint` for `--domain`, each answer's tokens checked,
//! ending with one `RESULT` line.
//!
//! The client gets what the `aws-sdk-ses` loop gets: fixed fake credentials, region
//! `us-east-1`, the endpoint override, one attempt per call and a current-thread tokio runtime;
//! its pacing is set out of the way.

use std::io::Write as _;
use std::process::ExitCode;

use ses_dkim_benches::harness::{self, ACCESS_KEY_ID, LoopArgs, REGION, SECRET_ACCESS_KEY};
use ses_dkim_client::{SesClient, Settings};
use ses_dkim_core::{Credentials, DkimToken, Domain};

fn main() -> ExitCode {
    let args = match LoopArgs::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            let _ = writeln!(
                std::io::stderr(),
                "client-loop: {message}\n{}",
                LoopArgs::USAGE
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "client-loop: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };

    let outcome = runtime.block_on(async {
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
    });
    match outcome {
        Ok(report) => {
            let _ = writeln!(std::io::stderr(), "client-loop: {}", report.cpu_line());
            let _ = writeln!(std::io::stdout(), "{}", report.result_line());
            ExitCode::SUCCESS
        }
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "client-loop: {message}");
            ExitCode::FAILURE
        }
    }
}
