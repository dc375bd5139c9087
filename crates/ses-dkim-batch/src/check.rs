//! `ses-dkim check`: looks each expected DKIM record up in DNS and says whether it is published
//! and right, missing, pointing elsewhere, or published under a doubled name (F12).
//!
//! The expected records come from the tokens in a `--state` file when it has them, else from
//! SES's `GetIdentityDkimAttributes` (never `VerifyDomainDkim`, which would create identities).
//! Each record's name is asked for its CNAME and only the first hop is compared; the list
//! streams, 100 domains at a time.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::rdata::CNAME;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use ses_dkim_batch::state::{StateStore, Stored};
use ses_dkim_client::SesClient;
use ses_dkim_core::status::MAX_IDENTITIES_PER_REQUEST;
use ses_dkim_core::{DkimRecord, DkimRecordSet, DkimToken, Domain};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::debug;

use crate::cli::SesArgs;
use crate::clients::clients;
use crate::listing::{Batches, ListCounts, Listed, RunEnd, label};
use crate::report;
use crate::rows::{Columns, ReportFormat, Row, RowWriter, to_json};
use crate::status::{Answer, ask, plural};
use crate::verify::{EXIT_CONFIG, ends_the_run, explain_end};

/// The exit statuses of `ses-dkim check`, for its help.
pub(crate) const EXIT_HELP: &str = crate::cli::with_configuration!(
    "\
Exit status:
    0  every expected record is published and right
    1  a record is missing, wrong, doubled or could not be looked up, a domain has no tokens, a
       line was invalid, or a call failed (each is reported), or the run ended early because the
       list could not be read or the report could not be written
    2  usage or configuration error, including credentials SES refuses, a skewed clock, an
       untrusted endpoint certificate or an endpoint that cannot be connected to or does not
       answer as SES does, before any call succeeded
  130  Ctrl-C stopped the run (what was checked is printed)"
);

/// How many DNS lookups may be in flight at once.
const MAX_LOOKUPS_IN_FLIGHT: usize = 16;

/// Arguments of `ses-dkim check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The list of domains; `-` or nothing reads standard input.
    #[arg(value_name = "FILE|-")]
    pub(crate) file: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) ses: SesArgs,

    /// The zone CNAME values point into, overriding the region's table entry.
    #[arg(long, value_name = "ZONE", value_parser = crate::cli::dkim_zone)]
    pub(crate) dkim_zone: Option<String>,

    /// Take the tokens from this state file (written by `verify --state`); SES is asked only
    /// about domains it has no tokens for.
    #[arg(long, value_name = "FILE")]
    pub(crate) state: Option<PathBuf>,

    /// The DNS server to ask, as IP:PORT (or IP for port 53) [default: the system's resolvers].
    #[arg(long, value_name = "IP:PORT", value_parser = parse_server)]
    pub(crate) resolver: Option<SocketAddr>,

    /// How to print the findings.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub(crate) format: ReportFormat,
}

/// Runs the command and returns the exit status.
pub(crate) async fn run(args: CheckArgs) -> u8 {
    let prepared = async {
        let resolver = resolver(args.resolver)?;
        let state = match &args.state {
            // Opening creates a missing file: a typo must not pass as an empty state.
            Some(path) if !path.is_file() => {
                return Err(format!(
                    "the state file `{}` does not exist",
                    path.display()
                ));
            }
            Some(path) => Some(
                StateStore::open(path)
                    .map_err(|e| format!("cannot open the state file `{}`: {e}", path.display()))?,
            ),
            None => None,
        };
        let clients = clients(&args.ses, args.dkim_zone.as_deref()).await?;
        let batches = Batches::open(args.file.as_deref(), MAX_IDENTITIES_PER_REQUEST)?;
        Ok((resolver, state, clients, batches))
    };
    let (resolver, state, clients, batches) = match prepared.await {
        Ok(prepared) => prepared,
        Err(message) => {
            report(format_args!("error: {message}"));
            return EXIT_CONFIG;
        }
    };
    Run {
        writer: RowWriter::new(args.format, COLUMNS),
        resolver,
        state,
        several: clients.len() > 1,
        clients,
        batches,
        tally: Tally::default(),
    }
    .execute()
    .await
}

