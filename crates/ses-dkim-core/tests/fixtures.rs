//! Every checked-in response body, and botocore's parse vectors, through
//! `parse_verify_domain_dkim`, each with the outcome this project wants.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use ses_dkim_core::{
    ErrorKind, ParseErrorKind, ResponseError, VerifyDomainDkimOutput, parse_verify_domain_dkim,
};

/// moto's three tokens, the same for every domain.
const MOTO_TOKENS: [&str; 3] = [
    "vvjuipp74whm76gqoni7qmwwn4w4qusjiainivf6sf",
    "3frqe7jn4obpuxjpwpolz6ipb3k5nvt2nhjpik2oy",
    "wrqplteh7oodxnad7hsl4mixg2uavzneazxv5sxi2",
];

/// What one body should parse to.
#[derive(Debug)]
enum Expected {
    /// Success with exactly these tokens and this request id.
    Tokens {
        tokens: &'static [&'static str],
        request_id: Option<&'static str>,
    },
    /// An `ErrorResponse`, with what it says and how it is classified.
    Service {
        code: &'static str,
        error_type: Option<&'static str>,
        message: &'static str,
        kind: ErrorKind,
        request_id: &'static str,
    },
    /// Not a usable answer, for this reason, classified by the status alone.
    Parse {
        reason: ParseErrorKind,
        kind: ErrorKind,
    },
}

fn tokens(tokens: &'static [&'static str], request_id: Option<&'static str>) -> Expected {
    Expected::Tokens { tokens, request_id }
}

fn parse(reason: ParseErrorKind, kind: ErrorKind) -> Expected {
    Expected::Parse { reason, kind }
}

/// Parses a body and checks the outcome in full, naming `what` on failure.
fn check(what: &str, status: u16, body: &[u8], expected: &Expected) {
    let outcome = parse_verify_domain_dkim(status, body);
    match (expected, &outcome) {
        (Expected::Tokens { tokens, request_id }, Ok(output)) => {
            assert_eq!(token_strings(output), *tokens, "{what}");
            assert_eq!(output.request_id.as_deref(), *request_id, "{what}");
        }
        (
            Expected::Service {
                code,
                error_type,
                message,
                kind,
                request_id,
            },
            Err(ResponseError::Service(e)),
        ) => {
            assert_eq!(e.status, status, "{what}");
            assert_eq!(e.code, *code, "{what}");
            assert_eq!(e.error_type.as_deref(), *error_type, "{what}");
            assert_eq!(e.message, *message, "{what}");
            assert_eq!(e.kind(), *kind, "{what}");
            assert_eq!(e.request_id.as_deref(), Some(*request_id), "{what}");
        }
        (Expected::Parse { reason, kind }, Err(ResponseError::Parse(e))) => {
            assert_eq!(e.kind, *reason, "{what}");
            assert_eq!(e.kind(), *kind, "{what}");
            assert_eq!(e.status, status, "{what}");
            assert!(e.offset <= body.len(), "{what}: offset {}", e.offset);
        }
        _ => panic!("{what}: expected {expected:?}, got {outcome:?}"),
    }

    if let Err(e) = &outcome {
        assert_eq!(e.status(), status, "{what}");
        // What goes to a terminal or a log must stay on one line.
        let shown = e.to_string();
        assert!(!shown.contains(['\n', '\r']), "{what}: {shown}");
    }
}

fn token_strings(output: &VerifyDomainDkimOutput) -> Vec<&str> {
    output.tokens.iter().map(|t| t.as_str()).collect()
}

fn responses_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/responses"))
}

fn check_fixture(name: &str, status: u16, expected: Expected) {
    assert!(FIXTURES.contains(&name), "{name} is missing from FIXTURES");
    let body = std::fs::read(responses_dir().join(name)).unwrap();
    check(name, status, &body, &expected);
}

