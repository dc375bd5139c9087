//! Errors of the client: configuration at start-up, and the failure of one call.

use std::time::Duration;

use ses_dkim_core::{
    EndpointError, ErrorKind, ParseErrorKind, RecordError, RegionError, ResponseError,
    SigningError, ZoneError,
};

use crate::settings::CaBundle;

/// The client could not be configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No region was given and none was found in the environment or the profile.
    #[error(
        "no AWS region: pass --region, set AWS_REGION or AWS_DEFAULT_REGION, or set `region` in \
         the profile"
    )]
    NoRegion,
    /// The named profile is in neither the shared config file nor the credentials file.
    #[error(
        "the AWS profile `{0}` is not defined: check its name, AWS_PROFILE, and the files \
         ~/.aws/config and ~/.aws/credentials (or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE)"
    )]
    UnknownProfile(String),
    /// The region is malformed.
    #[error(transparent)]
    Region(#[from] RegionError),
    /// The endpoint cannot be used.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The DKIM zone for the region cannot be determined or is invalid.
    #[error(transparent)]
    Zone(#[from] ZoneError),
    /// No credentials provider is configured at all.
    #[error("no AWS credentials provider is configured")]
    NoCredentialsProvider,
    /// The TLS stack could not be set up.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// The certificate authorities' bundle cannot be read or holds no usable certificate.
    #[error(
        "cannot use the CA bundle {} named by {}: {reason}",
        bundle.path.display(),
        bundle.named_by
    )]
    CaBundle {
        /// The bundle, and where it was named.
        bundle: CaBundle,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting has a value that cannot work.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// The setting's name: a [`crate::Settings`] field, an environment variable or a
        /// profile key.
        name: &'static str,
        /// Why it cannot work.
        reason: String,
    },
}

/// The failure of one `VerifyDomainDkim` call, after any retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Credentials could not be obtained from the chain.
    #[error(
        "cannot load AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name a \
         profile, or sign in with `aws sso login`): {0}"
    )]
    Credentials(String),
    /// The request could not be signed.
    #[error(transparent)]
    Signing(#[from] SigningError),
    /// The connection to the endpoint could not be opened: the DNS lookup failed, the
    /// connection was refused or unreachable, or the connect timeout expired. Nothing was sent;
    /// it is retried like other transient faults.
    #[error("cannot connect to {endpoint}: {message}")]
    Connect {
        /// The endpoint's URL.
        endpoint: String,
        /// What went wrong, with its causes on one line, and what may help.
        message: String,
    },
    /// The endpoint answered the TLS handshake with something that is not TLS, as a plain-HTTP
    /// server does: every call would fail the same way, so it is not retried.
    #[error("cannot connect to {endpoint}: {message}")]
    NotTls {
        /// The endpoint's URL.
        endpoint: String,
        /// What came back, and what may help.
        message: String,
    },
    /// Talking to the endpoint failed on a connection that was open (a reset, a close before
    /// the answer, a malformed answer).
    #[error("request to {endpoint} failed: {message}")]
    Http {
        /// The endpoint's URL.
        endpoint: String,
        /// What went wrong, with its causes on one line.
        message: String,
    },
    /// The endpoint's TLS certificate was refused: every call would be refused the same way, so
    /// it is not retried.
    #[error("the certificate of {endpoint} is not trusted: {message}")]
    Certificate {
        /// The endpoint's URL.
        endpoint: String,
        /// What rustls refused, with its causes on one line, and what may help.
        message: String,
    },
    /// No complete answer came within the call timeout.
    #[error("no answer from {endpoint} within {}s", after.as_secs_f64())]
    Timeout {
        /// The endpoint's URL.
        endpoint: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The response body was larger than the cap.
    #[error("the response body from {endpoint} exceeds {limit} bytes")]
    BodyTooLarge {
        /// The endpoint's URL.
        endpoint: String,
        /// The cap, in bytes.
        limit: usize,
    },
    /// SES answered with an error, or with a body that is not the expected response.
    #[error(transparent)]
    Response(#[from] ResponseError),
    /// The tokens do not make valid records for this domain.
    #[error(transparent)]
    Records(#[from] RecordError),
    /// The call's deadline came before an answer: it left no time for another attempt or cut
    /// one short. The cause is the last failure, or the timeout that the deadline imposed.
    #[error("gave up before the deadline: {0}")]
    DeadlineExceeded(Box<ClientError>),
    /// [`SesClient::stop_sending`](crate::SesClient::stop_sending) was called while the call
    /// waited for its pacing slot or a retry's backoff: the waiting attempt was not sent. The
    /// cause is the failure of the attempt before, when there was one.
    #[error("{}", match .0 {
        None => "not sent: sending was stopped".to_owned(),
        Some(cause) => format!("not retried, sending was stopped: {cause}"),
    })]
    Stopped(Option<Box<ClientError>>),
}

