//! Moving one request and its answer: a pooled hyper client (over rustls for HTTPS), with a
//! timeout and a cap on the body.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::Uri;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tower_service::Service;

use ses_dkim_core::Endpoint;

use crate::error::{ClientError, ConfigError, one_line};
use crate::settings::CaBundle;

/// What came back: the status, the request-id header and the whole body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// The `x-amzn-RequestId` header as it came: a call copies it out only when the body names
    /// no request id of its own.
    pub(crate) request_id: Option<http::HeaderValue>,
    pub(crate) body: Bytes,
}

impl Answer {
    /// Returns the request-id header's value, when it is text.
    pub(crate) fn header_request_id(&self) -> Option<&str> {
        header_text(self.request_id.as_ref())
    }
}

/// Returns a header value as text, when it is.
pub(crate) fn header_text(value: Option<&http::HeaderValue>) -> Option<&str> {
    value.and_then(|value| value.to_str().ok())
}

/// A keep-alive HTTP/1.1 client for one endpoint: HTTPS (rustls with the webpki roots, or the
/// authorities of a CA bundle) or plain HTTP.
#[derive(Clone)]
pub(crate) struct Transport {
    client: Pool,
    endpoint: String,
    attempt_timeout: Duration,
    max_body_bytes: usize,
}

/// The pooled client: with TLS for an `https` endpoint, without for a plain-`http` one, so that a
/// local endpoint never loads the root certificates.
#[derive(Clone)]
enum Pool {
    Tls(Client<HttpsConnector<Connector>, Full<Bytes>>),
    Plain(Client<Connector, Full<Bytes>>),
}

impl Pool {
    async fn request(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<Incoming>, hyper_util::client::legacy::Error> {
        match self {
            Self::Tls(client) => client.request(request).await,
            Self::Plain(client) => client.request(request).await,
        }
    }
}

impl Transport {
    /// Builds the transport for one endpoint; TLS is set up only when it is `https`, trusting
    /// the authorities of `ca_bundle` when one is given and the webpki roots otherwise.
    pub(crate) fn new(
        endpoint: &Endpoint,
        ca_bundle: Option<&CaBundle>,
        connect_timeout: Duration,
        attempt_timeout: Duration,
        max_body_bytes: usize,
    ) -> Result<Self, ConfigError> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);

        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(Duration::from_secs(50))
            .pool_max_idle_per_host(8)
            // Head and body are small: one copy into one buffer is cheaper than a vectored write.
            .http1_writev(false)
            // Every request carries the `host` header it was signed with.
            .set_host(false);
        let client = if endpoint.is_plain_http() {
            Pool::Plain(builder.build(Connector(http)))
        } else {
            http.enforce_http(false);
            // Name the provider: several rustls providers may be compiled in through aws-config,
            // and the implicit default refuses to choose between them.
            let provider = Arc::new(crypto_provider());
            let tls = hyper_rustls::HttpsConnectorBuilder::new();
            let tls = match ca_bundle {
                None => tls
                    .with_provider_and_webpki_roots(provider)
                    .map_err(|e| ConfigError::Tls(e.to_string()))?,
                Some(bundle) => {
                    let config = rustls::ClientConfig::builder_with_provider(provider)
                        .with_safe_default_protocol_versions()
                        .map_err(|e| ConfigError::Tls(e.to_string()))?
                        .with_root_certificates(bundle_roots(bundle)?)
                        .with_no_client_auth();
                    tls.with_tls_config(config)
                }
            };
            let https = tls
                .https_only()
                .enable_http1()
                .wrap_connector(Connector(http));
            Pool::Tls(builder.build(https))
        };
        Ok(Self {
            client,
            endpoint: endpoint.to_string(),
            attempt_timeout,
            max_body_bytes,
        })
    }

    /// Sends one request and reads the whole answer within the attempt timeout, or by the
    /// deadline if that comes first.
    ///
    /// # Errors
    ///
    /// As the exchange fails; [`ClientError::Timeout`] when the attempt timeout expires, and
    /// [`ClientError::DeadlineExceeded`] wrapping it when the deadline cut the attempt short.
    pub(crate) async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        deadline: Option<Instant>,
    ) -> Result<Answer, ClientError> {
        let request = request.map(|body| Full::new(Bytes::from(body)));
        let left = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
        let (limit, cut_by_deadline) = match left {
            Some(left) if left < self.attempt_timeout => (left, true),
            _ => (self.attempt_timeout, false),
        };
        match tokio::time::timeout(limit, self.exchange(request)).await {
            Ok(result) => result,
            Err(_) => {
                let timeout = ClientError::Timeout {
                    endpoint: self.endpoint.clone(),
                    after: limit,
                };
                if cut_by_deadline {
                    Err(ClientError::DeadlineExceeded(Box::new(timeout)))
                } else {
                    Err(timeout)
                }
            }
        }
    }

    async fn exchange(&self, request: http::Request<Full<Bytes>>) -> Result<Answer, ClientError> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| self.http_error(&e))?;
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get(ses_dkim_core::response::REQUEST_ID_HEADER)
            .cloned();

        let body = self.read_body(response.into_body()).await?;
        Ok(Answer {
            status,
            request_id,
            body,
        })
    }

    /// Reads a whole body of at most the cap, without a list of its pieces: an answer in one
    /// piece, the usual case, is kept as it came, and only one in several is copied into one
    /// buffer.
    async fn read_body(&self, mut body: Incoming) -> Result<Bytes, ClientError> {
        let mut first = Bytes::new();
        let mut joined: Option<BytesMut> = None;
        let mut read = 0_usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| self.http_error(&e))?;
            // Trailers carry nothing a call reads.
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if data.is_empty() {
                continue;
            }
            read = read.saturating_add(data.len());
            if read > self.max_body_bytes {
                return Err(ClientError::BodyTooLarge {
                    endpoint: self.endpoint.clone(),
                    limit: self.max_body_bytes,
                });
            }
            match &mut joined {
                Some(joined) => joined.extend_from_slice(&data),
                None if first.is_empty() => first = data,
                None => {
                    let mut both = BytesMut::with_capacity(read);
                    both.extend_from_slice(&first);
                    both.extend_from_slice(&data);
                    joined = Some(both);
                }
            }
        }
        Ok(joined.map_or(first, BytesMut::freeze))
    }

    /// Classifies a failed exchange: a refused certificate, a connection that could not be
    /// opened, a server that did not speak TLS, or a failure on an open connection.
    fn http_error(&self, error: &(dyn std::error::Error + 'static)) -> ClientError {
        let endpoint = self.endpoint.clone();
        if let Some(refused) = certificate_error(error) {
            let mut message = one_line(error);
            if let Some(hint) = certificate_hint(refused) {
                message.push_str("; ");
                message.push_str(hint);
            }
            return ClientError::Certificate { endpoint, message };
        }
        if let Some(failed) = find_in_chain::<ConnectFailed>(error) {
            return ClientError::Connect {
                endpoint,
                message: failed.to_string(),
            };
        }
        if not_tls(error) {
            let plain = self
                .endpoint
                .strip_prefix("https://")
                .map_or_else(|| "http://".to_owned(), |rest| format!("http://{rest}"));
            let message = format!(
                "{}; the server may speak plain HTTP: try {plain}",
                innermost(error)
            );
            return ClientError::NotTls { endpoint, message };
        }
        ClientError::Http {
            endpoint,
            message: one_line(error),
        }
    }
}

