//! Where requests go: the SES API endpoint for a region, or an explicit override.

use std::fmt;

use http::uri::{Authority, Scheme};
use http::{HeaderValue, Uri};

use crate::region::{Region, RegionError};

/// Which of a region's SES endpoints to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EndpointVariant {
    /// `email.<region>.amazonaws.com`.
    #[default]
    Standard,
    /// `email-fips.<region>.amazonaws.com`, where AWS lists one.
    Fips,
    /// `email.<region>.api.aws` (IPv4 and IPv6).
    DualStack,
    /// `email-fips.<region>.api.aws`, where AWS lists a FIPS endpoint.
    FipsDualStack,
}

/// A resolved SES API endpoint: scheme and authority, always with the path `/`.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    scheme: Scheme,
    authority: Authority,
    host_header: String,
    /// `host_header` as a header value and the URI of `/`, built once: every request gets clones,
    /// which share their bytes.
    host_value: HeaderValue,
    uri: Uri,
}

impl Endpoint {
    /// Resolves a known region's endpoint for a variant.
    ///
    /// # Errors
    ///
    /// Fails for a region missing from the table (the error lists the known ones) and for a FIPS
    /// variant in a region without a FIPS endpoint.
    pub fn for_region(region: &Region, variant: EndpointVariant) -> Result<Self, EndpointError> {
        let info = region.known_info()?;
        let fips = matches!(
            variant,
            EndpointVariant::Fips | EndpointVariant::FipsDualStack
        );
        if fips && !info.has_fips {
            return Err(EndpointError::NoFips(region.as_str().to_owned()));
        }

        let prefix = if fips { "email-fips" } else { "email" };
        let suffix = match variant {
            EndpointVariant::Standard | EndpointVariant::Fips => info.dns_suffix,
            EndpointVariant::DualStack | EndpointVariant::FipsDualStack => {
                info.dualstack_dns_suffix
            }
        };
        Self::parse(&format!("https://{prefix}.{}.{suffix}", info.name))
    }

    /// Parses an explicit endpoint such as `https://email.eu-west-1.amazonaws.com` or a local
    /// peer like `http://127.0.0.1:5000`.
    ///
    /// # Errors
    ///
    /// Fails when the URL is malformed, uses a scheme other than `http` or `https`, carries a
    /// path, query or credentials, or names the SES SMTP interface (`email-smtp.`), which does
    /// not serve the API.
    pub fn parse(url: &str) -> Result<Self, EndpointError> {
        let invalid = |reason: &'static str| EndpointError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url.trim().parse().map_err(|_| invalid("not a URL"))?;
        let scheme = uri.scheme().cloned().ok_or_else(|| {
            invalid("no scheme: start it with `https://` (or `http://` for a local emulator)")
        })?;
        if scheme != Scheme::HTTPS && scheme != Scheme::HTTP {
            return Err(invalid("the scheme must be http or https"));
        }
        let authority = uri.authority().cloned().ok_or_else(|| invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("credentials do not belong in the endpoint"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(invalid("the SES API endpoint has no path or query"));
        }
        let host = authority.host().to_ascii_lowercase();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        if host.starts_with("email-smtp.") {
            return Err(EndpointError::SmtpHost(url.to_owned()));
        }

        // The signed `host` header carries the port only when it is not the scheme's default.
        let default_port = if scheme == Scheme::HTTPS { 443 } else { 80 };
        let host_header = match authority.port_u16() {
            Some(port) if port != default_port => format!("{host}:{port}"),
            _ => host,
        };
        // Both were parsed from the URL already; these only fail for a host no URI can carry.
        let host_value = HeaderValue::from_str(&host_header)
            .map_err(|_| invalid("the host is not a valid header value"))?;
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(scheme.clone());
        parts.authority = Some(authority.clone());
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        let uri = Uri::from_parts(parts).map_err(|_| invalid("not a URL"))?;
        Ok(Self {
            scheme,
            authority,
            host_header,
            host_value,
            uri,
        })
    }

    /// Returns `true` when requests would go over plain HTTP.
    pub fn is_plain_http(&self) -> bool {
        self.scheme == Scheme::HTTP
    }

    /// Returns the value of the `host` header, with the port only when it is not the default.
    pub fn host_header(&self) -> &str {
        &self.host_header
    }

    /// Returns the `host` header's value: a clone sharing its bytes.
    pub(crate) fn host_value(&self) -> HeaderValue {
        self.host_value.clone()
    }

    /// Returns the host to connect to, without the port: a name, an IPv4 address, or an IPv6
    /// address without the brackets the URL and the `host` header put around it.
    pub fn host(&self) -> &str {
        let host = self.authority.host();
        host.strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(host)
    }

    /// Returns the port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.authority
            .port_u16()
            .unwrap_or(if self.is_plain_http() { 80 } else { 443 })
    }

