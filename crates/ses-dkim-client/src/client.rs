//! The client: one pacer, one connection pool and one credential cache per account and region.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use http::HeaderValue;
use ses_dkim_core::{
    Credentials, DkimAttributesOutput, DkimRecordSet, DkimZone, Domain, Endpoint, Pacer, Region,
    ResponseError, Signer, SigningError, backoff_delay, parse_get_identity_dkim_attributes,
    parse_verify_domain_dkim, request, status,
};
use tokio::time::Instant;
use tracing::{Instrument, debug, field, info, warn, warn_span};

use crate::error::{ClientError, ConfigError, one_line};
use crate::settings::{ResolvedSettings, Settings};
use crate::transport::{Transport, header_text};

/// Credentials are refreshed this long before they expire.
const CREDENTIALS_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The `user-agent` of every request.
const USER_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("ses-dkim/", env!("CARGO_PKG_VERSION")));

/// Per-call options.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallOptions {
    /// The call returns by this instant (a Lambda's remaining time): no attempt starts and no
    /// backoff is slept past it, and an attempt still waiting for its answer is cut off.
    pub deadline: Option<Instant>,
}

impl CallOptions {
    /// Returns options with a deadline.
    pub fn with_deadline(deadline: Instant) -> Self {
        Self {
            deadline: Some(deadline),
        }
    }
}

/// A `VerifyDomainDkim` client for one account and region; cheap to clone and share.
#[derive(Clone)]
pub struct SesClient {
    inner: Arc<Inner>,
}

struct Inner {
    resolved: ResolvedSettings,
    transport: Transport,
    pacer: Mutex<Pacer>,
    rng: Mutex<fastrand::Rng>,
    /// Keeps the SigV4 signing key for the day, so that a call does not derive it again.
    signer: Mutex<Signer>,
    credentials: tokio::sync::Mutex<Option<CachedCredentials>>,
    /// Set once by [`SesClient::stop_sending`]; calls waiting to send watch it.
    stop: tokio::sync::watch::Sender<bool>,
    /// Set once a call has succeeded: the endpoint is reachable and answers.
    succeeded: AtomicBool,
}

struct CachedCredentials {
    credentials: Arc<Credentials>,
    expires: Option<SystemTime>,
}