/// What DNS says of one expected record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// The name has a CNAME to the expected value.
    Ok,
    /// Neither the name nor its doubled form has a CNAME.
    Missing,
    /// The name has a CNAME to somewhere else.
    Wrong {
        /// Where it points, absolute and lower-case.
        target: String,
    },
    /// The name has no CNAME, but `<name><domain>.` has one: a web panel appended the zone to
    /// an absolute name (F12).
    Doubled {
        /// The doubled name.
        name: String,
        /// Where it points.
        target: String,
    },
    /// The lookup failed (timeout, refused, server failure): nothing is known.
    Error(String),
}

impl Finding {
    /// Returns the finding's one-word name.
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Missing => "missing",
            Self::Wrong { .. } => "wrong",
            Self::Doubled { .. } => "doubled",
            Self::Error(_) => "error",
        }
    }
}

/// Looks up the CNAME of `record`'s name and, if there is none, of its doubled name.
pub(crate) async fn look_up(
    resolver: &TokioResolver,
    domain: &Domain,
    record: &DkimRecord,
) -> Finding {
    let expected = record.value().to_ascii_lowercase();
    let finding = match cname(resolver, record.name()).await {
        Ok(Some(target)) if target == expected => Finding::Ok,
        Ok(Some(target)) => Finding::Wrong { target },
        Ok(None) => {
            // `<token>._domainkey.example.com.example.com.`: the record, with the zone appended.
            let doubled = format!("{}{domain}.", record.name());
            match cname(resolver, &doubled).await {
                Ok(Some(target)) => Finding::Doubled {
                    name: doubled,
                    target,
                },
                _ => Finding::Missing,
            }
        }
        Err(message) => Finding::Error(message),
    };
    debug!(name = %record.name(), finding = finding.as_str(), "looked up");
    finding
}

