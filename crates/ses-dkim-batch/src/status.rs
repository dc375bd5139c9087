//! `ses-dkim status`: what SES thinks of each domain's DKIM records, asked with
//! `GetIdentityDkimAttributes` for up to 100 domains a call at the configured pace.
//!
//! Without `--wait` the list streams: up to 100 new domains are read, asked about and printed
//! before the next ones are read, so memory stays flat. With `--wait` every domain's latest answer
//! is kept in memory until all are final (memory grows with the list), each later round asks only
//! about the domains not final yet, and the states are printed once at the end.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use ses_dkim_client::{ClientError, SesClient};
use ses_dkim_core::status::MAX_IDENTITIES_PER_REQUEST;
use ses_dkim_core::{DkimAttributes, DkimToken, Domain, VerificationStatus};
use tokio::task::JoinSet;

use crate::cli::SesArgs;
use crate::clients::clients;
use crate::listing::{Batches, ListCounts, Listed, RunEnd};
use crate::report;
use crate::rows::{Columns, ReportFormat, Row, RowWriter, to_json};
use crate::verify::{EXIT_CONFIG, ends_the_run, explain_end};

/// Arguments of `ses-dkim status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The list of domains; `-` or nothing reads standard input.
    #[arg(value_name = "FILE|-")]
    pub(crate) file: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) ses: SesArgs,

    /// How to print the states.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub(crate) format: ReportFormat,

    /// Ask again until every domain is Success or Failed (or unknown to SES), then print the
    /// states; the list is held in memory.
    #[arg(long)]
    pub(crate) wait: bool,

    /// With --wait: give up when the next check would come later than this.
    #[arg(
        long,
        default_value_t = 3600,
        value_name = "SECONDS",
        requires = "wait"
    )]
    pub(crate) timeout: u64,

    /// With --wait: the time between checks.
    #[arg(
        long,
        default_value_t = 60,
        value_name = "SECONDS",
        requires = "wait",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) interval: u64,
}

/// The exit statuses of `ses-dkim status`, for its help.
pub(crate) const EXIT_HELP: &str = crate::cli::with_configuration!(
    "\
Exit status:
    0  every domain is Success in every region
    1  a domain is not (Pending, TemporaryFailure, NotStarted, Failed, NotFound or a state this
       version does not know), a line was invalid, or a call failed (each is reported on stderr),
       or the run ended early because the list could not be read or the report could not be
       written
    2  usage or configuration error, including credentials SES refuses, a skewed clock, an
       untrusted endpoint certificate or an endpoint that cannot be connected to or does not
       answer as SES does, before any call succeeded
  130  Ctrl-C stopped the run (what was answered is printed)"
);

/// Runs the command and returns the exit status.
pub(crate) async fn run(args: StatusArgs) -> u8 {
    let prepared = async {
        let clients = clients(&args.ses, None).await?;
        let batches = Batches::open(args.file.as_deref(), MAX_IDENTITIES_PER_REQUEST)?;
        Ok::<_, String>((clients, batches))
    };
    let (clients, batches) = match prepared.await {
        Ok(prepared) => prepared,
        Err(message) => {
            report(format_args!("error: {message}"));
            return EXIT_CONFIG;
        }
    };
    let run = Run {
        writer: RowWriter::new(args.format, COLUMNS),
        several: clients.len() > 1,
        clients,
        batches,
        tally: Tally::default(),
        started: Instant::now(),
    };
    if args.wait {
        let interval = Duration::from_secs(args.interval);
        run.wait(interval, Duration::from_secs(args.timeout)).await
    } else {
        run.stream().await
    }
}

/// Asks one region about `domains` and returns one answer per domain, in their order.
///
/// # Errors
///
/// Returns the call's error once its retries are spent.
pub(crate) async fn ask(
    client: &SesClient,
    domains: &[Domain],
) -> Result<Vec<Answer>, ClientError> {
    let output = client.dkim_attributes(domains).await?;
    // SES names each identity as it was asked; compare as DNS does, without case or root dot.
    let mut by_identity: HashMap<String, DkimAttributes> = output
        .attributes
        .into_iter()
        .map(|a| (a.identity.trim_end_matches('.').to_ascii_lowercase(), a))
        .collect();
    Ok(domains
        .iter()
        .map(|domain| match by_identity.remove(domain.as_str()) {
            Some(attributes) => Answer::Known {
                enabled: attributes.enabled,
                status: attributes.status,
                tokens: attributes.tokens,
            },
            None => Answer::NotFound,
        })
        .collect())
}

