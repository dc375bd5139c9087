//! SigV4 known answers: every request botocore signed, re-signed by the core, and the same
//! requests built by the core itself wherever the core would build the same bytes.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Request;
use serde::Deserialize;
use ses_dkim_core::request::{self, CONTENT_TYPE_FORM};
use ses_dkim_core::signing::SIGNING_NAME;
use ses_dkim_core::{Credentials, Domain, Endpoint, EndpointVariant, Region, sign};

const BOTOCORE_VECTORS: &str = include_str!("data/requests/botocore-sigv4-vectors.json");
const TEXT_VECTORS: &str = include_str!("data/requests/sigv4.verify-domain-dkim.test-vectors.txt");

/// How many of the 84 vectors hold a domain the core accepts unchanged (`example.com` and
/// `sub.example.com` across regions, FIPS hosts, both dates and with or without a token).
///
/// Pinned so that a change to domain parsing or body building cannot silently shrink the
/// core-built comparison to nothing.
const CORE_BUILT_VECTORS: usize = 22;

#[derive(Deserialize)]
struct VectorFile {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    id: u32,
    region: String,
    fips: bool,
    endpoint: String,
    service: String,
    access_key: String,
    secret_key: String,
    session_token: Option<String>,
    timestamp: String,
    domain: String,
    method: String,
    url: String,
    headers: BTreeMap<String, String>,
    body: String,
    signed_headers: String,
    signature: String,
}

impl Vector {
    /// Returns a header botocore sent, by case-insensitive name.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn required_header(&self, name: &str) -> &str {
        self.header(name)
            .unwrap_or_else(|| panic!("vector {}: no {name} header", self.id))
    }

    fn credentials(&self) -> Credentials {
        Credentials::new(
            self.access_key.as_str(),
            self.secret_key.as_str(),
            self.session_token.clone(),
        )
    }

    fn region(&self) -> Region {
        Region::parse(&self.region).unwrap()
    }

    /// Builds the request exactly as botocore signed it: method, URL, `content-type`, `host`
    /// and the body bytes, nothing the signer would not see.
    fn raw_request(&self) -> Request<Vec<u8>> {
        Request::builder()
            .method(self.method.as_str())
            .uri(self.url.as_str())
            .header("content-type", self.required_header("Content-Type"))
            .header("host", self.required_header("Host"))
            .body(self.body.as_bytes().to_vec())
            .unwrap()
    }

    /// Checks a signed request against the vector's headers.
    fn assert_signed_like_botocore(&self, signed: &Request<Vec<u8>>, path: &str) {
        let id = self.id;
        assert_eq!(
            header(signed, "authorization"),
            Some(self.required_header("Authorization")),
            "vector {id} ({path}): Authorization"
        );
        assert_eq!(
            header(signed, "x-amz-date"),
            Some(self.required_header("X-Amz-Date")),
            "vector {id} ({path}): X-Amz-Date"
        );
        assert_eq!(
            header(signed, "x-amz-security-token"),
            self.header("X-Amz-Security-Token"),
            "vector {id} ({path}): X-Amz-Security-Token"
        );
    }
}

fn header<'a, B>(request: &'a Request<B>, name: &str) -> Option<&'a str> {
    request.headers().get(name).map(|v| v.to_str().unwrap())
}

fn signed(
    mut request: Request<Vec<u8>>,
    credentials: &Credentials,
    region: &Region,
    time: SystemTime,
) -> Request<Vec<u8>> {
    sign(&mut request, credentials, region, time).unwrap();
    request
}

