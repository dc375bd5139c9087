//! The events the function accepts and the answers it gives, told apart by their shape.
//!
//! Only the fields the function reads are declared; the rest of each AWS event is ignored, so the
//! structs stay small and a new field in an AWS event never breaks them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event, classified by its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// A direct invocation naming one domain or a list of them.
    Direct(DirectRequest),
    /// A batch of SQS messages, each naming a domain.
    Sqs(SqsEvent),
    /// A function URL or API Gateway HTTP API (payload format 2.0) request.
    Http(HttpRequest),
}

impl Event {
    /// Classifies an event by its top-level keys and reads it.
    ///
    /// `Records` makes it an SQS event, `requestContext` an HTTP request, and `domain`,
    /// `domains` or `region` (or their SES spellings `Domain`, ...) a direct invocation.
    ///
    /// # Errors
    ///
    /// Fails when the event is not a JSON object, has none of those keys, has `Records` of
    /// another service (S3, SNS, ...), does not have the fields its shape needs, or is a list
    /// of more than [`MAX_LIST_LEN`] domains.
    pub(crate) fn from_value(value: Value) -> Result<Self, EventError> {
        let Value::Object(object) = &value else {
            return Err(EventError::NotAnObject(json_type(&value)));
        };
        if let Some(records) = object.get("Records") {
            if let Some(source) = foreign_source(records) {
                return Err(EventError::NotSqsRecords(source));
            }
            return serde_json::from_value(value)
                .map(Event::Sqs)
                .map_err(|e| EventError::Invalid("SQS event", e.to_string()));
        }
        if let Some(context) = object.get("requestContext") {
            if context.get("http").is_none() {
                return Err(EventError::UnsupportedHttpPayload);
            }
            return serde_json::from_value(value)
                .map(Event::Http)
                .map_err(|e| EventError::Invalid("HTTP request", e.to_string()));
        }
        let names = ["domain", "Domain", "domains", "Domains", "region", "Region"];
        if names.iter().any(|name| object.contains_key(*name)) {
            return DirectRequest::from_value(value).map(Event::Direct);
        }

        let mut keys: Vec<&str> = object.keys().map(String::as_str).take(8).collect();
        keys.sort_unstable();
        Err(EventError::UnknownShape(keys.join(", ")))
    }

    /// Returns a short name for logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Direct(DirectRequest {
                target: Target::One(_),
                ..
            }) => "direct",
            Self::Direct(DirectRequest {
                target: Target::List(_),
                ..
            }) => "list",
            Self::Sqs(_) => "sqs",
            Self::Http(_) => "http",
        }
    }
}

/// The most domains one list event may hold.
///
/// Lambda gives an invocation at most 900 seconds and SES allows one `VerifyDomainDkim` call a
/// second, so no invocation can work through more than 900 domains; a longer list is refused
/// before any call rather than left mostly in `not_done`.
pub(crate) const MAX_LIST_LEN: usize = 900;

/// Returns the event source of `Records` that are not SQS messages, such as `aws:s3`.
///
/// A record counts as foreign when it names an event source other than `aws:sqs` (SQS spells
/// the key `eventSource`, SNS `EventSource`), or names none and has neither a `messageId` nor a
/// `body`. Anything else is left to the SQS reader, whose errors name the missing field.
fn foreign_source(records: &Value) -> Option<String> {
    let first = records.as_array()?.first()?.as_object()?;
    let source = first
        .get("eventSource")
        .or_else(|| first.get("EventSource"))
        .and_then(Value::as_str);
    match source {
        Some("aws:sqs") => None,
        Some(other) => Some(other.to_owned()),
        None if first.contains_key("messageId") || first.contains_key("body") => None,
        None => Some("unknown".to_owned()),
    }
}

/// A direct invocation, or the body of an SQS message or HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirectRequest {
    /// The domain or domains, as given.
    pub(crate) target: Target,
    /// The region, as given; `None` means the function's own.
    pub(crate) region: Option<String>,
}

/// What a direct request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// One domain.
    One(String),
    /// A list of domains, worked through in order.
    List(Vec<String>),
}