impl SesClient {
    /// Builds a client, looking up the region, credentials chain, endpoint and retry settings
    /// the way the AWS tools do.
    ///
    /// # Errors
    ///
    /// Fails when the configuration is incomplete or invalid (see [`ConfigError`]). Credentials
    /// are loaded on the first call, not here.
    pub async fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        Self::from_resolved(ResolvedSettings::resolve(settings).await?)
    }

    /// Builds a client from settings already resolved.
    ///
    /// # Errors
    ///
    /// Fails when the TLS stack cannot be set up, or the CA bundle of an `https` endpoint cannot
    /// be read or holds no usable authority.
    pub fn from_resolved(resolved: ResolvedSettings) -> Result<Self, ConfigError> {
        let settings = &resolved.settings;
        let transport = Transport::new(
            &resolved.endpoint,
            resolved.ca_bundle.as_ref(),
            settings.connect_timeout,
            settings.attempt_timeout,
            settings.max_body_bytes,
        )?;
        // A 1% guard on the interval: the way to the server adds jitter, and a server that counts
        // arrivals strictly would otherwise see some calls a millisecond too close.
        let pacer = Pacer::new(settings.rate / 1.01, settings.burst);
        Ok(Self {
            inner: Arc::new(Inner {
                transport,
                pacer: Mutex::new(pacer),
                rng: Mutex::new(fastrand::Rng::new()),
                signer: Mutex::new(Signer::new()),
                credentials: tokio::sync::Mutex::new(None),
                stop: tokio::sync::watch::Sender::new(false),
                succeeded: AtomicBool::new(false),
                resolved,
            }),
        })
    }

    /// Returns the region requests are signed for.
    pub fn region(&self) -> &Region {
        &self.inner.resolved.region
    }

    /// Returns where requests go.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.resolved.endpoint
    }

    /// Returns the zone CNAME values point into.
    pub fn dkim_zone(&self) -> &DkimZone {
        &self.inner.resolved.dkim_zone
    }

    /// Stops this client and all its clones from sending, for good, as on Ctrl-C.
    ///
    /// A call waiting for its pacing slot or for a retry's backoff returns
    /// [`ClientError::Stopped`] at once, and no call sends another attempt; an attempt already
    /// sent runs to its end, and its result is returned as usual.
    pub fn stop_sending(&self) {
        self.inner.stop.send_replace(true);
    }

    /// Returns `true` once [`SesClient::stop_sending`] has been called.
    pub fn is_sending_stopped(&self) -> bool {
        *self.inner.stop.borrow()
    }

    /// Returns `true` once a call of this client (or of a clone) has succeeded, which shows that
    /// its endpoint is reachable.
    pub fn has_succeeded(&self) -> bool {
        self.inner.succeeded.load(Ordering::Relaxed)
    }

    /// Returns the number of attempts a call may make.
    pub fn max_attempts(&self) -> u32 {
        self.inner.resolved.retry.max_attempts().max(1)
    }

    /// Asks SES for a domain's DKIM tokens and returns the records to publish.
    ///
    /// # Errors
    ///
    /// Returns the last attempt's error once retries are spent or the error is not retryable.
    pub async fn verify(&self, domain: &Domain) -> Result<DkimRecordSet, ClientError> {
        self.verify_with(domain, CallOptions::default()).await
    }

    /// Like [`SesClient::verify`], with per-call options.
    ///
    /// # Errors
    ///
    /// As [`SesClient::verify`]; with a deadline, also [`ClientError::DeadlineExceeded`] when a
    /// retry would start too late or the deadline cuts an attempt short.
    pub async fn verify_with(
        &self,
        domain: &Domain,
        options: CallOptions,
    ) -> Result<DkimRecordSet, ClientError> {
        // A warn-level span, so that retry warnings carry the domain and region at the default
        // log level.
        let span = warn_span!(
            "verify_domain_dkim",
            domain = %domain,
            region = %self.region(),
            request_id = field::Empty,
        );
        async {
            let build = |endpoint: &Endpoint| request::verify_domain_dkim(endpoint, domain);
            let (output, header_id) = self.call(options, &build, parse_verify_domain_dkim).await?;
            let request_id = output.request_id.or_else(|| owned_text(header_id.as_ref()));
            if let Some(id) = &request_id {
                tracing::Span::current().record("request_id", id.as_str());
            }
            // At info, so that `-v` shows each call with its domain, region and request id.
            info!(tokens = output.tokens.len(), "verified");
            Ok(DkimRecordSet::new(
                domain.clone(),
                self.region().clone(),
                self.dkim_zone(),
                output.tokens,
                request_id,
            )?)
        }
        .instrument(span)
        .await
    }

    /// Asks SES what it thinks of the DKIM records of any number of domains, with one
    /// `GetIdentityDkimAttributes` call per 100 domains at this client's pace.
    ///
    /// The entries come in SES's order; a domain SES does not know may have no entry.
    ///
    /// # Errors
    ///
    /// Returns the first call's error once its retries are spent.
    pub async fn dkim_attributes(
        &self,
        domains: &[Domain],
    ) -> Result<DkimAttributesOutput, ClientError> {
        let mut all = DkimAttributesOutput::default();
        for chunk in domains.chunks(status::MAX_IDENTITIES_PER_REQUEST) {
            let span = warn_span!(
                "get_identity_dkim_attributes",
                identities = chunk.len(),
                region = %self.region(),
                request_id = field::Empty,
            );
            let build =
                |endpoint: &Endpoint| status::get_identity_dkim_attributes_request(endpoint, chunk);
            let (output, header_id) = self
                .call(
                    CallOptions::default(),
                    &build,
                    parse_get_identity_dkim_attributes,
                )
                .instrument(span.clone())
                .await?;
            let request_id = output.request_id.or_else(|| owned_text(header_id.as_ref()));
            // Recorded once, at the end: a span field recorded again shows once per value.
            if let Some(id) = &request_id {
                span.record("request_id", id.as_str());
            }
            span.in_scope(|| info!(entries = output.attributes.len(), "answered"));
            all.attributes.extend(output.attributes);
            all.request_id = request_id;
        }
        Ok(all)
    }

    /// Loads credentials from the chain now (they are kept for later calls), so that a missing
    /// or broken configuration shows before the first call.
    ///
    /// # Errors
    ///
    /// Returns [`ClientError::Credentials`] when no provider of the chain has credentials.
    pub async fn load_credentials(&self) -> Result<(), ClientError> {
        self.credentials().await.map(drop)
    }

    /// Builds and signs the request a call would send, without sending it.
    ///
    /// # Errors
    ///
    /// Fails when credentials cannot be loaded or the request cannot be signed.
    pub async fn signed_request(
        &self,
        domain: &Domain,
    ) -> Result<http::Request<Vec<u8>>, ClientError> {
        let credentials = self.credentials().await?;
        let mut request = request::verify_domain_dkim(self.endpoint(), domain);
        self.sign(&mut request, &credentials)?;
        Ok(request)
    }

    /// Runs one Query-protocol call with pacing, signing, retries and the deadline.
    ///
    /// `build` makes the unsigned request for an attempt and `parse` reads its answer; a service
    /// error gets the `x-amzn-RequestId` header's id when its body has none. Returns the parsed
    /// output and the header's request id.
    async fn call<T>(
        &self,
        options: CallOptions,
        build: &(dyn Fn(&Endpoint) -> http::Request<Vec<u8>> + Sync),
        parse: fn(u16, &[u8]) -> Result<T, ResponseError>,
    ) -> Result<(T, Option<HeaderValue>), ClientError> {
        let max_attempts = self.max_attempts();
        let mut attempt = 1;
        let mut previous: Option<ClientError> = None;
        loop {
            let error = match self.attempt(options, build, parse).await {
                Ok(answer) => {
                    self.inner.succeeded.store(true, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err(AttemptError::Failed(error)) => error,
                Err(AttemptError::Stopped) => {
                    debug!(attempt, "not sent: sending was stopped");
                    return Err(ClientError::Stopped(previous.map(Box::new)));
                }
                Err(AttemptError::NoSlot { wait }) => {
                    // Nothing was sent: the failure that made this a retry is the one to report.
                    let cause = previous.unwrap_or_else(|| ClientError::Timeout {
                        endpoint: self.endpoint().to_string(),
                        after: wait,
                    });
                    return Err(ClientError::DeadlineExceeded(Box::new(cause)));
                }
            };
            let kind = error.kind();
            let past_deadline = matches!(error, ClientError::DeadlineExceeded(_));
            if !kind.is_retryable() || attempt >= max_attempts || past_deadline {
                debug!(
                    attempt,
                    kind = %kind,
                    request_id = error.request_id(),
                    "giving up: {error}"
                );
                return Err(error);
            }
            // Stopped while this attempt was in flight: no retry to announce.
            if self.is_sending_stopped() {
                debug!(attempt, "not retried: sending was stopped");
                return Err(ClientError::Stopped(Some(Box::new(error))));
            }
            let delay = self.backoff(attempt);
            if options
                .deadline
                .is_some_and(|deadline| Instant::now() + delay >= deadline)
            {
                return Err(ClientError::DeadlineExceeded(Box::new(error)));
            }
            // The attempt and its request id are fields of the event, not of the span: a span
            // field recorded again shows once per value in the text logs.
            warn!(
                attempt,
                kind = %kind,
                request_id = error.request_id(),
                delay_ms = delay.as_millis() as u64,
                "retrying: {error}"
            );
            tokio::select! {
                biased;
                () = self.sending_stopped() => {
                    debug!(attempt, "not retried: sending was stopped");
                    return Err(ClientError::Stopped(Some(Box::new(error))));
                }
                () = tokio::time::sleep(delay) => {}
            }
            previous = Some(error);
            attempt += 1;
        }
    }

    async fn attempt<T>(
        &self,
        options: CallOptions,
        build: &(dyn Fn(&Endpoint) -> http::Request<Vec<u8>> + Sync),
        parse: fn(u16, &[u8]) -> Result<T, ResponseError>,
    ) -> Result<(T, Option<HeaderValue>), AttemptError> {
        let credentials = self.credentials().await?;
        self.pace(options).await?;
        // The last moment to give up: from here on the attempt is sent.
        if self.is_sending_stopped() {
            return Err(AttemptError::Stopped);
        }

        let mut request = build(self.endpoint());
        // Sign after pacing, so that a long wait never sends a stale signature.
        self.sign(&mut request, &credentials)
            .map_err(ClientError::from)?;
        request
            .headers_mut()
            .insert(http::header::USER_AGENT, USER_AGENT);

        // Sent now: the next call keeps a whole interval from this one, even if this one left late.
        self.inner
            .pacer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sent(Instant::now().into_std());
        let answer = self.inner.transport.send(request, options.deadline).await?;
        match parse(answer.status, &answer.body) {
            Ok(output) => Ok((output, answer.request_id)),
            Err(error) => {
                let error = error.or_request_id(answer.header_request_id());
                Err(ClientError::Response(error).into())
            }
        }
    }

    /// Signs a request for now with this client's signer, which keeps the day's signing key.
    fn sign(
        &self,
        request: &mut http::Request<Vec<u8>>,
        credentials: &Credentials,
    ) -> Result<(), SigningError> {
        self.inner
            .signer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sign(request, credentials, self.region(), SystemTime::now())
    }

    /// Waits for this client's next slot at the configured rate.
    ///
    /// A slot that would come after the deadline is not taken, so that it stays free for the
    /// client's other calls. [`SesClient::stop_sending`] ends the wait at once.
    async fn pace(&self, options: CallOptions) -> Result<(), AttemptError> {
        let now = Instant::now();
        let wait = {
            let mut pacer = self
                .inner
                .pacer
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut trial = pacer.clone();
            let wait = trial.reserve(now.into_std());
            if options
                .deadline
                .is_some_and(|deadline| now + wait >= deadline)
            {
                return Err(AttemptError::NoSlot { wait });
            }
            *pacer = trial;
            wait
        };
        if !wait.is_zero() {
            debug!(wait_ms = wait.as_millis() as u64, "pacing");
            tokio::select! {
                biased;
                () = self.sending_stopped() => return Err(AttemptError::Stopped),
                () = tokio::time::sleep(wait) => {}
            }
        }
        Ok(())
    }

    /// Completes once [`SesClient::stop_sending`] has been called.
    async fn sending_stopped(&self) {
        let mut stop = self.inner.stop.subscribe();
        // The sender lives as long as the client, so waiting cannot fail; if it did, there would
        // be no stop to wait for.
        if stop.wait_for(|stopped| *stopped).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let retry = &self.inner.resolved.retry;
        let random = self
            .inner
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .f64();
        backoff_delay(
            attempt,
            retry.initial_backoff(),
            retry.max_backoff(),
            random,
        )
    }

    /// Returns cached credentials, loading them from the chain when missing or about to expire.
    async fn credentials(&self) -> Result<Arc<Credentials>, ClientError> {
        let mut cache = self.inner.credentials.lock().await;
        if let Some(cached) = cache.as_ref() {
            let fresh = cached
                .expires
                .is_none_or(|expires| SystemTime::now() + CREDENTIALS_REFRESH_MARGIN < expires);
            if fresh {
                return Ok(Arc::clone(&cached.credentials));
            }
        }

        let loaded = self
            .inner
            .resolved
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| ClientError::Credentials(one_line(&e)))?;
        let credentials = Arc::new(Credentials::new(
            loaded.access_key_id(),
            loaded.secret_access_key(),
            loaded.session_token().map(str::to_owned),
        ));
        *cache = Some(CachedCredentials {
            credentials: Arc::clone(&credentials),
            expires: loaded.expiry(),
        });
        Ok(credentials)
    }
}

impl std::fmt::Debug for SesClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SesClient")
            .field("region", self.region())
            .field("endpoint", self.endpoint())
            .field("dkim_zone", self.dkim_zone())
            .finish_non_exhaustive()
    }
}

/// Why one attempt produced no records.
enum AttemptError {
    /// The next slot at the configured rate comes after the deadline; nothing was sent.
    NoSlot {
        /// How long the slot was away.
        wait: Duration,
    },
    /// The attempt failed.
    Failed(ClientError),
    /// [`SesClient::stop_sending`] was called before the attempt was sent; nothing was sent.
    Stopped,
}

impl From<ClientError> for AttemptError {
    fn from(error: ClientError) -> Self {
        Self::Failed(error)
    }
}

/// Returns a header value as owned text, when it is text.
fn owned_text(value: Option<&HeaderValue>) -> Option<String> {
    header_text(value).map(str::to_owned)
}
