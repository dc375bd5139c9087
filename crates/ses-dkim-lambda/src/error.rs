//! Why a domain got no records, as a stable `errorType` and an HTTP status.

use std::fmt;

use lambda_runtime::Diagnostic;
use serde::Serialize;
use ses_dkim_client::{ClientError, ConfigError};
use ses_dkim_core::{DomainError, ErrorKind, Region, RegionError};

use crate::event::EventError;

/// The stable category of a failure: the `errorType` of a Lambda error and of a JSON error body.
///
/// The strings are part of the function's interface; callers may branch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum ErrorType {
    /// The event or body is not one the function accepts.
    InvalidEvent,
    /// The domain is not a valid domain name; nothing was sent.
    InvalidDomain,
    /// The region is malformed or not one SES runs in; nothing was sent.
    InvalidRegion,
    /// An HTTP request with a method other than `POST`.
    MethodNotAllowed,
    /// SES throttled the call and the retries did not get through in time.
    Throttling,
    /// A passing fault: 5xx, timeouts, connection resets, or no time left for a retry.
    Transient,
    /// The function's clock differs too much from AWS's.
    ClockSkew,
    /// SES refused the function's credentials.
    Credentials,
    /// The function's role may not call `ses:VerifyDomainDkim`.
    AccessDenied,
    /// SES refused the request as invalid.
    RequestRejected,
    /// Any other answer from SES or on the way there.
    UpstreamError,
    /// The function is not configured so that it can make the call.
    Configuration,
}

impl ErrorType {
    /// Returns the stable name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::InvalidEvent => "InvalidEvent",
            Self::InvalidDomain => "InvalidDomain",
            Self::InvalidRegion => "InvalidRegion",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::Throttling => "Throttling",
            Self::Transient => "Transient",
            Self::ClockSkew => "ClockSkew",
            Self::Credentials => "Credentials",
            Self::AccessDenied => "AccessDenied",
            Self::RequestRejected => "RequestRejected",
            Self::UpstreamError => "UpstreamError",
            Self::Configuration => "Configuration",
        }
    }

    /// Returns the HTTP status that answers a request failing this way.
    pub(crate) fn http_status(self) -> u16 {
        match self {
            Self::InvalidEvent | Self::InvalidDomain | Self::InvalidRegion => 400,
            Self::MethodNotAllowed => 405,
            Self::Throttling => 429,
            Self::Configuration => 500,
            Self::Transient
            | Self::ClockSkew
            | Self::Credentials
            | Self::AccessDenied
            | Self::RequestRejected
            | Self::UpstreamError => 502,
        }
    }

    /// Returns `true` when the input itself is at fault, so that trying again cannot help.
    pub(crate) fn is_invalid_input(self) -> bool {
        matches!(
            self,
            Self::InvalidEvent | Self::InvalidDomain | Self::InvalidRegion
        )
    }

    fn from_kind(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Throttling => Self::Throttling,
            ErrorKind::Transient => Self::Transient,
            ErrorKind::ClockSkew => Self::ClockSkew,
            ErrorKind::Credentials => Self::Credentials,
            ErrorKind::Permission => Self::AccessDenied,
            ErrorKind::InvalidInput => Self::RequestRejected,
            _ => Self::UpstreamError,
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure as the caller sees it: the JSON error body of an HTTP answer, an entry of a list
/// answer, or (without the domain and request id) a Lambda error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Failure {
    /// The stable category.
    pub(crate) error_type: ErrorType,
    /// What went wrong, on one line; it names the SES request id when there is one.
    pub(crate) message: String,
    /// The domain, as given, when the failure concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) domain: Option<String>,
    /// The SES request id of the failed call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) request_id: Option<String>,
    /// The region the call was for, when it was known; for the log only.
    #[serde(skip)]
    pub(crate) region: Option<String>,
    /// The deadline stopped the work: the domain may be asked for again later.
    #[serde(skip)]
    pub(crate) out_of_time: bool,
}

