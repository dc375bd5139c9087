//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ses_dkim_core::OutputFormat;

/// Appends to a help ending (a literal) how every command finds its settings.
macro_rules! with_configuration {
    ($ending:literal) => {
        concat!(
            $ending,
            "\n\n",
            "\
Configuration follows the AWS CLI: credentials from the standard chain (environment, shared
files with --profile or AWS_PROFILE, SSO, web identity, container and instance metadata); the
region from --region, AWS_REGION, AWS_DEFAULT_REGION, then the profile; the endpoint from
--endpoint-url, AWS_ENDPOINT_URL_SES, AWS_ENDPOINT_URL, then the profile; attempts from
--max-attempts, AWS_MAX_ATTEMPTS, then the profile; the authorities HTTPS trusts from
--ca-bundle, AWS_CA_BUNDLE, the profile's ca_bundle, then the compiled-in roots."
        )
    };
}
pub(crate) use with_configuration;

/// The top-level help's ending: what the exit statuses have in common.
const AFTER_HELP: &str = with_configuration!(
    "\
Exit status: 0 when everything asked for is in order, 1 when a line, a domain or a record is
not (each is reported on stderr), 2 for a usage or configuration error (nothing was done), 130
when Ctrl-C stopped the run; each command's --help says what it checks."
);

/// The ending of `verify --help`.
const VERIFY_AFTER_HELP: &str = with_configuration!(
    "\
Exit status:
    0  every domain got its records
    1  a line was invalid or a domain failed (each is reported on stderr), or the run ended
       early because the list could not be read or the records could not be written (a closed
       pipe, as after `| head`)
    2  usage or configuration error, including missing credentials, and credentials SES refuses,
       a skewed clock, an untrusted endpoint certificate or an endpoint that cannot be connected
       to or does not answer as SES does, before any domain was verified (nothing was verified)
  130  Ctrl-C stopped the run (the calls already sent were finished, and stored with --state)"
);

/// Verify domains with Amazon SES Easy DKIM and print the CNAME records to publish.
#[derive(Debug, Parser)]
#[command(name = "ses-dkim", version, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    /// Log more (-v: each call, -vv: debug); SES_DKIM_LOG or RUST_LOG choose per module.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,

    /// Log errors only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Call VerifyDomainDkim for every domain of a list and print the DKIM CNAME records.
    ///
    /// The list holds one domain per line; blank lines and `#` comments are skipped, and
    /// duplicates (after normalising case, a trailing dot and internationalised names) are
    /// called once. Records go to stdout as each domain completes; problems go to stderr as
    /// `path:line: message`.
    #[command(after_help = VERIFY_AFTER_HELP)]
    Verify(VerifyArgs),

    /// Ask SES (GetIdentityDkimAttributes, 100 domains a call) what it thinks of each domain's
    /// DKIM records: enabled or not, verification state, tokens.
    ///
    /// Nothing is created or changed. A domain SES does not know shows as NotFound. With --wait,
    /// asks again every --interval until each domain is Success or Failed, or --timeout.
    #[command(after_help = crate::status::EXIT_HELP)]
    Status(crate::status::StatusArgs),

    /// Look each expected DKIM record up in DNS: ok, missing, wrong (pointing elsewhere) or
    /// doubled (published as `<name>.<domain>` by a panel that appended the zone).
    ///
    /// The tokens come from --state when it has them, else from SES (GetIdentityDkimAttributes;
    /// nothing is created). Only the first CNAME hop is compared.
    #[command(after_help = crate::check::EXIT_HELP)]
    Check(crate::check::CheckArgs),

    /// Print a shell completion script (bash, zsh, fish, elvish or powershell) to stdout.
    ///
    /// For example: `ses-dkim completions bash > ~/.local/share/bash-completion/completions/ses-dkim`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Arguments of `ses-dkim verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The list of domains; `-` or nothing reads standard input.
    #[arg(value_name = "FILE|-")]
    pub(crate) file: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) ses: SesArgs,

    /// How to print the records.
    #[arg(long, value_enum, default_value_t = FormatArg::Zone)]
    pub(crate) format: FormatArg,

    /// Write the records to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,

    /// The zone CNAME values point into, overriding the region's table entry.
    #[arg(long, value_name = "ZONE", value_parser = dkim_zone)]
    pub(crate) dkim_zone: Option<String>,

    /// The TTL of zone-file and Route 53 records, in seconds (at most 2147483647).
    #[arg(
        long,
        default_value_t = 1800,
        value_name = "SECONDS",
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(u32).range(..=i64::from(i32::MAX))
    )]
    pub(crate) ttl: u32,

    /// For `--format zone`: write `$ORIGIN ORIGIN` and owner names relative to it; a domain
    /// outside the zone is an error for that domain.
    #[arg(long, value_name = "ORIGIN")]
    pub(crate) zone: Option<String>,

    /// Keep every result in this SQLite file; a later run skips what is done there (and still
    /// prints its records).
    #[arg(long, value_name = "FILE")]
    pub(crate) state: Option<PathBuf>,

    /// With --state: call again for domains whose earlier attempt failed.
    #[arg(long, requires = "state")]
    pub(crate) retry_failed: bool,

    /// Print to stdout the signed request of each call a run would make (none for results in
    /// --state; the session token hidden, the signature valid for minutes) and send nothing.
    #[arg(long, conflicts_with = "output")]
    pub(crate) dry_run: bool,
}

