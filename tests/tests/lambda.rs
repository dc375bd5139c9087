//! End-to-end tests of the Lambda function: cargo-lambda's emulator runs `ses-dkim-lambda`
//! against moto, both on 127.0.0.1, and each kind of event goes through the emulator's Lambda
//! API.
//!
//! The function gets temporary credentials from moto's STS through its environment, session
//! token included, and moto checks every signature (F17's first case, end to end). Its endpoint
//! is moto through `AWS_ENDPOINT_URL_SES`, the override a deployed function would not set.

use serde_json::{Value, json};
use ses_dkim_e2e::{HttpResponse, LambdaEmulator, Moto, TestCertificates};

/// The tokens moto returns for every domain, in its order.
const TOKENS: [&str; 3] = [
    "vvjuipp74whm76gqoni7qmwwn4w4qusjiainivf6sf",
    "3frqe7jn4obpuxjpwpolz6ipb3k5nvt2nhjpik2oy",
    "wrqplteh7oodxnad7hsl4mixg2uavzneazxv5sxi2",
];

const FUNCTION: &str = "ses-dkim-lambda";

/// Starts the function in the emulator with moto's session credentials, its region us-east-1,
/// debug logs and a pace fast enough for a test (above SES's limit, so it warns); returns the
/// secret key and the session token too, which its log must never show.
fn start(moto: &Moto) -> (LambdaEmulator, String, String) {
    let (key_id, secret, token) = moto.create_session_credentials().unwrap();
    moto.enable_auth().unwrap();
    let endpoint = moto.endpoint();
    let env = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("AWS_SESSION_TOKEN", token.as_str()),
        ("AWS_ENDPOINT_URL_SES", endpoint.as_str()),
        ("SES_DKIM_RATE", "20"),
        ("SES_DKIM_LOG", "debug"),
    ];
    let lambda = LambdaEmulator::start(FUNCTION, FUNCTION, &env).unwrap();
    (lambda, secret, token)
}

/// Returns the function's JSON log lines so far.
fn log_lines(lambda: &LambdaEmulator) -> Vec<Value> {
    let log = lambda.log().unwrap();
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect()
}

/// Invokes the function and returns the emulator's status and the answer as JSON.
fn invoke(lambda: &LambdaEmulator, payload: &Value) -> (u16, Value) {
    let response: HttpResponse = lambda.invoke(&payload.to_string()).unwrap();
    let answer = serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.body));
    (response.status, answer)
}

