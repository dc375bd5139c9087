//! The handler: one plain async function from an event to its answer.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use lambda_runtime::{Context, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use ses_dkim_client::{CallOptions, ConfigError, SesClient};
use ses_dkim_core::{DkimRecord, DkimRecordSet, Domain, Region};
use tokio::time::Instant;
use tracing::{Instrument, Span, field, info, info_span, warn};

use crate::config::Config;
use crate::error::{ErrorType, Failure};
use crate::event::{
    BatchItemFailure, DirectRequest, Event, EventError, HttpRequest, HttpResponse,
    SqsBatchResponse, SqsEvent, Target,
};

/// Lambda's longest timeout: no invocation has more time than this.
const MAX_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// What outlives invocations: the configuration and one client per region.
#[derive(Debug)]
pub(crate) struct App {
    config: Config,
    /// Created on first use and kept, so that each region has one pacer and connection pool.
    clients: tokio::sync::Mutex<HashMap<Region, SesClient>>,
}

impl App {
    /// Builds the app, with the client of the function's own region ready when SES DKIM is
    /// known there.
    ///
    /// A function whose own region is missing from the compiled-in table still starts: events
    /// that name a known region work, and those that name none fail as `InvalidRegion`.
    ///
    /// # Errors
    ///
    /// Fails when the client of the function's own region cannot be configured (an invalid
    /// endpoint override or CA bundle, say), which would fail every region's client alike.
    pub(crate) async fn new(config: Config) -> Result<Self, ConfigError> {
        let app = Self {
            config,
            clients: tokio::sync::Mutex::new(HashMap::new()),
        };
        if let Some(region) = app.config.default_region.clone() {
            match check_region(region.clone(), RegionSource::Own) {
                Ok(region) => {
                    let client = app.build_client(&region).await?;
                    app.clients.lock().await.insert(region, client);
                }
                Err(_) => warn!(
                    "the function's own region `{region}` (AWS_REGION) has no known DKIM zone: \
                     events that name a region are answered, those that name none fail as \
                     InvalidRegion"
                ),
            }
        }
        Ok(app)
    }

    /// Returns the region an event asks for, or the function's own, once it is known to be one
    /// whose DKIM zone the function knows.
    fn region(&self, asked: Option<&str>) -> Result<Region, Failure> {
        match asked.map(str::trim).filter(|name| !name.is_empty()) {
            Some(name) => check_region(Region::parse(name)?, RegionSource::Event),
            None => match self.config.default_region.clone() {
                Some(region) => check_region(region, RegionSource::Own),
                None => Err(Failure::new(
                    ErrorType::Configuration,
                    "the event names no region and AWS_REGION is not set; name a region in the \
                     event",
                )),
            },
        }
    }

    /// Returns the region's client, creating it on first use.
    pub(crate) async fn client(&self, region: &Region) -> Result<SesClient, Failure> {
        let mut clients = self.clients.lock().await;
        if let Some(client) = clients.get(region) {
            return Ok(client.clone());
        }
        let client = self.build_client(region).await?;
        clients.insert(region.clone(), client.clone());
        Ok(client)
    }

    async fn build_client(&self, region: &Region) -> Result<SesClient, ConfigError> {
        let mut settings = self.config.settings.clone();
        settings.region = Some(region.to_string());
        SesClient::from_settings(settings).await
    }

    /// Verifies one domain, checking it and the region before any call; past the deadline, the
    /// failure is marked out of time and nothing is sent.
    async fn verify(
        &self,
        domain: &str,
        region: Option<&str>,
        deadline: Instant,
    ) -> Result<DkimRecordSet, Failure> {
        let fail = |failure: Failure| failure.for_domain(domain);
        let parsed = Domain::parse(domain).map_err(|e| fail(e.into()))?;
        let region = self.region(region).map_err(fail)?;
        let fail = |failure: Failure| failure.for_domain(domain).in_region(&region);
        let client = self.client(&region).await.map_err(fail)?;
        if Instant::now() >= deadline {
            return Err(fail(out_of_time()));
        }
        client
            .verify_with(&parsed, CallOptions::with_deadline(deadline))
            .await
            .map_err(|e| fail(e.into()))
    }
}