/// Opening the TCP connection failed: the DNS lookup, the connect itself or its timeout. Told
/// apart from a failure on an open connection, which hyper-util's error cannot show by type
/// (its connect error type is private, and its `is_connect` also covers the TLS handshake).
#[derive(Debug)]
struct ConnectFailed(String);

impl ConnectFailed {
    /// Describes hyper-util's connect error: "tcp connect error" and "dns error" say less than
    /// their causes do.
    fn new(error: &(dyn std::error::Error + Send + Sync + 'static)) -> Self {
        let what = error.to_string();
        let cause = error.source().map(one_line);
        Self(match (what.as_str(), cause) {
            ("tcp connect error", Some(cause)) => cause,
            ("dns error", Some(cause)) => format!("DNS lookup failed: {cause}"),
            (_, _) => one_line(error),
        })
    }
}

impl std::fmt::Display for ConnectFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectFailed {}

/// hyper-util's TCP connector, less the addresses it attaches to every response: no call reads
/// them, and attaching them costs three allocations an answer.
#[derive(Clone)]
struct Connector(HttpConnector);

impl Service<Uri> for Connector {
    type Response = Connection;
    type Error = ConnectFailed;
    type Future = Pin<Box<dyn Future<Output = Result<Connection, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx).map_err(|e| ConnectFailed::new(&e))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            connecting
                .await
                .map(Connection)
                .map_err(|e| ConnectFailed::new(&e))
        })
    }
}

/// A TCP connection that tells the pool nothing about itself: no proxy, no addresses; over it,
/// hyper-rustls adds what TLS negotiated.
struct Connection(TokioIo<TcpStream>);

impl hyper_util::client::legacy::connect::Connection for Connection {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }
}

