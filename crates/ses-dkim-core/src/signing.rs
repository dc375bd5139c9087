//! SigV4 signing of a built request, for a time the caller passes.
//!
//! [`Signer`] keeps the signing key between calls and builds the canonical request of this
//! crate's requests itself; [`sign`] is a signer used once. Any request this crate did not build
//! is signed by aws-sigv4's general signer, with the same result.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Method, Request};

use crate::credentials::Credentials;
use crate::hash::{Hmac, HmacKey, Sha256, sha256};
use crate::region::Region;

/// The SigV4 signing name of SES; the endpoint's host prefix, `email`, is a different word.
pub const SIGNING_NAME: &str = "ses";

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");

/// Signs a request in place with SigV4 for `region` at `time`.
///
/// Adds `x-amz-date`, `authorization` and, for temporary credentials, `x-amz-security-token`.
/// The signed headers are those already on the request (`content-type` and `host` for requests
/// built by this crate) plus the ones added; the payload hash covers the exact body bytes.
///
/// This derives the signing key for every request; a [`Signer`] kept between requests derives
/// it once a day.
///
/// # Errors
///
/// Returns a [`SigningError`] when a header value is not valid for signing or the request has no
/// `host`; requests built by this crate always sign.
pub fn sign<B: AsRef<[u8]>>(
    request: &mut Request<B>,
    credentials: &Credentials,
    region: &Region,
    time: SystemTime,
) -> Result<(), SigningError> {
    Signer::new().sign(request, credentials, region, time)
}

/// A SigV4 signer that keeps its signing key from one request to the next.
///
/// The signing key depends only on the secret, the UTC date, the region and the service, so a
/// signer derives it (four HMACs, with aws-sigv4's `generate_signing_key`) once per day, region
/// and secret rather than for every request, and keeps the HMAC keyed with it. For requests of
/// the shape this crate builds (`POST /` with only `host` and `content-type`) it also hashes the
/// canonical request itself (SHA-256 and HMAC from ring, or from `sha2` and `hmac` without the
/// `ring` feature), starting from the kept hash state of
/// its constant first part and writing only the rest, which changes with every request, into a
/// kept buffer; any other request goes to aws-sigv4's general signer. Both give the signature
/// [`sign`] gives.
///
/// `Debug` never shows the key or the secret it was derived from.
#[derive(Default, Clone)]
pub struct Signer {
    key: Option<CachedKey>,
    prefix: Option<CachedPrefix>,
    /// Room for the canonical request's rest and the string to sign, kept between requests.
    scratch: Vec<u8>,
}

/// A signing key, as an HMAC keyed with it, and what it was derived from.
#[derive(Clone)]
struct CachedKey {
    date: [u8; 8],
    region: String,
    secret: String,
    key: HmacKey,
}

/// The SHA-256 state after the canonical request's part that is the same for every request to
/// one endpoint: method, path, query, `content-type`, `host` and the name `x-amz-date:`.
#[derive(Clone)]
struct CachedPrefix {
    content_type: Option<String>,
    host: String,
    hash: Sha256,
}

