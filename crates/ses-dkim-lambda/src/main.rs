//! `ses-dkim-lambda`: ses-dkim as an AWS Lambda function.
//!
//! Other systems invoke it to get a domain's DKIM records without holding SES permissions
//! themselves: directly (`{"domain": "example.com", "region": "af-south-1"}`, or a list under
//! `domains`), through an SQS queue, or over HTTP (a function URL or an API Gateway HTTP API).
//! The event's shape says which; see [`event`] and the README's "Lambda deployment" section.
//!
//! Start-up reads the configuration ([`config::Config::from_lookup`]), logs its warnings and
//! builds the client of the function's own region, once, when SES DKIM is known there; the
//! handler ([`handler::handle`]) then answers each invocation with the clients kept in
//! [`handler::App`].

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

mod config;
mod error;
mod event;
mod handler;

use std::process::ExitCode;
use std::time::Instant;

use lambda_runtime::service_fn;
use tracing::{error, info, warn};
use tracing_subscriber::filter::{Targets, filter_fn};

use crate::config::Config;
use crate::handler::App;

/// The variables the Lambda runtime library reads at start-up.
const LAMBDA_VARIABLES: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

fn main() -> ExitCode {
    let started = Instant::now();
    init_logging();

    // One invocation runs at a time per instance: a single thread is enough.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The runtime library panics without these; Lambda and its emulators always set them.
    let missing: Vec<&str> = LAMBDA_VARIABLES
        .into_iter()
        .filter(|name| std::env::var_os(name).is_none())
        .collect();
    if !missing.is_empty() {
        error!(
            "not running in Lambda ({} not set); run it locally with `cargo lambda watch`",
            missing.join(", ")
        );
        return ExitCode::FAILURE;
    }

    runtime.block_on(async {
        let config = match Config::from_lookup(|name| std::env::var(name).ok()) {
            Ok(config) => config,
            Err(e) => {
                error!("invalid configuration: {e}");
                return ExitCode::FAILURE;
            }
        };
        for warning in &config.warnings {
            warn!("{warning}");
        }
        let app = match App::new(config).await {
            Ok(app) => app,
            Err(e) => {
                error!("cannot configure the SES client: {e}");
                return ExitCode::FAILURE;
            }
        };
        info!(
            startup_ms = started.elapsed().as_secs_f64() * 1000.0,
            "ready"
        );

        let app = &app;
        match lambda_runtime::run(service_fn(|event| handler::handle(app, event))).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                error!("the Lambda runtime stopped: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Writes JSON log lines to stdout, which Lambda sends to CloudWatch Logs.
///
/// The level comes from `SES_DKIM_LOG` or `RUST_LOG` (directives such as
/// `info,ses_dkim_client=debug`), else from `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's logging
/// configuration; its `FATAL` counts as `error`), else `info`. Targets are matched by prefix
/// without regular expressions, which keeps the binary small.
///
/// Without `SES_DKIM_LOG` or `RUST_LOG`, the client's own `info` line of each call is left out:
/// the handler logs every verified domain once, with its records.
///
/// The runtime library logs every error the handler returns a second time, as an `ERROR` line
/// holding its `Debug` form; the handler has logged it already, readably and with its fields, so
/// that one line is dropped (see [`is_runtime_error_dump`]).
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let filter = log_filter(
        var("SES_DKIM_LOG").or_else(|| var("RUST_LOG")).as_deref(),
        var("AWS_LAMBDA_LOG_LEVEL").as_deref(),
    );
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_span_list(true)
        .flatten_event(true)
        .with_target(false)
        .with_writer(std::io::stdout);
    let _ = tracing_subscriber::registry()
        .with(json)
        .with(filter)
        .with(filter_fn(|metadata| !is_runtime_error_dump(metadata)))
        .try_init();
}

/// Returns the log filter: `directives` (from `SES_DKIM_LOG` or `RUST_LOG`) as given, or else
/// `lambda_level` (`AWS_LAMBDA_LOG_LEVEL`, `FATAL` counting as `error`) or `info` for everything
/// but the client, whose per-call `info` line would repeat the handler's.
fn log_filter(directives: Option<&str>, lambda_level: Option<&str>) -> Targets {
    let parse = |spec: &str| {
        spec.to_ascii_lowercase()
            .replace("fatal", "error")
            .parse::<Targets>()
            .ok()
    };
    if let Some(targets) = directives.and_then(parse) {
        return targets;
    }
    let level = lambda_level
        .and_then(|level| parse(level)?.default_level())
        .unwrap_or(tracing::level_filters::LevelFilter::INFO);
    let client = if level == tracing::level_filters::LevelFilter::INFO {
        tracing::level_filters::LevelFilter::WARN
    } else {
        level
    };
    Targets::new()
        .with_default(level)
        .with_target("ses_dkim_client", client)
}

/// Whether a log event is lambda_runtime's `error!("{error:?}")` for a handler's error.
///
/// That event comes from the runtime's panic-catching layer and has the message as its only
/// field; the same layer's report of a panic has an `error` field as well and is kept.
fn is_runtime_error_dump(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.is_event()
        && metadata.target() == "lambda_runtime::layers::panic"
        && metadata.fields().field("error").is_none()
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::log_filter;

    /// By default the handler's lines are kept and the client's per-call `info` line, which
    /// repeats them, is not; its warnings are; explicit directives are taken as given.
    #[test]
    fn the_default_filter_leaves_out_the_clients_repeat_of_each_call() {
        for lambda_level in [None, Some("INFO")] {
            let filter = log_filter(None, lambda_level);
            assert!(filter.would_enable("ses_dkim_lambda::handler", &Level::INFO));
            assert!(!filter.would_enable("ses_dkim_client::client", &Level::INFO));
            assert!(filter.would_enable("ses_dkim_client::client", &Level::WARN));
        }
        let debug = log_filter(None, Some("DEBUG"));
        assert!(debug.would_enable("ses_dkim_client::client", &Level::DEBUG));
        let fatal = log_filter(None, Some("FATAL"));
        assert!(!fatal.would_enable("ses_dkim_lambda::handler", &Level::WARN));
        assert!(fatal.would_enable("ses_dkim_lambda::handler", &Level::ERROR));
        let explicit = log_filter(Some("info"), Some("ERROR"));
        assert!(explicit.would_enable("ses_dkim_client::client", &Level::INFO));
    }
}
