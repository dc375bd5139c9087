//! `GetIdentityDkimAttributes`: what SES thinks of each identity's DKIM records.

use std::fmt;

use http::Request;

use crate::domain::Domain;
use crate::endpoint::Endpoint;
use crate::error::{ParseErrorKind, ResponseError};
use crate::request::query_request;
use crate::response::{DkimToken, SuccessRoot, non_empty, parse_document};
use crate::xml::{Tag, Visit};

/// The most identities one `GetIdentityDkimAttributes` request may name.
pub const MAX_IDENTITIES_PER_REQUEST: usize = 100;

/// Builds unsigned `GetIdentityDkimAttributes` requests for any number of domains, at most
/// [`MAX_IDENTITIES_PER_REQUEST`] per request, in the domains' order.
///
/// No domains give no requests. Sign each with [`crate::sign`]; SES allows one call a second.
pub fn get_identity_dkim_attributes<'a>(
    endpoint: &'a Endpoint,
    domains: &'a [Domain],
) -> impl Iterator<Item = Request<Vec<u8>>> + 'a {
    domains
        .chunks(MAX_IDENTITIES_PER_REQUEST)
        .map(move |chunk| get_identity_dkim_attributes_request(endpoint, chunk))
}

/// Builds one unsigned `GetIdentityDkimAttributes` request naming `identities`.
///
/// SES refuses more than [`MAX_IDENTITIES_PER_REQUEST`] identities in one request; split longer
/// lists with [`get_identity_dkim_attributes`] or `chunks`.
pub fn get_identity_dkim_attributes_request(
    endpoint: &Endpoint,
    identities: &[Domain],
) -> Request<Vec<u8>> {
    let names: Vec<String> = (1..=identities.len())
        .map(|i| format!("Identities.member.{i}"))
        .collect();
    let params: Vec<(&str, &str)> = names
        .iter()
        .map(String::as_str)
        .zip(identities.iter().map(Domain::as_str))
        .collect();
    query_request(endpoint, "GetIdentityDkimAttributes", &params)
}

/// SES's view of an identity's DKIM records.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum VerificationStatus {
    /// SES has not yet found the records.
    Pending,
    /// SES found the records; DKIM signing works.
    Success,
    /// SES gave up looking for the records (after 72 hours).
    Failed,
    /// A DNS problem kept SES from checking; it will try again.
    TemporaryFailure,
    /// DKIM verification has not started for this identity.
    NotStarted,
    /// A value this version does not know, kept as SES spelled it.
    Unknown(String),
}

impl VerificationStatus {
    /// Reads a status in SES v1's spelling (`TemporaryFailure`) or v2's (`TEMPORARY_FAILURE`).
    ///
    /// Anything else is [`VerificationStatus::Unknown`], never [`VerificationStatus::Failed`].
    pub fn parse(value: &str) -> Self {
        let value = value.trim();
        let folded: String = value
            .chars()
            .filter(|c| *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match folded.as_str() {
            "pending" => Self::Pending,
            "success" => Self::Success,
            "failed" => Self::Failed,
            "temporaryfailure" => Self::TemporaryFailure,
            "notstarted" => Self::NotStarted,
            _ => Self::Unknown(value.to_owned()),
        }
    }

    /// Returns `true` only for [`VerificationStatus::Failed`].
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failed)
    }

    /// Returns `true` when SES will not change its mind without new action (success or failure).
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Success | Self::Failed)
    }

    /// Returns SES v1's spelling, or the unknown value as given.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "Pending",
            Self::Success => "Success",
            Self::Failed => "Failed",
            Self::TemporaryFailure => "TemporaryFailure",
            Self::NotStarted => "NotStarted",
            Self::Unknown(value) => value,
        }
    }
}

impl fmt::Display for VerificationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One identity's entry in a `GetIdentityDkimAttributes` answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DkimAttributes {
    /// The identity as SES names it: a domain, or an email address.
    pub identity: String,
    /// Whether SES signs mail from the identity with DKIM.
    pub enabled: bool,
    /// Whether SES found the DKIM records.
    pub status: VerificationStatus,
    /// The identity's tokens, for domains; empty for email addresses.
    pub tokens: Vec<DkimToken>,
}

/// A successful `GetIdentityDkimAttributes` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DkimAttributesOutput {
    /// One entry per identity SES knows, in the answer's order; identities SES does not know may
    /// be missing.
    pub attributes: Vec<DkimAttributes>,
    /// The request id from `ResponseMetadata`, if present.
    pub request_id: Option<String>,
}