/// What SES said of one domain in one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// SES knows the identity.
    Known {
        /// Whether SES signs the domain's mail with DKIM.
        enabled: bool,
        /// Whether SES found the records.
        status: VerificationStatus,
        /// The domain's tokens.
        tokens: Vec<DkimToken>,
    },
    /// SES left the identity out of its answer: it does not know it.
    NotFound,
}

impl Answer {
    /// Returns the state's name: SES v1's spelling, the unknown value as given, or `NotFound`.
    pub(crate) fn state(&self) -> &str {
        match self {
            Self::Known { status, .. } if status.as_str().is_empty() => "unknown",
            Self::Known { status, .. } => status.as_str(),
            Self::NotFound => "NotFound",
        }
    }

    /// Returns `true` when asking again is pointless: SES is done (Success or Failed), or does
    /// not know the domain at all.
    fn is_settled(&self) -> bool {
        match self {
            Self::Known { status, .. } => status.is_final(),
            Self::NotFound => true,
        }
    }

    fn row(&self, domain: &Domain, region: &str) -> Row {
        let (enabled, tokens) = match self {
            Self::Known {
                enabled, tokens, ..
            } => (Some(*enabled), tokens.as_slice()),
            Self::NotFound => (None, &[][..]),
        };
        let token_list: Vec<&str> = tokens.iter().map(DkimToken::as_str).collect();
        let state = self.state().to_owned();
        Row {
            cells: vec![
                domain.to_string(),
                region.to_owned(),
                enabled.map_or_else(String::new, |e| e.to_string()),
                state.clone(),
                token_list.join(" "),
            ],
            table: vec![
                domain.to_string(),
                region.to_owned(),
                match enabled {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "-",
                }
                .to_owned(),
                state,
                if token_list.is_empty() {
                    "-".to_owned()
                } else {
                    token_list.join(" ")
                },
            ],
            json: to_json(&StatusJson {
                domain: domain.as_str(),
                region,
                dkim_enabled: enabled,
                status: self.state(),
                tokens: token_list,
            }),
        }
    }
}

/// One `status` row in JSON.
#[derive(serde::Serialize)]
struct StatusJson<'a> {
    domain: &'a str,
    region: &'a str,
    dkim_enabled: Option<bool>,
    status: &'a str,
    tokens: Vec<&'a str>,
}

const COLUMNS: Columns = Columns {
    csv: &["domain", "region", "dkim_enabled", "status", "tokens"],
    table: &["DOMAIN", "REGION", "DKIM", "STATUS", "TOKENS"],
};

/// The states in the order the summary names them; anything else counts as `unknown`.
const STATES: [&str; 7] = [
    "Success",
    "Pending",
    "TemporaryFailure",
    "NotStarted",
    "Failed",
    "NotFound",
    "unknown",
];

struct Run {
    writer: RowWriter,
    clients: Vec<SesClient>,
    several: bool,
    batches: Batches,
    tally: Tally,
    started: Instant,
}

/// One domain of the list and the latest answer of each region, for `--wait`.
struct Tracked {
    listed: Listed,
    answers: Vec<Option<Answer>>,
}

impl Run {
    /// Reads, asks and prints a batch at a time.
    async fn stream(mut self) -> u8 {
        let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
        while let Some((batch, answers)) = self.next_batch(&mut interrupt).await {
            let mut rows = Vec::with_capacity(batch.len() * self.clients.len());
            for (listed, answers) in batch.iter().zip(&answers) {
                for (client, answer) in self.clients.iter().zip(answers) {
                    if let Some(answer) = answer {
                        rows.push(answer.row(&listed.domain, client.region().as_str()));
                    }
                }
            }
            self.tally.count(answers.iter().flatten().flatten());
            if let Err(end) = self.writer.write(&rows) {
                // Nobody reads the answers any more: ask no more.
                self.tally.end.output = Some(end);
                break;
            }
        }
        self.end()
    }

