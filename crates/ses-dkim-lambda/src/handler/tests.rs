//! Handler tests with hand-built events against a local stub of SES.
//!
//! Compiled only with the tests: `handler.rs` declares this module under `#[cfg(test)]`.

use std::sync::{Arc, Mutex};

use lambda_runtime::Diagnostic;
use serde_json::{Value, json};
use ses_dkim_client::Settings;
use ses_dkim_core::Credentials;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

const T1: &str = "abcdefghijklmnopqrstuvwxyz234567";
const T2: &str = "bcdefghijklmnopqrstuvwxyz234567a";
const T3: &str = "cdefghijklmnopqrstuvwxyz234567ab";

/// `OK(T1,T2,T3)` with a request id.
fn ok(request_id: &str) -> (u16, String) {
    let members: String = [T1, T2, T3]
        .iter()
        .map(|t| format!("<member>{t}</member>"))
        .collect();
    let body = format!(
        "<VerifyDomainDkimResponse xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\">\
         <VerifyDomainDkimResult><DkimTokens>{members}</DkimTokens></VerifyDomainDkimResult>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>\
         </VerifyDomainDkimResponse>"
    );
    (200, body)
}

/// `ERR(status,code,message)` with a request id.
fn err(status: u16, code: &str, message: &str, request_id: &str) -> (u16, String) {
    let body = format!(
        "<ErrorResponse xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\"><Error>\
         <Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>{request_id}</RequestId></ErrorResponse>"
    );
    (status, body)
}

