//! The SES Query-protocol requests, as `http::Request` values ready to sign.

use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request};

use crate::domain::Domain;
use crate::endpoint::Endpoint;

/// The SES v1 API version every request names.
pub const API_VERSION: &str = "2010-12-01";

/// The content type the AWS CLI and botocore send; SES also accepts it without the charset.
pub const CONTENT_TYPE_FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// Builds the unsigned `VerifyDomainDkim` request for one domain.
///
/// The request is `POST /` to the endpoint with the `host` and `content-type` headers and the
/// form-encoded body `Action=VerifyDomainDkim&Version=2010-12-01&Domain=<domain>`. Its URI is the
/// endpoint's absolute URL (an HTTP/1.1 request line names only the path, `/`). Sign it with
/// [`crate::sign`] before sending.
pub fn verify_domain_dkim(endpoint: &Endpoint, domain: &Domain) -> Request<Vec<u8>> {
    query_request(endpoint, "VerifyDomainDkim", &[("Domain", domain.as_str())])
}

/// Builds an unsigned Query-protocol request: `Action`, `Version`, then the given parameters in
/// order.
pub(crate) fn query_request(
    endpoint: &Endpoint,
    action: &str,
    params: &[(&str, &str)],
) -> Request<Vec<u8>> {
    let room: usize = params
        .iter()
        .map(|(name, value)| name.len() + value.len() + 2)
        .sum();
    let mut body = Vec::with_capacity(48 + action.len() + room);
    append_pair(&mut body, "Action", action);
    append_pair(&mut body, "Version", API_VERSION);
    for (name, value) in params {
        append_pair(&mut body, name, value);
    }

    let mut request = Request::new(body);
    *request.method_mut() = Method::POST;
    *request.uri_mut() = endpoint.uri();
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_FORM));
    headers.insert(HOST, endpoint.host_value());
    request
}

/// Appends `name=value` to a form body, `&`-separated, encoded as botocore encodes it.
fn append_pair(body: &mut Vec<u8>, name: &str, value: &str) {
    if !body.is_empty() {
        body.push(b'&');
    }
    encode_into(body, name);
    body.push(b'=');
    encode_into(body, value);
}

/// Form-encodes a value: `A-Z a-z 0-9 - _ . ~` stay bare, a space becomes `+`, every other byte
/// of the UTF-8 text becomes `%XX` in upper-case hex.
///
/// This is Python's `quote_plus`, which botocore uses; SES's signature check and moto's
/// re-encoding both agree with it.
pub fn encode_into(out: &mut Vec<u8>, value: &str) {
    let mut rest = value.as_bytes();
    // Runs of bytes that stay bare are copied whole; domains are nothing else.
    while let Some(bare) = rest.iter().position(|&byte| !is_unreserved(byte)) {
        let Some((run, [byte, tail @ ..])) = rest.split_at_checked(bare) else {
            break;
        };
        out.extend_from_slice(run);
        if *byte == b' ' {
            out.push(b'+');
        } else {
            out.extend_from_slice(&[b'%', hex_digit(byte >> 4), hex_digit(byte & 0x0f)]);
        }
        rest = tail;
    }
    out.extend_from_slice(rest);
}

/// Returns `true` for the bytes form encoding leaves as they are: `A-Z a-z 0-9 - _ . ~`.
fn is_unreserved(byte: u8) -> bool {
    matches!(byte, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~')
}

/// Returns the upper-case hex digit of a nibble.
fn hex_digit(nibble: u8) -> u8 {
    if nibble < 10 {
        b'0' + nibble
    } else {
        b'A' + (nibble - 10)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::endpoint::EndpointVariant;
    use crate::region::Region;

    const FIXTURE_BODY: &str =
        include_str!("../tests/data/requests/request.verify-domain-dkim.body.txt");
    const ENCODING_VECTORS: &str =
        include_str!("../tests/data/requests/request.encoding-vectors.tsv");

    fn endpoint() -> Endpoint {
        Endpoint::for_region(
            &Region::parse("us-east-1").unwrap(),
            EndpointVariant::Standard,
        )
        .unwrap()
    }

    #[test]
    fn body_matches_what_the_sdks_send() {
        let request = verify_domain_dkim(&endpoint(), &Domain::parse("Example.com.").unwrap());
        assert_eq!(
            std::str::from_utf8(request.body()).unwrap(),
            FIXTURE_BODY.trim_end()
        );
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), "https://email.us-east-1.amazonaws.com/");
        assert_eq!(request.headers()[HOST], "email.us-east-1.amazonaws.com");
        assert_eq!(request.headers()[CONTENT_TYPE], CONTENT_TYPE_FORM);
    }

    #[test]
    fn encoding_matches_botocore() {
        for line in ENCODING_VECTORS
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let fields: Vec<&str> = line.split('\t').collect();
            let mut out = Vec::new();
            encode_into(&mut out, fields[0]);
            assert_eq!(std::str::from_utf8(&out).unwrap(), fields[2], "{line}");
        }
    }

    proptest! {
        #[test]
        fn body_decodes_back_to_the_parameters(value in "\\PC{0,60}") {
            let request = query_request(&endpoint(), "VerifyDomainDkim", &[("Domain", &value)]);
            let pairs: Vec<(String, String)> = form_urlencoded::parse(request.body())
                .into_owned()
                .collect();
            prop_assert_eq!(pairs, vec![
                ("Action".to_owned(), "VerifyDomainDkim".to_owned()),
                ("Version".to_owned(), API_VERSION.to_owned()),
                ("Domain".to_owned(), value),
            ]);
        }
    }
}