impl Signer {
    /// Creates a signer with no key yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Signs a request in place, as [`sign`] does, reusing the signing key when the date, the
    /// region and the secret are those of the previous request.
    ///
    /// # Errors
    ///
    /// As [`sign`].
    pub fn sign<B: AsRef<[u8]>>(
        &mut self,
        request: &mut Request<B>,
        credentials: &Credentials,
        region: &Region,
        time: SystemTime,
    ) -> Result<(), SigningError> {
        if !request.headers().contains_key(HOST) {
            // aws-sigv4 would fall back to the URI's authority and panic without one.
            return Err(SigningError::new("the request has no `host` header"));
        }
        let (Some(stamp), Some(shape)) = (Stamp::of(time), Shape::of(request, credentials)) else {
            return sign_general(request, credentials, region, time);
        };
        let mut mac = self.keyed_mac(credentials.secret_access_key(), region, &stamp, time)?;

        let signed_headers = shape.signed_headers();
        // The rest of the canonical request, then the string to sign, are gathered in a kept
        // buffer and hashed in one update each: every update has a cost of its own.
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        shape.write_rest(&mut scratch, &stamp, signed_headers, request.body());
        let mut canonical = self.canonical_prefix(&shape);
        canonical.update(&scratch);
        let canonical_hash = hex(canonical.finish().as_ref());

        let access_key_id = credentials.access_key_id();
        // The exact length: a full vector becomes `Bytes`, and the header value, without a copy.
        let mut authorization = Vec::with_capacity(
            ALGORITHM.len()
                + b" Credential=".len()
                + access_key_id.len()
                + 1
                + scope_len(region)
                + b", SignedHeaders=".len()
                + signed_headers.len()
                + b", Signature=".len()
                + 64,
        );
        authorization.extend_from_slice(ALGORITHM.as_bytes());
        authorization.extend_from_slice(b" Credential=");
        authorization.extend_from_slice(access_key_id.as_bytes());
        authorization.push(b'/');
        let scope_start = authorization.len();
        push_scope(&mut authorization, &stamp, region);

        scratch.clear();
        scratch.extend_from_slice(ALGORITHM.as_bytes());
        scratch.push(b'\n');
        scratch.extend_from_slice(&stamp.date_time);
        scratch.push(b'\n');
        scratch.extend_from_slice(authorization.get(scope_start..).unwrap_or_default());
        scratch.push(b'\n');
        scratch.extend_from_slice(&canonical_hash);
        mac.update(&scratch);
        let signature = hex(mac.finish().as_ref());
        self.scratch = scratch;

        authorization.extend_from_slice(b", SignedHeaders=");
        authorization.extend_from_slice(signed_headers.as_bytes());
        authorization.extend_from_slice(b", Signature=");
        authorization.extend_from_slice(&signature);

        let invalid = |e| SigningError::with_source("a header value is not visible ASCII", e);
        let authorization =
            HeaderValue::from_maybe_shared(Bytes::from(authorization)).map_err(invalid)?;
        let date = HeaderValue::from_bytes(&stamp.date_time).map_err(invalid)?;
        let token = match shape.session_token {
            Some(token) => Some(HeaderValue::from_str(token).map_err(invalid)?),
            None => None,
        };
        let headers = request.headers_mut();
        headers.insert(X_AMZ_DATE, date);
        headers.insert(AUTHORIZATION, authorization);
        if let Some(token) = token {
            headers.insert(X_AMZ_SECURITY_TOKEN, token);
        }
        Ok(())
    }

    /// Returns an HMAC keyed with the signing key, deriving the key again when the date, region
    /// or secret changed.
    fn keyed_mac(
        &mut self,
        secret: &str,
        region: &Region,
        stamp: &Stamp,
        time: SystemTime,
    ) -> Result<Hmac, SigningError> {
        let region = region.as_str();
        let kept = self
            .key
            .as_ref()
            .filter(|key| key.date == stamp.date() && key.region == region && key.secret == secret);
        if let Some(kept) = kept {
            return Ok(kept.key.start());
        }
        let signing_key = v4::generate_signing_key(secret, time, region, SIGNING_NAME);
        let key = HmacKey::new(signing_key.as_ref())
            .ok_or_else(|| SigningError::new("the signing key cannot key an HMAC"))?;
        let mac = key.start();
        self.key = Some(CachedKey {
            date: stamp.date(),
            region: region.to_owned(),
            secret: secret.to_owned(),
            key,
        });
        Ok(mac)
    }

    /// Returns the hash state after the canonical request's constant first part, kept for as
    /// long as the `content-type` and `host` stay the same.
    fn canonical_prefix(&mut self, shape: &Shape<'_>) -> Sha256 {
        let kept = self.prefix.as_ref().filter(|prefix| {
            prefix.content_type.as_deref() == shape.content_type && prefix.host == shape.host
        });
        if let Some(prefix) = kept {
            return prefix.hash.clone();
        }
        let mut hash = Sha256::new();
        // Method, path, the empty query, then the headers that sort before `x-amz-date`.
        hash.update(b"POST\n/\n\n");
        if let Some(content_type) = shape.content_type {
            hash.update(b"content-type:");
            hash.update(content_type.as_bytes());
            hash.update(b"\n");
        }
        hash.update(b"host:");
        hash.update(shape.host.as_bytes());
        hash.update(b"\nx-amz-date:");
        self.prefix = Some(CachedPrefix {
            content_type: shape.content_type.map(str::to_owned),
            host: shape.host.to_owned(),
            hash: hash.clone(),
        });
        hash
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = self.key.as_ref().map(|key| {
            let date = std::str::from_utf8(&key.date).unwrap_or_default();
            format!("{date}/{}/{SIGNING_NAME} (redacted)", key.region)
        });
        f.debug_struct("Signer").field("key", &key).finish()
    }
}