/// The XML fixtures that have a test below; `every_xml_fixture_has_a_test` keeps it complete.
const FIXTURES: [&str; 13] = [
    "error.access-denied.ses-real.xml",
    "error.invalid-parameter-value.constructed.xml",
    "error.message-rejected.ses-real.xml",
    "error.query-protocol-test.no-namespace.xml",
    "error.signature-does-not-match.ses-real.xml",
    "error.template-does-not-exist.moto-5.2.5.xml",
    "error.throttling.ses-real.xml",
    "get-identity-dkim-attributes.response.constructed.xml",
    "get-identity-dkim-attributes.response.empty-list.moto-5.2.5.xml",
    "get-identity-dkim-attributes.response.moto-5.2.5.xml",
    "verify-domain-dkim.response.constructed.xml",
    "verify-domain-dkim.response.moto-5.2.5.xml",
    "verify-domain-dkim.response.moto-legacy-template.xml",
];

#[test]
fn every_xml_fixture_has_a_test() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(responses_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".xml"))
        .collect();
    let covered: BTreeSet<String> = FIXTURES.iter().map(|name| (*name).to_owned()).collect();
    assert_eq!(on_disk, covered);
}

/// F04: the documented example, pretty-printed, gives its three tokens in order.
#[test]
fn f04_verify_domain_dkim_constructed() {
    let expected = tokens(
        &[
            "EXAMPLEq76owjnks3lnluwg65scbemvw",
            "EXAMPLEi3dnsj67hstzaj673klariwx2",
            "EXAMPLEwfbtcukvimehexktmdtaz6naj",
        ],
        Some("9662c15b-c469-11e1-99d1-797d6ecd6414"),
    );
    check_fixture("verify-domain-dkim.response.constructed.xml", 200, expected);
}

/// F20: moto's 41- and 42-character tokens are accepted.
#[test]
fn f20_verify_domain_dkim_moto() {
    let expected = tokens(
        &MOTO_TOKENS,
        Some("k7pnpQKe56Zc10OXZxMVZQnOeO45KxXqHJcT8XyopQwYuv6X2XWM"),
    );
    check_fixture("verify-domain-dkim.response.moto-5.2.5.xml", 200, expected);
}

/// F04: moto's old template, with its uneven indentation.
#[test]
fn f04_verify_domain_dkim_moto_legacy_template() {
    let expected = tokens(&MOTO_TOKENS, Some("9662c15b-c469-11e1-99d1-797d6ecd6414"));
    check_fixture(
        "verify-domain-dkim.response.moto-legacy-template.xml",
        200,
        expected,
    );
}

/// The answer to another operation must not pass as a `VerifyDomainDkim` success, even though
/// it holds `DkimTokens` members.
fn wrong_operation() -> Expected {
    parse(
        ParseErrorKind::UnexpectedRoot {
            found: "GetIdentityDkimAttributesResponse".to_owned(),
            expected: "VerifyDomainDkimResponse",
        },
        ErrorKind::Other,
    )
}

#[test]
fn get_identity_dkim_attributes_constructed_is_refused() {
    check_fixture(
        "get-identity-dkim-attributes.response.constructed.xml",
        200,
        wrong_operation(),
    );
}

#[test]
fn get_identity_dkim_attributes_moto_is_refused() {
    check_fixture(
        "get-identity-dkim-attributes.response.moto-5.2.5.xml",
        200,
        wrong_operation(),
    );
}

#[test]
fn get_identity_dkim_attributes_empty_list_is_refused() {
    check_fixture(
        "get-identity-dkim-attributes.response.empty-list.moto-5.2.5.xml",
        200,
        wrong_operation(),
    );
}

/// F07: real SES throttling is a 400 with code `Throttling`, and retryable.
#[test]
fn f07_error_throttling_ses_real() {
    let expected = Expected::Service {
        code: "Throttling",
        error_type: Some("Sender"),
        message: "Maximum sending rate exceeded.",
        kind: ErrorKind::Throttling,
        request_id: "8f23e6e6-b4f2-4572-b426-343b370cb32c",
    };
    check_fixture("error.throttling.ses-real.xml", 400, expected);
}

