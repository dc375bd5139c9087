//! Moving one request and its answer: a pooled hyper client (over rustls for HTTPS), with a
//! timeout and a cap on the body.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;

use ses_dkim_core::Endpoint;

use crate::error::{ClientError, ConfigError, one_line};

/// What came back: the status, the request-id header and the whole body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) request_id: Option<String>,
    pub(crate) body: Bytes,
}

/// A keep-alive HTTP/1.1 client for one endpoint: HTTPS (rustls with the webpki roots) or plain
/// HTTP.
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
    Tls(Client<HttpsConnector<HttpConnector>, Full<Bytes>>),
    Plain(Client<HttpConnector, Full<Bytes>>),
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
    /// Builds the transport for one endpoint; TLS is set up only when it is `https`.
    pub(crate) fn new(
        endpoint: &Endpoint,
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
            Pool::Plain(builder.build(http))
        } else {
            http.enforce_http(false);
            // Name the provider: several rustls providers may be compiled in through aws-config,
            // and the implicit default refuses to choose between them.
            let provider = Arc::new(crypto_provider());
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_webpki_roots(provider)
                .map_err(|e| ConfigError::Tls(e.to_string()))?
                .https_only()
                .enable_http1()
                .wrap_connector(http);
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
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);

        let limited = Limited::new(response.into_body(), self.max_body_bytes);
        let body = match limited.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(ClientError::BodyTooLarge {
                    endpoint: self.endpoint.clone(),
                    limit: self.max_body_bytes,
                });
            }
            Err(e) => return Err(self.http_error(e.as_ref())),
        };
        Ok(Answer {
            status,
            request_id,
            body,
        })
    }

    fn http_error(&self, error: &(dyn std::error::Error + 'static)) -> ClientError {
        ClientError::Http {
            endpoint: self.endpoint.clone(),
            message: one_line(error),
        }
    }
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
    use super::*;

    fn transport(url: &str) -> Transport {
        let second = Duration::from_secs(1);
        let endpoint = Endpoint::parse(url).unwrap();
        Transport::new(&endpoint, second, second, 1024).unwrap()
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