/// Parses the status and body of a `GetIdentityDkimAttributes` response.
///
/// # Errors
///
/// Returns [`ResponseError::Service`] for an `ErrorResponse`, and [`ResponseError::Parse`] for a
/// body that is not this response, an entry without a key, a `DkimEnabled` other than `true` or
/// `false`, or a token that is not a DNS label.
pub fn parse_get_identity_dkim_attributes(
    status: u16,
    body: &[u8],
) -> Result<DkimAttributesOutput, ResponseError> {
    const ENTRY: [Tag; 3] = [
        Tag::GetIdentityDkimAttributesResult,
        Tag::DkimAttributes,
        Tag::Entry,
    ];
    let mut attributes = Vec::new();
    let mut entry = EntryFields::default();

    let request_id = parse_document(status, body, SuccessRoot::STATUS, |visit| {
        let Visit::End {
            path: [_, at_entry @ .., last],
            text,
        } = visit
        else {
            return Ok(());
        };
        let in_entry = |n: usize| at_entry.get(..3) == Some(&ENTRY[..]) && at_entry.len() == n;
        match last {
            Tag::Entry if at_entry == &ENTRY[..2] => {
                attributes.push(std::mem::take(&mut entry).finish()?);
            }
            Tag::Key if in_entry(3) => entry.identity = non_empty(text),
            Tag::DkimEnabled if in_entry(4) => {
                entry.enabled = match text.trim() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(ParseErrorKind::InvalidValue {
                            element: "DkimEnabled",
                            value: other.to_owned(),
                        });
                    }
                };
            }
            Tag::DkimVerificationStatus if in_entry(4) => {
                entry.status = Some(VerificationStatus::parse(text));
            }
            Tag::Member if in_entry(5) && at_entry.get(4) == Some(&Tag::DkimTokens) => {
                entry.tokens.push(DkimToken::new(text.trim())?);
            }
            _ => {}
        }
        Ok(())
    })?;

    Ok(DkimAttributesOutput {
        attributes,
        request_id,
    })
}

/// An entry being read.
#[derive(Default)]
struct EntryFields {
    identity: Option<String>,
    enabled: bool,
    status: Option<VerificationStatus>,
    tokens: Vec<DkimToken>,
}

