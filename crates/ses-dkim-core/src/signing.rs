//! SigV4 signing of a built request, for a time the caller passes.

use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::Request;

use crate::credentials::Credentials;
use crate::region::Region;

/// The SigV4 signing name of SES; the endpoint's host prefix, `email`, is a different word.
pub const SIGNING_NAME: &str = "ses";

/// Signs a request in place with SigV4 for `region` at `time`.
///
/// Adds `x-amz-date`, `authorization` and, for temporary credentials, `x-amz-security-token`.
/// The signed headers are those already on the request (`content-type` and `host` for requests
/// built by this crate) plus the ones added; the payload hash covers the exact body bytes.
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
    if !request.headers().contains_key(http::header::HOST) {
        // aws-sigv4 would fall back to the URI's authority and panic without one.
        return Err(SigningError::new("the request has no `host` header"));
    }

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
