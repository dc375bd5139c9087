//! `ses-dkim verify`: read the list as a stream, call SES for each new domain at the paced rate,
//! write each domain's records as soon as they arrive.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use ses_dkim_batch::list::{DomainList, Entry};
use ses_dkim_client::{ClientError, SesClient, Settings};
use ses_dkim_core::{ErrorKind, OutputFormat, RenderOptions, Renderer};
use tokio::sync::mpsc;
use tracing::info;

use crate::cli::VerifyArgs;
use crate::report;

/// Every domain got its records.
pub(crate) const EXIT_OK: u8 = 0;
/// A line was invalid or a domain failed.
pub(crate) const EXIT_FAILURES: u8 = 1;
/// Usage or configuration error; nothing was verified.
pub(crate) const EXIT_CONFIG: u8 = 2;

/// Runs the command and returns the exit status.
pub(crate) async fn run(args: VerifyArgs) -> u8 {
    let (source, source_name) = match open_source(args.file.as_deref()) {
        Ok(opened) => opened,
        Err(message) => {
            report(format_args!("error: {message}"));
            return EXIT_CONFIG;
        }
    };

    let mut settings = Settings::default();
    settings.region = args.region.clone();
    settings.profile = args.profile.clone();
    settings.endpoint_url = args.endpoint_url.clone();
    settings.max_attempts = args.max_attempts;
    settings.rate = args.rate;
    settings.dkim_zone = args.dkim_zone.clone();
    let client = match SesClient::from_settings(settings).await {
        Ok(client) => client,
        Err(e) => {
            report(format_args!("error: {e}"));
            return EXIT_CONFIG;
        }
    };
    info!(region = %client.region(), endpoint = %client.endpoint(), "starting");

    // Opened only once everything else is known to work, so that a usage or configuration error
    // never truncates an existing file.
    let mut sink = match open_sink(args.output.as_deref(), args.file.as_deref()) {
        Ok(sink) => sink,
        Err(message) => {
            report(format_args!("error: {message}"));
            return EXIT_CONFIG;
        }
    };

    let (sender, mut receiver) = mpsc::channel(256);
    // The list is read on its own thread so a slow pipe never stalls the connection pool; the
    // bounded channel keeps memory flat whatever the list's size.
    std::thread::spawn(move || {
        for entry in DomainList::new(source) {
            let stop = entry.is_err();
            if sender.blocking_send(entry).is_err() || stop {
                break;
            }
        }
    });

    let format = OutputFormat::from(args.format);
    let mut renderer = Renderer::new(format, RenderOptions { ttl: args.ttl });
    let mut out = String::new();
    if !args.dry_run {
        renderer.header(&mut out);
    }

    let started = Instant::now();
    let mut counts = Counts::default();
    let mut seen = HashSet::new();
    while let Some(entry) = receiver.recv().await {
        let Entry { line, item } = match entry {
            Ok(entry) => entry,
            Err(e) => {
                report(format_args!("{source_name}: cannot read the list: {e}"));
                counts.unread = true;
                break;
            }
        };
        let domain = match item {
            Ok(domain) => domain,
            Err(e) => {
                report(format_args!("{source_name}:{line}: {e}"));
                counts.invalid += 1;
                continue;
            }
        };
        if !seen.insert(domain.clone()) {
            info!("{source_name}:{line}: {domain} was listed before; skipped");
            counts.duplicates += 1;
            continue;
        }

        if args.dry_run {
            match client.signed_request(&domain).await {
                Ok(request) => {
                    out.push_str(&describe_request(&request));
                    counts.verified += 1;
                }
                Err(e) => {
                    report(format_args!("{source_name}:{line}: {domain}: {e}"));
                    counts.failed += 1;
                    if stops_the_run(&e) {
                        counts.stopped = true;
                        break;
                    }
                }
            }
        } else {
            match client.verify(&domain).await {
                Ok(records) => {
                    renderer.push(&records, &mut out);
                    counts.verified += 1;
                }
                Err(e) => {
                    report(format_args!("{source_name}:{line}: {domain}: {e}"));
                    counts.failed += 1;
                    if stops_the_run(&e) {
                        counts.stopped = true;
                        break;
                    }
                }
            }
        }
        if let Err(status) = flush(&mut sink, &mut out) {
            return status;
        }
    }

    if !args.dry_run {
        renderer.footer(&mut out);
    }
    if let Err(status) = flush(&mut sink, &mut out) {
        return status;
    }

    counts.summarise(args.dry_run, started.elapsed().as_secs_f64());
    counts.exit_status()
}

/// Returns `true` for errors that every further call would repeat.
fn stops_the_run(error: &ClientError) -> bool {
    matches!(error.kind(), ErrorKind::Credentials | ErrorKind::ClockSkew)
}

#[derive(Debug, Default)]
struct Counts {
    verified: u64,
    failed: u64,
    invalid: u64,
    duplicates: u64,
    stopped: bool,
    unread: bool,
}