/// One request the stub received.
#[derive(Debug, Clone)]
struct Seen {
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A one-answer-per-connection HTTP server on loopback that plays back canned answers (the
/// last one repeats) and records what it received.
struct Stub {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Stub {
    async fn start(answers: Vec<(u16, String)>) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut answers = answers.into_iter().peekable();
            let mut last = (500, String::new());
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let Some(request) = read_request(&mut stream).await else {
                    continue;
                };
                log.lock().unwrap().push(request);
                if let Some(next) = answers.next() {
                    last = next;
                }
                let (status, body) = &last;
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        Stub { port, seen, task }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while raw.len() < head_end + 4 + length {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&raw[head_end + 4..]).into_owned();
    Some(Seen { headers, body })
}

/// Settings for tests: fixed fake credentials, one attempt, a fast pace.
fn settings(endpoint: Option<String>, token: Option<&str>) -> Settings {
    Settings {
        endpoint_url: endpoint,
        credentials: Some(Credentials::new(
            "AKIDLAMBDATESTFAKE00",
            "lambda-test-fake-secret",
            token.map(str::to_owned),
        )),
        max_attempts: Some(1),
        rate: 100.0,
        burst: 10,
        ..Settings::default()
    }
}

async fn app_with(settings: Settings, default_region: Option<&str>) -> App {
    let config = Config {
        default_region: default_region.map(|r| Region::parse(r).unwrap()),
        settings,
        answer_margin: Duration::from_millis(500),
        warnings: Vec::new(),
    };
    App::new(config).await.unwrap()
}

async fn app(stub: &Stub) -> App {
    app_with(settings(Some(stub.endpoint()), None), Some("us-east-1")).await
}

/// An invocation with `seconds` left before its deadline.
fn invocation(payload: Value, seconds: f64) -> LambdaEvent<Value> {
    let deadline = SystemTime::now() + Duration::from_secs_f64(seconds);
    let mut context = Context::default();
    context.request_id = "lambda-request-1".into();
    context.deadline = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    LambdaEvent::new(payload, context)
}

async fn call(app: &App, payload: Value) -> Result<Value, Failure> {
    handle(app, invocation(payload, 30.0))
        .await
        .map(|answer| serde_json::to_value(answer).unwrap())
}

fn sqs_event(bodies: &[(&str, &str)]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id,
                "receiptHandle": "handle",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ses-dkim",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

fn http_event(method: &str, body: Option<&str>, base64: bool) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "requestId": "http-request-1",
            "http": {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"}
        },
        "body": body,
        "isBase64Encoded": base64
    })
}

/// The status and parsed JSON body of an HTTP answer.
fn http_answer(answer: &Value) -> (u64, Value) {
    assert_eq!(answer["headers"]["content-type"], "application/json");
    assert_eq!(answer["isBase64Encoded"], false);
    let body = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    (answer["statusCode"].as_u64().unwrap(), body)
}

fn values(answer: &Value) -> Vec<String> {
    answer["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_direct_event_gets_the_records() {
    let stub = Stub::start(vec![ok("ses-req-1")]).await;
    let app = app(&stub).await;

    let answer = call(&app, json!({"domain": "Example.COM."})).await.unwrap();
    assert_eq!(answer["domain"], "example.com");
    assert_eq!(answer["region"], "us-east-1");
    assert_eq!(answer["request_id"], "ses-req-1");
    assert_eq!(answer["tokens"], json!([T1, T2, T3]));
    assert_eq!(
        answer["records"][0],
        json!({
            "name": format!("{T1}._domainkey.example.com."),
            "host": format!("{T1}._domainkey"),
            "type": "CNAME",
            "value": format!("{T1}.dkim.amazonses.com."),
        })
    );
    assert_eq!(
        stub.seen()[0].body,
        "Action=VerifyDomainDkim&Version=2010-12-01&Domain=example.com"
    );
}

#[tokio::test]
async fn the_ses_spellings_are_accepted() {
    let stub = Stub::start(vec![ok("ses-req-1")]).await;
    let app = app(&stub).await;
    let answer = call(
        &app,
        json!({"Domain": "example.org", "Region": "eu-west-1"}),
    )
    .await
    .unwrap();
    assert_eq!(answer["domain"], "example.org");
    assert_eq!(answer["region"], "eu-west-1");
}

#[tokio::test]
async fn bad_events_get_a_clear_error_and_no_call() {
    let stub = Stub::start(vec![ok("never")]).await;
    let app = app(&stub).await;
    let cases = [
        (
            json!("example.com"),
            "InvalidEvent",
            "a JSON string, not an object",
        ),
        (json!(null), "InvalidEvent", "a JSON null"),
        (
            json!({"region": "eu-west-1"}),
            "InvalidEvent",
            "missing field `domain`",
        ),
        (
            json!({"domain": null}),
            "InvalidEvent",
            "missing field `domain`",
        ),
        (json!({"domain": ["a"]}), "InvalidEvent", "invalid type"),
        (json!({"hello": "world"}), "InvalidEvent", "keys: hello"),
        (
            json!({"domain": "bad domain"}),
            "InvalidDomain",
            "invalid domain",
        ),
        (
            json!({"domain": "example.com.."}),
            "InvalidDomain",
            "invalid domain",
        ),
        (json!({"domain": ""}), "InvalidDomain", "invalid domain"),
        (
            json!({"domain": "example.com", "region": "EU WEST"}),
            "InvalidRegion",
            "EU WEST",
        ),
        (
            json!({"domain": "example.com", "region": "mars-north-1"}),
            "InvalidRegion",
            "mars",
        ),
        (
            json!({"Records": "nope"}),
            "InvalidEvent",
            "invalid SQS event",
        ),
        (
            json!({"Records": [{"eventSource": "aws:s3", "s3": {"object": {"key": "k"}}}]}),
            "InvalidEvent",
            "not SQS messages (event source `aws:s3`); the function accepts direct",
        ),
        (
            json!({"domains": vec!["a.example"; 901]}),
            "InvalidEvent",
            "the list has 901 domains",
        ),
    ];
    for (event, error_type, message) in cases {
        let failure = call(&app, event.clone()).await.unwrap_err();
        let diagnostic = Diagnostic::from(failure);
        assert_eq!(diagnostic.error_type, error_type, "{event}");
        assert!(
            diagnostic.error_message.contains(message),
            "{event}: {}",
            diagnostic.error_message
        );
    }
    assert!(stub.seen().is_empty(), "no call for a bad event");
}

#[tokio::test]
async fn upstream_errors_keep_their_type_and_request_id() {
    let stub = Stub::start(vec![err(
        403,
        "AccessDenied",
        "not authorized",
        "ses-denied-1",
    )])
    .await;
    let app = app(&stub).await;
    let failure = call(&app, json!({"domain": "example.com"}))
        .await
        .unwrap_err();
    assert_eq!(failure.error_type, ErrorType::AccessDenied);
    assert_eq!(failure.request_id.as_deref(), Some("ses-denied-1"));
    let diagnostic = Diagnostic::from(failure);
    assert_eq!(diagnostic.error_type, "AccessDenied");
    assert!(
        diagnostic.error_message.contains("ses-denied-1"),
        "{}",
        diagnostic.error_message
    );
}

#[tokio::test]
async fn a_list_is_worked_through_with_failures_in_place() {
    let stub = Stub::start(vec![
        ok("ses-req-1"),
        err(400, "Throttling", "Rate exceeded", "ses-throttled-1"),
        ok("ses-req-3"),
    ])
    .await;
    let app = app(&stub).await;
    let event = json!({"domains": ["a.example", "not a domain", "b.example", "c.example"]});

    let answer = call(&app, event).await.unwrap();
    let verified = verified_domains(&answer);
    assert_eq!(verified, ["a.example", "c.example"]);
    assert_eq!(answer["failed"][0]["domain"], "not a domain");
    assert_eq!(answer["failed"][0]["error_type"], "InvalidDomain");
    assert_eq!(answer["failed"][1]["domain"], "b.example");
    assert_eq!(answer["failed"][1]["error_type"], "Throttling");
    assert_eq!(answer["failed"][1]["request_id"], "ses-throttled-1");
    assert_eq!(answer["not_done"], json!([]));
    assert_eq!(stub.seen().len(), 3, "no call for the invalid domain");
}

/// Returns the domains of a list answer's record sets, in order.
fn verified_domains(answer: &Value) -> Vec<&str> {
    answer["verified"]
        .as_array()
        .unwrap()
        .iter()
        .map(|set| set["domain"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_list_asks_for_each_domain_once() {
    let stub = Stub::start(vec![ok("ses-req-1"), ok("ses-req-2")]).await;
    let app = app(&stub).await;
    let event = json!({"domains": [
        "a.example", "A.EXAMPLE.", "not a domain", "b.example", "a.example", "not a domain"
    ]});

    let answer = call(&app, event).await.unwrap();
    let verified = verified_domains(&answer);
    assert_eq!(verified, ["a.example", "b.example"], "{answer}");
    assert_eq!(answer["duplicates"], json!(["A.EXAMPLE.", "a.example"]));
    // What is not a domain cannot be compared; each entry fails in place.
    assert_eq!(answer["failed"].as_array().unwrap().len(), 2, "{answer}");
    let sent: Vec<String> = stub.seen().iter().map(|s| s.body.clone()).collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[0].ends_with("Domain=a.example"), "{sent:?}");
    assert!(sent[1].ends_with("Domain=b.example"), "{sent:?}");
}

#[tokio::test]
async fn a_list_stops_at_the_deadline_and_returns_the_rest() {
    let stub = Stub::start(vec![ok("ses-req-1")]).await;
    // One call a second: the second domain's slot comes after the deadline.
    let slow = Settings {
        rate: 1.0,
        burst: 1,
        ..settings(Some(stub.endpoint()), None)
    };
    let app = app_with(slow, Some("us-east-1")).await;
    let event = json!({"domains": ["a.example", "b.example", "c.example"]});

    let started = Instant::now();
    let answer = handle(&app, invocation(event, 1.2)).await.unwrap();
    let answer = serde_json::to_value(answer).unwrap();
    assert_eq!(answer["verified"].as_array().unwrap().len(), 1);
    assert_eq!(answer["failed"], json!([]));
    assert_eq!(answer["not_done"], json!(["b.example", "c.example"]));
    assert_eq!(answer["duplicates"], json!([]));
    assert_eq!(stub.seen().len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // With no time left at all, nothing is sent.
    let answer = handle(&app, invocation(json!({"domains": ["d.example"]}), 0.2))
        .await
        .unwrap();
    let answer = serde_json::to_value(answer).unwrap();
    assert_eq!(answer["not_done"], json!(["d.example"]));
    assert_eq!(stub.seen().len(), 1);
}

#[tokio::test]
async fn sqs_drops_invalid_messages_and_returns_failed_ones() {
    let stub = Stub::start(vec![
        ok("ses-req-1"),
        err(400, "Throttling", "Rate exceeded", "ses-throttled-1"),
        (503, "<html>unavailable</html>".to_owned()),
        err(403, "AccessDenied", "not authorized", "ses-denied-1"),
        ok("ses-req-5"),
    ])
    .await;
    let app = app(&stub).await;
    let event = sqs_event(&[
        ("m-good", "example.com"),
        ("m-invalid", "not a domain"),
        ("m-throttled", r#"{"domain": "throttled.example"}"#),
        ("m-not-json", "{\"domain\": "),
        (
            "m-transient",
            r#"{"Domain": "flaky.example", "Region": "eu-west-1"}"#,
        ),
        ("m-denied", "denied.example"),
        (
            "m-bad-region",
            r#"{"domain": "example.net", "region": "nowhere"}"#,
        ),
        ("m-good-2", "\"example.org\""),
    ]);

    let answer = call(&app, event).await.unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [
            {"itemIdentifier": "m-throttled"},
            {"itemIdentifier": "m-transient"},
            {"itemIdentifier": "m-denied"},
        ]})
    );
    let sent: Vec<String> = stub.seen().iter().map(|s| s.body.clone()).collect();
    assert_eq!(sent.len(), 5, "{sent:?}");
    assert!(sent[4].contains("Domain=example.org"), "{sent:?}");
}

#[tokio::test]
async fn sqs_messages_past_the_deadline_go_back_to_the_queue() {
    let stub = Stub::start(vec![ok("ses-req-1")]).await;
    let app = app(&stub).await;
    let event = sqs_event(&[("m1", "a.example"), ("m2", "not a domain")]);
    let answer = handle(&app, invocation(event, 0.1)).await.unwrap();
    assert_eq!(
        serde_json::to_value(answer).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "m1"}]}),
        "the invalid message is still dropped"
    );
    assert!(stub.seen().is_empty());
}