/// Where the region of a call came from, for what its error says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RegionSource {
    /// The event named it.
    Event,
    /// The event named none: the function's own, `AWS_REGION`.
    Own,
}

/// Returns the region when the compiled-in table gives its DKIM zone, which the function needs
/// to build the records (it has no zone override); else an `InvalidRegion` failure that says so
/// in terms of what the caller can change.
fn check_region(region: Region, source: RegionSource) -> Result<Region, Failure> {
    let Some(info) = region.info() else {
        let message = match source {
            RegionSource::Event => format!(
                "`{region}` is not a region SES DKIM is known to run in; check the event's \
                 `region`"
            ),
            RegionSource::Own => format!(
                "the event names no region, and the function's own region `{region}` \
                 (AWS_REGION) is not one SES DKIM is known to run in; name a region in the event"
            ),
        };
        return Err(Failure::new(ErrorType::InvalidRegion, message));
    };
    if info.dkim_zone.is_none() {
        let message = match source {
            RegionSource::Event => format!(
                "no source states the DKIM zone of region `{region}`, so the function cannot \
                 give its records"
            ),
            RegionSource::Own => format!(
                "the event names no region, and no source states the DKIM zone of the \
                 function's own region `{region}` (AWS_REGION); name a region in the event"
            ),
        };
        return Err(Failure::new(ErrorType::InvalidRegion, message));
    }
    Ok(region)
}

/// The answer to an event.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum Answer {
    /// The records of one domain.
    Records(DkimRecordSet),
    /// The outcome of a list.
    List(ListAnswer),
    /// The messages of an SQS batch to deliver again.
    Sqs(SqsBatchResponse),
    /// An HTTP response.
    Http(HttpResponse),
}

/// The answer to a list of domains.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct ListAnswer {
    /// The records of each domain that got them, in list order.
    pub(crate) verified: Vec<DkimRecordSet>,
    /// The domains that failed, in list order.
    pub(crate) failed: Vec<Failure>,
    /// The domains the invocation had no time left for, as given; send them again.
    pub(crate) not_done: Vec<String>,
    /// The entries skipped because an earlier one is the same domain (compared after
    /// normalisation: case, a trailing dot, internationalised names), as given.
    pub(crate) duplicates: Vec<String>,
}

/// Handles one invocation: classifies the event and answers it.
///
/// Direct invocations that fail return a Lambda error whose `errorType` is one of
/// [`ErrorType`]'s names; SQS events and HTTP requests always return their answer.
///
/// # Errors
///
/// Fails for an event of no known shape, and for a direct invocation for one domain that got no
/// records.
pub(crate) async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Answer, Failure> {
    let (payload, context) = event.into_parts();
    let span = info_span!(
        "invocation",
        request_id = %context.request_id,
        event = field::Empty,
        domain = field::Empty,
        region = field::Empty,
    );
    async move {
        let deadline = deadline(&context, app.config.answer_margin, SystemTime::now());
        let event = Event::from_value(payload)
            .map_err(Failure::from)
            .inspect_err(|failure| log_failure(failure, None, "rejected"))?;
        Span::current().record("event", event.kind());
        match event {
            Event::Direct(request) => direct(app, request, deadline).await,
            Event::Sqs(batch) => Ok(Answer::Sqs(sqs(app, batch, deadline).await)),
            Event::Http(request) => Ok(Answer::Http(http(app, request, deadline).await)),
        }
    }
    .instrument(span)
    .await
}

/// Returns the instant by which the work must be done, to leave time for the answer.
fn deadline(context: &Context, margin: Duration, now: SystemTime) -> Instant {
    Instant::now() + time_left(context.deadline, now).saturating_sub(margin)
}