impl Counts {
    fn summarise(&self, dry_run: bool, seconds: f64) {
        let mut line = if dry_run {
            format!(
                "dry run: {} {} signed, nothing sent",
                self.verified,
                plural(self.verified, "request")
            )
        } else {
            format!("{} verified", self.verified)
        };
        let _ = write!(line, ", {} failed", self.failed);
        let _ = write!(
            line,
            ", {} invalid {}",
            self.invalid,
            plural(self.invalid, "line")
        );
        let _ = write!(
            line,
            ", {} {} skipped",
            self.duplicates,
            plural(self.duplicates, "duplicate")
        );
        let _ = write!(line, " in {seconds:.1}s");
        if self.stopped {
            line.push_str("; stopped early, the remaining domains were not attempted");
        }
        if self.unread {
            line.push_str("; the list could not be read to the end");
        }
        report(format_args!("{line}"));
    }

    fn exit_status(&self) -> u8 {
        // Refused credentials or a skewed clock before anything worked: a configuration error.
        if self.stopped && self.verified == 0 {
            return EXIT_CONFIG;
        }
        if self.failed > 0 || self.invalid > 0 || self.stopped || self.unread {
            EXIT_FAILURES
        } else {
            EXIT_OK
        }
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

/// Where the list comes from.
enum Source {
    Stdin,
    File(BufReader<File>),
}

impl io::Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Stdin => io::stdin().lock().read(buf),
            Self::File(file) => file.read(buf),
        }
    }
}

fn open_source(path: Option<&Path>) -> Result<(BufReader<Source>, String), String> {
    match path {
        None => Ok((BufReader::new(Source::Stdin), "<stdin>".to_owned())),
        Some(path) if path.as_os_str() == "-" => {
            Ok((BufReader::new(Source::Stdin), "<stdin>".to_owned()))
        }
        Some(path) => {
            let name = path.display().to_string();
            let file = File::open(path).map_err(|e| format!("cannot open `{name}`: {e}"))?;
            Ok((BufReader::new(Source::File(BufReader::new(file))), name))
        }
    }
}

fn open_sink(path: Option<&Path>, list: Option<&Path>) -> Result<Box<dyn Write>, String> {
    match path {
        None => Ok(Box::new(BufWriter::new(io::stdout()))),
        Some(path) => {
            if let (Some(list), Ok(output)) = (list, path.canonicalize()) {
                if list.canonicalize().is_ok_and(|list| list == output) {
                    return Err(format!(
                        "`{}` is the list being read; write the records elsewhere",
                        path.display()
                    ));
                }
            }
            let file = File::create(path)
                .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
            Ok(Box::new(BufWriter::new(file)))
        }
    }
}

/// Writes and flushes what is buffered; a closed pipe ends the run quietly with success, as
/// `head` expects, and any other write error is reported.
fn flush(sink: &mut Box<dyn Write>, out: &mut String) -> Result<(), u8> {
    let result = sink.write_all(out.as_bytes()).and_then(|()| sink.flush());
    out.clear();
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(EXIT_OK),
        Err(e) => {
            report(format_args!("error: cannot write the records: {e}"));
            Err(EXIT_FAILURES)
        }
    }
}

/// Shows a signed request as it would go on the wire, with the session token hidden.
fn describe_request(request: &http::Request<Vec<u8>>) -> String {
    let mut text = format!("{} {}\n", request.method(), request.uri());
    for (name, value) in request.headers() {
        let value = if name == "x-amz-security-token" {
            "** redacted **"
        } else {
            value.to_str().unwrap_or("<binary>")
        };
        let _ = writeln!(text, "{name}: {value}");
    }
    let _ = writeln!(text, "\n{}\n", String::from_utf8_lossy(request.body()));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_follows_the_counts() {
        assert_eq!(Counts::default().exit_status(), EXIT_OK);
        let duplicates_only = Counts {
            verified: 1,
            duplicates: 2,
            ..Counts::default()
        };
        assert_eq!(duplicates_only.exit_status(), EXIT_OK);
        let invalid = Counts {
            verified: 1,
            invalid: 1,
            ..Counts::default()
        };
        assert_eq!(invalid.exit_status(), EXIT_FAILURES);
        let failed = Counts {
            failed: 1,
            ..Counts::default()
        };
        assert_eq!(failed.exit_status(), EXIT_FAILURES);
        let refused = Counts {
            failed: 1,
            stopped: true,
            ..Counts::default()
        };
        assert_eq!(refused.exit_status(), EXIT_CONFIG);
        let expired_midway = Counts {
            verified: 3,
            failed: 1,
            stopped: true,
            ..Counts::default()
        };
        assert_eq!(expired_midway.exit_status(), EXIT_FAILURES);
    }

    #[test]
    fn dry_run_hides_the_session_token() {
        let mut request = http::Request::new(b"Action=VerifyDomainDkim".to_vec());
        request
            .headers_mut()
            .insert("x-amz-security-token", "SECRET-TOKEN".parse().unwrap());
        let shown = describe_request(&request);
        assert!(
            !shown.contains("SECRET-TOKEN") && shown.contains("redacted"),
            "{shown}"
        );
    }
}
