//! The handler: one plain async function from an event to its answer.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use lambda_runtime::{Context, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use ses_dkim_client::{CallOptions, ConfigError, SesClient};
use ses_dkim_core::{DkimRecordSet, Domain, Region};
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
    /// Builds the app, with the client of the function's own region ready.
    ///
    /// # Errors
    ///
    /// Fails when that client cannot be configured (an invalid endpoint override, say).
    pub(crate) async fn new(config: Config) -> Result<Self, ConfigError> {
        let app = Self {
            config,
            clients: tokio::sync::Mutex::new(HashMap::new()),
        };
        if let Some(region) = app.config.default_region.clone() {
            let client = app.build_client(&region).await?;
            app.clients.lock().await.insert(region, client);
        }
        Ok(app)
    }

    /// Returns the region an event asks for, or the function's own.
    fn region(&self, asked: Option<&str>) -> Result<Region, Failure> {
        match asked.map(str::trim).filter(|name| !name.is_empty()) {
            Some(name) => Ok(Region::parse(name)?),
            None => self.config.default_region.clone().ok_or_else(|| {
                Failure::new(
                    ErrorType::Configuration,
                    "the event names no region and AWS_REGION is not set",
                )
            }),
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
        let event = Event::from_value(payload).inspect_err(|e| warn!("rejected: {e}"))?;
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
        Target::List(domains) => Ok(Answer::List(list(app, &domains, region, deadline).await)),
    }
}

/// Works through a list at the client's pace until the deadline; the rest is not done.
async fn list(
    app: &App,
    domains: &[String],
    region: Option<&str>,
    deadline: Instant,
) -> ListAnswer {
    let mut answer = ListAnswer::default();
    for (index, domain) in domains.iter().enumerate() {
        match app.verify(domain, region, deadline).await {
            Ok(records) => answer.verified.push(records),
            Err(failure) if !failure.out_of_time => answer.failed.push(failure),
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
        "list done"
    );
    answer
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
            Ok(records) => info!(message_id = id, domain = %records.domain, "verified"),
            Err(failure) if failure.error_type.is_invalid_input() => {
                warn!(message_id = id, "dropping the message: {failure}");
            }
            Err(failure) => {
                warn!(
                    message_id = id,
                    "returning the message to the queue: {failure}"
                );
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
        Err(failure) => HttpResponse::json(failure.error_type.http_status(), failure.to_json()),
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
        Ok(records) => info!(
            ses_request_id = records.request_id.as_deref().unwrap_or_default(),
            records = records.records.len(),
            "verified"
        ),
        Err(failure) => warn!(error_type = %failure.error_type, "failed: {}", failure.message),
    }
}

#[cfg(test)]
mod tests;