/// Returns the length of the credential scope [`push_scope`] writes.
fn scope_len(region: &Region) -> usize {
    8 + 1 + region.as_str().len() + 1 + SIGNING_NAME.len() + b"/aws4_request".len()
}

/// Appends the credential scope, `<date>/<region>/ses/aws4_request`.
fn push_scope(out: &mut Vec<u8>, stamp: &Stamp, region: &Region) {
    out.extend_from_slice(&stamp.date());
    out.push(b'/');
    out.extend_from_slice(region.as_str().as_bytes());
    out.push(b'/');
    out.extend_from_slice(SIGNING_NAME.as_bytes());
    out.extend_from_slice(b"/aws4_request");
}

/// The signing time as SigV4 writes it, `YYYYMMDDTHHMMSSZ` in UTC.
struct Stamp {
    date_time: [u8; 16],
}

impl Stamp {
    /// Formats a time from 1970 to 9999; `None` outside that range.
    fn of(time: SystemTime) -> Option<Self> {
        let seconds = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
        let (year, month, day) = civil_from_days(seconds / 86_400);
        if year > 9999 {
            return None;
        }
        let of_day = seconds % 86_400;
        let [y0, y1] = two_digits(year / 100);
        let [y2, y3] = two_digits(year % 100);
        let [m0, m1] = two_digits(month);
        let [d0, d1] = two_digits(day);
        let [h0, h1] = two_digits(of_day / 3600);
        let [i0, i1] = two_digits(of_day / 60 % 60);
        let [s0, s1] = two_digits(of_day % 60);
        Some(Self {
            date_time: [
                y0, y1, y2, y3, m0, m1, d0, d1, b'T', h0, h1, i0, i1, s0, s1, b'Z',
            ],
        })
    }

    /// Returns the date part, `YYYYMMDD`.
    fn date(&self) -> [u8; 8] {
        let [a, b, c, d, e, f, g, h, ..] = self.date_time;
        [a, b, c, d, e, f, g, h]
    }
}

/// Returns the year, month and day of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days from the epoch on).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Returns the two decimal digits of a number below 100.
fn two_digits(n: u64) -> [u8; 2] {
    [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]
}

/// The parts of a request of this crate's shape that go into its canonical request.
struct Shape<'a> {
    content_type: Option<&'a str>,
    host: &'a str,
    session_token: Option<&'a str>,
}

impl<'a> Shape<'a> {
    /// Returns the parts when the request is `POST /` without a query, with a `host`, at most a
    /// `content-type` besides, and header values (and session token) that SigV4's
    /// canonicalisation leaves as they are; `None` sends the request to the general signer.
    fn of<B>(request: &'a Request<B>, credentials: &'a Credentials) -> Option<Self> {
        let uri = request.uri();
        if request.method() != Method::POST || uri.path() != "/" || uri.query().is_some() {
            return None;
        }
        let mut content_type = None;
        let mut host = None;
        for (name, value) in request.headers() {
            let slot = if name == HOST {
                &mut host
            } else if name == CONTENT_TYPE {
                &mut content_type
            } else {
                return None;
            };
            let value = value.to_str().ok().filter(|v| is_canonical(v))?;
            if slot.replace(value).is_some() {
                return None;
            }
        }
        let session_token = credentials.session_token();
        if session_token.is_some_and(|token| !is_canonical(token)) {
            return None;
        }
        Some(Self {
            content_type,
            host: host?,
            session_token,
        })
    }

