//! What can go wrong with a response: a service error SES reported, or a body that is not a
//! response at all, and how each is classified for retrying.

use std::fmt::{self, Write as _};

use crate::domain::Printable;

/// How an error should be handled; only [`ErrorKind::Throttling`] and [`ErrorKind::Transient`]
/// are worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The account or region exceeded its request rate; retry after a backoff.
    Throttling,
    /// A passing fault on the service side or the way there (5xx, timeouts, resets).
    Transient,
    /// The local clock is too far from the service's.
    ClockSkew,
    /// The credentials are wrong, unknown, expired or of the wrong kind.
    Credentials,
    /// The credentials are valid but not allowed to make the call.
    Permission,
    /// The request itself was refused as invalid.
    InvalidInput,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Returns `true` for the kinds a retry can fix.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttling | Self::Transient)
    }

    /// Returns a stable lower-case name, suitable for logs and machine-readable output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttling => "throttling",
            Self::Transient => "transient",
            Self::ClockSkew => "clock_skew",
            Self::Credentials => "credentials",
            Self::Permission => "permission",
            Self::InvalidInput => "invalid_input",
            Self::Other => "other",
        }
    }

    /// Classifies a bare HTTP status, for bodies that carry no error code.
    pub fn from_status(status: u16) -> Self {
        match status {
            429 => Self::Throttling,
            500 | 502 | 503 | 504 => Self::Transient,
            _ => Self::Other,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The failure of one call, as read from the response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// SES answered with an `ErrorResponse` (boxed: it is much larger than the success value).
    #[error(transparent)]
    Service(Box<ServiceError>),
    /// The body is not the expected response.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

impl From<ServiceError> for ResponseError {
    fn from(error: ServiceError) -> Self {
        Self::Service(Box::new(error))
    }
}

impl ResponseError {
    /// Returns how the error should be handled.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Service(e) => e.kind(),
            Self::Parse(e) => e.kind(),
        }
    }

    /// Returns the HTTP status of the response.
    pub fn status(&self) -> u16 {
        match self {
            Self::Service(e) => e.status,
            Self::Parse(e) => e.status,
        }
    }

    /// Returns the request id SES gave: the body's, or the header's that
    /// [`ResponseError::or_request_id`] added.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Service(e) => e.request_id.as_deref(),
            Self::Parse(e) => e.request_id.as_deref(),
        }
    }

    /// Gives the error the request id of the response's `x-amzn-RequestId` header
    /// ([`crate::response::REQUEST_ID_HEADER`]) when its body had none (a body that could not
    /// be read, such as a proxy's HTML page, never has one); a body's id is kept.
    #[must_use]
    pub fn or_request_id(mut self, from_header: Option<&str>) -> Self {
        let slot = match &mut self {
            Self::Service(service) => &mut service.request_id,
            Self::Parse(parse) => &mut parse.request_id,
        };
        if let (None, Some(id)) = (&slot, from_header) {
            *slot = Some(id.to_owned());
        }
        self
    }
}

/// An error SES reported in an `ErrorResponse` body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceError {
    /// The HTTP status of the response.
    pub status: u16,
    /// `Sender` or `Receiver`, when given.
    pub error_type: Option<String>,
    /// The error code, such as `Throttling`; empty when the body had none.
    pub code: String,
    /// The human-readable message; branch on [`ServiceError::code`], never on this.
    pub message: String,
    /// The optional `Detail` element.
    pub detail: Option<String>,
    /// The request id, from the body, or from the `x-amzn-RequestId` header when the caller
    /// passes it to [`ResponseError::or_request_id`].
    pub request_id: Option<String>,
}