/// Returns the CNAME target of `name` (absolute, lower-case), `None` when DNS says there is none.
async fn cname(resolver: &TokioResolver, name: &str) -> Result<Option<String>, String> {
    let lookup = match resolver.lookup(name, RecordType::CNAME).await {
        Ok(lookup) => lookup,
        // NXDOMAIN, or the name exists without a CNAME.
        Err(e) if e.is_no_records_found() => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let wanted = name.trim_end_matches('.');
    let target = lookup.answers().iter().find_map(|record| {
        let owner = record.name.to_ascii();
        match &record.data {
            RData::CNAME(CNAME(target))
                if owner.trim_end_matches('.').eq_ignore_ascii_case(wanted) =>
            {
                Some(absolute(&target.to_ascii()))
            }
            _ => None,
        }
    });
    Ok(target)
}

/// Returns a name lower-case with exactly one final dot.
fn absolute(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

/// Builds the resolver: one server over UDP (and TCP for long answers), or the system's.
fn resolver(server: Option<SocketAddr>) -> Result<TokioResolver, String> {
    let builder = match server {
        Some(address) => {
            let mut name_server = NameServerConfig::udp_and_tcp(address.ip());
            for connection in &mut name_server.connections {
                connection.port = address.port();
            }
            let config = ResolverConfig::from_name_servers(vec![name_server]);
            Resolver::builder_with_config(config, TokioRuntimeProvider::default())
        }
        None => TokioResolver::builder_tokio()
            .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?,
    };
    builder
        .build()
        .map_err(|e| format!("cannot set up the DNS resolver: {e}"))
}

/// Reads `--resolver`: `IP:PORT`, `[IPv6]:PORT`, or a bare IP for port 53.
fn parse_server(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("`{text}` is not IP:PORT or an IP address"))
}

const COLUMNS: Columns = Columns {
    csv: &[
        "domain",
        "region",
        "status",
        "name",
        "expected",
        "found_name",
        "found_value",
    ],
    table: &["DOMAIN", "REGION", "STATUS", "NAME", "FOUND"],
};

struct Run {
    writer: RowWriter,
    resolver: TokioResolver,
    state: Option<StateStore>,
    clients: Vec<SesClient>,
    several: bool,
    batches: Batches,
    tally: Tally,
}

impl Run {
    async fn execute(mut self) -> u8 {
        let started = Instant::now();
        let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
        loop {
            let batch = tokio::select! {
                biased;
                _ = &mut interrupt => { self.tally.end.interrupted = true; break }
                batch = self.batches.next() => batch,
            };
            let batch = match batch {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                Err(message) => {
                    report(format_args!("error: {message}"));
                    self.tally.end.stopped = true;
                    break;
                }
            };
            let rows = tokio::select! {
                biased;
                _ = &mut interrupt => { self.tally.end.interrupted = true; break }
                rows = self.check(&batch) => rows,
            };
            if let Err(end) = self.writer.write(&rows) {
                // Nobody reads the findings any more: look up no more.
                self.tally.end.output = Some(end);
                break;
            }
            if self.tally.end.stopped {
                break;
            }
        }
        if self.tally.end.output.is_none()
            && let Err(end) = self.writer.finish()
        {
            self.tally.end.output = Some(end);
        }
        let list = self.batches.counts();
        self.tally.summarise(list, started.elapsed().as_secs_f64());
        self.tally.exit_status(list)
    }

    /// Finds the expected records of a batch in every region, looks them all up, and returns the
    /// rows in list, region and record order.
    async fn check(&mut self, batch: &[Listed]) -> Vec<Row> {
        let mut sets: Vec<DkimRecordSet> = Vec::new();
        for index in 0..self.clients.len() {
            sets.extend(self.expected(batch, index).await);
            if self.tally.end.stopped {
                break;
            }
        }
        // The list's order first, then the regions'.
        let position = |set: &DkimRecordSet| batch.iter().position(|l| l.domain == set.domain);
        sets.sort_by_key(|set| position(set));

        let permits = Arc::new(Semaphore::new(MAX_LOOKUPS_IN_FLIGHT));
        let mut tasks = JoinSet::new();
        let mut slots: Vec<(usize, usize)> = Vec::new();
        for (s, set) in sets.iter().enumerate() {
            for (r, record) in set.records.iter().enumerate() {
                let slot = slots.len();
                slots.push((s, r));
                let (resolver, permits) = (self.resolver.clone(), Arc::clone(&permits));
                let (domain, record) = (set.domain.clone(), record.clone());
                tasks.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    (slot, look_up(&resolver, &domain, &record).await)
                });
            }
        }
        let mut findings: Vec<Option<Finding>> = vec![None; slots.len()];
        while let Some(joined) = tasks.join_next().await {
            let Ok((slot, finding)) = joined else {
                continue;
            };
            if let Some(place) = findings.get_mut(slot) {
                *place = Some(finding);
            }
        }

        let mut rows = Vec::with_capacity(slots.len());
        for ((s, r), finding) in slots.into_iter().zip(findings) {
            let (Some(set), Some(finding)) = (sets.get(s), finding) else {
                // A lookup task that panicked; the runtime has already reported it.
                self.tally.lost += 1;
                continue;
            };
            let Some(record) = set.records.get(r) else {
                continue;
            };
            if let Finding::Error(message) = &finding {
                let line = batch
                    .iter()
                    .find(|l| l.domain == set.domain)
                    .map_or(0, |l| l.line);
                report(format_args!(
                    "{}:{line}: {}: cannot look up `{}`: {message}",
                    self.batches.name(),
                    set.domain,
                    record.name()
                ));
            }
            self.tally.count(&finding);
            rows.push(row(set, record, &finding));
        }
        rows
    }

    /// Returns the expected records of a batch's domains in one region: from the state file
    /// where it has tokens, from SES for the rest.
    async fn expected(&mut self, batch: &[Listed], index: usize) -> Vec<DkimRecordSet> {
        let Some(client) = self.clients.get(index).cloned() else {
            return Vec::new();
        };
        let region = self.several.then(|| client.region().to_string());
        let list = self.batches.name().to_owned();
        let place = |listed: &Listed| label(&list, listed, region.as_deref());

        let mut found: Vec<(&Listed, Vec<DkimToken>)> = Vec::new();
        let mut ask_ses: Vec<&Listed> = Vec::new();
        for listed in batch {
            let stored = match &self.state {
                None => None,
                Some(state) => match state.get(&listed.domain, client.region()) {
                    Ok(stored) => stored,
                    Err(e) => {
                        report(format_args!(
                            "{}: cannot read the state file: {e}",
                            place(listed)
                        ));
                        None
                    }
                },
            };
            match stored {
                Some(Stored::Verified { tokens, .. }) => found.push((listed, tokens)),
                _ => ask_ses.push(listed),
            }
        }

        if !ask_ses.is_empty() {
            let domains: Vec<Domain> = ask_ses.iter().map(|l| l.domain.clone()).collect();
            match ask(&client, &domains).await {
                Ok(answers) => {
                    for (listed, answer) in ask_ses.into_iter().zip(answers) {
                        match answer {
                            Answer::Known { tokens, .. } if !tokens.is_empty() => {
                                found.push((listed, tokens));
                            }
                            other => {
                                report(format_args!(
                                    "{}: SES has no DKIM tokens for it ({}); run `ses-dkim \
                                     verify` first",
                                    place(listed),
                                    other.state()
                                ));
                                self.tally.without_tokens += 1;
                            }
                        }
                    }
                }
                Err(e) => {
                    let (first, last) = (ask_ses.first(), ask_ses.last());
                    let lines = match (first, last) {
                        (Some(a), Some(b)) if a.line != b.line => format!("{}-{}", a.line, b.line),
                        (Some(a), _) => a.line.to_string(),
                        _ => String::new(),
                    };
                    let in_region = region
                        .as_ref()
                        .map_or_else(String::new, |r| format!(" in {r}"));
                    let ends = ends_the_run(&client, &e);
                    let message = if ends {
                        explain_end(&client, &e)
                    } else {
                        e.to_string()
                    };
                    report(format_args!(
                        "{list}:{lines}: cannot get the DKIM tokens of {}{in_region}: {message}",
                        plural(ask_ses.len() as u64, "domain"),
                    ));
                    self.tally.without_tokens += ask_ses.len() as u64;
                    self.tally.failed_calls += 1;
                    self.tally.end.stopped |= ends;
                }
            }
        }

        let mut sets = Vec::with_capacity(found.len());
        for (listed, tokens) in found {
            let set = DkimRecordSet::new(
                listed.domain.clone(),
                client.region().clone(),
                client.dkim_zone(),
                tokens,
                None,
            );
            match set {
                Ok(set) => sets.push(set),
                Err(e) => {
                    report(format_args!("{}: {e}", place(listed)));
                    self.tally.without_tokens += 1;
                }
            }
        }
        sets
    }
}