    /// Returns the names of the signed headers, `;`-separated in order.
    fn signed_headers(&self) -> &'static str {
        match (self.content_type.is_some(), self.session_token.is_some()) {
            (true, false) => "content-type;host;x-amz-date",
            (true, true) => "content-type;host;x-amz-date;x-amz-security-token",
            (false, false) => "host;x-amz-date",
            (false, true) => "host;x-amz-date;x-amz-security-token",
        }
    }

    /// Writes the rest of the canonical request after [`Signer::canonical_prefix`] to `rest`:
    /// the date, the session token, the signed header names and the payload hash.
    fn write_rest(
        &self,
        rest: &mut Vec<u8>,
        stamp: &Stamp,
        signed_headers: &str,
        body: &impl AsRef<[u8]>,
    ) {
        let payload_hash = hex(sha256(body.as_ref()).as_ref());
        rest.extend_from_slice(&stamp.date_time);
        rest.push(b'\n');
        if let Some(token) = self.session_token {
            rest.extend_from_slice(b"x-amz-security-token:");
            rest.extend_from_slice(token.as_bytes());
            rest.push(b'\n');
        }
        rest.push(b'\n');
        rest.extend_from_slice(signed_headers.as_bytes());
        rest.push(b'\n');
        rest.extend_from_slice(&payload_hash);
    }
}

/// Returns `true` for a header value SigV4 signs as it is: visible ASCII and single spaces, no
/// space at either end.
fn is_canonical(value: &str) -> bool {
    // Starting as if after a space refuses a leading space with the rule for doubled ones.
    let mut after_space = true;
    for &byte in value.as_bytes() {
        let space = byte == b' ';
        if !(0x20..0x7f).contains(&byte) || (space && after_space) {
            return false;
        }
        after_space = space;
    }
    !after_space || value.is_empty()
}

/// Writes a SHA-256 digest in lower-case hex.
fn hex(digest: &[u8]) -> [u8; 64] {
    let mut out = [0; 64];
    for (pair, byte) in out.chunks_exact_mut(2).zip(digest) {
        for (slot, nibble) in pair.iter_mut().zip([byte >> 4, byte & 0x0f]) {
            *slot = if nibble < 10 {
                b'0' + nibble
            } else {
                b'a' + nibble - 10
            };
        }
    }
    out
}

/// Signs any request with aws-sigv4's general signer.
fn sign_general<B: AsRef<[u8]>>(
    request: &mut Request<B>,
    credentials: &Credentials,
    region: &Region,
    time: SystemTime,
) -> Result<(), SigningError> {
    let identity: Identity = aws_credential_types::Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        credentials.session_token().map(str::to_owned),
        None,
        "ses-dkim",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region.as_str())
        .name(SIGNING_NAME)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SigningError::with_source("incomplete signing parameters", e))?
        .into();

    let uri = request.uri().to_string();
    let mut headers = Vec::with_capacity(request.headers().len());
    for (name, value) in request.headers() {
        let value = value
            .to_str()
            .map_err(|e| SigningError::with_source("a header value is not visible ASCII", e))?;
        headers.push((name.as_str(), value));
    }
    let signable = SignableRequest::new(
        request.method().as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Bytes(request.body().as_ref()),
    )
    .map_err(|e| SigningError::with_source("the request cannot be signed", e))?;

    let (instructions, _signature) = aws_sigv4::http_request::sign(signable, &params)
        .map_err(|e| SigningError::with_source("signing failed", e))?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

/// A request that could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the request: {message}")]
pub struct SigningError {
    message: &'static str,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SigningError {
    fn new(message: &'static str) -> Self {
        Self {
            message,
            source: None,
        }
    }

    fn with_source(
        message: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message,
            source: Some(Box::new(source)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::domain::Domain;
    use crate::endpoint::{Endpoint, EndpointVariant};
    use crate::request::verify_domain_dkim;

    /// 2024-01-01T00:00:00Z.
    fn new_year_2024() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_704_067_200)
    }

    fn signed(region: &str, token: Option<&str>) -> Request<Vec<u8>> {
        let region = Region::parse(region).unwrap();
        let endpoint = Endpoint::for_region(&region, EndpointVariant::Standard).unwrap();
        let mut request = verify_domain_dkim(&endpoint, &Domain::parse("example.com").unwrap());
        let creds = Credentials::new("AKIDEXAMPLE", "secret", token.map(str::to_owned));
        sign(&mut request, &creds, &region, new_year_2024()).unwrap();
        request
    }