    /// Reads and asks about the whole list, asks again about what is not final every
    /// `interval` until all is or `timeout` would pass, then prints every state.
    async fn wait(mut self, interval: Duration, timeout: Duration) -> u8 {
        let deadline = self.started + timeout;
        let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
        let mut tracked: Vec<Tracked> = Vec::new();
        while let Some((batch, answers)) = self.next_batch(&mut interrupt).await {
            let batch = batch.into_iter().zip(answers);
            tracked.extend(batch.map(|(listed, answers)| Tracked { listed, answers }));
        }

        let mut round = 1;
        while !self.tally.end.interrupted && !self.tally.end.stopped {
            let waiting = tracked
                .iter()
                .flat_map(|t| &t.answers)
                .filter(|a| !a.as_ref().is_some_and(Answer::is_settled))
                .count();
            if waiting == 0 {
                break;
            }
            if Instant::now() + interval > deadline {
                self.tally.timed_out = waiting as u64;
                break;
            }
            report(format_args!(
                "{waiting} of {} not final yet after check {round}; checking again in {}s",
                plural(tracked.len() as u64 * self.clients.len() as u64, "domain"),
                interval.as_secs()
            ));
            tokio::select! {
                biased;
                _ = &mut interrupt => { self.tally.end.interrupted = true; break }
                () = tokio::time::sleep(interval) => {}
            }
            tokio::select! {
                biased;
                _ = &mut interrupt => { self.tally.end.interrupted = true; break }
                () = self.ask_again(&mut tracked) => {}
            }
            round += 1;
        }

        let rows: Vec<Row> = tracked
            .iter()
            .flat_map(|t| {
                self.clients
                    .iter()
                    .zip(&t.answers)
                    .filter_map(|(client, answer)| {
                        Some(
                            answer
                                .as_ref()?
                                .row(&t.listed.domain, client.region().as_str()),
                        )
                    })
            })
            .collect();
        // What counts is the last answer: a failed call is reported when it fails, and a pair
        // no call ever answered counts as unanswered.
        self.tally.failed_calls = 0;
        self.tally.unanswered = tracked
            .iter()
            .flat_map(|t| &t.answers)
            .filter(|a| a.is_none())
            .count() as u64;
        self.tally
            .count(tracked.iter().flat_map(|t| t.answers.iter().flatten()));
        for chunk in rows.chunks(1000) {
            if let Err(end) = self.writer.write(chunk) {
                self.tally.end.output = Some(end);
                break;
            }
        }
        self.end()
    }

    /// Reads the next batch of the list and asks every region about it.
    ///
    /// Returns `None` at the end of the list, on Ctrl-C, and when the run must stop.
    async fn next_batch<F: Future>(
        &mut self,
        interrupt: &mut Pin<&mut F>,
    ) -> Option<(Vec<Listed>, Vec<Vec<Option<Answer>>>)> {
        if self.tally.end.stopped {
            return None;
        }
        let batch = tokio::select! {
            biased;
            _ = interrupt.as_mut() => { self.tally.end.interrupted = true; return None }
            batch = self.batches.next() => batch,
        };
        let batch = match batch {
            Ok(batch) => batch?,
            Err(message) => {
                report(format_args!("error: {message}"));
                self.tally.end.stopped = true;
                return None;
            }
        };
        let answers = tokio::select! {
            biased;
            _ = interrupt.as_mut() => { self.tally.end.interrupted = true; return None }
            answers = self.ask_all(&batch) => answers,
        };
        Some((batch, answers))
    }

    /// Asks every region about one batch, the regions side by side (each has its own pace).
    ///
    /// Returns, per domain, one answer per region: `None` where the call failed (reported here).
    async fn ask_all(&mut self, batch: &[Listed]) -> Vec<Vec<Option<Answer>>> {
        let domains: Arc<[Domain]> = batch.iter().map(|l| l.domain.clone()).collect();
        let mut tasks = JoinSet::new();
        for (index, client) in self.clients.iter().enumerate() {
            let (client, domains) = (client.clone(), Arc::clone(&domains));
            tasks.spawn(async move { (index, ask(&client, &domains).await) });
        }
        let mut per_region: Vec<Option<Vec<Answer>>> = vec![None; self.clients.len()];
        while let Some(joined) = tasks.join_next().await {
            let Ok((index, result)) = joined else {
                continue;
            };
            match result {
                Ok(answers) => {
                    if let Some(slot) = per_region.get_mut(index) {
                        *slot = Some(answers);
                    }
                }
                Err(e) => self.failed_call(batch, index, &e),
            }
        }
        let failed = per_region.iter().filter(|r| r.is_none()).count();
        self.tally.unanswered += (batch.len() * failed) as u64;
        (0..batch.len())
            .map(|i| {
                per_region
                    .iter()
                    .map(|answers| answers.as_ref().and_then(|a| a.get(i)).cloned())
                    .collect()
            })
            .collect()
    }