fn row(set: &DkimRecordSet, record: &DkimRecord, finding: &Finding) -> Row {
    let (found_name, found_value) = match finding {
        Finding::Ok => (record.name().to_owned(), record.value().to_owned()),
        Finding::Wrong { target } => (record.name().to_owned(), target.clone()),
        Finding::Doubled { name, target } => (name.clone(), target.clone()),
        Finding::Missing | Finding::Error(_) => (String::new(), String::new()),
    };
    let shown = match finding {
        Finding::Ok => record.value().to_owned(),
        Finding::Missing => format!("- (expected {})", record.value()),
        Finding::Wrong { target } => format!("{target} (expected {})", record.value()),
        Finding::Doubled { name, target } => format!("at {name} -> {target}"),
        Finding::Error(message) => message.clone(),
    };
    let json = to_json(&CheckJson {
        domain: set.domain.as_str(),
        region: set.region.as_str(),
        status: finding.as_str(),
        name: record.name(),
        expected: record.value(),
        found_name: (!found_name.is_empty()).then_some(found_name.as_str()),
        found_value: (!found_value.is_empty()).then_some(found_value.as_str()),
        error: match finding {
            Finding::Error(message) => Some(message),
            _ => None,
        },
    });
    Row {
        cells: vec![
            set.domain.to_string(),
            set.region.to_string(),
            finding.as_str().to_owned(),
            record.name().to_owned(),
            record.value().to_owned(),
            found_name,
            found_value,
        ],
        table: vec![
            set.domain.to_string(),
            set.region.to_string(),
            finding.as_str().to_owned(),
            record.name().to_owned(),
            shown,
        ],
        json,
    }
}