/// F19: a signature mismatch is a credentials problem, not retried.
#[test]
fn f19_error_signature_does_not_match_ses_real() {
    let expected = Expected::Service {
        code: "SignatureDoesNotMatch",
        error_type: Some("Sender"),
        message: "The request signature we calculated does not match the signature you \
                  provided. Check your AWS Secret Access Key and signing method. Consult the \
                  service documentation for details.",
        kind: ErrorKind::Credentials,
        request_id: "c1774ff6-4120-42f2-a68e-5c3d91b1ee92",
    };
    check_fixture("error.signature-does-not-match.ses-real.xml", 403, expected);
}

#[test]
fn error_access_denied_ses_real() {
    let expected = Expected::Service {
        code: "AccessDenied",
        error_type: Some("Sender"),
        message: "User: arn:aws:iam::656786582583:user/user name is not authorized to perform: \
                  ses:VerifyEmailIdentity",
        kind: ErrorKind::Permission,
        request_id: "c5f33708-f7da-11e5-9de4-7d09fc8f79d0",
    };
    check_fixture("error.access-denied.ses-real.xml", 403, expected);
}

/// F09: SES's answer to a doubled trailing dot is invalid input, not retried.
#[test]
fn f09_error_invalid_parameter_value_constructed() {
    let expected = Expected::Service {
        code: "InvalidParameterValue",
        error_type: Some("Sender"),
        message: "Invalid domain name pkyjo4kn7f.terraformtesting.com..",
        kind: ErrorKind::InvalidInput,
        request_id: "a51106e2-2bed-11e8-8d72-954ea5c56c94",
    };
    check_fixture(
        "error.invalid-parameter-value.constructed.xml",
        400,
        expected,
    );
}

/// A code this project does not know falls back to the status: a 400 is `Other`.
#[test]
fn error_message_rejected_ses_real() {
    let expected = Expected::Service {
        code: "MessageRejected",
        error_type: Some("Sender"),
        message: "Email address is not verified. The following identities failed the check in \
                  region US-EAST-1: alice@paulhauner.com, paul@paulhauner.com",
        kind: ErrorKind::Other,
        request_id: "a0ee8dcf-39e2-11e7-a5c1-f3494eddd8b3",
    };
    check_fixture("error.message-rejected.ses-real.xml", 400, expected);
}

#[test]
fn error_query_protocol_test_without_namespace() {
    let expected = Expected::Service {
        code: "InvalidGreeting",
        error_type: Some("Sender"),
        message: "Hi",
        kind: ErrorKind::Other,
        request_id: "foo-id",
    };
    check_fixture("error.query-protocol-test.no-namespace.xml", 400, expected);
}

#[test]
fn error_template_does_not_exist_moto() {
    let expected = Expected::Service {
        code: "TemplateDoesNotExist",
        error_type: Some("Sender"),
        message: "Invalid Template Name.",
        kind: ErrorKind::Other,
        request_id: "TIIgsULxpTqPCnu5D86uowtS3qN9jYJ07WMC3cbCNNBtlRel8SWJ",
    };
    check_fixture(
        "error.template-does-not-exist.moto-5.2.5.xml",
        400,
        expected,
    );
}

/// `botocore-parse-vectors.json`: bodies with what botocore made of them.
#[derive(Deserialize)]
struct ParseVectorFile {
    vectors: Vec<ParseVector>,
}

#[derive(Deserialize)]
struct ParseVector {
    name: String,
    status: u16,
    headers: serde_json::Map<String, serde_json::Value>,
    xml: String,
    query_parser: serde_json::Value,
}

impl ParseVector {
    /// Returns the `x-amzn-RequestId` header the vector was answered with.
    fn request_id_header(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(ses_dkim_core::response::REQUEST_ID_HEADER))
            .and_then(|(_, value)| value.as_str())
    }

    /// Returns whether botocore's query parser came to the same outcome as `outcome`: both
    /// failed, both read the same error code, or both read exactly the same tokens.
    fn botocore_agrees(&self, outcome: &Result<VerifyDomainDkimOutput, ResponseError>) -> bool {
        let parsed = &self.query_parser["parsed"];
        if self.query_parser.get("exception").is_some() {
            return matches!(outcome, Err(ResponseError::Parse(_)));
        }
        if let Some(error) = parsed.get("Error") {
            let code = error["Code"].as_str().unwrap_or_default();
            return matches!(outcome, Err(ResponseError::Service(e)) if e.code == code);
        }
        let botocore_tokens: Vec<&str> = parsed["DkimTokens"]
            .as_array()
            .map(|tokens| tokens.iter().filter_map(|t| t.as_str()).collect())
            .unwrap_or_default();
        matches!(outcome, Ok(output) if token_strings(output) == botocore_tokens)
    }
}