/// Every botocore vector re-signed by the core, and re-built by it where it would send the same
/// body.
#[test]
fn botocore_vectors_sign_identically() {
    let file: VectorFile = serde_json::from_str(BOTOCORE_VECTORS).unwrap();
    assert_eq!(file.vectors.len(), 84, "the file holds 84 vectors");

    let mut core_built = 0;
    let mut normalised = 0;
    for vector in &file.vectors {
        let id = vector.id;
        // The vectors are self-consistent: the header names the scope and signature listed.
        assert_eq!(vector.service, SIGNING_NAME, "vector {id}");
        let authorization = vector.required_header("Authorization");
        assert!(
            authorization.ends_with(&format!(
                "SignedHeaders={}, Signature={}",
                vector.signed_headers, vector.signature
            )),
            "vector {id}: {authorization}"
        );

        let credentials = vector.credentials();
        let region = vector.region();
        let time = parse_amz_date(&vector.timestamp);

        let raw = signed(vector.raw_request(), &credentials, &region, time);
        vector.assert_signed_like_botocore(&raw, "raw request");

        // Some vectors sign bodies with invalid domains on purpose; the core never builds those.
        let Ok(domain) = Domain::parse(&vector.domain) else {
            continue;
        };
        let variant = if vector.fips {
            EndpointVariant::Fips
        } else {
            EndpointVariant::Standard
        };
        let endpoint = Endpoint::for_region(&region, variant).unwrap();
        assert_eq!(
            endpoint,
            Endpoint::parse(&vector.endpoint).unwrap(),
            "vector {id}"
        );

        let built = request::verify_domain_dkim(&endpoint, &domain);
        if built.body().as_slice() != vector.body.as_bytes() {
            // `EXAMPLE.COM`, `example.com.` and IDNs are sent normalised, unlike botocore.
            assert_ne!(
                domain.as_str(),
                vector.domain,
                "vector {id}: same domain, other body"
            );
            normalised += 1;
            continue;
        }
        assert_eq!(built.method(), vector.method.as_str(), "vector {id}");
        assert_eq!(built.uri(), vector.url.as_str(), "vector {id}");
        assert_eq!(
            header(&built, "content-type"),
            Some(vector.required_header("Content-Type")),
            "vector {id}"
        );
        assert_eq!(
            header(&built, "host"),
            Some(vector.required_header("Host")),
            "vector {id}"
        );
        let built = signed(built, &credentials, &region, time);
        vector.assert_signed_like_botocore(&built, "core-built request");
        core_built += 1;
    }

    assert_eq!(core_built, CORE_BUILT_VECTORS, "vectors built by the core");
    // `EXAMPLE.COM`, `example.com.` and `bücher.example` (4 each) and `ü.example` (16).
    assert_eq!(
        normalised, 28,
        "vectors whose valid domain the core normalises"
    );
}

/// Credentials, time and URL stated in the header of `sigv4.verify-domain-dkim.test-vectors.txt`;
/// every section there signs with them.
const TEXT_ACCESS_KEY: &str = "AKIDEXAMPLE";
const TEXT_SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TEXT_TIME: &str = "20150830T123600Z";
const TEXT_URL: &str = "https://email.us-east-1.amazonaws.com/";

/// One `#### session_token=...` section of the text vectors.
struct TextVector {
    session_token: Option<String>,
    body: String,
    host: String,
    /// The `--- headers sent` block, by lower-case name.
    headers: BTreeMap<String, String>,
}

/// Reads the sections of the text vectors: the body, the host from the canonical request, and
/// the headers sent.
fn text_vectors() -> Vec<TextVector> {
    let mut vectors = Vec::new();
    for section in TEXT_VECTORS.split("#### session_token=").skip(1) {
        let mut lines = section.lines();
        let token = lines.next().unwrap().trim();
        let session_token = (token != "None").then(|| token.to_owned());
        let mut body = None;
        let mut host = None;
        let mut headers = BTreeMap::new();
        let mut in_headers = false;
        for line in lines {
            if line.starts_with("--- ") {
                in_headers = line == "--- headers sent";
            } else if in_headers {
                if line.trim().is_empty() || line.starts_with('#') {
                    in_headers = false;
                } else {
                    let (name, value) = line.split_once(": ").unwrap();
                    headers.insert(name.to_ascii_lowercase(), value.to_owned());
                }
            } else if let Some(rest) = line.strip_prefix("body: ") {
                body = Some(rest.to_owned());
            } else if let Some(rest) = line.strip_prefix("host:") {
                host = Some(rest.to_owned());
            }
        }
        // Without these the comparisons below would compare nothing with nothing.
        assert!(headers.contains_key("authorization") && headers.contains_key("x-amz-date"));
        assert_eq!(
            headers.contains_key("x-amz-security-token"),
            session_token.is_some()
        );
        vectors.push(TextVector {
            session_token,
            body: body.unwrap(),
            host: host.unwrap(),
            headers,
        });
    }
    vectors
}

