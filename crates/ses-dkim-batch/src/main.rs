//! `ses-dkim`: asks Amazon SES for the Easy DKIM tokens of every domain in a list and prints the
//! CNAME records to publish.

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

mod check;
mod cli;
mod clients;
mod listing;
mod progress;
mod rows;
mod status;
mod verify;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// The prefix of every message on stderr.
pub(crate) const PREFIX: &str = "ses-dkim";

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            report(format_args!("error: cannot start the async runtime: {e}"));
            return ExitCode::from(verify::EXIT_CONFIG);
        }
    };
    let status = match cli.command {
        Command::Verify(args) => runtime.block_on(verify::run(args)),
        Command::Status(args) => runtime.block_on(status::run(args)),
        Command::Check(args) => runtime.block_on(check::run(args)),
        Command::Completions { shell } => completions(shell),
    };
    ExitCode::from(status)
}

/// Writes one message to stderr with the fixed prefix, clear of any progress bar.
pub(crate) fn report(message: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    // A closed stderr leaves nowhere to complain to.
    progress::suspended(|| {
        let _ = writeln!(std::io::stderr().lock(), "{PREFIX}: {message}");
    });
}

/// Prints a completion script for `shell`.
fn completions(shell: clap_complete::Shell) -> u8 {
    use clap::CommandFactory;

    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, PREFIX, &mut out);
    match std::io::Write::write_all(&mut std::io::stdout().lock(), &out) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            report(format_args!(
                "error: cannot write the completion script: {e}"
            ));
            verify::EXIT_FAILURES
        }
    }
}

/// Sends `tracing` output to stderr: warnings by default, more with `-v`, `SES_DKIM_LOG` or
/// `RUST_LOG` to choose per module.
fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;

    let default = match (quiet, verbose) {
        (true, _) => "error",
        // aws-config warns at length (debug dumps) when, say, no instance metadata answers;
        // what matters of it comes back as an error of ours.
        (false, 0) => "warn,aws_config=error",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = std::env::var("SES_DKIM_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| progress::StderrWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