    /// Asks again, 100 at a time, about every domain and region not final yet.
    async fn ask_again(&mut self, tracked: &mut [Tracked]) {
        for (index, client) in self.clients.clone().iter().enumerate() {
            let waiting: Vec<usize> = tracked
                .iter()
                .enumerate()
                .filter(|(_, t)| {
                    !t.answers
                        .get(index)
                        .and_then(Option::as_ref)
                        .is_some_and(Answer::is_settled)
                })
                .map(|(i, _)| i)
                .collect();
            for chunk in waiting.chunks(MAX_IDENTITIES_PER_REQUEST) {
                let listed: Vec<Listed> = chunk
                    .iter()
                    .filter_map(|&i| tracked.get(i))
                    .map(|t| t.listed.clone())
                    .collect();
                let domains: Vec<Domain> = listed.iter().map(|l| l.domain.clone()).collect();
                match ask(client, &domains).await {
                    Ok(answers) => {
                        for (&i, answer) in chunk.iter().zip(answers) {
                            if let Some(slot) =
                                tracked.get_mut(i).and_then(|t| t.answers.get_mut(index))
                            {
                                *slot = Some(answer);
                            }
                        }
                    }
                    // The earlier answers stay; the next round asks again.
                    Err(e) => self.failed_call(&listed, index, &e),
                }
                if self.tally.end.stopped {
                    return;
                }
            }
        }
    }

    fn failed_call(&mut self, batch: &[Listed], region: usize, error: &ClientError) {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return;
        };
        let lines = if first.line == last.line {
            format!("{}", first.line)
        } else {
            format!("{}-{}", first.line, last.line)
        };
        let client = self.clients.get(region);
        let in_region = match client {
            Some(client) if self.several => format!(" in {}", client.region()),
            _ => String::new(),
        };
        let ends = client.is_some_and(|client| ends_the_run(client, error));
        let message = match client {
            Some(client) if ends => explain_end(client, error),
            _ => error.to_string(),
        };
        report(format_args!(
            "{}:{lines}: cannot get the DKIM status of {}{in_region}: {message}",
            self.batches.name(),
            plural(batch.len() as u64, "domain"),
        ));
        self.tally.failed_calls += 1;
        self.tally.end.stopped |= ends;
    }

    fn end(mut self) -> u8 {
        if self.tally.end.output.is_none()
            && let Err(end) = self.writer.finish()
        {
            self.tally.end.output = Some(end);
        }
        let list = self.batches.counts();
        self.tally
            .summarise(list, self.started.elapsed().as_secs_f64());
        self.tally.exit_status(list)
    }
}

#[derive(Debug, Default)]
struct Tally {
    /// Answers per state, in the order of [`STATES`].
    states: [u64; STATES.len()],
    /// Domain and region pairs no call answered.
    unanswered: u64,
    failed_calls: u64,
    /// With --wait: the pairs still not final when time ran out.
    timed_out: u64,
    /// How the run ended, if before the end of its list (which the list's counts say).
    end: RunEnd,
}

impl Tally {
    fn count<'a>(&mut self, answers: impl Iterator<Item = &'a Answer>) {
        for answer in answers {
            let state = answer.state();
            let index = STATES
                .iter()
                .position(|s| *s == state)
                .unwrap_or(STATES.len() - 1);
            if let Some(count) = self.states.get_mut(index) {
                *count += 1;
            }
        }
    }

    fn answered(&self) -> u64 {
        self.states.iter().sum()
    }

    fn summarise(&self, list: ListCounts, seconds: f64) {
        let total = self.answered() + self.unanswered;
        let mut line = plural(total, "domain");
        let states: Vec<String> = STATES
            .iter()
            .zip(self.states)
            .filter(|(_, n)| *n > 0)
            .map(|(state, n)| format!("{n} {state}"))
            .collect();
        if !states.is_empty() {
            line.push_str(": ");
            line.push_str(&states.join(", "));
        }
        if self.unanswered > 0 {
            let _ = write!(line, ", {} without an answer", self.unanswered);
        }
        line.push_str("; ");
        line.push_str(&list.describe(seconds));
        if self.timed_out > 0 {
            let _ = write!(line, "; timed out with {} not final", self.timed_out);
        }
        self.end(list).describe(&mut line, "asked about");
        report(format_args!("{line}"));
    }

    fn end(&self, list: ListCounts) -> RunEnd {
        RunEnd {
            unread: list.unread,
            ..self.end
        }
    }

    fn exit_status(&self, list: ListCounts) -> u8 {
        let all_success = self.states.iter().skip(1).all(|n| *n == 0);
        let in_order =
            all_success && self.unanswered == 0 && self.failed_calls == 0 && list.invalid == 0;
        // Refused credentials or a skewed clock before anything worked: a configuration error.
        self.end(list).exit_status(self.answered() > 0, in_order)
    }
}

