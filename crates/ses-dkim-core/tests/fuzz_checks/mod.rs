//! The invariants the fuzz targets check, shared by the targets in `fuzz/` and by the stable
//! replay of their corpora in `tests/fuzz_corpus.rs`, so that both check exactly the same thing.
//!
//! Each function takes the raw fuzz input, calls one public entry point of the core, and panics
//! when an invariant breaks. None may panic for any other reason.

use ses_dkim_core::domain::{MAX_DOMAIN_LEN, MAX_LABEL_LEN};
use ses_dkim_core::{
    Domain, DomainList, ListLine, ResponseError, parse_get_identity_dkim_attributes,
    parse_list_line, parse_verify_domain_dkim,
};

/// A check over one raw fuzz input.
pub type Check = fn(&[u8]);

/// Every target by the name of its `fuzz_targets/` file and corpus folder.
pub const TARGETS: [(&str, Check); 6] = [
    ("parse_response", parse_response),
    ("error_response", error_response),
    ("status_response", status_response),
    ("domain", domain),
    ("list_line", list_line),
    ("list_reader", list_reader),
];

/// Splits a `parse_response` input into the HTTP status and the body.
///
/// The first two bytes are the status as a big-endian `u16` taken modulo 600, so `00 c8` is 200
/// and `01 93` is 403; every input of two bytes or more maps to a status in 0..600.
pub fn split_status(data: &[u8]) -> Option<(u16, &[u8])> {
    match data {
        [high, low, body @ ..] => Some((u16::from_be_bytes([*high, *low]) % 600, body)),
        _ => None,
    }
}

/// Parses a response: a success holds at least one token, every token is a DNS label, and an
/// error keeps the status and prints as one line.
pub fn parse_response(data: &[u8]) {
    let Some((status, body)) = split_status(data) else {
        return;
    };
    match parse_verify_domain_dkim(status, body) {
        Ok(output) => {
            assert!(!output.tokens.is_empty(), "a success without tokens");
            for token in &output.tokens {
                assert!(is_dns_label(token.as_str()), "token {token:?}");
            }
            if let Some(id) = &output.request_id {
                assert!(!id.is_empty() && id.trim() == id, "request id {id:?}");
            }
        }
        Err(e) => {
            assert_eq!(e.status(), status);
            let shown = e.to_string();
            assert!(
                !shown.contains(char::is_control),
                "not one printable line: {shown:?}"
            );
            // Classifying never panics, whatever the code.
            let _ = e.kind().is_retryable();
        }
    }
}

/// Parses the fields of an `ErrorResponse`: the input (after the status) is placed inside
/// `<ErrorResponse><Error>...</Error></ErrorResponse>`, so mutations work on the error's fields.
/// The answer is never a success, and it prints as one line.
pub fn error_response(data: &[u8]) {
    let Some((status, inner)) = split_status(data) else {
        return;
    };
    let mut body = b"<ErrorResponse><Error>".to_vec();
    body.extend_from_slice(inner);
    body.extend_from_slice(b"</Error><RequestId>r</RequestId></ErrorResponse>");
    match parse_verify_domain_dkim(status, &body) {
        Ok(output) => panic!("an error envelope parsed as success: {output:?}"),
        Err(e) => {
            assert_eq!(e.status(), status);
            assert!(!e.to_string().contains(char::is_control), "{e}");
            if let ResponseError::Service(service) = &e {
                assert_eq!(service.request_id.as_deref(), Some("r"));
                let _ = service.kind();
            }
        }
    }
}

/// Parses a `GetIdentityDkimAttributes` response: every entry names an identity and every token
/// is a DNS label.
pub fn status_response(data: &[u8]) {
    let Some((status, body)) = split_status(data) else {
        return;
    };
    match parse_get_identity_dkim_attributes(status, body) {
        Ok(output) => {
            for entry in &output.attributes {
                assert!(!entry.identity.is_empty(), "an entry without a key");
                for token in &entry.tokens {
                    assert!(is_dns_label(token.as_str()), "token {token:?}");
                }
                // Only `Failed` is a failure, whatever the spelling.
                assert_eq!(entry.status.is_failure(), entry.status.as_str() == "Failed");
            }
        }
        Err(e) => {
            assert_eq!(e.status(), status);
            assert!(!e.to_string().contains(char::is_control), "{e}");
        }
    }
}

/// Reads a whole list file: line numbers only grow, every domain is valid, and nothing is read
/// that the bytes do not hold.
pub fn list_reader(data: &[u8]) {
    let newlines = data.iter().filter(|&&b| b == b'\n').count() as u64;
    let mut last = 0;
    for entry in DomainList::new(data) {
        let entry = entry.expect("reading from memory cannot fail");
        assert!(entry.line > last, "line {} after {last}", entry.line);
        assert!(
            entry.line <= newlines + 1,
            "line {} of {newlines} newlines",
            entry.line
        );
        last = entry.line;
        if let Ok(domain) = &entry.item {
            check_domain(domain);
        }
    }
}

/// Parses a domain: an accepted one is lower-case letters, digits and hyphens within the DNS
/// limits, and parsing it again gives it back unchanged.
pub fn domain(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match Domain::parse(input) {
        Ok(domain) => check_domain(&domain),
        Err(e) => {
            assert_eq!(e.input(), input);
            let shown = e.to_string();
            assert!(
                !shown.contains(char::is_control),
                "not one printable line: {shown:?}"
            );
        }
    }
}

/// Classifies a list line: a skipped line is blank or a comment, a domain line gives a valid
/// domain, and an invalid one names text taken from the line.
pub fn list_line(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    match parse_list_line(line) {
        ListLine::Skip => {
            let trimmed = line.trim();
            assert!(
                trimmed.is_empty() || trimmed.starts_with('#'),
                "skipped {line:?}"
            );
        }
        ListLine::Domain(domain) => check_domain(&domain),
        ListLine::Invalid(e) => {
            assert!(line.contains(e.input()), "{:?} not in {line:?}", e.input())
        }
    }
}

/// Checks what every accepted domain must be.
fn check_domain(domain: &Domain) {
    let name = domain.as_str();
    assert!(name.len() <= MAX_DOMAIN_LEN, "{name:?} is too long");
    assert!(domain.labels().count() >= 2, "{name:?} has one label");
    for label in domain.labels() {
        assert!(is_dns_label(label), "label {label:?} of {name:?}");
        assert!(
            !label.starts_with('-') && !label.ends_with('-'),
            "label {label:?}"
        );
        assert!(
            !label.bytes().any(|b| b.is_ascii_uppercase()),
            "label {label:?}"
        );
    }
    assert_eq!(
        Domain::parse(name).as_ref(),
        Ok(domain),
        "parsing {name:?} again"
    );
}

/// Returns whether `text` is 1 to 63 letters, digits and hyphens.
fn is_dns_label(text: &str) -> bool {
    (1..=MAX_LABEL_LEN).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