/// The four signatures of the text vectors (with and without a session token, with and without
/// the charset in the content type); the two with botocore's content type are built by the core.
#[test]
fn text_vectors_sign_identically() {
    let region = Region::parse("us-east-1").unwrap();
    let time = parse_amz_date(TEXT_TIME);
    let endpoint = Endpoint::for_region(&region, EndpointVariant::Standard).unwrap();
    let domain = Domain::parse("example.com").unwrap();

    let vectors = text_vectors();
    assert_eq!(vectors.len(), 4, "sections in the text vectors");
    let mut core_built = 0;
    for (i, vector) in vectors.iter().enumerate() {
        let credentials = Credentials::new(
            TEXT_ACCESS_KEY,
            TEXT_SECRET_KEY,
            vector.session_token.clone(),
        );
        let content_type = &vector.headers["content-type"];
        let raw = Request::builder()
            .method("POST")
            .uri(TEXT_URL)
            .header("content-type", content_type)
            .header("host", &vector.host)
            .body(vector.body.as_bytes().to_vec())
            .unwrap();

        let mut candidates = vec![("raw request", raw)];
        if content_type == CONTENT_TYPE_FORM {
            let built = request::verify_domain_dkim(&endpoint, &domain);
            assert_eq!(
                built.body().as_slice(),
                vector.body.as_bytes(),
                "section {i}"
            );
            candidates.push(("core-built request", built));
            core_built += 1;
        }
        for (path, request) in candidates {
            let signed = signed(request, &credentials, &region, time);
            for name in ["authorization", "x-amz-date", "x-amz-security-token"] {
                assert_eq!(
                    header(&signed, name),
                    vector.headers.get(name).map(String::as_str),
                    "section {i} ({path}): {name}"
                );
            }
        }
    }
    assert_eq!(core_built, 2, "sections with botocore's content type");
}

#[test]
fn amz_dates_parse_to_the_right_instant() {
    assert_eq!(parse_amz_date("19700101T000000Z"), UNIX_EPOCH);
    assert_eq!(
        parse_amz_date("20240101T000000Z"),
        UNIX_EPOCH + Duration::from_secs(1_704_067_200)
    );
    // A leap day, and the time of the botocore vectors.
    assert_eq!(
        parse_amz_date("20240229T235959Z"),
        UNIX_EPOCH + Duration::from_secs(1_709_251_199)
    );
    assert_eq!(
        parse_amz_date("20150830T123600Z"),
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    );
}

/// Parses SigV4's `YYYYMMDDTHHMMSSZ` into a time.
fn parse_amz_date(stamp: &str) -> SystemTime {
    assert!(
        stamp.len() == 16 && stamp.as_bytes()[8] == b'T' && stamp.ends_with('Z'),
        "{stamp}"
    );
    let number = |range: std::ops::Range<usize>| -> u64 { stamp[range].parse().unwrap() };
    let days = days_from_civil(number(0..4), number(4..6), number(6..8));
    let seconds = days * 86_400 + number(9..11) * 3_600 + number(11..13) * 60 + number(13..15);
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// Returns the days from 1970-01-01 to a proleptic Gregorian date on or after it.
///
/// Howard Hinnant's `days_from_civil`: years start on 1 March so that the leap day falls last.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719_468 days lie between 0000-03-01 and 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}