impl ClientError {
    /// Returns how the error should be handled.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Credentials(_) => ErrorKind::Credentials,
            Self::Signing(_)
            | Self::Records(_)
            | Self::BodyTooLarge { .. }
            | Self::Certificate { .. }
            | Self::NotTls { .. }
            | Self::Stopped(_) => ErrorKind::Other,
            Self::Connect { .. } | Self::Http { .. } | Self::Timeout { .. } => ErrorKind::Transient,
            Self::Response(e) => e.kind(),
            Self::DeadlineExceeded(inner) => inner.kind(),
        }
    }

    /// Returns `true` when the last attempt could not connect to the endpoint at all (see
    /// [`ClientError::Connect`] and [`ClientError::NotTls`]), as opposed to failing on an open
    /// connection.
    pub fn is_connect(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::NotTls { .. } => true,
            Self::DeadlineExceeded(inner) => inner.is_connect(),
            _ => false,
        }
    }

    /// Returns `true` when the endpoint answered with a status that no retry changes and a body
    /// that is no SES document at all: an HTML or plain-text page, another service's XML, an
    /// empty body. A wrong endpoint, or a proxy answering in its place, answers every call that
    /// way. A status that is retried (429, 500, 502, 503 or 504) is not counted, since a passing
    /// outage answers that way too, nor is an SES document with unexpected content.
    pub fn is_foreign_answer(&self) -> bool {
        match self {
            Self::Response(ResponseError::Parse(e)) => {
                let retried = e.kind().is_retryable();
                let not_ses = matches!(
                    e.kind,
                    ParseErrorKind::Empty
                        | ParseErrorKind::NotUtf8
                        | ParseErrorKind::Xml(_)
                        | ParseErrorKind::DocType
                        | ParseErrorKind::UnknownEntity(_)
                        | ParseErrorKind::TextOutsideRoot
                        | ParseErrorKind::TrailingElement(_)
                        | ParseErrorKind::UnexpectedRoot { .. }
                );
                not_ses && !retried
            }
            Self::DeadlineExceeded(inner) => inner.is_foreign_answer(),
            _ => false,
        }
    }

    /// Returns `true` when the call ended because sending was stopped (see
    /// [`ClientError::Stopped`]).
    pub fn is_stopped(&self) -> bool {
        matches!(self, Self::Stopped(_))
    }

    /// Returns `true` when every further call would fail the same way: refused credentials, a
    /// clock too far off, or an endpoint certificate that is not trusted.
    pub fn repeats_on_every_call(&self) -> bool {
        match self {
            Self::Certificate { .. } | Self::NotTls { .. } => true,
            Self::DeadlineExceeded(inner) => inner.repeats_on_every_call(),
            _ => matches!(self.kind(), ErrorKind::Credentials | ErrorKind::ClockSkew),
        }
    }

    /// Returns the SES request id of the failed call, when SES gave one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Response(e) => e.request_id(),
            Self::DeadlineExceeded(inner) => inner.request_id(),
            Self::Stopped(Some(cause)) => cause.request_id(),
            _ => None,
        }
    }
}

/// Joins an error and its causes into one line, skipping a cause whose text is already shown.
pub(crate) fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