impl EntryFields {
    fn finish(self) -> Result<DkimAttributes, ParseErrorKind> {
        let identity = self.identity.ok_or_else(|| ParseErrorKind::InvalidValue {
            element: "key",
            value: String::new(),
        })?;
        Ok(DkimAttributes {
            identity,
            enabled: self.enabled,
            status: self
                .status
                .unwrap_or_else(|| VerificationStatus::Unknown(String::new())),
            tokens: self.tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::EndpointVariant;
    use crate::region::Region;

    const CONSTRUCTED: &str = include_str!(
        "../tests/data/responses/get-identity-dkim-attributes.response.constructed.xml"
    );
    const MOTO: &str = include_str!(
        "../tests/data/responses/get-identity-dkim-attributes.response.moto-5.2.5.xml"
    );
    const EMPTY: &str = include_str!(
        "../tests/data/responses/get-identity-dkim-attributes.response.empty-list.moto-5.2.5.xml"
    );
    const REQUEST_BODY: &str =
        include_str!("../tests/data/requests/request.get-identity-dkim-attributes.body.txt");

    fn endpoint() -> Endpoint {
        Endpoint::for_region(
            &Region::parse("us-east-1").unwrap(),
            EndpointVariant::Standard,
        )
        .unwrap()
    }

    fn domains(n: usize) -> Vec<Domain> {
        (0..n)
            .map(|i| Domain::parse(&format!("d{i}.example.com")).unwrap())
            .collect()
    }

    #[test]
    fn requests_carry_at_most_100_identities() {
        let endpoint = endpoint();
        let all = domains(250);
        let requests: Vec<_> = get_identity_dkim_attributes(&endpoint, &all).collect();
        assert_eq!(requests.len(), 3);
        let counts: Vec<usize> = requests
            .iter()
            .map(|r| {
                std::str::from_utf8(r.body())
                    .unwrap()
                    .matches("Identities.member.")
                    .count()
            })
            .collect();
        assert_eq!(counts, [100, 100, 50]);
        let last = std::str::from_utf8(requests[2].body()).unwrap();
        assert!(
            last.contains("Identities.member.1=d200.example.com&"),
            "{last}"
        );
        assert!(
            last.ends_with("Identities.member.50=d249.example.com"),
            "{last}"
        );
        assert_eq!(get_identity_dkim_attributes(&endpoint, &[]).count(), 0);
    }

    #[test]
    fn request_body_matches_the_fixture() {
        let endpoint = endpoint();
        let two = [
            Domain::parse("example.com").unwrap(),
            Domain::parse("example.org").unwrap(),
        ];
        let request = get_identity_dkim_attributes(&endpoint, &two)
            .next()
            .unwrap();
        let fixture = REQUEST_BODY.trim_end();
        // The fixture names two identities; compare the shape, whatever they are.
        let expected_prefix =
            "Action=GetIdentityDkimAttributes&Version=2010-12-01&Identities.member.1=";
        assert!(fixture.starts_with(expected_prefix), "{fixture}");
        let body = std::str::from_utf8(request.body()).unwrap();
        assert_eq!(
            body,
            "Action=GetIdentityDkimAttributes&Version=2010-12-01&Identities.member.1=example.com\
             &Identities.member.2=example.org"
        );
    }

    #[test]
    fn fixtures_parse() {
        let constructed = parse_get_identity_dkim_attributes(200, CONSTRUCTED.as_bytes()).unwrap();
        assert_eq!(
            constructed.request_id.as_deref(),
            Some("bb5a105d-c468-11e1-82eb-dff885ccc06a")
        );
        let [domain, email] = &constructed.attributes[..] else {
            panic!("two entries")
        };
        assert_eq!(domain.identity, "example.com");
        assert!(domain.enabled);
        assert_eq!(domain.status, VerificationStatus::Success);
        assert_eq!(domain.tokens.len(), 3);
        assert_eq!(
            domain.tokens[0].as_str(),
            "EXAMPLEjcs5xoyqytjsotsijas7236gr"
        );
        assert_eq!(email.identity, "user@example.com");
        assert!(!email.enabled);
        assert_eq!(email.status, VerificationStatus::NotStarted);
        assert!(email.tokens.is_empty());

        let moto = parse_get_identity_dkim_attributes(200, MOTO.as_bytes()).unwrap();
        assert_eq!(moto.attributes.len(), 2);
        assert_eq!(
            moto.attributes[0].tokens[0].as_str(),
            "vvjuipp74whm76gqoni7qmwwn4w4qusjiainivf6sf"
        );

        let empty = parse_get_identity_dkim_attributes(200, EMPTY.as_bytes()).unwrap();
        assert!(empty.attributes.is_empty());
    }

    #[test]
    fn wrong_operation_and_bad_values_are_errors() {
        let verify =
            include_str!("../tests/data/responses/verify-domain-dkim.response.moto-5.2.5.xml");
        assert!(matches!(
            parse_get_identity_dkim_attributes(200, verify.as_bytes()),
            Err(ResponseError::Parse(_))
        ));
        let bad = CONSTRUCTED.replacen("<DkimEnabled>true<", "<DkimEnabled>yes<", 1);
        assert!(matches!(
            parse_get_identity_dkim_attributes(200, bad.as_bytes()),
            Err(ResponseError::Parse(e)) if matches!(e.kind, ParseErrorKind::InvalidValue { .. })
        ));
        let throttled = include_str!("../tests/data/responses/error.throttling.ses-real.xml");
        assert!(matches!(
            parse_get_identity_dkim_attributes(400, throttled.as_bytes()),
            Err(ResponseError::Service(_))
        ));
    }

    /// F14: five distinct states in either spelling; only Failed is a failure; an unknown value
    /// stays unknown.
    #[test]
    fn f14_pending_shown_as_failed() {
        let v1 = [
            "Pending",
            "Success",
            "Failed",
            "TemporaryFailure",
            "NotStarted",
        ];
        let v2 = [
            "PENDING",
            "SUCCESS",
            "FAILED",
            "TEMPORARY_FAILURE",
            "NOT_STARTED",
        ];
        let parsed: Vec<VerificationStatus> =
            v1.iter().map(|s| VerificationStatus::parse(s)).collect();
        let distinct: std::collections::HashSet<_> = parsed.iter().collect();
        assert_eq!(distinct.len(), 5);
        assert!(
            !parsed
                .iter()
                .any(|s| matches!(s, VerificationStatus::Unknown(_)))
        );
        for (a, b) in v1.iter().zip(v2) {
            assert_eq!(VerificationStatus::parse(a), VerificationStatus::parse(b));
            assert_eq!(VerificationStatus::parse(a).as_str(), *a);
        }
        let failures: Vec<&str> = v1
            .iter()
            .copied()
            .filter(|s| VerificationStatus::parse(s).is_failure())
            .collect();
        assert_eq!(failures, ["Failed"]);
        let odd = VerificationStatus::parse("Verifying");
        assert_eq!(odd, VerificationStatus::Unknown("Verifying".into()));
        assert!(!odd.is_failure());

        let body = CONSTRUCTED.replacen(">Success<", ">PENDING<", 1);
        let parsed = parse_get_identity_dkim_attributes(200, body.as_bytes()).unwrap();
        assert_eq!(parsed.attributes[0].status, VerificationStatus::Pending);
    }
}