impl ServiceError {
    /// Returns how the error should be handled, by its code and then by its HTTP status.
    pub fn kind(&self) -> ErrorKind {
        match self.code.as_str() {
            "Throttling"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "SlowDown"
            | "BandwidthLimitExceeded" => ErrorKind::Throttling,
            "InternalFailure"
            | "InternalError"
            | "InternalServerError"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "RequestTimeout"
            | "RequestTimeoutException" => ErrorKind::Transient,
            "RequestExpired" | "RequestTimeTooSkewed" | "RequestInTheFuture" => {
                ErrorKind::ClockSkew
            }
            "SignatureDoesNotMatch" if self.message.starts_with("Signature expired") => {
                ErrorKind::ClockSkew
            }
            "SignatureDoesNotMatch"
            | "InvalidClientTokenId"
            | "MissingAuthenticationToken"
            | "IncompleteSignature"
            | "UnrecognizedClientException"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidAccessKeyId"
            | "InvalidSignatureException"
            | "MissingAuthenticationTokenException" => ErrorKind::Credentials,
            "AccessDenied" | "AccessDeniedException" | "OptInRequired" | "NotAuthorized" => {
                ErrorKind::Permission
            }
            "InvalidParameterValue"
            | "MissingParameter"
            | "InvalidAction"
            | "InvalidQueryParameter"
            | "MalformedQueryString"
            | "ValidationError"
            | "InvalidParameterCombination"
            | "MissingAction" => ErrorKind::InvalidInput,
            _ => ErrorKind::from_status(self.status),
        }
    }

    /// Returns how far the local clock was ahead of the service's (negative: behind), in
    /// seconds, when the message carries both times.
    ///
    /// SES states them in clock-skew errors such as `Signature expired: 20240101T000000Z is now
    /// earlier than 20240101T001500Z (20240101T003000Z - 15 min.)`: the first time is the
    /// request's, the one in parentheses the server's.
    pub fn clock_skew_seconds(&self) -> Option<i64> {
        if self.kind() != ErrorKind::ClockSkew {
            return None;
        }
        let mut stamps = self
            .message
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter_map(amz_date_seconds);
        let request = stamps.next()?;
        let _limit = stamps.next()?;
        let server = stamps.next()?;
        Some(request - server)
    }

    /// Returns advice for the operator where the code has a well-known cause.
    pub fn hint(&self) -> Option<&'static str> {
        match (self.code.as_str(), self.kind()) {
            (_, ErrorKind::ClockSkew) => Some(
                "the local clock differs from AWS's by more than 5 minutes; synchronise it (NTP)",
            ),
            ("SignatureDoesNotMatch", _) => Some(
                "likely causes: a wrong secret access key, SES SMTP credentials used as API \
                 keys (they differ from the IAM secret), or a region that does not match the \
                 endpoint",
            ),
            ("InvalidClientTokenId" | "UnrecognizedClientException" | "InvalidAccessKeyId", _) => {
                Some(
                    "the access key id or the session token is not recognised: check the key, \
                     that it is not an SES SMTP user name, that it belongs to this partition, \
                     and that a session token goes with its temporary key",
                )
            }
            ("ExpiredToken" | "ExpiredTokenException", _) => Some(
                "the temporary credentials expired; refresh them (for example `aws sso login`)",
            ),
            ("MissingAuthenticationToken" | "MissingAuthenticationTokenException", _) => {
                Some("the request was not signed; check that credentials were found")
            }
            ("OptInRequired", _) => Some("the account is not subscribed to SES in this region"),
            (_, ErrorKind::Permission) => {
                Some("the caller needs the IAM permission `ses:VerifyDomainDkim` in this region")
            }
            _ => None,
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = if self.code.is_empty() {
            "without a code"
        } else {
            &self.code
        };
        write!(f, "SES error {} (HTTP {})", OneLine(code), self.status)?;
        if !self.message.is_empty() {
            write!(f, ": {}", OneLine(self.message.trim()))?;
        }
        match self.clock_skew_seconds() {
            Some(skew) => write!(f, " ({})", SkewHint(skew))?,
            None => {
                if let Some(hint) = self.hint() {
                    write!(f, " ({hint})")?;
                }
            }
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {}]", OneLine(id))?;
        }
        Ok(())
    }
}