/// The `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    /// A BIND zone-file fragment.
    Zone,
    /// CSV with a header row: domain, region, type, name, value.
    Csv,
    /// A JSON array, one object per domain and region.
    Json,
    /// One JSON object per line, per domain and region.
    Jsonl,
    /// A Route 53 change batch (UPSERT actions) for `aws route53 change-resource-record-sets`.
    Route53,
    /// An aligned table for people.
    Table,
}

impl From<FormatArg> for OutputFormat {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Zone => Self::Zone,
            FormatArg::Csv => Self::Csv,
            FormatArg::Json => Self::Json,
            FormatArg::Jsonl => Self::JsonLines,
            FormatArg::Route53 => Self::Route53,
            FormatArg::Table => Self::Table,
        }
    }
}

/// Where SES is and how to call it: the same for `verify`, `status` and `check`.
#[derive(Debug, Args)]
pub(crate) struct SesArgs {
    /// An AWS region; repeat for several, each called at its own pace [default: from the
    /// environment or profile].
    #[arg(long, value_name = "REGION")]
    pub(crate) region: Vec<String>,

    /// The shared-config profile to use (instead of AWS_PROFILE).
    #[arg(long, value_name = "NAME")]
    pub(crate) profile: Option<String>,

    /// Send requests to this endpoint instead of the region's (`http://` is allowed here).
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,

    /// Trust the certificate authorities of this PEM file for HTTPS instead of the built-in
    /// roots; not read for an `http://` endpoint [default: AWS_CA_BUNDLE or the profile's
    /// `ca_bundle`].
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_bundle: Option<std::path::PathBuf>,

    /// Calls a second; SES allows one per account and region.
    #[arg(
        long,
        default_value_t = 1.0,
        value_name = "N",
        allow_negative_numbers = true,
        value_parser = rate
    )]
    pub(crate) rate: f64,

    /// Attempts per call for throttling and transient errors [default: AWS_MAX_ATTEMPTS or 3].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub(crate) max_attempts: Option<u32>,
}

/// Parses `--rate`: a positive number of calls a second.
fn rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err("must be a positive number of calls a second, such as 1 or 0.5".to_owned()),
    }
}

/// Parses `--dkim-zone`, checked as the client will use it.
pub(crate) fn dkim_zone(text: &str) -> Result<String, String> {
    ses_dkim_core::DkimZone::parse(text)
        .map(|_| text.to_owned())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn format_names_match_the_core() {
        for arg in FormatArg::value_variants() {
            let name = arg.to_possible_value().map(|v| v.get_name().to_owned());
            assert_eq!(name.as_deref(), Some(OutputFormat::from(*arg).as_str()));
        }
    }

    /// Values that cannot work are usage errors naming the flag, negative numbers included
    /// (not mistaken for flags); the TTL stops where DNS does, at 2^31 - 1.
    #[test]
    fn flag_values_are_checked_as_given() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["ses-dkim", "verify", "-"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args)
        };
        for (flag, value) in [
            ("--rate", "0"),
            ("--rate", "-1"),
            ("--rate", "inf"),
            ("--rate", "NaN"),
            ("--ttl", "-5"),
            ("--ttl", "2147483648"),
            ("--dkim-zone", "bad..zone"),
        ] {
            let error = parse(&[flag, value]).unwrap_err().to_string();
            assert!(
                error.contains(&format!("invalid value '{value}' for '{flag} ")),
                "{error}"
            );
        }
        let cli = parse(&[
            "--rate",
            "0.5",
            "--ttl",
            "2147483647",
            "--dkim-zone",
            "dkim.example",
        ]);
        let Command::Verify(args) = cli.unwrap().command else {
            panic!("not verify");
        };
        assert_eq!((args.ses.rate, args.ttl), (0.5, 2_147_483_647));
        assert_eq!(args.dkim_zone.as_deref(), Some("dkim.example"));
    }
}