    fn header<'a>(request: &'a Request<Vec<u8>>, name: &str) -> Option<&'a str> {
        request.headers().get(name).map(|v| v.to_str().unwrap())
    }

    /// F18: the host uses `email`, the credential scope uses `ses`.
    #[test]
    fn f18_wrong_signing_name() {
        let request = signed("eu-west-1", None);
        assert_eq!(
            header(&request, "host"),
            Some("email.eu-west-1.amazonaws.com")
        );
        let auth = header(&request, "authorization").unwrap();
        assert!(
            auth.contains("Credential=AKIDEXAMPLE/20240101/eu-west-1/ses/aws4_request,"),
            "{auth}"
        );
        assert_eq!(header(&request, "x-amz-date"), Some("20240101T000000Z"));
    }

    /// F17: the session token is sent and signed only when it is set and not empty.
    #[test]
    fn f17_session_token_handling() {
        let with = signed("us-east-1", Some("TOKEN"));
        assert_eq!(header(&with, "x-amz-security-token"), Some("TOKEN"));
        assert!(
            header(&with, "authorization")
                .unwrap()
                .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,")
        );
        for token in [Some(""), None] {
            let without = signed("us-east-1", token);
            assert_eq!(header(&without, "x-amz-security-token"), None);
            assert!(
                header(&without, "authorization")
                    .unwrap()
                    .contains("SignedHeaders=content-type;host;x-amz-date,")
            );
        }
    }

    #[test]
    fn missing_host_is_an_error_not_a_panic() {
        let mut request = Request::new(Vec::new());
        *request.uri_mut() = "/".parse().unwrap();
        let creds = Credentials::new("a", "b", None);
        let err = sign(
            &mut request,
            &creds,
            &Region::parse("us-east-1").unwrap(),
            new_year_2024(),
        );
        assert!(err.is_err());
    }

    /// Every botocore vector is of the shape the signer builds itself, so the vectors test of
    /// `sign` covers the hand-built canonical request, not only the general signer.
    #[test]
    fn the_botocore_vectors_take_the_fast_path() {
        let file: serde_json::Value = serde_json::from_str(include_str!(
            "../tests/data/requests/botocore-sigv4-vectors.json"
        ))
        .unwrap();
        let vectors = file["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 84);
        for vector in vectors {
            let headers = vector["headers"].as_object().unwrap();
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
                    .and_then(|(_, value)| value.as_str())
                    .unwrap()
            };
            let request = Request::builder()
                .method(vector["method"].as_str().unwrap())
                .uri(vector["url"].as_str().unwrap())
                .header("content-type", header("Content-Type"))
                .header("host", header("Host"))
                .body(vector["body"].as_str().unwrap().as_bytes().to_vec())
                .unwrap();
            let token = vector["session_token"].as_str().map(str::to_owned);
            let creds = Credentials::new("AKIDEXAMPLE", "secret", token);
            assert!(
                Shape::of(&request, &creds).is_some(),
                "vector {}",
                vector["id"]
            );
        }
    }

    /// A kept signer gives what a fresh one gives while the day, the region and the secret
    /// change under it.
    #[test]
    fn a_kept_signer_derives_its_key_again_when_needed() {
        let mut kept = Signer::new();
        let day = Duration::from_secs(86_400);
        let steps = [
            ("us-east-1", "secret", Duration::ZERO),
            ("us-east-1", "secret", Duration::from_secs(86_399)),
            ("us-east-1", "secret", day),
            ("eu-west-1", "secret", day),
            ("eu-west-1", "other", day),
            ("eu-west-1", "other", day * 400),
        ];
        for (region, secret, offset) in steps {
            let region = Region::parse(region).unwrap();
            let endpoint = Endpoint::for_region(&region, EndpointVariant::Standard).unwrap();
            let creds = Credentials::new("AKIDEXAMPLE", secret, None);
            let time = new_year_2024() + offset;
            let mut fresh = verify_domain_dkim(&endpoint, &Domain::parse("example.com").unwrap());
            let mut reused = fresh.clone();
            sign_general(&mut fresh, &creds, &region, time).unwrap();
            kept.sign(&mut reused, &creds, &region, time).unwrap();
            assert_eq!(fresh.headers(), reused.headers(), "{region} {offset:?}");
        }
        assert!(!format!("{kept:?}").contains("other"));
    }

    #[test]
    fn canonical_values_are_visible_ascii_and_single_inner_spaces() {
        for value in ["", "a", "a b", "a b c", "text/xml; charset=utf-8", "~!"] {
            assert!(is_canonical(value), "{value:?}");
        }
        for value in [" ", "  ", " a", "a ", "a  b", "a\tb", "\u{e9}", "a\x7f"] {
            assert!(!is_canonical(value), "{value:?}");
        }
    }

    #[test]
    fn stamps_match_the_calendar() {
        for (seconds, expected) in [
            (0, "19700101T000000Z"),
            (951_782_400, "20000229T000000Z"),
            (1_704_067_199, "20231231T235959Z"),
            (4_102_444_800, "21000101T000000Z"),
            (253_402_300_799, "99991231T235959Z"),
        ] {
            let stamp = Stamp::of(UNIX_EPOCH + Duration::from_secs(seconds)).unwrap();
            assert_eq!(std::str::from_utf8(&stamp.date_time).unwrap(), expected);
        }
        assert!(Stamp::of(UNIX_EPOCH + Duration::from_secs(253_402_300_800)).is_none());
        assert!(Stamp::of(UNIX_EPOCH - Duration::from_secs(1)).is_none());
    }

    proptest::proptest! {
        /// The hand-built canonical request signs exactly as aws-sigv4's general signer, for
        /// any domain, region, time, secret and session token, and other shapes fall back to
        /// it.
        #[test]
        fn the_signer_signs_as_aws_sigv4(
            domain in "[a-z0-9]{1,20}\\.[a-z]{2,6}",
            region in proptest::sample::select(vec!["us-east-1", "af-south-1", "eu-west-1"]),
            seconds in 0u64..8_000_000_000,
            secret in "[ -~]{0,48}",
            token in proptest::option::of("[ -~]{0,40}"),
            extra_header in proptest::bool::ANY,
        ) {
            let region = Region::parse(region).unwrap();
            let endpoint = Endpoint::for_region(&region, EndpointVariant::Standard).unwrap();
            let mut fast = verify_domain_dkim(&endpoint, &Domain::parse(&domain).unwrap());
            if extra_header {
                fast.headers_mut().insert("x-extra", HeaderValue::from_static("a  b "));
            }
            let mut general = fast.clone();
            let creds = Credentials::new("AKIDEXAMPLE", secret, token);
            let time = UNIX_EPOCH + Duration::from_secs(seconds);
            let fast_result = Signer::new().sign(&mut fast, &creds, &region, time);
            let general_result = sign_general(&mut general, &creds, &region, time);
            proptest::prop_assert_eq!(fast_result.is_ok(), general_result.is_ok());
            proptest::prop_assert_eq!(fast.headers(), general.headers());
        }
    }

    proptest::proptest! {
        /// Changing any signed part (time, region, secret, token, body, a signed header) changes
        /// the signature, and a different access key shows in the credential scope.
        #[test]
        fn the_signature_covers_every_signed_part(
            part in 0usize..7,
            seconds in 0u64..4_000_000_000,
            domain in "[a-z]{1,20}\\.com",
        ) {
            let base = || {
                let region = Region::parse("eu-west-1").unwrap();
                let endpoint = Endpoint::for_region(&region, EndpointVariant::Standard).unwrap();
                let request = verify_domain_dkim(&endpoint, &Domain::parse(&domain).unwrap());
                let creds = Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()));
                (request, creds, region, UNIX_EPOCH + Duration::from_secs(seconds))
            };
            let signature = |(mut request, creds, region, time): (Request<Vec<u8>>, Credentials, Region, SystemTime)| {
                sign(&mut request, &creds, &region, time).unwrap();
                request.headers()["authorization"].to_str().unwrap().to_owned()
            };

            let original = signature(base());
            let (mut request, mut creds, mut region, mut time) = base();
            match part {
                0 => time += Duration::from_secs(1),
                1 => region = Region::parse("eu-west-2").unwrap(),
                2 => creds = Credentials::new("AKIDEXAMPLF", "secret", Some("token".into())),
                3 => creds = Credentials::new("AKIDEXAMPLE", "secreT", Some("token".into())),
                4 => creds = Credentials::new("AKIDEXAMPLE", "secret", Some("tokeN".into())),
                5 => request.body_mut().push(b'x'),
                _ => {
                    request.headers_mut().insert(http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/x-www-form-urlencoded"));
                }
            }
            proptest::prop_assert_ne!(original, signature((request, creds, region, time)));
        }
    }
}