/// The request id of every parse vector that carries one, in the body and in the header.
const VECTOR_REQUEST_ID: &str = "d8eb8250-be9b-11e6-b7f7-d570946af758";

/// One row of the parse-vector table: the outcome this project wants, and why it differs from
/// botocore's where it does.
struct Row {
    name: &'static str,
    expected: Expected,
    differs_from_botocore: Option<&'static str>,
}

fn agrees(name: &'static str, expected: Expected) -> Row {
    Row {
        name,
        expected,
        differs_from_botocore: None,
    }
}

fn differs(name: &'static str, expected: Expected, why: &'static str) -> Row {
    Row {
        name,
        expected,
        differs_from_botocore: Some(why),
    }
}

fn vector_error(
    code: &'static str,
    error_type: Option<&'static str>,
    message: &'static str,
    kind: ErrorKind,
) -> Expected {
    Expected::Service {
        code,
        error_type,
        message,
        kind,
        request_id: VECTOR_REQUEST_ID,
    }
}

fn parse_vector_table() -> Vec<Row> {
    use ErrorKind::{Credentials, InvalidInput, Other, Throttling, Transient};

    let rid = Some(VECTOR_REQUEST_ID);
    vec![
        agrees("normal-3-tokens", tokens(&MOTO_TOKENS, rid)),
        agrees("normal-3-tokens-aws-pretty", tokens(&MOTO_TOKENS, rid)),
        agrees("xml-declaration", tokens(&MOTO_TOKENS, rid)),
        agrees("no-namespace", tokens(&MOTO_TOKENS, rid)),
        differs(
            "empty-dkimtokens-selfclosing",
            parse(ParseErrorKind::NoTokens, Other),
            "zero tokens would mean zero records reported as success (F05); botocore returns []",
        ),
        differs(
            "empty-dkimtokens-open-close",
            parse(ParseErrorKind::NoTokens, Other),
            "zero tokens would mean zero records reported as success (F05); botocore returns []",
        ),
        differs(
            "missing-dkimtokens",
            parse(ParseErrorKind::NoTokens, Other),
            "a success without the list is no success (F05); botocore leaves the key out",
        ),
        agrees("one-token", tokens(&MOTO_TOKENS[..1], rid)),
        agrees("five-tokens", tokens(&["a", "b", "c", "d", "e"], rid)),
        differs(
            "empty-member",
            parse(ParseErrorKind::InvalidToken(String::new()), Other),
            "an empty token is not a DNS label and would corrupt a record; botocore returns \"\"",
        ),
        differs(
            "whitespace-around-tokens",
            tokens(&MOTO_TOKENS, rid),
            "surrounding whitespace is layout, not part of the token: trimmed here, kept by \
             botocore",
        ),
        differs(
            "entity-and-cdata-tokens",
            parse(ParseErrorKind::InvalidToken("a&b".to_owned()), Other),
            "`a&b`, `c<d` are not DNS labels and would corrupt a zone file; botocore decodes and \
             returns them",
        ),
        agrees("extra-unknown-elements", tokens(&MOTO_TOKENS, rid)),
        differs(
            "unknown-element-inside-list",
            parse(
                ParseErrorKind::UnexpectedListElement {
                    found: "item".to_owned(),
                    list: "DkimTokens",
                },
                Other,
            ),
            "only `member` holds a token; botocore counts `<item>` as one",
        ),
        agrees("missing-response-metadata", tokens(&MOTO_TOKENS[..1], None)),
        agrees("empty-body-200", parse(ParseErrorKind::Empty, Other)),
        agrees("not-xml-200", parse(ParseErrorKind::TextOutsideRoot, Other)),
        agrees("truncated-xml-200", parse(ParseErrorKind::Truncated, Other)),
        agrees(
            "error-throttling-aws-style",
            vector_error(
                "Throttling",
                Some("Sender"),
                "Maximum sending rate exceeded.",
                Throttling,
            ),
        ),
        agrees(
            "error-throttling-rate-exceeded-no-type",
            vector_error("Throttling", None, "Rate exceeded", Throttling),
        ),
        agrees(
            "error-missing-message",
            vector_error("InvalidParameterValue", Some("Sender"), "", InvalidInput),
        ),
        agrees(
            "error-empty-message",
            vector_error("InvalidParameterValue", Some("Sender"), "", InvalidInput),
        ),
        // Without a code only the status classifies it; botocore has no code either.
        agrees(
            "error-missing-code",
            vector_error("", Some("Sender"), "no code here", Other),
        ),
        agrees(
            "error-invalid-client-token",
            vector_error(
                "InvalidClientTokenId",
                Some("Sender"),
                "The security token included in the request is invalid.",
                Credentials,
            ),
        ),
        agrees(
            "error-service-unavailable-500",
            vector_error(
                "ServiceUnavailable",
                Some("Receiver"),
                "Service is unable to handle request.",
                Transient,
            ),
        ),
        agrees(
            "error-extra-fields",
            vector_error("Throttling", Some("Sender"), "m", Throttling),
        ),
        // F21: an HTML page is no answer, and retryable because of its 500.
        agrees(
            "error-html-500-moto",
            parse(ParseErrorKind::DocType, Transient),
        ),
        differs(
            "error-empty-body-503",
            parse(ParseErrorKind::Empty, Transient),
            "an empty body is no answer, and the 503 alone makes it transient; botocore \
             synthesises an error with code \"503\"",
        ),
        agrees("error-empty-body-400", parse(ParseErrorKind::Empty, Other)),
        agrees(
            "error-not-xml-400",
            parse(ParseErrorKind::TextOutsideRoot, Other),
        ),
    ]
}