#[tokio::test]
async fn http_post_gets_200_with_the_records() {
    let stub = Stub::start(vec![ok("ses-req-1")]).await;
    let app = app(&stub).await;

    let plain = http_event("POST", Some(r#"{"domain": "example.com"}"#), false);
    let (status, body) = http_answer(&call(&app, plain).await.unwrap());
    assert_eq!(status, 200);
    assert_eq!(body["domain"], "example.com");
    assert_eq!(body["request_id"], "ses-req-1");
    assert_eq!(body["records"].as_array().unwrap().len(), 3);

    let encoded = base64::engine::general_purpose::STANDARD
        .encode(r#"{"domain": "example.org", "region": "af-south-1"}"#);
    let event = http_event("POST", Some(&encoded), true);
    let (status, body) = http_answer(&call(&app, event).await.unwrap());
    assert_eq!(status, 200);
    assert_eq!(body["domain"], "example.org");
    assert_eq!(body["region"], "af-south-1");
}

#[tokio::test]
async fn http_errors_have_a_status_and_a_json_body() {
    let stub = Stub::start(vec![
        err(400, "Throttling", "Rate exceeded", "ses-throttled-1"),
        err(403, "AccessDenied", "not authorized", "ses-denied-1"),
    ])
    .await;
    let app = app(&stub).await;
    let cases = [
        (
            http_event("POST", Some(r#"{"domain": "a b"}"#), false),
            400,
            "InvalidDomain",
        ),
        (
            http_event("POST", Some("not json"), false),
            400,
            "InvalidEvent",
        ),
        (
            http_event("POST", Some(r#"{"region": "eu-west-1"}"#), false),
            400,
            "InvalidEvent",
        ),
        (http_event("POST", None, false), 400, "InvalidEvent"),
        (http_event("POST", Some("%%%"), true), 400, "InvalidEvent"),
        (
            http_event("POST", Some(r#"{"domains": ["a.example"]}"#), false),
            400,
            "InvalidEvent",
        ),
        (http_event("GET", None, false), 405, "MethodNotAllowed"),
        (
            http_event("POST", Some(r#"{"domain": "a.example"}"#), false),
            429,
            "Throttling",
        ),
        (
            http_event("POST", Some(r#"{"domain": "b.example"}"#), false),
            502,
            "AccessDenied",
        ),
    ];
    for (event, expected_status, error_type) in cases {
        let (status, body) = http_answer(&call(&app, event.clone()).await.unwrap());
        assert_eq!(status, expected_status, "{event}: {body}");
        assert_eq!(body["error_type"], error_type, "{event}: {body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    let seen = stub.seen();
    assert_eq!(seen.len(), 2, "only the last two reach SES");

    // The stub repeats its last answer: the error body names the domain and SES's request id.
    let again = http_event("POST", Some(r#"{"domain": "a.example"}"#), false);
    let (_, body) = http_answer(&call(&app, again).await.unwrap());
    assert_eq!(body["request_id"], "ses-denied-1", "{body}");
    assert_eq!(body["domain"], "a.example");
}

#[tokio::test]
async fn a_405_names_the_allowed_method() {
    let stub = Stub::start(vec![ok("never")]).await;
    let app = app(&stub).await;
    for method in ["GET", "PUT", "DELETE"] {
        let answer = call(&app, http_event(method, None, false)).await.unwrap();
        assert_eq!(answer["statusCode"], 405, "{answer}");
        assert_eq!(answer["headers"]["allow"], "POST", "{answer}");
    }
    let post = http_event("POST", Some(r#"{"domain": "a b"}"#), false);
    let answer = call(&app, post).await.unwrap();
    assert_eq!(answer["statusCode"], 400, "{answer}");
    assert!(answer["headers"].get("allow").is_none(), "{answer}");
    assert!(stub.seen().is_empty());
}

/// A function whose own region is missing from the DKIM-zone table still answers events that
/// name a known region; those that name none fail as `InvalidRegion`, not at start-up.
#[tokio::test]
async fn a_function_in_an_unknown_region_answers_events_naming_a_known_one() {
    let stub = Stub::start(vec![ok("ses-req-1")]).await;
    let app = app_with(settings(Some(stub.endpoint()), None), Some("ap-east-1")).await;
    assert!(app.clients.lock().await.is_empty());

    let answer = call(
        &app,
        json!({"domain": "example.com", "region": "eu-west-1"}),
    )
    .await
    .unwrap();
    assert_eq!(answer["region"], "eu-west-1");

    let failure = call(&app, json!({"domain": "example.com"}))
        .await
        .unwrap_err();
    assert_eq!(failure.error_type, ErrorType::InvalidRegion, "{failure}");
    for part in ["`ap-east-1`", "AWS_REGION", "name a region in the event"] {
        assert!(
            failure.message.contains(part),
            "{part}: {}",
            failure.message
        );
    }
    // In a queue, such a message can never succeed: it is dropped, not returned.
    let answer = call(&app, sqs_event(&[("m1", "example.com")]))
        .await
        .unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(stub.seen().len(), 1);
}

/// The function has no DKIM-zone override, so a region error offers none: one short line
/// about the region, without the CLI's advice or the list of known regions.
#[tokio::test]
async fn region_errors_offer_only_what_the_caller_can_do() {
    let stub = Stub::start(vec![ok("never")]).await;
    let app = app(&stub).await;
    for (region, expected) in [
        (
            "moon-east-1",
            "`moon-east-1` is not a region SES DKIM is known to run in",
        ),
        (
            "eusc-de-east-1",
            "no source states the DKIM zone of region `eusc-de-east-1`",
        ),
    ] {
        let failure = call(&app, json!({"domain": "example.com", "region": region}))
            .await
            .unwrap_err();
        assert_eq!(failure.error_type, ErrorType::InvalidRegion, "{failure}");
        let message = &failure.message;
        assert!(message.contains(expected), "{message}");
        assert!(message.len() < 120 && !message.contains('\n'), "{message}");
        for advice in ["pass", "explicitly", "dkim.", "us-west-2"] {
            assert!(!message.contains(advice), "{advice}: {message}");
        }
    }
    assert!(stub.seen().is_empty());
}

/// F15: the same event twice gets the same records twice, with no waiting on DNS.
#[tokio::test]
async fn f15_lambda_reinvocation() {
    let stub = Stub::start(vec![ok("ses-req-1"), ok("ses-req-2")]).await;
    let app = app(&stub).await;
    let event = json!({"domain": "example.com", "region": "af-south-1"});

    let started = Instant::now();
    let first = call(&app, event.clone()).await.unwrap();
    let second = call(&app, event).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(first["records"], second["records"]);
    assert_eq!(first["tokens"], second["tokens"]);
    assert_eq!(
        (&first["request_id"], &second["request_id"]),
        (&json!("ses-req-1"), &json!("ses-req-2"))
    );
    assert_eq!(
        stub.seen().len(),
        2,
        "each invocation asks SES; nothing else is waited for"
    );
}

/// F16: the event's region decides the endpoint, the signing scope and the CNAME values; with
/// none, the function's own region (`AWS_REGION`) does.
#[tokio::test]
async fn f16_lambda_uses_the_event_region_else_its_own() {
    // Without an endpoint override: the real regional endpoint and scope.
    let real = app_with(settings(None, None), Some("us-east-1")).await;
    let cape_town = Region::parse("af-south-1").unwrap();
    let client = real.client(&cape_town).await.unwrap();
    assert_eq!(
        client.endpoint().to_string(),
        "https://email.af-south-1.amazonaws.com"
    );
    let request = client
        .signed_request(&Domain::parse("example.com").unwrap())
        .await
        .unwrap();
    assert_eq!(request.headers()["host"], "email.af-south-1.amazonaws.com");
    let authorization = request.headers()["authorization"].to_str().unwrap();
    assert!(
        authorization.contains("/af-south-1/ses/aws4_request"),
        "{authorization}"
    );
    let own = real
        .client(&Region::parse("us-east-1").unwrap())
        .await
        .unwrap();
    assert_eq!(
        own.endpoint().to_string(),
        "https://email.us-east-1.amazonaws.com"
    );

    // Through the handler, with the endpoint overridden to the stub.
    let stub = Stub::start(vec![ok("ses-req-1"), ok("ses-req-2")]).await;
    let app = app(&stub).await;
    let asked = call(
        &app,
        json!({"domain": "example.com", "region": "af-south-1"}),
    )
    .await
    .unwrap();
    assert_eq!(asked["region"], "af-south-1");
    assert!(
        values(&asked)
            .iter()
            .all(|v| v.ends_with(".dkim.af-south-1.amazonses.com.")),
        "{asked}"
    );
    let own = call(&app, json!({"domain": "example.com"})).await.unwrap();
    assert_eq!(own["region"], "us-east-1");
    assert_eq!(values(&own)[0], format!("{T1}.dkim.amazonses.com."));

    let scopes: Vec<String> = stub
        .seen()
        .iter()
        .map(|s| s.header("authorization").unwrap().to_owned())
        .collect();
    assert!(
        scopes[0].contains("/af-south-1/ses/aws4_request"),
        "{}",
        scopes[0]
    );
    assert!(
        scopes[1].contains("/us-east-1/ses/aws4_request"),
        "{}",
        scopes[1]
    );

    // One client per region, kept between invocations.
    assert_eq!(app.clients.lock().await.len(), 2);
}

/// F17: the session token is sent and signed only when it is set and not empty.
#[tokio::test]
async fn f17_session_token_handling() {
    for (token, sent) in [
        (Some("fake-session-token"), true),
        (Some(""), false),
        (None, false),
    ] {
        let stub = Stub::start(vec![ok("ses-req-1")]).await;
        let app = app_with(settings(Some(stub.endpoint()), token), Some("us-east-1")).await;
        call(&app, json!({"domain": "example.com"})).await.unwrap();

        let seen = &stub.seen()[0];
        let authorization = seen.header("authorization").unwrap();
        assert_eq!(
            seen.header("x-amz-security-token").is_some(),
            sent,
            "{token:?}"
        );
        assert_eq!(
            authorization.contains("x-amz-security-token"),
            sent,
            "{authorization}"
        );
        if sent {
            assert_eq!(seen.header("x-amz-security-token"), token);
        }
    }
}

#[tokio::test]
async fn an_event_without_a_region_needs_aws_region() {
    let stub = Stub::start(vec![ok("ses-req-1")]).await;
    let app = app_with(settings(Some(stub.endpoint()), None), None).await;
    let failure = call(&app, json!({"domain": "example.com"}))
        .await
        .unwrap_err();
    assert_eq!(failure.error_type, ErrorType::Configuration);
    assert!(
        failure.message.contains("AWS_REGION"),
        "{}",
        failure.message
    );

    // In a queue, that is no reason to drop the message.
    let answer = call(&app, sqs_event(&[("m1", "example.com")]))
        .await
        .unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
    );
}

#[test]
fn the_time_left_comes_from_the_deadline() {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let in_five_seconds = 1_800_000_005_000;
    assert_eq!(time_left(in_five_seconds, now), Duration::from_secs(5));
    assert_eq!(
        time_left(1_799_999_999_000, now),
        Duration::ZERO,
        "already past"
    );
    assert_eq!(
        time_left(1_800_003_600_000, now),
        MAX_TIMEOUT,
        "never more than Lambda allows"
    );
    // cargo-lambda's emulator sends its timeout, 600000 ms, rather than a time.
    assert_eq!(time_left(600_000, now), Duration::from_secs(600));
    assert_eq!(time_left(0, now), Duration::ZERO);
}