impl DirectRequest {
    /// Reads `{"domain": ..., "region": ...}` (also spelt `Domain`, `Region`) or
    /// `{"domains": [...], "region": ...}`.
    ///
    /// # Errors
    ///
    /// Fails when a field has the wrong type, or when neither or both of `domain` and `domains`
    /// are given.
    pub(crate) fn from_value(value: Value) -> Result<Self, EventError> {
        let fields: DirectFields = serde_json::from_value(value)
            .map_err(|e| EventError::Invalid("request", e.to_string()))?;
        Self::from_fields(fields)
    }

    /// Reads a request from JSON text, as an SQS message or an HTTP request carries it.
    ///
    /// # Errors
    ///
    /// As [`DirectRequest::from_value`], and when the text is not JSON.
    pub(crate) fn from_slice(json: &[u8]) -> Result<Self, EventError> {
        let fields: DirectFields =
            serde_json::from_slice(json).map_err(|e| EventError::NotJson(e.to_string()))?;
        Self::from_fields(fields)
    }

    fn from_fields(fields: DirectFields) -> Result<Self, EventError> {
        let target = match (fields.domain, fields.domains) {
            (Some(domain), None) => Target::One(domain),
            (None, Some(domains)) if domains.len() > MAX_LIST_LEN => {
                return Err(EventError::ListTooLong(domains.len()));
            }
            (None, Some(domains)) => Target::List(domains),
            (Some(_), Some(_)) => return Err(EventError::DomainAndDomains),
            (None, None) => return Err(EventError::MissingDomain),
        };
        Ok(Self {
            target,
            region: fields.region,
        })
    }
}

/// The fields of a direct request as they come.
///
/// Other fields are refused, so that a misspelt `region` never silently becomes the function's
/// own region, which would give records for the wrong region.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectFields {
    #[serde(default, alias = "Domain")]
    domain: Option<String>,
    #[serde(default, alias = "Domains")]
    domains: Option<Vec<String>>,
    #[serde(default, alias = "Region")]
    region: Option<String>,
}

/// An SQS event: the messages of one batch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct SqsEvent {
    /// The messages, in the order SQS delivered them.
    #[serde(rename = "Records")]
    pub(crate) records: Vec<SqsMessage>,
}

/// One SQS message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct SqsMessage {
    /// The id a batch item failure names.
    #[serde(rename = "messageId")]
    pub(crate) message_id: String,
    /// A domain, or a JSON object like a direct request for one domain.
    pub(crate) body: String,
}

impl SqsMessage {
    /// Reads the message body: JSON when it starts with `{` or `"`, else a bare domain.
    ///
    /// # Errors
    ///
    /// Fails when JSON is malformed, or asks for a list rather than one domain.
    pub(crate) fn request(&self) -> Result<(String, Option<String>), EventError> {
        let body = self.body.trim();
        if body.starts_with('"') {
            let domain: String =
                serde_json::from_str(body).map_err(|e| EventError::NotJson(e.to_string()))?;
            return Ok((domain, None));
        }
        if !body.starts_with('{') {
            return Ok((body.to_owned(), None));
        }
        match DirectRequest::from_slice(body.as_bytes())? {
            DirectRequest {
                target: Target::One(domain),
                region,
            } => Ok((domain, region)),
            DirectRequest {
                target: Target::List(_),
                ..
            } => Err(EventError::ListNotAllowed("an SQS message")),
        }
    }
}

/// The answer to an SQS event: the messages to deliver again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct SqsBatchResponse {
    /// The messages that failed; the others are deleted from the queue.
    #[serde(rename = "batchItemFailures")]
    pub(crate) batch_item_failures: Vec<BatchItemFailure>,
}

/// One message to deliver again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct BatchItemFailure {
    /// The message's id.
    #[serde(rename = "itemIdentifier")]
    pub(crate) item_identifier: String,
}

/// A function URL or API Gateway HTTP API request (payload format 2.0).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HttpRequest {
    /// Where the method is.
    pub(crate) request_context: HttpRequestContext,
    /// The body, as text or base64.
    #[serde(default)]
    pub(crate) body: Option<String>,
    /// Whether the body is base64.
    #[serde(default)]
    pub(crate) is_base64_encoded: bool,
}

/// The request context of an HTTP request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct HttpRequestContext {
    /// The HTTP part of the context.
    pub(crate) http: HttpDescription,
}