impl std::error::Error for ServiceError {}

/// Says how far off the local clock is, in words.
struct SkewHint(i64);

impl fmt::Display for SkewHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let direction = if self.0 >= 0 { "ahead of" } else { "behind" };
        let seconds = self.0.unsigned_abs();
        let amount = if seconds >= 120 {
            format!("{} minutes", seconds / 60)
        } else {
            format!("{seconds} seconds")
        };
        write!(
            f,
            "the local clock is {amount} {direction} AWS's; synchronise it (NTP)"
        )
    }
}

/// Parses a SigV4 timestamp such as `20240101T000000Z` into seconds since the Unix epoch.
fn amz_date_seconds(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes.get(8) != Some(&b'T') || bytes.get(15) != Some(&b'Z') {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> { text.get(range)?.parse().ok() };
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), proleptic Gregorian calendar.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// A body that is not the expected response: not XML, the wrong document, or a success that
/// carries no usable token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseError {
    /// The HTTP status of the response.
    pub status: u16,
    /// The byte offset in the body where the problem was noticed.
    pub offset: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// The start of the body, printable and at most a line long.
    pub snippet: String,
    /// The request id of the response's `x-amzn-RequestId` header, once
    /// [`ResponseError::or_request_id`] added it.
    pub request_id: Option<String>,
}

impl ParseError {
    pub(crate) fn new(status: u16, offset: usize, kind: ParseErrorKind, body: &[u8]) -> Self {
        Self {
            status,
            offset,
            kind,
            snippet: snippet(body),
            request_id: None,
        }
    }

    /// Returns how the error should be handled: only the HTTP status can tell.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::from_status(self.status)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unexpected SES response (HTTP {}) at byte {}: {}; body starts {}",
            self.status,
            self.offset,
            self.kind,
            Printable(&self.snippet)
        )?;
        if let Some(id) = &self.request_id {
            write!(f, " [request id {}]", OneLine(id))?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

/// What made a body unreadable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The body is empty or holds no element.
    Empty,
    /// The body is not UTF-8.
    NotUtf8,
    /// The XML is malformed; the text is quick-xml's description.
    Xml(String),
    /// The body ends before the root element is closed.
    Truncated,
    /// The body declares a DOCTYPE, which is refused so that no entity is ever expanded.
    DocType,
    /// An entity other than the five XML predefines.
    UnknownEntity(String),
    /// Text outside the root element, as in a plain-text or HTML error page.
    TextOutsideRoot,
    /// A second element after the root closed.
    TrailingElement(String),
    /// Elements nested implausibly deep.
    TooDeep,
    /// The root element is not one this call answers with.
    UnexpectedRoot {
        /// The local name found.
        found: String,
        /// The local name expected for success.
        expected: &'static str,
    },
    /// An element inside a list where only `member` elements belong.
    UnexpectedListElement {
        /// The local name found.
        found: String,
        /// The list's element name.
        list: &'static str,
    },
    /// A success response with no DKIM token.
    NoTokens,
    /// A token that is not a DNS label and would corrupt a zone file.
    InvalidToken(String),
    /// A value outside what the field allows, such as `DkimEnabled` other than true or false.
    InvalidValue {
        /// The element's name.
        element: &'static str,
        /// The value found.
        value: String,
    },
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("no XML element in the body"),
            Self::NotUtf8 => f.write_str("the body is not UTF-8"),
            Self::Xml(e) => write!(f, "malformed XML ({})", OneLine(e)),
            Self::Truncated => f.write_str("the body ends inside an element"),
            Self::DocType => f.write_str("a DOCTYPE is not allowed"),
            Self::UnknownEntity(name) => write!(f, "unknown entity `&{}`", Printable(name)),
            Self::TextOutsideRoot => f.write_str("text outside the root element (not XML)"),
            Self::TrailingElement(name) => {
                write!(f, "element {} after the root element", Printable(name))
            }
            Self::TooDeep => f.write_str("elements nested too deep"),
            Self::UnexpectedRoot { found, expected } => write!(
                f,
                "root element {} is neither `{expected}` nor `ErrorResponse`",
                Printable(found)
            ),
            Self::UnexpectedListElement { found, list } => {
                write!(
                    f,
                    "element {} inside `{list}`, expected `member`",
                    Printable(found)
                )
            }
            Self::NoTokens => f.write_str("the response holds no DKIM token"),
            Self::InvalidToken(token) => write!(
                f,
                "DKIM token {} is not a DNS label (letters, digits, hyphens; 1 to 63)",
                Printable(token)
            ),
            Self::InvalidValue { element, value } => {
                write!(f, "`{element}` holds {}", Printable(value))
            }
        }
    }
}

