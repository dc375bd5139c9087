//! Proves the harness works: moto starts, answers SES, and checks signatures once auth is on.
//!
//! The SES calls here are signed by botocore (run with the venv's python), independent of the
//! workspace's own client, so they pin down what moto itself does.

use ses_dkim_e2e::{Moto, Run, binary, run, venv_bin};

/// Signs `VerifyDomainDkim` for `example.com` with botocore's SigV4 and sends it over plain HTTP.
///
/// Prints the status code on the first line, the `x-amzn-RequestId` header on the second, then
/// the body.
const SIGNED_VERIFY_DOMAIN_DKIM: &str = r#"
import sys, urllib.error, urllib.request
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

endpoint, key_id, secret, domain = sys.argv[1:5]
body = "Action=VerifyDomainDkim&Version=2010-12-01&Domain=" + domain
request = AWSRequest(
    method="POST",
    url=endpoint + "/",
    data=body,
    headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
)
SigV4Auth(Credentials(key_id, secret), "ses", "us-east-1").add_auth(request)
prepared = request.prepare()
sent = urllib.request.Request(
    prepared.url, data=body.encode(), headers=dict(prepared.headers), method="POST"
)
try:
    response = urllib.request.urlopen(sent, timeout=30)
except urllib.error.HTTPError as error:
    response = error
print(response.status)
print(response.headers.get("x-amzn-RequestId", ""))
print(response.read().decode())
"#;

/// Calls `ListIdentities` through boto3 and prints one identity a line.
const LIST_IDENTITIES: &str = r#"
import sys, boto3
ses = boto3.client(
    "ses",
    endpoint_url=sys.argv[1],
    region_name="us-east-1",
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
)
for identity in ses.list_identities()["Identities"]:
    print(identity)
"#;

struct SesAnswer {
    status: u16,
    request_id: String,
    body: String,
}

fn python(script: &str, args: &[&str]) -> Run {
    let mut all = vec!["-c", script];
    all.extend_from_slice(args);
    let out = run(&venv_bin("python"), &all, &[], None).unwrap();
    assert_eq!(out.code, Some(0), "python failed: {}", out.stderr);
    out
}

fn verify_domain_dkim(moto: &Moto, key_id: &str, secret: &str) -> SesAnswer {
    let endpoint = moto.endpoint();
    let out = python(
        SIGNED_VERIFY_DOMAIN_DKIM,
        &[&endpoint, key_id, secret, "example.com"],
    );
    let mut lines = out.stdout.splitn(3, '\n');
    let status = lines.next().unwrap().parse().unwrap();
    let request_id = lines.next().unwrap().to_owned();
    let body = lines.next().unwrap_or("").trim_end().to_owned();
    SesAnswer {
        status,
        request_id,
        body,
    }
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn moto_starts_and_answers_its_api() {
    let moto = Moto::start().unwrap();

    assert_eq!(moto.endpoint(), format!("http://127.0.0.1:{}", moto.port()));
    let response = moto.http("GET", "/moto-api/", None).unwrap();
    assert_eq!(response.status, 200, "{}", moto.log_tail());
}

#[test]
fn verify_domain_dkim_succeeds_with_any_key_while_auth_is_off() {
    let moto = Moto::start().unwrap();

    let answer = verify_domain_dkim(&moto, "AKIDNOTCHECKED", "not-checked-either");

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains("<VerifyDomainDkimResponse"),
        "{}",
        answer.body
    );
    assert_eq!(count(&answer.body, "<member>"), 3, "{}", answer.body);
    assert!(!answer.request_id.is_empty(), "no x-amzn-RequestId header");
    assert!(
        answer
            .body
            .contains(&format!("<RequestId>{}</RequestId>", answer.request_id)),
        "{}",
        answer.body
    );
}

#[test]
fn auth_accepts_the_created_key_and_rejects_a_wrong_secret() {
    let moto = Moto::start().unwrap();
    let (key_id, secret) = moto.create_access_key().unwrap();
    assert!(key_id.starts_with("AKIA"), "{key_id}");

    moto.enable_auth().unwrap();

    let good = verify_domain_dkim(&moto, &key_id, &secret);
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(count(&good.body, "<member>"), 3, "{}", good.body);

    let bad = verify_domain_dkim(&moto, &key_id, "wrong-secret");
    assert_eq!(bad.status, 403, "{}", bad.body);
    assert!(
        bad.body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{}",
        bad.body
    );
    assert!(!bad.request_id.is_empty(), "no x-amzn-RequestId header");

    let unknown = verify_domain_dkim(&moto, "AKIAUNKNOWNKEY000000", &secret);
    assert_eq!(unknown.status, 403, "{}", unknown.body);
    assert!(
        unknown.body.contains("<Code>InvalidClientTokenId</Code>"),
        "{}",
        unknown.body
    );

    // Auth survives a reset, but the reset deletes the key.
    moto.reset().unwrap();
    let after_reset = verify_domain_dkim(&moto, &key_id, &secret);
    assert_eq!(after_reset.status, 403, "{}", after_reset.body);

    moto.disable_auth().unwrap();
    let unchecked = verify_domain_dkim(&moto, &key_id, "wrong-secret");
    assert_eq!(unchecked.status, 200, "{}", unchecked.body);
}

#[test]
fn reset_forgets_verified_domains() {
    let moto = Moto::start().unwrap();
    let endpoint = moto.endpoint();

    verify_domain_dkim(&moto, "AKIDNOTCHECKED", "x");
    assert_eq!(
        python(LIST_IDENTITIES, &[&endpoint]).stdout,
        "example.com\n"
    );

    moto.reset().unwrap();
    assert_eq!(python(LIST_IDENTITIES, &[&endpoint]).stdout, "");
}

#[test]
fn run_gives_a_clean_aws_environment() {
    let script = r#"
import json, os
aws = sorted(k for k in os.environ if k.startswith("AWS_"))
print(json.dumps({"aws": aws, "home": os.listdir(os.environ["HOME"])}))
"#;
    let out = run(
        &venv_bin("python"),
        &["-c", script],
        &[("AWS_REGION", "eu-west-1")],
        None,
    )
    .unwrap();

    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        r#"{"aws": ["AWS_EC2_METADATA_DISABLED", "AWS_REGION"], "home": []}"#
    );
}

#[test]
fn run_passes_stdin_and_captures_both_streams() {
    let script = "import sys; data = sys.stdin.read(); print(data.upper()); \
                  print('to stderr', file=sys.stderr); sys.exit(3)";
    let out = run(
        &venv_bin("python"),
        &["-c", script],
        &[],
        Some(b"example.com"),
    )
    .unwrap();

    assert_eq!(out.code, Some(3));
    assert!(!out.status.success());
    assert_eq!(out.stdout, "EXAMPLE.COM\n");
    assert_eq!(out.stderr, "to stderr\n");
}

#[test]
fn binary_names_the_build_command_when_missing() {
    let error = binary("no-such-binary").unwrap_err();

    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    let message = error.to_string();
    assert!(
        message.contains("binary `no-such-binary` not built")
            && message.contains("cargo build --workspace --bins"),
        "{message}"
    );
}