/// Returns `n word` or `n words`.
pub(crate) fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::OutputEnd;
    use crate::verify::{EXIT_CONFIG, EXIT_FAILURES, EXIT_OK};

    fn known(status: &str) -> Answer {
        Answer::Known {
            enabled: true,
            status: VerificationStatus::parse(status),
            tokens: vec![],
        }
    }

    /// F14: five distinct states and the v2 spellings; only Success passes, only Success and
    /// Failed are final, and a value SES may add later stays as it is.
    #[test]
    fn f14_pending_shown_as_failed() {
        let v1 = [
            "Pending",
            "Success",
            "Failed",
            "TemporaryFailure",
            "NotStarted",
        ];
        let v2 = [
            "PENDING",
            "SUCCESS",
            "FAILED",
            "TEMPORARY_FAILURE",
            "NOT_STARTED",
        ];
        for (a, b) in v1.iter().zip(v2) {
            assert_eq!(known(a).state(), *a);
            assert_eq!(known(b).state(), *a);
        }
        let settled: Vec<&str> = v1
            .iter()
            .copied()
            .filter(|s| known(s).is_settled())
            .collect();
        assert_eq!(settled, ["Success", "Failed"]);
        assert_eq!(known("Verifying").state(), "Verifying");
        assert!(!known("Verifying").is_settled());
        assert_eq!(Answer::NotFound.state(), "NotFound");

        let mut tally = Tally::default();
        let answers = [
            known("Success"),
            known("PENDING"),
            known("Verifying"),
            Answer::NotFound,
        ];
        tally.count(answers.iter());
        assert_eq!(tally.states, [1, 1, 0, 0, 0, 1, 1]);
        assert_eq!(tally.exit_status(ListCounts::default()), EXIT_FAILURES);
    }

    #[test]
    fn exit_status_is_success_only_when_every_domain_is() {
        let list = ListCounts::default();
        let mut tally = Tally::default();
        assert_eq!(tally.exit_status(list), EXIT_OK);
        tally.count([known("Success"), known("success")].iter());
        assert_eq!(tally.exit_status(list), EXIT_OK);
        // Every domain answered is Success, but the report stopped being read.
        let closed = Tally {
            end: RunEnd {
                output: Some(OutputEnd::Closed),
                ..RunEnd::default()
            },
            ..Tally::default()
        };
        assert_eq!(closed.exit_status(list), EXIT_FAILURES);
        let invalid = ListCounts {
            invalid: 1,
            ..ListCounts::default()
        };
        assert_eq!(tally.exit_status(invalid), EXIT_FAILURES);
        tally.unanswered = 1;
        assert_eq!(tally.exit_status(list), EXIT_FAILURES);
        let refused = Tally {
            end: RunEnd {
                stopped: true,
                ..RunEnd::default()
            },
            failed_calls: 1,
            ..Tally::default()
        };
        assert_eq!(refused.exit_status(list), EXIT_CONFIG);
    }

    #[test]
    fn rows_show_not_found_without_inventing_values() {
        let domain = Domain::parse("example.com").unwrap();
        let row = Answer::NotFound.row(&domain, "us-east-1");
        assert_eq!(row.cells, ["example.com", "us-east-1", "", "NotFound", ""]);
        assert_eq!(
            row.table,
            ["example.com", "us-east-1", "-", "NotFound", "-"]
        );
        assert_eq!(
            row.json,
            r#"{"domain":"example.com","region":"us-east-1","dkim_enabled":null,"status":"NotFound","tokens":[]}"#
        );
    }
}
