//! `ses-dkim verify`: read the list as a stream, call SES for each new domain in every region at
//! each region's pace, and write each domain's records as soon as they arrive.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ses_dkim_batch::state::{StateStore, Stored};
use ses_dkim_client::{ClientError, SesClient};
use ses_dkim_core::{
    DkimRecordSet, Domain, OutputFormat, ROUTE53_UPSERT_MAX_RECORDS,
    ROUTE53_UPSERT_MAX_VALUE_CHARS, RenderOptions, Renderer, Route53Limit,
};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::cli::VerifyArgs;
use crate::clients::clients;
use crate::listing::{Batches, Listed, OutputEnd, RunEnd};
use crate::progress::Progress;
use crate::report;

/// Every domain got its records.
pub(crate) const EXIT_OK: u8 = 0;
/// A line was invalid or a domain failed, or the run ended before its list did.
pub(crate) const EXIT_FAILURES: u8 = 1;
/// Usage or configuration error; nothing was verified.
pub(crate) const EXIT_CONFIG: u8 = 2;
/// Interrupted with Ctrl-C (128 + SIGINT).
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// Runs the command and returns the exit status.
pub(crate) async fn run(args: VerifyArgs) -> u8 {
    match Run::prepare(&args).await {
        Ok(run) => run.execute(&args).await,
        Err(message) => {
            report(format_args!("error: {message}"));
            EXIT_CONFIG
        }
    }
}

/// Everything a run needs, set up before the first call.
struct Run {
    list: Batches,
    sink: Sink,
    clients: Vec<SesClient>,
    state: Option<StateStore>,
    renderer: Renderer,
    progress: Progress,
}

/// What one domain in one region came to.
enum Outcome {
    Records(DkimRecordSet),
    Failed(String),
    /// A failure that every further call would repeat.
    Fatal(String),
    /// Ctrl-C came while the call waited for its turn: nothing was sent.
    NotSent,
    /// Ctrl-C came while the call waited to retry a failed attempt: the domain is not done, and
    /// the message says why the attempt before failed.
    NotRetried(String),
}

/// Watches for Ctrl-C while a command runs.
///
/// The first Ctrl-C marks the run interrupted and stops every client from sending: a call
/// waiting for its pacing slot or a retry's backoff returns at once unsent, while a call already
/// sent finishes. A second Ctrl-C exits at once with [`EXIT_INTERRUPTED`].
struct Interrupt {
    happened: watch::Receiver<bool>,
}