/// Checks a record set as the function answers it.
fn assert_records(answer: &Value, domain: &str, region: &str, zone: &str) {
    assert_eq!(answer["domain"], domain, "{answer}");
    assert_eq!(answer["region"], region, "{answer}");
    assert_eq!(answer["tokens"], json!(TOKENS), "{answer}");
    assert!(
        !answer["request_id"].as_str().unwrap_or_default().is_empty(),
        "{answer}"
    );
    let records = answer["records"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    for (record, token) in records.iter().zip(TOKENS) {
        assert_eq!(record["name"], format!("{token}._domainkey.{domain}."));
        assert_eq!(record["type"], "CNAME");
        assert_eq!(record["value"], format!("{token}.{zone}."));
    }
}

#[test]
fn direct_sqs_and_http_events_through_the_emulator() {
    let moto = Moto::start().unwrap();
    let (lambda, secret, token) = start(&moto);

    // A direct invocation for another region than the function's own (F16).
    let (status, answer) = invoke(
        &lambda,
        &json!({"domain": "Example.COM.", "region": "af-south-1"}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_records(
        &answer,
        "example.com",
        "af-south-1",
        "dkim.af-south-1.amazonses.com",
    );

    // An SQS batch with one good and one invalid domain: nothing to deliver again.
    let sqs = json!({"Records": [
        {"messageId": "m-good", "body": "queued.example", "eventSource": "aws:sqs"},
        {"messageId": "m-invalid", "body": "not a domain", "eventSource": "aws:sqs"},
    ]});
    let (status, answer) = invoke(&lambda, &sqs);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"batchItemFailures": []}));

    // The queue gets no records back: they are in one log line per domain, as fields.
    let lines = log_lines(&lambda);
    let verified: Vec<&Value> = lines
        .iter()
        .filter(|line| line["message"] == "verified" && line["message_id"] == "m-good")
        .collect();
    assert_eq!(verified.len(), 1, "{verified:?}");
    let line = verified[0];
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["domain"], "queued.example", "{line}");
    assert_eq!(line["region"], "us-east-1", "{line}");
    assert!(
        !line["ses_request_id"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{line}"
    );
    for (index, token) in TOKENS.iter().enumerate() {
        let n = index + 1;
        assert_eq!(
            line[format!("record_{n}_name")],
            format!("{token}._domainkey.queued.example."),
            "{line}"
        );
        assert_eq!(
            line[format!("record_{n}_value")],
            format!("{token}.dkim.amazonses.com."),
            "{line}"
        );
    }
    let dropped: Vec<&Value> = lines
        .iter()
        .filter(|line| line["message_id"] == "m-invalid")
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0]["level"], "WARN", "{}", dropped[0]);
    assert_eq!(dropped[0]["error_type"], "InvalidDomain", "{}", dropped[0]);
    assert_eq!(dropped[0]["domain"], "not a domain", "{}", dropped[0]);

    // A function URL request, in the function's own region.
    let http = |body: &str| {
        json!({
            "version": "2.0",
            "rawPath": "/",
            "requestContext": {"http": {"method": "POST", "path": "/"}},
            "body": body,
            "isBase64Encoded": false,
        })
    };
    let (status, answer) = invoke(&lambda, &http(r#"{"domain": "example.org"}"#));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_records(&body, "example.org", "us-east-1", "dkim.amazonses.com");

    let (_, answer) = invoke(&lambda, &http(r#"{"domain": "bad domain"}"#));
    assert_eq!(answer["statusCode"], 400, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error_type"], "InvalidDomain", "{body}");

    // Through the emulator's function URL, as `curl -XPOST .../lambda-url/FUNCTION/ -d ...`
    // sends it: a JSON body, and a form-encoded one (curl's default), which arrives as base64.
    for content_type in ["application/json", "application/x-www-form-urlencoded"] {
        let body = Some((content_type, r#"{"domain": "url.example"}"#));
        let response = lambda.request_url("POST", "/", body).unwrap();
        assert_eq!(response.status, 200, "{content_type}: {}", response.body);
        assert_eq!(response.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_str(&response.body).unwrap();
        assert_records(&body, "url.example", "us-east-1", "dkim.amazonses.com");
    }
    let response = lambda.request_url("GET", "/", None).unwrap();
    assert_eq!(response.status, 405, "{}", response.body);
    assert_eq!(
        response.header("allow"),
        Some("POST"),
        "{:?}",
        response.headers
    );
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["error_type"], "MethodNotAllowed", "{body}");

    // Bad direct invocations are Lambda errors with a stable type, and the function goes on.
    let (status, answer) = invoke(&lambda, &json!({"hello": "world"}));
    assert_ne!(status, 200, "{answer}");
    assert_eq!(answer["errorType"], "InvalidEvent", "{answer}");
    // Logged once, readably, with the type as a field: no second line with a Debug dump.
    let log = lambda.log().unwrap();
    let mentions: Vec<&str> = log.lines().filter(|l| l.contains("keys: hello")).collect();
    assert_eq!(mentions.len(), 1, "{mentions:#?}");
    let line: Value = serde_json::from_str(mentions[0]).unwrap();
    assert_eq!(line["level"], "WARN", "{line}");
    assert_eq!(line["error_type"], "InvalidEvent", "{line}");
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .starts_with("rejected: InvalidEvent: unknown event shape"),
        "{line}"
    );
    let not_json = lambda.invoke("this is not JSON").unwrap();
    assert_ne!(not_json.status, 200, "{}", not_json.body);
    let (status, _) = invoke(&lambda, &json!({"Domain": "after.example"}));
    assert_eq!(status, 200);

    // What reached moto: only valid domains, once each (us-east-1's identities).
    moto.disable_auth().unwrap();
    let mut identities = moto.list_identities().unwrap();
    identities.sort();
    assert_eq!(
        identities,
        [
            "after.example",
            "example.org",
            "queued.example",
            "url.example"
        ]
    );

    // JSON logs, with the Lambda request id, domain and region on the invocation's span.
    let log = lambda.log().unwrap();
    let line = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["message"] == "verified" && line.to_string().contains("af-south-1"))
        .unwrap_or_else(|| panic!("no JSON log line for the direct event:\n{log}"));
    let span = line["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|span| span["name"] == "invocation")
        .unwrap();
    assert_eq!(span["domain"], "Example.COM.");
    assert_eq!(span["region"], "af-south-1");
    assert!(!span["request_id"].as_str().unwrap().is_empty());

    // SES_DKIM_RATE=20 works, with one warning at start-up.
    let warnings = log
        .lines()
        .filter(|line| line.contains("\"WARN\"") && line.contains("SES_DKIM_RATE=20"))
        .count();
    assert_eq!(warnings, 1, "{log}");
    // No failure is dumped in Debug form, and no credential is logged, even at debug level.
    assert!(!log.contains("Failure {"), "{log}");
    assert!(!log.contains(&secret), "the secret key leaked: {log}");
    assert!(!log.contains(&token), "the session token leaked: {log}");
}

/// A deployed function behind a TLS-inspecting proxy trusts the proxy's authority through
/// `AWS_CA_BUNDLE`: here moto over HTTPS with a certificate of a throwaway authority.
#[test]
fn the_function_trusts_the_ca_bundle_of_its_environment() {
    let certs = TestCertificates::make().unwrap();
    let moto = Moto::start_tls(&certs).unwrap();
    let endpoint = moto.endpoint();
    let bundle = certs.ca_bundle();
    let env = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDE2ETESTFAKEKEY00"),
        ("AWS_SECRET_ACCESS_KEY", "e2e-test-fake-secret"),
        ("AWS_ENDPOINT_URL_SES", endpoint.as_str()),
        ("AWS_CA_BUNDLE", bundle.to_str().unwrap()),
    ];
    let lambda = LambdaEmulator::start(FUNCTION, FUNCTION, &env).unwrap();

    let (status, answer) = invoke(&lambda, &json!({"domain": "example.com"}));
    assert_eq!(status, 200, "{answer}");
    assert_records(&answer, "example.com", "us-east-1", "dkim.amazonses.com");
}