/// Returns what to check for the refusals with a likely cause.
fn certificate_hint(refused: &rustls::CertificateError) -> Option<&'static str> {
    use rustls::CertificateError as Refused;
    match refused {
        Refused::UnknownIssuer => Some(
            "no authority the client trusts signed it: behind a TLS-inspecting proxy, trust the \
             proxy's authority with --ca-bundle or AWS_CA_BUNDLE",
        ),
        Refused::NotValidForName | Refused::NotValidForNameContext { .. } => Some(
            "it is another host's: check the endpoint (--endpoint-url, AWS_ENDPOINT_URL_SES, \
             AWS_ENDPOINT_URL) and the region",
        ),
        Refused::Expired
        | Refused::ExpiredContext { .. }
        | Refused::NotValidYet
        | Refused::NotValidYetContext { .. } => Some("check this machine's clock"),
        _ => None,
    }
}

/// Returns why rustls refused the peer's certificate, when that is what failed.
fn certificate_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::CertificateError> {
    match find_in_chain::<rustls::Error>(error)? {
        rustls::Error::InvalidCertificate(refused) => Some(refused),
        _ => None,
    }
}

/// Returns `true` when what came back to the TLS handshake was not TLS at all, as when an
/// `https` URL names a server that speaks plain HTTP.
fn not_tls(error: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        find_in_chain::<rustls::Error>(error),
        Some(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType
        ))
    )
}

/// Returns the last error of the chain, which says most about what happened.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut last = error;
    let mut next = chain_next(error);
    // Bounded: a chain of errors is short, and a cycle would be a bug elsewhere.
    for _ in 0..16 {
        let Some(error) = next else {
            break;
        };
        last = error;
        next = chain_next(error);
    }
    last.to_string()
}

/// Finds an error of type `T` in the chain of `error`.
///
/// hyper-rustls carries the rustls error inside an `io::Error` (inside another one), and the
/// `source` of an `io::Error` skips what it wraps: the walk goes into what each one wraps.
fn find_in_chain<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(error);
    // Bounded: a chain of errors is short, and a cycle would be a bug elsewhere.
    for _ in 0..16 {
        let error = next?;
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        next = chain_next(error);
    }
    None
}

/// Returns the next error of a chain: what an `io::Error` wraps, or else the `source`.
fn chain_next<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    match error.downcast_ref::<std::io::Error>() {
        Some(io) => io
            .get_ref()
            .map(|wrapped| wrapped as &(dyn std::error::Error + 'static)),
        None => error.source(),
    }
}

/// Reads the certificate authorities of a PEM bundle, as the AWS CLI's `ca_bundle` names one.
///
/// Sections other than certificates are skipped, and so are certificates that cannot serve as
/// a trust anchor (a system bundle may hold a few): a warning counts them. A bundle that cannot
/// be read, is not PEM, or leaves no authority is an error.
fn bundle_roots(bundle: &CaBundle) -> Result<RootCertStore, ConfigError> {
    let path = bundle.path.as_path();
    let invalid = |reason: String| ConfigError::CaBundle {
        bundle: bundle.clone(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("not a PEM file: {e}")))?;
    let found = certificates.len();
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        let reason = if found == 0 {
            "it holds no PEM certificate".to_owned()
        } else {
            format!("none of its {found} certificates can serve as an authority")
        };
        return Err(invalid(reason));
    }
    if ignored > 0 {
        tracing::warn!(
            bundle = %path.display(),
            ignored,
            "certificates of the CA bundle that cannot serve as an authority are ignored"
        );
    }
    tracing::debug!(bundle = %path.display(), authorities = added, "trusting a CA bundle");
    Ok(roots)
}