/// Returns the time left before `deadline_ms`, the deadline Lambda gives in milliseconds since
/// the epoch.
///
/// A value below Lambda's longest timeout cannot be such a time: local emulators (cargo-lambda
/// among them) send the timeout itself there, so it is read as the time left.
fn time_left(deadline_ms: u64, now: SystemTime) -> Duration {
    let given = Duration::from_millis(deadline_ms);
    if given <= MAX_TIMEOUT {
        return given;
    }
    (UNIX_EPOCH + given)
        .duration_since(now)
        .unwrap_or_default()
        .min(MAX_TIMEOUT)
}

async fn direct(app: &App, request: DirectRequest, deadline: Instant) -> Result<Answer, Failure> {
    let region = request.region.as_deref();
    match request.target {
        Target::One(domain) => {
            record_domain(app, &domain, region);
            let records = app.verify(&domain, region, deadline).await;
            log_outcome(&records);
            records.map(Answer::Records)
        }
        Target::List(domains) => Ok(Answer::List(list(app, domains, region, deadline).await)),
    }
}

/// Works through a list at the client's pace until the deadline; the rest is not done.
///
/// Each domain is asked for once: a later entry that normalises to an earlier one is skipped
/// and listed under `duplicates`. Entries that are not domains are kept, to fail in place.
async fn list(
    app: &App,
    domains: Vec<String>,
    region: Option<&str>,
    deadline: Instant,
) -> ListAnswer {
    let (domains, duplicates) = deduplicate(domains);
    let mut answer = ListAnswer {
        duplicates,
        ..ListAnswer::default()
    };
    for (index, domain) in domains.iter().enumerate() {
        match app.verify(domain, region, deadline).await {
            Ok(records) => {
                log_verified(&records, None);
                answer.verified.push(records);
            }
            Err(failure) if !failure.out_of_time => {
                log_failure(&failure, None, "failed");
                answer.failed.push(failure);
            }
            // Out of time: this domain and the rest are for another invocation.
            Err(_) => {
                answer.not_done = domains.get(index..).unwrap_or_default().to_vec();
                break;
            }
        }
    }
    info!(
        verified = answer.verified.len(),
        failed = answer.failed.len(),
        not_done = answer.not_done.len(),
        duplicates_skipped = answer.duplicates.len(),
        "list done"
    );
    answer
}

/// Splits a list into its first occurrences, in order, and the later entries naming the same
/// domain once normalised.
fn deduplicate(domains: Vec<String>) -> (Vec<String>, Vec<String>) {
    let mut seen = HashSet::new();
    let mut unique = Vec::with_capacity(domains.len());
    let mut duplicates = Vec::new();
    for domain in domains {
        let first = match Domain::parse(&domain) {
            Ok(parsed) => seen.insert(parsed.as_str().to_owned()),
            Err(_) => true,
        };
        if first {
            unique.push(domain);
        } else {
            duplicates.push(domain);
        }
    }
    (unique, duplicates)
}

/// Verifies each message's domain; throttled, transient and other upstream failures go back to
/// the queue, and so do messages the deadline leaves no time for; invalid messages are logged and
/// dropped.
async fn sqs(app: &App, batch: SqsEvent, deadline: Instant) -> SqsBatchResponse {
    let mut answer = SqsBatchResponse::default();
    for message in batch.records {
        let id = message.message_id.as_str();
        let outcome = match message.request() {
            Err(error) => Err(Failure::from(error)),
            Ok((domain, region)) => app.verify(&domain, region.as_deref(), deadline).await,
        };
        match outcome {
            Ok(records) => log_verified(&records, Some(id)),
            Err(failure) if failure.error_type.is_invalid_input() => {
                log_failure(&failure, Some(id), "dropping the message");
            }
            Err(failure) => {
                log_failure(&failure, Some(id), "returning the message to the queue");
                answer.batch_item_failures.push(BatchItemFailure {
                    item_identifier: message.message_id,
                });
            }
        }
    }
    answer
}