    /// Returns the URI of the API's single path, `/`.
    pub fn uri(&self) -> Uri {
        self.uri.clone()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({self})")
    }
}

/// An endpoint that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The region is malformed or not known.
    #[error(transparent)]
    Region(#[from] RegionError),
    /// A FIPS endpoint was asked for where AWS lists none.
    #[error("SES has no FIPS endpoint in `{0}`")]
    NoFips(String),
    /// The endpoint URL is malformed.
    #[error("invalid endpoint URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The URL names the SMTP interface rather than the API.
    #[error(
        "`{0}` is the SES SMTP interface, not the API; use `https://email.<region>.amazonaws.com`"
    )]
    SmtpHost(String),
    /// A custom endpoint was combined with FIPS or dual-stack.
    #[error("a custom endpoint cannot be combined with FIPS or dual-stack endpoints")]
    CustomWithVariant,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(name: &str) -> Region {
        Region::parse(name).unwrap()
    }

    #[test]
    fn standard_fips_and_dual_stack_hosts() {
        let cases = [
            (
                "eu-west-1",
                EndpointVariant::Standard,
                "https://email.eu-west-1.amazonaws.com",
            ),
            (
                "us-east-1",
                EndpointVariant::Fips,
                "https://email-fips.us-east-1.amazonaws.com",
            ),
            (
                "af-south-1",
                EndpointVariant::DualStack,
                "https://email.af-south-1.api.aws",
            ),
            (
                "us-west-2",
                EndpointVariant::FipsDualStack,
                "https://email-fips.us-west-2.api.aws",
            ),
            (
                "eusc-de-east-1",
                EndpointVariant::Standard,
                "https://email.eusc-de-east-1.amazonaws.eu",
            ),
        ];
        for (name, variant, expected) in cases {
            let endpoint = Endpoint::for_region(&region(name), variant).unwrap();
            assert_eq!(endpoint.to_string(), expected);
            assert_eq!(endpoint.uri().to_string(), format!("{expected}/"));
        }
    }

    #[test]
    fn fips_only_where_listed() {
        let err = Endpoint::for_region(&region("eu-west-1"), EndpointVariant::Fips).unwrap_err();
        assert_eq!(err, EndpointError::NoFips("eu-west-1".into()));
    }

    #[test]
    fn unknown_region_lists_known_ones() {
        let err = Endpoint::for_region(&region("xx-east-9"), EndpointVariant::Standard)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("xx-east-9") && err.contains("us-east-1"),
            "{err}"
        );
    }

    #[test]
    fn overrides() {
        let local = Endpoint::parse("http://127.0.0.1:5000").unwrap();
        assert!(local.is_plain_http());
        assert_eq!(local.host_header(), "127.0.0.1:5000");
        assert_eq!(local.port(), 5000);
        let default_port = Endpoint::parse("https://Email.EU-West-1.amazonaws.com:443/").unwrap();
        assert_eq!(default_port.host_header(), "email.eu-west-1.amazonaws.com");
        assert_eq!(default_port.port(), 443);
        assert_eq!((local.host(), local.port()), ("127.0.0.1", 5000));
        // What to connect to has no brackets; the `host` header keeps them.
        let ipv6 = Endpoint::parse("http://[::1]:47300").unwrap();
        assert_eq!((ipv6.host(), ipv6.port()), ("::1", 47300));
        assert_eq!(ipv6.host_header(), "[::1]:47300");

        for bad in [
            "ftp://x.example",
            "email.us-east-1.amazonaws.com",
            "https://x.example/path",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        let smtp = Endpoint::parse("https://email-smtp.us-east-1.amazonaws.com").unwrap_err();
        assert!(smtp.to_string().contains("SMTP interface"), "{smtp}");
    }
}