/// The HTTP method of a request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct HttpDescription {
    /// `POST`, `GET`, ...
    pub(crate) method: String,
}

/// The answer to an HTTP request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HttpResponse {
    /// The HTTP status.
    pub(crate) status_code: u16,
    /// The response headers.
    pub(crate) headers: BTreeMap<&'static str, &'static str>,
    /// The JSON body.
    pub(crate) body: String,
    /// Always `false`: the body is text.
    pub(crate) is_base64_encoded: bool,
    /// Always empty: the function sets no cookies. Lambda treats the field as optional, but
    /// cargo-lambda's emulator refuses a function URL answer without it.
    pub(crate) cookies: Vec<String>,
}

impl HttpResponse {
    /// Builds a JSON response.
    pub(crate) fn json(status_code: u16, body: String) -> Self {
        Self {
            status_code,
            headers: BTreeMap::from([("content-type", "application/json")]),
            body,
            is_base64_encoded: false,
            cookies: Vec::new(),
        }
    }

    /// Adds a header, replacing one of the same name.
    pub(crate) fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.insert(name, value);
        self
    }
}

/// An event that is not one the function accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EventError {
    /// The event is not a JSON object.
    #[error(
        "the event is a JSON {0}, not an object; send {{\"domain\": \"example.com\"}}, an SQS \
         event or an HTTP request"
    )]
    NotAnObject(&'static str),
    /// The object has none of the keys that tell the shapes apart.
    #[error(
        "unknown event shape (keys: {0}); send {{\"domain\": ...}}, {{\"domains\": [...]}}, an \
         SQS event or an HTTP request"
    )]
    UnknownShape(String),
    /// An API Gateway REST (payload format 1.0) request.
    #[error("HTTP payload format 1.0 is not supported; use a function URL or payload format 2.0")]
    UnsupportedHttpPayload,
    /// The shape was recognised, but a field is missing or has the wrong type.
    #[error("invalid {0}: {1}")]
    Invalid(&'static str, String),
    /// A body is not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// Neither `domain` nor `domains` was given.
    #[error("missing field `domain`")]
    MissingDomain,
    /// Both `domain` and `domains` were given.
    #[error("give either `domain` or `domains`, not both")]
    DomainAndDomains,
    /// `Records` that are not SQS messages (an S3 or SNS event, say).
    #[error(
        "the event's `Records` are not SQS messages (event source `{0}`); the function accepts \
         direct ({{\"domain\": ...}}), list ({{\"domains\": [...]}}), SQS and HTTP events"
    )]
    NotSqsRecords(String),
    /// A list longer than one invocation can work through.
    #[error(
        "the list has {0} domains, more than the {MAX_LIST_LEN} one invocation can take (Lambda's \
         900 s at SES's one call a second); send more through the SQS queue or with the ses-dkim \
         batch binary"
    )]
    ListTooLong(usize),
    /// A list where only one domain may be asked for.
    #[error("{0} names one domain; send lists as a direct invocation")]
    ListNotAllowed(&'static str),
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn one(domain: &str, region: Option<&str>) -> Event {
        Event::Direct(DirectRequest {
            target: Target::One(domain.into()),
            region: region.map(str::to_owned),
        })
    }

    #[test]
    fn direct_events_in_both_spellings() {
        let lower = json!({"domain": "example.com", "region": "af-south-1"});
        assert_eq!(
            Event::from_value(lower),
            Ok(one("example.com", Some("af-south-1")))
        );
        let ses = json!({"Domain": "example.com", "Region": "af-south-1"});
        assert_eq!(
            Event::from_value(ses),
            Ok(one("example.com", Some("af-south-1")))
        );
        let list = Event::from_value(json!({"domains": ["a.example", "b.example"]})).unwrap();
        assert_eq!(list.kind(), "list");
    }

    #[test]
    fn shapes_are_told_apart() {
        let sqs = json!({"Records": [{"messageId": "m1", "body": "example.com", "x": 1}]});
        assert_eq!(Event::from_value(sqs).unwrap().kind(), "sqs");
        let http = json!({
            "version": "2.0",
            "requestContext": {"http": {"method": "POST", "path": "/"}},
            "body": "{}",
            "isBase64Encoded": false
        });
        assert_eq!(Event::from_value(http).unwrap().kind(), "http");
    }

    #[test]
    fn bad_events_say_what_is_wrong() {
        let cases = [
            (json!([1, 2]), "a JSON array, not an object"),
            (json!("example.com"), "a JSON string, not an object"),
            (
                json!({"foo": 1, "bar": 2}),
                "unknown event shape (keys: bar, foo)",
            ),
            (
                json!({"domain": 42}),
                "invalid request: invalid type: integer",
            ),
            (
                json!({"domain": "a", "domains": []}),
                "either `domain` or `domains`",
            ),
            (
                json!({"Records": [{"body": "x"}]}),
                "missing field `messageId`",
            ),
            (
                json!({"requestContext": {"httpMethod": "POST"}}),
                "payload format 1.0",
            ),
        ];
        for (event, expected) in cases {
            let error = Event::from_value(event.clone()).unwrap_err().to_string();
            assert!(error.contains(expected), "{event}: {error}");
        }
    }

    #[test]
    fn sqs_bodies_are_domains_or_json() {
        let message = |body: &str| SqsMessage {
            message_id: "m".into(),
            body: body.into(),
        };
        assert_eq!(
            message(" example.com\n").request(),
            Ok(("example.com".into(), None))
        );
        assert_eq!(
            message(r#"{"Domain": "example.com", "Region": "eu-west-1"}"#).request(),
            Ok(("example.com".into(), Some("eu-west-1".into())))
        );
        assert_eq!(
            message(r#""example.com""#).request(),
            Ok(("example.com".into(), None))
        );
        assert!(matches!(
            message("{not json").request(),
            Err(EventError::NotJson(_))
        ));
        assert!(matches!(
            message(r#"{"domains": ["a.example"]}"#).request(),
            Err(EventError::ListNotAllowed(_))
        ));
        assert_eq!(
            message(r#"{"region": "eu-west-1"}"#).request(),
            Err(EventError::MissingDomain)
        );
    }

    #[test]
    fn answers_use_the_aws_field_names() {
        let batch = SqsBatchResponse {
            batch_item_failures: vec![BatchItemFailure {
                item_identifier: "m1".into(),
            }],
        };
        assert_eq!(
            serde_json::to_value(batch).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
        );
        let http = HttpResponse::json(429, "{}".into());
        assert_eq!(
            serde_json::to_value(http).unwrap(),
            json!({
                "statusCode": 429,
                "headers": {"content-type": "application/json"},
                "body": "{}",
                "isBase64Encoded": false,
                "cookies": []
            })
        );
    }

    #[test]
    fn records_of_other_services_are_named_as_such() {
        let s3 = json!({"Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}
        }]});
        let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "x"}}]});
        let other = json!({"Records": [{"kinesis": {"data": "eA=="}}]});
        for (event, source) in [(s3, "aws:s3"), (sns, "aws:sns"), (other, "unknown")] {
            let error = Event::from_value(event).unwrap_err();
            assert_eq!(error, EventError::NotSqsRecords(source.into()));
            let message = error.to_string();
            assert!(
                message.contains(source)
                    && message.contains("direct")
                    && message.contains("list")
                    && message.contains("SQS and HTTP events"),
                "{message}"
            );
            assert!(!message.contains("messageId"), "{message}");
        }
        // An SQS record missing its id is still read as SQS, and says what is missing.
        let error =
            Event::from_value(json!({"Records": [{"eventSource": "aws:sqs", "body": "x"}]}));
        assert!(
            error
                .unwrap_err()
                .to_string()
                .contains("missing field `messageId`")
        );
    }

    #[test]
    fn a_list_longer_than_an_invocation_can_take_is_refused() {
        let list = |n: usize| json!({"domains": vec!["a.example"; n]});
        assert_eq!(
            Event::from_value(list(MAX_LIST_LEN)).unwrap().kind(),
            "list"
        );
        let error = Event::from_value(list(MAX_LIST_LEN + 1)).unwrap_err();
        assert_eq!(error, EventError::ListTooLong(901));
        let message = error.to_string();
        for part in ["901 domains", "900", "SQS", "batch"] {
            assert!(message.contains(part), "{part}: {message}");
        }
    }
}