/// Displays text taken from a response on one line: every control character, line breaks
/// included, becomes a space, so that a broken or hostile body cannot split a log line or send
/// escape sequences to a terminal.
struct OneLine<'a>(&'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            f.write_char(if c.is_control() { ' ' } else { c })?;
        }
        Ok(())
    }
}

/// Returns the start of a body as one printable line of at most 120 characters.
fn snippet(body: &[u8]) -> String {
    const LIMIT: usize = 120;
    let text = String::from_utf8_lossy(body.get(..body.len().min(4 * LIMIT)).unwrap_or(body));
    let mut out = String::with_capacity(LIMIT);
    let mut last_space = false;
    for c in text.chars() {
        if out.chars().count() >= LIMIT {
            out.push_str("...");
            break;
        }
        if c.is_whitespace() || c.is_control() {
            if !last_space && !out.is_empty() {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str, message: &str) -> ServiceError {
        ServiceError {
            status,
            error_type: Some("Sender".into()),
            code: code.into(),
            message: message.into(),
            detail: None,
            request_id: Some("rid-1".into()),
        }
    }

    /// The header's request id fills in an error without one, and never replaces the body's; a
    /// body that could not be read (a proxy's HTML page) takes the header's too.
    #[test]
    fn the_header_request_id_fills_in_only_what_the_body_lacks() {
        let mut body_without_id = service(400, "InvalidParameterValue", "bad");
        body_without_id.request_id = None;
        let without = ResponseError::from(body_without_id);
        let filled = without.or_request_id(Some("from-header"));
        assert_eq!(filled.request_id(), Some("from-header"));
        let kept = filled.or_request_id(Some("another"));
        assert_eq!(kept.request_id(), Some("from-header"));
        assert_eq!(kept.clone().or_request_id(None), kept);

        let unparsed = ParseError::new(503, 4, ParseErrorKind::TextOutsideRoot, b"<html>");
        let unparsed = ResponseError::from(unparsed);
        assert_eq!(unparsed.request_id(), None);
        let unparsed = unparsed.or_request_id(Some("from-header"));
        assert_eq!(unparsed.request_id(), Some("from-header"));
        assert!(
            unparsed.to_string().ends_with(" [request id from-header]"),
            "{unparsed}"
        );
    }

    #[test]
    fn protocol_error_table_classification() {
        let table = [
            ("Throttling", 400, ErrorKind::Throttling),
            ("ThrottlingException", 400, ErrorKind::Throttling),
            ("RequestLimitExceeded", 400, ErrorKind::Throttling),
            ("InternalFailure", 500, ErrorKind::Transient),
            ("ServiceUnavailable", 503, ErrorKind::Transient),
            ("RequestTimeout", 400, ErrorKind::Transient),
            ("RequestTimeoutException", 400, ErrorKind::Transient),
            ("InvalidParameterValue", 400, ErrorKind::InvalidInput),
            ("MissingParameter", 400, ErrorKind::InvalidInput),
            ("InvalidAction", 400, ErrorKind::InvalidInput),
            ("InvalidQueryParameter", 400, ErrorKind::InvalidInput),
            ("MalformedQueryString", 404, ErrorKind::InvalidInput),
            ("RequestExpired", 400, ErrorKind::ClockSkew),
            ("SignatureDoesNotMatch", 403, ErrorKind::Credentials),
            ("InvalidClientTokenId", 403, ErrorKind::Credentials),
            ("MissingAuthenticationToken", 403, ErrorKind::Credentials),
            ("AccessDenied", 403, ErrorKind::Permission),
            ("OptInRequired", 403, ErrorKind::Permission),
            ("SomethingNew", 400, ErrorKind::Other),
            ("SomethingNew", 502, ErrorKind::Transient),
        ];
        for (code, status, kind) in table {
            assert_eq!(service(status, code, "m").kind(), kind, "{code}");
            assert_eq!(
                kind.is_retryable(),
                matches!(kind, ErrorKind::Throttling | ErrorKind::Transient)
            );
        }
        let skew = service(
            403,
            "SignatureDoesNotMatch",
            "Signature expired: 20240101T000000Z is now earlier than ...",
        );
        assert_eq!(skew.kind(), ErrorKind::ClockSkew);
    }

    /// F19: SMTP credentials used as API keys: not retried, and the likely causes are named.
    #[test]
    fn f19_smtp_credentials_used_as_api_keys() {
        let err = service(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
        assert!(!err.kind().is_retryable());
        let shown = err.to_string();
        for cause in ["secret access key", "SMTP credentials", "region"] {
            assert!(shown.contains(cause), "{shown}");
        }
        assert!(shown.ends_with("[request id rid-1]"), "{shown}");
    }

    #[test]
    fn clock_skew_says_how_far_off() {
        let expired = service(
            403,
            "SignatureDoesNotMatch",
            "Signature expired: 20240101T000000Z is now earlier than 20240101T001500Z \
             (20240101T003000Z - 15 min.)",
        );
        assert_eq!(expired.kind(), ErrorKind::ClockSkew);
        assert_eq!(expired.clock_skew_seconds(), Some(-1800));
        assert!(
            expired
                .to_string()
                .contains("the local clock is 30 minutes behind AWS's"),
            "{expired}"
        );

        let future = service(
            400,
            "RequestExpired",
            "Signature not yet current: 20240101T010000Z is still later than 20240101T004500Z \
             (20240101T003000Z + 15 min.)",
        );
        assert_eq!(future.clock_skew_seconds(), Some(1800));
        assert!(
            future.to_string().contains("30 minutes ahead of"),
            "{future}"
        );

        let plain = service(400, "RequestExpired", "Request has expired.");
        assert_eq!(plain.clock_skew_seconds(), None);
        assert!(plain.to_string().contains("synchronise it"), "{plain}");
        assert_eq!(amz_date_seconds("19700101T000000Z"), Some(0));
        assert_eq!(amz_date_seconds("20240101T000000Z"), Some(1_704_067_200));
        assert_eq!(amz_date_seconds("2024010T000000ZZ"), None);
    }

    #[test]
    fn service_error_from_a_hostile_body_prints_on_one_line() {
        let mut err = service(400, "Thrott\nling", "line one\r\nline two\u{1b}[2J");
        err.request_id = Some("rid\u{b}\u{b}1".into());
        assert_eq!(
            err.to_string(),
            "SES error Thrott ling (HTTP 400): line one  line two [2J [request id rid  1]"
        );
    }

    #[test]
    fn snippet_is_one_short_printable_line() {
        let body = format!("<html>\n<title>\t500</title>\u{1b}{}", "x".repeat(500));
        let s = snippet(body.as_bytes());
        assert!(s.starts_with("<html> <title> 500</title> x"), "{s}");
        assert!(s.chars().count() <= 123 && !s.contains('\n') && !s.contains('\u{1b}'));
        assert_eq!(snippet(&[0xff, 0xfe, b'a']), "\u{fffd}\u{fffd}a");
    }
}