/// Answers a `POST` whose JSON body names one domain.
async fn http(app: &App, request: HttpRequest, deadline: Instant) -> HttpResponse {
    let outcome = match http_request(&request) {
        Ok((domain, region)) => {
            record_domain(app, &domain, region.as_deref());
            app.verify(&domain, region.as_deref(), deadline).await
        }
        Err(failure) => Err(failure),
    };
    log_outcome(&outcome);
    match outcome {
        // A record set always serialises: strings and lists of strings.
        Ok(records) => HttpResponse::json(200, serde_json::to_string(&records).unwrap_or_default()),
        Err(failure) => {
            let response = HttpResponse::json(failure.error_type.http_status(), failure.to_json());
            if failure.error_type == ErrorType::MethodNotAllowed {
                response.with_header("allow", "POST")
            } else {
                response
            }
        }
    }
}

/// Reads the domain and region from an HTTP request.
fn http_request(request: &HttpRequest) -> Result<(String, Option<String>), Failure> {
    let method = &request.request_context.http.method;
    if !method.eq_ignore_ascii_case("POST") {
        return Err(Failure::new(
            ErrorType::MethodNotAllowed,
            format_args!("method {method} is not allowed; POST a JSON body"),
        ));
    }
    let body = request.body.as_deref().unwrap_or_default();
    let bytes = if request.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|e| EventError::NotJson(format!("invalid base64: {e}")))?
    } else {
        body.as_bytes().to_vec()
    };
    match DirectRequest::from_slice(&bytes)? {
        DirectRequest {
            target: Target::One(domain),
            region,
        } => Ok((domain, region)),
        DirectRequest {
            target: Target::List(_),
            ..
        } => Err(EventError::ListNotAllowed("an HTTP request").into()),
    }
}

fn out_of_time() -> Failure {
    let mut failure = Failure::new(
        ErrorType::Transient,
        "no time left in this invocation to make the call",
    );
    failure.out_of_time = true;
    failure
}

/// Puts the domain and region on the invocation's span.
fn record_domain(app: &App, domain: &str, region: Option<&str>) {
    let span = Span::current();
    span.record("domain", domain);
    let region = region
        .map(str::to_owned)
        .or_else(|| app.config.default_region.as_ref().map(ToString::to_string));
    if let Some(region) = region {
        span.record("region", region.as_str());
    }
}

fn log_outcome(outcome: &Result<DkimRecordSet, Failure>) {
    match outcome {
        Ok(records) => log_verified(records, None),
        Err(failure) => log_failure(failure, None, "failed"),
    }
}

/// Logs a domain's records on one line, so that callers who get no answer (an SQS queue) find
/// them in CloudWatch Logs: the domain, the region, SES's request id and each record's name and
/// value as fields (`record_1_name`, `record_1_value`, ...). Tokens are public, since they are
/// published in DNS; nothing else of the call is logged.
fn log_verified(records: &DkimRecordSet, message_id: Option<&str>) {
    let name = |index: usize| records.records.get(index).map(DkimRecord::name);
    let value = |index: usize| records.records.get(index).map(DkimRecord::value);
    info!(
        message_id,
        domain = %records.domain,
        region = %records.region,
        ses_request_id = records.request_id.as_deref(),
        records = records.records.len(),
        record_1_name = name(0),
        record_1_value = value(0),
        record_2_name = name(1),
        record_2_value = value(1),
        record_3_name = name(2),
        record_3_value = value(2),
        "verified"
    );
}

/// Logs a failure once, as `what: ErrorType: message`, with the domain, region and SES request
/// id as fields where they are known.
///
/// The runtime's own line for a handler error (a `Debug` dump) is filtered out in `main`.
fn log_failure(failure: &Failure, message_id: Option<&str>, what: &str) {
    warn!(
        message_id,
        error_type = %failure.error_type,
        domain = failure.domain.as_deref(),
        region = failure.region.as_deref(),
        ses_request_id = failure.request_id.as_deref(),
        "{what}: {failure}"
    );
}

#[cfg(test)]
mod tests;