/// One `check` row in JSON.
#[derive(serde::Serialize)]
struct CheckJson<'a> {
    domain: &'a str,
    region: &'a str,
    status: &'a str,
    name: &'a str,
    expected: &'a str,
    found_name: Option<&'a str>,
    found_value: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    missing: u64,
    wrong: u64,
    doubled: u64,
    errors: u64,
    /// Lookups whose task was lost.
    lost: u64,
    /// Domain and region pairs with no expected records.
    without_tokens: u64,
    failed_calls: u64,
    /// How the run ended, if before the end of its list (which the list's counts say).
    end: RunEnd,
}

impl Tally {
    fn count(&mut self, finding: &Finding) {
        let count = match finding {
            Finding::Ok => &mut self.ok,
            Finding::Missing => &mut self.missing,
            Finding::Wrong { .. } => &mut self.wrong,
            Finding::Doubled { .. } => &mut self.doubled,
            Finding::Error(_) => &mut self.errors,
        };
        *count += 1;
    }

    fn records(&self) -> u64 {
        self.ok + self.missing + self.wrong + self.doubled + self.errors + self.lost
    }

    fn summarise(&self, list: ListCounts, seconds: f64) {
        let mut line = format!(
            "{}: {} ok, {} missing, {} wrong, {} doubled, {} error (lookup failed)",
            plural(self.records(), "record"),
            self.ok,
            self.missing,
            self.wrong,
            self.doubled,
            self.errors + self.lost,
        );
        if self.without_tokens > 0 {
            let _ = write!(
                line,
                "; {} without tokens",
                plural(self.without_tokens, "domain")
            );
        }
        line.push_str("; ");
        line.push_str(&list.describe(seconds));
        self.end(list).describe(&mut line, "checked");
        report(format_args!("{line}"));
    }

    fn end(&self, list: ListCounts) -> RunEnd {
        RunEnd {
            unread: list.unread,
            ..self.end
        }
    }

    fn exit_status(&self, list: ListCounts) -> u8 {
        let in_order = self.records() == self.ok
            && self.without_tokens == 0
            && self.failed_calls == 0
            && list.invalid == 0;
        // Refused credentials or a skewed clock before anything worked: a configuration error.
        self.end(list).exit_status(self.records() > 0, in_order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{EXIT_CONFIG, EXIT_FAILURES, EXIT_OK};

    #[test]
    fn resolver_addresses() {
        assert_eq!(
            parse_server("127.0.0.1:5353"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 5353)))
        );
        assert_eq!(
            parse_server("127.0.0.1"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 53)))
        );
        assert_eq!(parse_server("[::1]:53").map(|a| a.port()), Ok(53));
        assert_eq!(parse_server("::1").map(|a| a.is_ipv6()), Ok(true));
        assert!(parse_server("localhost:53").is_err());
    }

    #[test]
    fn names_compare_absolute_and_without_case() {
        assert_eq!(absolute("T1.DKIM.amazonses.com"), "t1.dkim.amazonses.com.");
        assert_eq!(absolute("t1.dkim.amazonses.com."), "t1.dkim.amazonses.com.");
    }

    #[test]
    fn exit_status_is_success_only_when_every_record_is_ok() {
        let list = ListCounts::default();
        let mut tally = Tally::default();
        tally.count(&Finding::Ok);
        assert_eq!(tally.exit_status(list), EXIT_OK);
        tally.count(&Finding::Doubled {
            name: "n".into(),
            target: "t".into(),
        });
        assert_eq!(tally.exit_status(list), EXIT_FAILURES);
        let no_tokens = Tally {
            ok: 3,
            without_tokens: 1,
            ..Tally::default()
        };
        assert_eq!(no_tokens.exit_status(list), EXIT_FAILURES);
        let refused = Tally {
            end: RunEnd {
                stopped: true,
                ..RunEnd::default()
            },
            failed_calls: 1,
            without_tokens: 2,
            ..Tally::default()
        };
        assert_eq!(refused.exit_status(list), EXIT_CONFIG);
    }
}
