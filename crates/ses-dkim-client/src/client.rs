//! The client: one pacer, one connection pool and one credential cache per account and region.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use ses_dkim_core::{
    Credentials, DkimRecordSet, DkimZone, Domain, Endpoint, Pacer, Region, ResponseError,
    backoff_delay, parse_verify_domain_dkim, request,
};
use tokio::time::Instant;
use tracing::{Instrument, debug, field, warn, warn_span};

use crate::error::{ClientError, ConfigError, one_line};
use crate::settings::{ResolvedSettings, Settings};
use crate::transport::Transport;

/// Credentials are refreshed this long before they expire.
const CREDENTIALS_REFRESH_MARGIN: Duration = Duration::from_secs(300);

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
    credentials: tokio::sync::Mutex<Option<CachedCredentials>>,
}

struct CachedCredentials {
    credentials: Credentials,
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
    /// Fails when the TLS stack cannot be set up.
    pub fn from_resolved(resolved: ResolvedSettings) -> Result<Self, ConfigError> {
        let settings = &resolved.settings;
        let transport = Transport::new(
            resolved.endpoint.to_string(),
            settings.connect_timeout,
            settings.attempt_timeout,
            settings.max_body_bytes,
        )?;
        let pacer = Pacer::new(settings.rate, settings.burst);
        Ok(Self {
            inner: Arc::new(Inner {
                transport,
                pacer: Mutex::new(pacer),
                rng: Mutex::new(fastrand::Rng::new()),
                credentials: tokio::sync::Mutex::new(None),
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
        // A warn-level span, so that retry warnings carry the domain and region at the default level.
        let span = warn_span!(
            "verify_domain_dkim",
            domain = %domain,
            region = %self.region(),
            attempt = field::Empty,
            request_id = field::Empty,
        );
        self.retry_loop(domain, options).instrument(span).await
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
        ses_dkim_core::sign(&mut request, &credentials, self.region(), SystemTime::now())?;
        Ok(request)
    }

    async fn retry_loop(
        &self,
        domain: &Domain,
        options: CallOptions,
    ) -> Result<DkimRecordSet, ClientError> {
        let max_attempts = self.max_attempts();
        let mut attempt = 1;
        let mut previous: Option<ClientError> = None;
        loop {
            tracing::Span::current().record("attempt", attempt);
            let error = match self.attempt(domain, options).await {
                Ok(records) => return Ok(records),
                Err(AttemptError::Failed(error)) => error,
                Err(AttemptError::NoSlot { wait }) => {
                    // Nothing was sent: the failure that made this a retry is the one to report.
                    let cause = previous.unwrap_or_else(|| ClientError::Timeout {
                        endpoint: self.endpoint().to_string(),
                        after: wait,
                    });
                    return Err(ClientError::DeadlineExceeded(Box::new(cause)));
                }
            };
            if let Some(id) = error.request_id() {
                tracing::Span::current().record("request_id", id);
            }

            let kind = error.kind();
            let past_deadline = matches!(error, ClientError::DeadlineExceeded(_));
            if !kind.is_retryable() || attempt >= max_attempts || past_deadline {
                debug!(attempt, kind = %kind, "giving up: {error}");
                return Err(error);
            }
            let delay = self.backoff(attempt);
            if options
                .deadline
                .is_some_and(|deadline| Instant::now() + delay >= deadline)
            {
                return Err(ClientError::DeadlineExceeded(Box::new(error)));
            }
            warn!(kind = %kind, delay_ms = delay.as_millis() as u64, "retrying: {error}");
            tokio::time::sleep(delay).await;
            previous = Some(error);
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        domain: &Domain,
        options: CallOptions,
    ) -> Result<DkimRecordSet, AttemptError> {
        let credentials = self.credentials().await?;
        self.pace(options).await?;
        Ok(self.send(domain, &credentials, options).await?)
    }

    /// Signs and sends one request and reads its answer.
    async fn send(
        &self,
        domain: &Domain,
        credentials: &Credentials,
        options: CallOptions,
    ) -> Result<DkimRecordSet, ClientError> {
        let mut request = request::verify_domain_dkim(self.endpoint(), domain);
        // Sign after pacing, so that a long wait never sends a stale signature.
        ses_dkim_core::sign(&mut request, credentials, self.region(), SystemTime::now())?;
        if let Some(ua) = user_agent() {
            request.headers_mut().insert(http::header::USER_AGENT, ua);
        }

        let answer = self.inner.transport.send(request, options.deadline).await?;
        if let Some(id) = &answer.request_id {
            tracing::Span::current().record("request_id", id.as_str());
        }
        let parsed = parse_verify_domain_dkim(answer.status, &answer.body);
        let output = match parsed {
            Ok(output) => output,
            Err(ResponseError::Service(mut service)) => {
                service.request_id = service.request_id.or(answer.request_id);
                return Err(ClientError::Response(ResponseError::Service(service)));
            }
            Err(other) => return Err(other.into()),
        };

        let request_id = output.request_id.or(answer.request_id);
        if let Some(id) = &request_id {
            tracing::Span::current().record("request_id", id.as_str());
        }
        debug!(tokens = output.tokens.len(), "verified");
        Ok(DkimRecordSet::new(
            domain.clone(),
            self.region().clone(),
            self.dkim_zone(),
            output.tokens,
            request_id,
        )?)
    }

    /// Waits for this client's next slot at the configured rate.
    ///
    /// A slot that would come after the deadline is not taken, so that it stays free for the
    /// client's other calls.
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
            tokio::time::sleep(wait).await;
        }
        Ok(())
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
    async fn credentials(&self) -> Result<Credentials, ClientError> {
        let mut cache = self.inner.credentials.lock().await;
        if let Some(cached) = cache.as_ref() {
            let fresh = cached
                .expires
                .is_none_or(|expires| SystemTime::now() + CREDENTIALS_REFRESH_MARGIN < expires);
            if fresh {
                return Ok(cached.credentials.clone());
            }
        }

        let loaded = self
            .inner
            .resolved
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| ClientError::Credentials(one_line(&e)))?;
        let credentials = Credentials::new(
            loaded.access_key_id(),
            loaded.secret_access_key(),
            loaded.session_token().map(str::to_owned),
        );
        *cache = Some(CachedCredentials {
            credentials: credentials.clone(),
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
}

impl From<ClientError> for AttemptError {
    fn from(error: ClientError) -> Self {
        Self::Failed(error)
    }
}

fn user_agent() -> Option<http::HeaderValue> {
    http::HeaderValue::from_str(concat!("ses-dkim/", env!("CARGO_PKG_VERSION"))).ok()
}