/// All 30 botocore parse vectors, each with this project's outcome and its agreement with
/// botocore stated.
#[test]
fn botocore_parse_vectors() {
    let file: ParseVectorFile =
        serde_json::from_str(include_str!("data/responses/botocore-parse-vectors.json")).unwrap();
    let table = parse_vector_table();

    let in_file: BTreeSet<&str> = file.vectors.iter().map(|v| v.name.as_str()).collect();
    let in_table: BTreeSet<&str> = table.iter().map(|row| row.name).collect();
    assert_eq!(in_file.len(), 30, "vector names are unique and 30");
    assert_eq!(in_table.len(), table.len(), "table names are unique");
    assert_eq!(in_file, in_table);

    for row in &table {
        let Some(vector) = file.vectors.iter().find(|v| v.name == row.name) else {
            unreachable!("the name sets are equal");
        };
        let what = format!("vector {}", vector.name);
        check(&what, vector.status, vector.xml.as_bytes(), &row.expected);

        // The id in the header is the one in the body wherever the body has one.
        assert_eq!(
            vector.request_id_header(),
            Some(VECTOR_REQUEST_ID),
            "{what}"
        );
        let outcome = parse_verify_domain_dkim(vector.status, vector.xml.as_bytes());
        match &outcome {
            Ok(output) => {
                let expected =
                    (row.name != "missing-response-metadata").then_some(VECTOR_REQUEST_ID);
                assert_eq!(output.request_id.as_deref(), expected, "{what}");
            }
            Err(e) => {
                // A body that is not an answer has no id; the adapter takes it from the header.
                let expected = matches!(e, ResponseError::Service(_)).then_some(VECTOR_REQUEST_ID);
                assert_eq!(e.request_id(), expected, "{what}");
            }
        }

        assert_eq!(
            vector.botocore_agrees(&outcome),
            row.differs_from_botocore.is_none(),
            "{what}: botocore's outcome {} ours ({:?})",
            if row.differs_from_botocore.is_some() {
                "matches"
            } else {
                "differs from"
            },
            row.differs_from_botocore,
        );
    }
}