/// The rustls crypto provider this build was compiled with (aws-lc-rs when both are).
#[cfg(feature = "aws-lc-rs")]
fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// The rustls crypto provider this build was compiled with.
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
compile_error!("ses-dkim-client needs a TLS crypto provider: enable feature `aws-lc-rs` or `ring`");

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn transport(url: &str) -> Transport {
        let second = Duration::from_secs(1);
        let endpoint = Endpoint::parse(url).unwrap();
        Transport::new(&endpoint, None, second, second, 1024).unwrap()
    }

    /// Amazon Root CA 1, which signs the SES endpoints' certificates: a real one-authority bundle.
    const AMAZON_ROOT: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/amazon-root-ca-1.pem"
    );

    fn with_bundle(url: &str, bundle: &Path) -> Result<Transport, ConfigError> {
        let second = Duration::from_secs(1);
        let endpoint = Endpoint::parse(url).unwrap();
        let bundle = CaBundle {
            path: bundle.to_owned(),
            named_by: "AWS_CA_BUNDLE",
        };
        Transport::new(&endpoint, Some(&bundle), second, second, 1024)
    }

    fn bundle_error(url: &str, bundle: &Path) -> String {
        match with_bundle(url, bundle) {
            Err(e @ ConfigError::CaBundle { .. }) => e.to_string(),
            Err(e) => panic!("not a CA bundle error: {e}"),
            Ok(_) => panic!("{} was accepted", bundle.display()),
        }
    }

    /// A bundle of authorities replaces the webpki roots; a plain-HTTP endpoint never reads it.
    #[test]
    fn a_ca_bundle_is_read_for_https_only() {
        let https = "https://email.eu-west-1.amazonaws.com";
        let tls = with_bundle(https, Path::new(AMAZON_ROOT)).unwrap();
        assert!(matches!(tls.client, Pool::Tls(_)));
        let plain = with_bundle("http://127.0.0.1:4566", Path::new("/nonexistent/ca.pem"));
        assert!(matches!(plain.unwrap().client, Pool::Plain(_)));
    }

    /// A bundle that is missing, empty, not PEM or without one usable authority is refused, with
    /// its path and where it was set.
    #[test]
    fn an_unusable_ca_bundle_is_named() {
        let dir = std::env::temp_dir().join(format!("ses-dkim-bundle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let https = "https://email.eu-west-1.amazonaws.com";
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let not_a_certificate = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let cases = [
            (dir.join("missing.pem"), "No such file"),
            (write("empty.pem", ""), "it holds no PEM certificate"),
            (
                write(
                    "public-key-only.pem",
                    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                ),
                "it holds no PEM certificate",
            ),
            (
                write("broken.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n"),
                "not a PEM file",
            ),
            (
                write("bad-der.pem", not_a_certificate),
                "none of its 1 certificates can serve as an authority",
            ),
        ];
        for (path, reason) in &cases {
            let shown = bundle_error(https, path);
            assert!(
                shown.contains(&path.display().to_string())
                    && shown.contains("named by AWS_CA_BUNDLE")
                    && shown.contains(reason),
                "{shown}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A refused certificate is found inside the `io::Error`s hyper-rustls wraps it in, and the
    /// refusals with a likely cause say what to check.
    #[test]
    fn refused_certificates_are_found_and_explained() {
        use rustls::CertificateError as Refused;
        let wrapped = |refused: Refused| {
            let tls = std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(refused),
            );
            std::io::Error::other(tls)
        };
        let outer = wrapped(Refused::UnknownIssuer);
        assert!(matches!(
            certificate_error(&outer),
            Some(Refused::UnknownIssuer)
        ));
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(certificate_error(&plain).is_none());

        for (refused, needle) in [
            (Refused::UnknownIssuer, "AWS_CA_BUNDLE"),
            (Refused::NotValidForName, "--endpoint-url"),
            (Refused::Expired, "clock"),
            (Refused::NotValidYet, "clock"),
        ] {
            let hint = certificate_hint(&refused).unwrap_or_default();
            assert!(hint.contains(needle), "{refused:?}: {hint}");
        }
        assert_eq!(certificate_hint(&Refused::BadSignature), None);
    }

    /// A handshake answered with something that is not TLS is found inside the `io::Error`s
    /// hyper-rustls wraps it in, and only that: not a refused certificate, not a reset.
    #[test]
    fn an_answer_that_is_not_tls_is_found() {
        let wrapped = |error: rustls::Error| {
            let tls = std::io::Error::new(std::io::ErrorKind::InvalidData, error);
            std::io::Error::other(tls)
        };
        let plain = wrapped(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        ));
        assert!(not_tls(&plain));
        assert_eq!(
            innermost(&plain),
            "received corrupt message of type InvalidContentType"
        );
        let refused = wrapped(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert!(!not_tls(&refused));
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(!not_tls(&reset));
    }

    /// A failed TCP connect is found in the chain, however deep the boxes around it.
    #[test]
    fn a_failed_connect_is_found_in_the_chain() {
        let failed: Box<dyn std::error::Error + Send + Sync> =
            Box::new(ConnectFailed("Connection refused".to_owned()));
        let outer = std::io::Error::other(failed);
        let found = find_in_chain::<ConnectFailed>(&outer).map(ToString::to_string);
        assert_eq!(found.as_deref(), Some("Connection refused"));
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(find_in_chain::<ConnectFailed>(&reset).is_none());
    }

    /// A plain-HTTP endpoint (a local peer) never sets up TLS, nor loads the root certificates.
    #[test]
    fn tls_only_for_https() {
        assert!(matches!(
            transport("http://127.0.0.1:4566").client,
            Pool::Plain(_)
        ));
        let tls = transport("https://email.eu-west-1.amazonaws.com");
        assert!(matches!(tls.client, Pool::Tls(_)));
        assert_eq!(tls.endpoint, "https://email.eu-west-1.amazonaws.com");
    }
}