impl Failure {
    /// Creates a failure without a request id.
    pub(crate) fn new(error_type: ErrorType, message: impl fmt::Display) -> Self {
        Self {
            error_type,
            message: message.to_string(),
            domain: None,
            request_id: None,
            region: None,
            out_of_time: false,
        }
    }

    /// Names the domain the failure concerns.
    pub(crate) fn for_domain(mut self, domain: &str) -> Self {
        self.domain = Some(domain.to_owned());
        self
    }

    /// Names the region the call was for.
    pub(crate) fn in_region(mut self, region: &Region) -> Self {
        self.region = Some(region.to_string());
        self
    }

    /// Returns the failure as the body of an HTTP answer.
    pub(crate) fn to_json(&self) -> String {
        // Strings and an enum always serialise.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl From<Failure> for Diagnostic {
    fn from(failure: Failure) -> Self {
        Diagnostic {
            error_type: failure.error_type.as_str().to_owned(),
            error_message: failure.message,
        }
    }
}

impl From<EventError> for Failure {
    fn from(error: EventError) -> Self {
        Self::new(ErrorType::InvalidEvent, error)
    }
}

impl From<DomainError> for Failure {
    fn from(error: DomainError) -> Self {
        Self::new(ErrorType::InvalidDomain, error)
    }
}

impl From<RegionError> for Failure {
    fn from(error: RegionError) -> Self {
        Self::new(ErrorType::InvalidRegion, error)
    }
}

impl From<ConfigError> for Failure {
    fn from(error: ConfigError) -> Self {
        // A region SES does not run in shows up as a client that cannot be configured for it.
        let error_type = match error {
            ConfigError::Region(_) | ConfigError::Endpoint(_) | ConfigError::Zone(_) => {
                ErrorType::InvalidRegion
            }
            _ => ErrorType::Configuration,
        };
        Self::new(error_type, error)
    }
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        Self {
            error_type: ErrorType::from_kind(error.kind()),
            request_id: error.request_id().map(str::to_owned),
            out_of_time: matches!(error, ClientError::DeadlineExceeded(_)),
            message: error.to_string(),
            domain: None,
            region: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_a_stable_name_and_status() {
        let table = [
            (ErrorType::InvalidEvent, "InvalidEvent", 400),
            (ErrorType::InvalidDomain, "InvalidDomain", 400),
            (ErrorType::InvalidRegion, "InvalidRegion", 400),
            (ErrorType::MethodNotAllowed, "MethodNotAllowed", 405),
            (ErrorType::Throttling, "Throttling", 429),
            (ErrorType::Transient, "Transient", 502),
            (ErrorType::ClockSkew, "ClockSkew", 502),
            (ErrorType::Credentials, "Credentials", 502),
            (ErrorType::AccessDenied, "AccessDenied", 502),
            (ErrorType::RequestRejected, "RequestRejected", 502),
            (ErrorType::UpstreamError, "UpstreamError", 502),
            (ErrorType::Configuration, "Configuration", 500),
        ];
        for (error_type, name, status) in table {
            assert_eq!(error_type.as_str(), name);
            assert_eq!(
                serde_json::to_value(error_type).unwrap(),
                serde_json::json!(name)
            );
            assert_eq!(error_type.http_status(), status, "{name}");
        }
    }

    #[test]
    fn a_failure_becomes_a_lambda_error() {
        let failure = Failure::new(ErrorType::Throttling, "rate exceeded").for_domain("x.example");
        let diagnostic = Diagnostic::from(failure.clone());
        assert_eq!(diagnostic.error_type, "Throttling");
        assert_eq!(diagnostic.error_message, "rate exceeded");
        assert_eq!(
            failure.to_json(),
            r#"{"error_type":"Throttling","message":"rate exceeded","domain":"x.example"}"#
        );
    }
}