impl Interrupt {
    /// Starts watching for Ctrl-C on behalf of `clients`; `stored` says whether results go to a
    /// state file.
    fn watch(clients: &[SesClient], stored: bool) -> Self {
        let clients = clients.to_vec();
        let (tell, happened) = watch::channel(false);
        // Registered here, before the run starts, and kept for both presses: a second listener
        // made after the first press would miss a press that came before it existed.
        let mut presses = match CtrlC::listen() {
            Ok(presses) => presses,
            Err(e) => {
                tracing::warn!("cannot watch for Ctrl-C: {e}");
                return Self { happened };
            }
        };
        tokio::spawn(async move {
            if !presses.next().await {
                return;
            }
            // Marked first, so that a call that ends unsent is always seen as interrupted.
            tell.send_replace(true);
            for client in &clients {
                client.stop_sending();
            }
            // A call in flight may take until its timeout: say what the run is waiting for.
            report(format_args!(
                "stopping: sending nothing more, finishing the calls already sent, which can take \
                 until their 20 s timeout (Ctrl-C again quits at once)"
            ));
            // A second Ctrl-C does not wait for anything.
            if presses.next().await {
                let lost = if stored {
                    "the calls in flight are not stored, and a later run with the same state file \
                     makes them again"
                } else {
                    "records not yet written are lost; SES returns a verified domain's tokens \
                     again when it is called again"
                };
                report(format_args!(
                    "quitting at once: {lost}; the output ends where it is"
                ));
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        });
        Self { happened }
    }

    /// Returns `true` once Ctrl-C has been pressed.
    fn happened(&self) -> bool {
        *self.happened.borrow()
    }

    /// Completes when Ctrl-C is pressed (at once if it has been); never, if it cannot be watched.
    async fn wait(&mut self) {
        if self.happened.wait_for(|happened| *happened).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Ctrl-C presses, from one listener that lives as long as the run.
struct CtrlC {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl CtrlC {
    /// Starts listening.
    fn listen() -> io::Result<Self> {
        #[cfg(unix)]
        {
            let kind = tokio::signal::unix::SignalKind::interrupt();
            tokio::signal::unix::signal(kind).map(|signal| Self { signal })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Waits for the next press; `false` when no more can be received.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            self.signal.recv().await.is_some()
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
}

/// Warns when Route 53 would refuse the change batch written as one request.
fn warn_of_route53_limits(limit: Option<Route53Limit>) {
    match limit {
        Some(Route53Limit::Empty) => report(format_args!(
            "warning: the Route 53 change batch has no change, and Route 53 refuses such a batch"
        )),
        Some(Route53Limit::TooLarge {
            records,
            value_chars,
        }) => report(format_args!(
            "warning: the Route 53 change batch has {records} records with {value_chars} \
             characters of values, more than one request to Route 53 takes ({} upserted records \
             and {} characters of values, about 100 domains in one region): split the list and \
             run once per part",
            ROUTE53_UPSERT_MAX_RECORDS, ROUTE53_UPSERT_MAX_VALUE_CHARS
        )),
        // Not a variant this build knows: nothing to say about it.
        _ => {}
    }
}

/// Returns `true` when every further call of `client` would fail as `error` did, so that the run
/// stops: refused credentials, a skewed clock, an untrusted certificate, or, while no call of
/// this run has succeeded, an endpoint that could not be connected to or that answers with
/// something other than SES's documents (after one call has succeeded, either is taken for a
/// passing fault, and the run goes on).
pub(crate) fn ends_the_run(client: &SesClient, error: &ClientError) -> bool {
    error.repeats_on_every_call()
        || ((error.is_connect() || error.is_foreign_answer()) && !client.has_succeeded())
}

/// Returns the message of an error that ends the run, with what to check when the endpoint could
/// not be connected to or does not answer as SES does.
pub(crate) fn explain_end(client: &SesClient, error: &ClientError) -> String {
    let host = client.endpoint().host();
    let aws = host.ends_with(".amazonaws.com") || host.ends_with(".api.aws");
    let override_names = "--endpoint-url (or AWS_ENDPOINT_URL_SES / AWS_ENDPOINT_URL / the \
                          profile's endpoint_url)";
    let check = if error.is_connect() {
        if aws {
            "check this machine's network connection (a firewall or proxy may block it) and the \
             region"
                .to_owned()
        } else {
            format!("check {override_names} and that the server is running")
        }
    } else if error.is_foreign_answer() {
        if aws {
            "this is not an SES answer: a proxy or firewall may be answering in its place"
                .to_owned()
        } else {
            format!("this is not an SES answer: check that {override_names} is an SES endpoint")
        }
    } else {
        return error.to_string();
    };
    format!("{error}; {check}")
}

impl Run {
    async fn prepare(args: &VerifyArgs) -> Result<Self, String> {
        // One domain at a time: each is called as soon as it is read.
        let list = Batches::open(args.file.as_deref(), 1)?;
        let origin = match &args.zone {
            Some(zone) => Some(Domain::parse(zone).map_err(|e| format!("--zone: {e}"))?),
            None => None,
        };
        if origin.is_some() && args.format != crate::cli::FormatArg::Zone {
            return Err("--zone applies to --format zone only".to_owned());
        }

        let clients = clients(&args.ses, args.dkim_zone.as_deref()).await?;

        let state = match &args.state {
            Some(path) => Some(
                StateStore::open(path)
                    .map_err(|e| format!("cannot open the state file `{}`: {e}", path.display()))?,
            ),
            None => None,
        };

        // Opened last, once everything else is known to work; emptied only at its first write.
        let sink = Sink::open(args.output.as_deref(), args.file.as_deref())?;
        let format = OutputFormat::from(args.format);
        let renderer = Renderer::new(
            format,
            RenderOptions {
                ttl: args.ttl,
                origin,
            },
        );
        let progress = Progress::start(args.file.as_deref(), clients.len(), args.ses.rate);

        Ok(Self {
            list,
            sink,
            clients,
            state,
            renderer,
            progress,
        })
    }

    async fn execute(mut self, args: &VerifyArgs) -> u8 {
        let mut interrupt = Interrupt::watch(&self.clients, self.state.is_some());
        let mut out = String::new();
        if !args.dry_run {
            self.renderer.header(&mut out);
        }
        // An output file is emptied once something beyond the header is to go into it.
        let header_len = out.len();
        let started = Instant::now();
        let mut counts = Counts::default();

        'list: loop {
            let batch = tokio::select! {
                biased;
                () = interrupt.wait() => {
                    counts.end.interrupted = true;
                    break;
                }
                batch = self.list.next() => batch,
            };
            let batch = match batch {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                Err(message) => {
                    report(format_args!("error: {message}"));
                    self.progress.finish();
                    return EXIT_FAILURES;
                }
            };

            for Listed { line, domain } in batch {
                let place = format!("{}:{line}", self.list.name());
                // A domain the output cannot express is refused before SES is called (a call
                // makes the domain an identity of the account).
                if let Err(e) = self.renderer.admits(&domain) {
                    self.progress
                        .println(format_args!("{place}: {domain}: {e}"));
                    counts.failed += 1;
                    continue;
                }
                if args.dry_run {
                    self.dry_run(&domain, &place, args.retry_failed, &mut out, &mut counts)
                        .await;
                } else {
                    self.verify(&domain, &place, args.retry_failed, &mut out, &mut counts)
                        .await;
                }
                let skipped = self.list.counts();
                self.progress
                    .set_position(counts.attempted() + skipped.invalid + skipped.duplicates);
                let start = out.len() > header_len;
                if let Err(end) = self.sink.flush(&mut out, start) {
                    // Nothing more can be delivered: stop calling SES for records nobody gets.
                    counts.end.output = Some(end);
                    break 'list;
                }
                if interrupt.happened() {
                    counts.end.interrupted = true;
                    break 'list;
                }
                if counts.end.stopped {
                    break 'list;
                }
            }
        }

        if !args.dry_run && counts.end.output.is_none() {
            self.renderer.footer(&mut out);
        }
        self.progress.finish();
        let list = self.list.counts();
        counts.invalid = list.invalid;
        counts.duplicates = list.duplicates;
        counts.end.unread = list.unread;
        // A run that the configuration (refused credentials, an unreachable endpoint) or Ctrl-C
        // stopped before its first record leaves an existing output file as it was; one that
        // wrote records already has its file.
        let keep = !matches!(counts.exit_status(), EXIT_CONFIG | EXIT_INTERRUPTED);
        if counts.end.output.is_none()
            && let Err(end) = self.sink.flush(&mut out, keep)
        {
            counts.end.output = Some(end);
        }
        if !keep {
            self.sink.abandon();
        }
        let status = counts.exit_status();
        // A batch cut short by its output has nothing left to warn about.
        if !args.dry_run && counts.end.output.is_none() {
            match self.renderer.route53_limit() {
                // A run that stopped before any record has no batch to warn about.
                Some(Route53Limit::Empty) if !keep => {}
                limit => warn_of_route53_limits(limit),
            }
        }
        counts.summarise(args.dry_run, started.elapsed().as_secs_f64());
        status
    }

    /// Verifies one domain in every region (concurrently: each region has its own pace), stores
    /// each result as it arrives, then renders them in the regions' order.
    async fn verify(
        &mut self,
        domain: &Domain,
        place: &str,
        retry_failed: bool,
        out: &mut String,
        counts: &mut Counts,
    ) {
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(self.clients.len());
        let mut tasks = JoinSet::new();
        for (index, client) in self.clients.iter().enumerate() {
            let outcome = self.stored_outcome(domain, client, retry_failed, place, counts);
            if outcome.is_none() {
                let (client, domain) = (client.clone(), domain.clone());
                tasks.spawn(async move { (index, client.verify(&domain).await) });
            }
            outcomes.push(outcome);
        }

        while let Some(joined) = tasks.join_next().await {
            let Ok((index, result)) = joined else {
                continue;
            };
            let outcome = self.settle(domain, index, result, place);
            if let Some(slot) = outcomes.get_mut(index) {
                *slot = Some(outcome);
            }
        }

        let several = self.clients.len() > 1;
        for (client, outcome) in self.clients.iter().zip(outcomes) {
            let label = if several {
                format!("{place}: {domain} ({})", client.region())
            } else {
                format!("{place}: {domain}")
            };
            match outcome {
                Some(Outcome::Records(set)) => match self.renderer.push(&set, out) {
                    Ok(()) => counts.verified += 1,
                    Err(e) => {
                        self.progress.println(format_args!("{label}: {e}"));
                        counts.failed += 1;
                    }
                },
                Some(Outcome::Failed(message)) => {
                    self.progress.println(format_args!("{label}: {message}"));
                    counts.failed += 1;
                }
                Some(Outcome::Fatal(message)) => {
                    self.progress.println(format_args!("{label}: {message}"));
                    counts.failed += 1;
                    counts.end.stopped = true;
                }
                // Neither done nor failed: a later run with the same state file calls it.
                Some(Outcome::NotSent) => {}
                Some(Outcome::NotRetried(message)) => {
                    self.progress.println(format_args!("{label}: {message}"));
                }
                // A task that panicked; the runtime has already reported it.
                None => counts.failed += 1,
            }
        }
    }

    /// Returns what the state file already says of `domain` in `client`'s region, as the outcome
    /// to report in place of a call: its records, or (unless `retry_failed`) its earlier failure.
    /// `None` means that SES is to be called.
    fn stored_outcome(
        &self,
        domain: &Domain,
        client: &SesClient,
        retry_failed: bool,
        place: &str,
        counts: &mut Counts,
    ) -> Option<Outcome> {
        let state = self.state.as_ref()?;
        let stored = state.get(domain, client.region()).unwrap_or_else(|e| {
            report(format_args!("{place}: cannot read the state file: {e}"));
            None
        })?;
        match stored {
            Stored::Verified { tokens, request_id } => {
                counts.from_state += 1;
                let set = DkimRecordSet::new(
                    domain.clone(),
                    client.region().clone(),
                    client.dkim_zone(),
                    tokens,
                    request_id,
                );
                Some(match set {
                    Ok(set) => Outcome::Records(set),
                    Err(e) => Outcome::Failed(e.to_string()),
                })
            }
            Stored::Failed { message, .. } if !retry_failed => Some(Outcome::Failed(format!(
                "failed in an earlier run (--retry-failed tries again): {message}"
            ))),
            Stored::Failed { .. } => None,
        }
    }

    /// Stores one call's result the moment it arrives and turns it into an outcome.
    ///
    /// A call that Ctrl-C kept from being sent or retried, and a failure that ends the run, are
    /// not stored: the domain is not done, and a later run calls it again.
    fn settle(
        &self,
        domain: &Domain,
        index: usize,
        result: Result<DkimRecordSet, ClientError>,
        place: &str,
    ) -> Outcome {
        let Some(client) = self.clients.get(index) else {
            return Outcome::Failed("internal error: no client for the result".to_owned());
        };
        let ends = result
            .as_ref()
            .err()
            .is_some_and(|e| ends_the_run(client, e));
        let stored = match (&self.state, &result) {
            (None, _) => Ok(()),
            (Some(state), Ok(set)) => state.put_verified(
                domain,
                client.region(),
                &set.tokens,
                set.request_id.as_deref(),
            ),
            // What ends the run is the configuration's fault, not the domain's.
            (Some(_), Err(e)) if e.is_stopped() || ends => Ok(()),
            (Some(state), Err(e)) => {
                state.put_failed(domain, client.region(), e.kind().as_str(), &e.to_string())
            }
        };
        if let Err(e) = stored {
            report(format_args!("{place}: cannot write the state file: {e}"));
        }
        match result {
            Ok(set) => Outcome::Records(set),
            Err(ClientError::Stopped(None)) => Outcome::NotSent,
            Err(e @ ClientError::Stopped(Some(_))) => Outcome::NotRetried(e.to_string()),
            Err(e) if ends => Outcome::Fatal(explain_end(client, &e)),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// Prints the signed request of each call a real run would make for `domain`: none for a
    /// region whose result the state file holds (a stored failure is reported as a real run
    /// reports it, unless `retry_failed`).
    async fn dry_run(
        &mut self,
        domain: &Domain,
        place: &str,
        retry_failed: bool,
        out: &mut String,
        counts: &mut Counts,
    ) {
        for client in &self.clients {
            match self.stored_outcome(domain, client, retry_failed, place, counts) {
                Some(Outcome::Failed(message)) => {
                    self.progress
                        .println(format_args!("{place}: {domain}: {message}"));
                    counts.failed += 1;
                }
                // Done in an earlier run: a real run prints its records and sends nothing.
                Some(_) => {}
                None => match client.signed_request(domain).await {
                    Ok(request) => {
                        out.push_str(&describe_request(&request));
                        counts.verified += 1;
                    }
                    Err(e) => {
                        self.progress
                            .println(format_args!("{place}: {domain}: {e}"));
                        counts.failed += 1;
                        counts.end.stopped |= e.repeats_on_every_call();
                    }
                },
            }
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    verified: u64,
    from_state: u64,
    failed: u64,
    invalid: u64,
    duplicates: u64,
    /// How the run ended, if before the end of its list.
    end: RunEnd,
}

impl Counts {
    /// Returns how many domains (in all regions) were handled so far.
    fn attempted(&self) -> u64 {
        self.verified + self.failed
    }

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
        if self.from_state > 0 && dry_run {
            let _ = write!(line, " ({} done in the state file)", self.from_state);
        } else if self.from_state > 0 {
            let _ = write!(line, " ({} from the state file)", self.from_state);
        }
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
        self.end.describe(&mut line, "attempted");
        report(format_args!("{line}"));
    }

    fn exit_status(&self) -> u8 {
        // Refused credentials or a skewed clock before anything worked: a configuration error.
        self.end
            .exit_status(self.verified > 0, self.failed == 0 && self.invalid == 0)
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

/// Where the records go: stdout, or the `--output` file.
///
/// The file is opened (created if missing) before the first call, so that a path that cannot
/// be written is a usage error, but it is emptied only at the first write: a run that its
/// configuration or Ctrl-C ends before its first record leaves yesterday's records in place.
enum Sink {
    Stdout(BufWriter<io::Stdout>),
    File {
        path: PathBuf,
        file: BufWriter<File>,
        /// Whether the file was emptied and written to.
        started: bool,
        /// Whether the file was there before this run.
        existed: bool,
    },
}

impl Sink {
    /// Opens the output: stdout, or `path` (never the list being read).
    fn open(path: Option<&Path>, list: Option<&Path>) -> Result<Self, String> {
        let Some(path) = path else {
            return Ok(Self::Stdout(BufWriter::new(io::stdout())));
        };
        if let (Some(list), Ok(output)) = (list, path.canonicalize())
            && list.canonicalize().is_ok_and(|list| list == output)
        {
            return Err(format!(
                "`{}` is the list being read; write the records elsewhere",
                path.display()
            ));
        }
        let cannot = |e: io::Error| format!("cannot create `{}`: {e}", path.display());
        // Created here, or there before: asked of the open itself, so that `abandon` never
        // removes a file another process made in the meantime.
        let (file, existed) = match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(file) => (file, false),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let file = OpenOptions::new().write(true).open(path).map_err(cannot)?;
                (file, true)
            }
            Err(e) => return Err(cannot(e)),
        };
        Ok(Self::File {
            path: path.to_owned(),
            file: BufWriter::new(file),
            started: false,
            existed,
        })
    }

    /// Writes and flushes what is buffered. A file not yet written to is emptied first, and
    /// only when `start` is set; until then `out` is kept for later.
    ///
    /// # Errors
    ///
    /// Says why nothing more can be written: a closed pipe, or another write error, which is
    /// reported here.
    fn flush(&mut self, out: &mut String, start: bool) -> Result<(), OutputEnd> {
        let result = match self {
            Self::Stdout(stdout) => write_all(stdout, out),
            Self::File { file, started, .. } => {
                if !*started {
                    if !start {
                        return Ok(());
                    }
                    *started = true;
                    // Only a regular file has a length to cut (not /dev/null, a FIFO, a tty).
                    let regular = file.get_ref().metadata().is_ok_and(|meta| meta.is_file());
                    let emptied = if regular {
                        file.get_ref().set_len(0)
                    } else {
                        Ok(())
                    };
                    emptied.and_then(|()| write_all(file, out))
                } else {
                    write_all(file, out)
                }
            }
        };
        out.clear();
        result.map_err(|e| OutputEnd::of(&e, "records"))
    }

    /// Leaves an output file that was never written to as it was before the run: removed if
    /// the run created it.
    fn abandon(self) {
        if let Self::File {
            path,
            started: false,
            existed: false,
            ..
        } = self
        {
            // Empty and made by this run; should it fail to go, an empty file stays.
            let _ = std::fs::remove_file(path);
        }
    }
}

fn write_all(writer: &mut impl Write, out: &str) -> io::Result<()> {
    writer
        .write_all(out.as_bytes())
        .and_then(|()| writer.flush())
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
            end: RunEnd {
                stopped: true,
                ..RunEnd::default()
            },
            ..Counts::default()
        };
        assert_eq!(refused.exit_status(), EXIT_CONFIG);
        let expired_midway = Counts {
            verified: 3,
            failed: 1,
            end: RunEnd {
                stopped: true,
                ..RunEnd::default()
            },
            ..Counts::default()
        };
        assert_eq!(expired_midway.exit_status(), EXIT_FAILURES);
        let interrupted = Counts {
            verified: 3,
            end: RunEnd {
                interrupted: true,
                ..RunEnd::default()
            },
            ..Counts::default()
        };
        assert_eq!(interrupted.exit_status(), EXIT_INTERRUPTED);
        // A closed pipe never lowers the status: not every domain got its records.
        for output in [OutputEnd::Closed, OutputEnd::Failed] {
            let ended = Counts {
                verified: 2,
                end: RunEnd {
                    output: Some(output),
                    ..RunEnd::default()
                },
                ..Counts::default()
            };
            assert_eq!(ended.exit_status(), EXIT_FAILURES, "{output:?}");
        }
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
