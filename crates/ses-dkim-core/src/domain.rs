//! Domains as SES accepts them, parsed from what a person types.

use std::fmt;
use std::sync::Arc;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

/// The longest domain name SES accepts, in octets, without the root dot.
pub const MAX_DOMAIN_LEN: usize = 253;

/// The longest DNS label, in octets.
pub const MAX_LABEL_LEN: usize = 63;

/// A validated, normalised domain: lower-case A-labels, letters, digits and hyphens, no trailing
/// dot. Cheap to clone: the name is shared, not copied.
///
/// Two spellings of one identity (`EXAMPLE.com`, `example.com.`) parse to equal values, so a
/// `Domain` can key a set of identities.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Domain(Arc<str>);

impl Domain {
    /// Parses a domain as a person or a list file writes it.
    ///
    /// Surrounding whitespace is trimmed, one trailing dot (as in zone files) is dropped, the
    /// name is lower-cased and internationalised labels become A-labels (UTS 46).
    ///
    /// # Errors
    ///
    /// Returns a [`DomainError`] naming the input when it is empty, holds whitespace or control
    /// characters, an empty label (`..`), a wildcard, looks like an email address, a URL or an IP
    /// address, has fewer than two labels, or breaks the DNS length limits.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let fail = |reason| Err(DomainError::new(input, reason));
        let trimmed = input.trim();

        if trimmed.is_empty() {
            return fail(DomainErrorReason::Empty);
        }
        if trimmed.chars().any(char::is_control) {
            return fail(DomainErrorReason::ControlCharacter);
        }
        if trimmed.chars().any(char::is_whitespace) {
            return fail(DomainErrorReason::Whitespace);
        }
        if let Some(host) = url_host(trimmed) {
            return fail(DomainErrorReason::Url {
                host: host.to_owned(),
            });
        }
        if let Some((host, port)) = trimmed.rsplit_once(':')
            && !host.is_empty()
            && !host.contains(':')
            && port.bytes().all(|b| b.is_ascii_digit())
        {
            return fail(DomainErrorReason::HostAndPort {
                host: host.to_owned(),
            });
        }
        if let Some((_, after)) = trimmed.rsplit_once('@') {
            return fail(DomainErrorReason::EmailAddress {
                domain: after.to_owned(),
            });
        }
        if trimmed.contains('*') {
            return fail(DomainErrorReason::Wildcard);
        }

        // A zone file's absolute name ends in one dot; SES rejects it, so drop exactly one.
        let name = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if name.is_empty() {
            return fail(DomainErrorReason::Root);
        }
        if name.split('.').any(str::is_empty) {
            return fail(DomainErrorReason::EmptyLabel);
        }

        let ascii = if name.is_ascii() {
            name.to_ascii_lowercase()
        } else {
            match to_ascii(name) {
                Some(ascii) => ascii,
                None => return fail(DomainErrorReason::Idna),
            }
        };

        check_ldh(&ascii).map_err(|reason| DomainError::new(input, reason))?;
        // An ASCII name may still hold an A-label that is not valid Punycode (`xn--a`).
        if ascii.contains("xn--") && !is_valid_idna(&ascii) {
            return fail(DomainErrorReason::Idna);
        }
        Ok(Self(ascii.into()))
    }

    /// Returns the domain as SES and DNS see it, without a trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the domain's labels from the leftmost to the top-level one.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }

    /// Converts the domain into its string form.
    pub fn into_string(self) -> String {
        self.0.as_ref().to_owned()
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Domain({:?})", self.0)
    }
}

impl std::str::FromStr for Domain {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Domain {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for Domain {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A domain that could not be used, with the input it came from and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainError {
    input: String,
    reason: DomainErrorReason,
}

impl DomainError {
    fn new(input: &str, reason: DomainErrorReason) -> Self {
        Self {
            input: input.to_owned(),
            reason,
        }
    }

    /// Returns the input exactly as it was given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Returns why the input was rejected.
    pub fn reason(&self) -> &DomainErrorReason {
        &self.reason
    }
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid domain {}: {}",
            Printable(&self.input),
            self.reason
        )
    }
}

impl std::error::Error for DomainError {}

/// Why a domain was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DomainErrorReason {
    /// Nothing but whitespace.
    Empty,
    /// Only the root dot.
    Root,
    /// Whitespace inside the name.
    Whitespace,
    /// A control character such as a tab or a NUL.
    ControlCharacter,
    /// Two dots in a row, or a dot at the start.
    EmptyLabel,
    /// A `*` label; SES verifies concrete domains only.
    Wildcard,
    /// An email address; `domain` is the part after the `@`.
    EmailAddress {
        /// The part after the last `@`.
        domain: String,
    },
    /// A URL; `host` is the part between the scheme and the path.
    Url {
        /// The host the URL names.
        host: String,
    },
    /// A host with a port, as in `example.com:443`; `host` is the part before the colon.
    HostAndPort {
        /// The part before the port.
        host: String,
    },
    /// An IPv4 or IPv6 address rather than a name.
    IpAddress,
    /// A top-level label of digits only, as in `example.123`: no top-level domain is.
    NumericTopLevel,
    /// A single label such as `localhost` or `com`.
    SingleLabel,
    /// A character outside letters, digits and hyphens after IDNA conversion.
    InvalidCharacter(char),
    /// A label that starts or ends with a hyphen.
    HyphenAtLabelEdge,
    /// A label longer than 63 octets.
    LabelTooLong {
        /// The label's length in octets (as an A-label).
        len: usize,
    },
    /// A name longer than 253 octets.
    NameTooLong {
        /// The name's length in octets (as A-labels).
        len: usize,
    },
    /// An internationalised name that UTS 46 processing rejects.
    Idna,
}

impl fmt::Display for DomainErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the name is empty"),
            Self::Root => f.write_str("the root `.` is not a domain"),
            Self::Whitespace => f.write_str("the name holds whitespace"),
            Self::ControlCharacter => f.write_str("the name holds a control character"),
            Self::EmptyLabel => f.write_str("the name has an empty label (`..` or a leading dot)"),
            Self::Wildcard => f.write_str("wildcards cannot be verified; give the domain itself"),
            Self::EmailAddress { domain } => suggest(
                f,
                "this is an email address; use the part after `@`",
                domain,
            ),
            Self::Url { host } => suggest(f, "this is a URL; drop the scheme and path", host),
            Self::HostAndPort { host } => suggest(f, "a domain has no port; drop it", host),
            Self::IpAddress => f.write_str("an IP address is not a domain"),
            Self::NumericTopLevel => {
                f.write_str("the last label is all digits; no top-level domain is")
            }
            Self::SingleLabel => f.write_str("a domain needs at least two labels"),
            Self::InvalidCharacter(c) => write!(
                f,
                "{:?} is not allowed (letters, digits and hyphens only)",
                c
            ),
            Self::HyphenAtLabelEdge => f.write_str("a label starts or ends with a hyphen"),
            Self::LabelTooLong { len } => {
                write!(f, "a label is {len} octets long (at most {MAX_LABEL_LEN})")
            }
            Self::NameTooLong { len } => {
                write!(
                    f,
                    "the name is {len} octets long (at most {MAX_DOMAIN_LEN})"
                )
            }
            Self::Idna => f.write_str("the internationalised name is not valid under UTS 46"),
        }
    }
}

/// Writes `advice: `part`` when `part` is a domain itself, and otherwise says that it is not, so
/// that no message suggests something that would be refused in turn.
fn suggest(f: &mut fmt::Formatter<'_>, advice: &str, part: &str) -> fmt::Result {
    if Domain::parse(part).is_ok() {
        write!(f, "{advice}: {}", Printable(part))
    } else {
        let (what, _) = advice.split_once(';').unwrap_or((advice, ""));
        write!(f, "{what}, and {} is not a domain either", Printable(part))
    }
}

/// Displays user input in backticks, escaped and shortened so it stays on one readable line.
pub(crate) struct Printable<'a>(pub(crate) &'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LIMIT: usize = 80;
        f.write_str("`")?;
        for (i, c) in self.0.chars().enumerate() {
            if i == LIMIT {
                f.write_str("...")?;
                break;
            }
            if c.is_control() || c == '`' {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        f.write_str("`")
    }
}

/// Converts a name to A-labels with UTS 46 (STD3 rules), or `None` when it is not valid.
fn to_ascii(name: &str) -> Option<String> {
    Uts46::new()
        .to_ascii(
            name.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::CheckFirstLast,
            DnsLength::Ignore,
        )
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// Returns `true` when every A-label of an ASCII name decodes as valid IDNA.
fn is_valid_idna(ascii: &str) -> bool {
    to_ascii(ascii).is_some_and(|converted| converted == ascii)
}

/// Returns the host when the input looks like a URL (a scheme, or a path after the host).
fn url_host(input: &str) -> Option<&str> {
    let (rest, had_scheme) = match input.split_once("://") {
        Some((_, rest)) => (rest, true),
        None => (input, false),
    };
    let end = rest.find(['/', '?', '#']);
    if !had_scheme && end.is_none() {
        return None;
    }
    let authority = end.and_then(|i| rest.get(..i)).unwrap_or(rest);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = host.split_once(':').map_or(host, |(host, _)| host);
    Some(host)
}

/// Checks an ASCII, lower-cased name against the letters-digits-hyphens rule and DNS limits.
fn check_ldh(name: &str) -> Result<(), DomainErrorReason> {
    if name.len() > MAX_DOMAIN_LEN {
        return Err(DomainErrorReason::NameTooLong { len: name.len() });
    }
    if name.parse::<std::net::IpAddr>().is_ok() || name.contains(':') {
        return Err(DomainErrorReason::IpAddress);
    }

    let mut count = 0;
    let mut last = "";
    for label in name.split('.') {
        count += 1;
        last = label;
        if label.is_empty() {
            return Err(DomainErrorReason::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(DomainErrorReason::LabelTooLong { len: label.len() });
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(DomainErrorReason::InvalidCharacter(c));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(DomainErrorReason::HyphenAtLabelEdge);
        }
    }
    if count < 2 {
        return Err(DomainErrorReason::SingleLabel);
    }
    // Dotted IPv4 addresses were caught above; no top-level domain is all digits either.
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainErrorReason::NumericTopLevel);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn reason(input: &str) -> DomainErrorReason {
        Domain::parse(input).unwrap_err().reason().clone()
    }

    #[test]
    fn normalises_case_whitespace_and_one_trailing_dot() {
        for input in [
            "example.com",
            "EXAMPLE.COM",
            " Example.Com. ",
            "\texample.com\r",
        ] {
            assert_eq!(
                Domain::parse(input).unwrap().as_str(),
                "example.com",
                "{input:?}"
            );
        }
        assert_eq!(
            Domain::parse("Mail.Sub.Example.co.uk").unwrap().as_str(),
            "mail.sub.example.co.uk"
        );
    }

    #[test]
    fn internationalised_names_become_a_labels() {
        assert_eq!(
            Domain::parse("bücher.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            Domain::parse("BÜCHER.example.").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            Domain::parse("例え.テスト").unwrap().as_str(),
            "xn--r8jz45g.xn--zckzah"
        );
        assert_eq!(
            Domain::parse("xn--bcher-kva.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn rejections_name_the_input_and_the_reason() {
        let cases: &[(&str, DomainErrorReason)] = &[
            ("", DomainErrorReason::Empty),
            ("   ", DomainErrorReason::Empty),
            (".", DomainErrorReason::Root),
            ("example.com..", DomainErrorReason::EmptyLabel),
            ("example..com", DomainErrorReason::EmptyLabel),
            (".example.com", DomainErrorReason::EmptyLabel),
            ("bad domain.com", DomainErrorReason::Whitespace),
            ("bad\u{0}domain.com", DomainErrorReason::ControlCharacter),
            ("*.example.com", DomainErrorReason::Wildcard),
            ("localhost", DomainErrorReason::SingleLabel),
            ("192.0.2.1", DomainErrorReason::IpAddress),
            ("2001:db8::1", DomainErrorReason::IpAddress),
            ("foo.123", DomainErrorReason::NumericTopLevel),
            ("192.0.2.300", DomainErrorReason::NumericTopLevel),
            ("-a.example.com", DomainErrorReason::HyphenAtLabelEdge),
            ("a_b.example.com", DomainErrorReason::InvalidCharacter('_')),
            ("a!b.example.com", DomainErrorReason::InvalidCharacter('!')),
            ("xn--a.example", DomainErrorReason::Idna),
            ("xn--.example", DomainErrorReason::HyphenAtLabelEdge),
            (
                "example.com:443",
                DomainErrorReason::HostAndPort {
                    host: "example.com".into(),
                },
            ),
        ];
        for (input, expected) in cases {
            let err = Domain::parse(input).unwrap_err();
            assert_eq!(err.reason(), expected, "{input:?}");
            assert_eq!(err.input(), *input);
            assert!(err.to_string().starts_with("invalid domain `"), "{err}");
        }
    }

    #[test]
    fn email_and_url_get_a_hint() {
        let err = Domain::parse("postmaster@Example.com").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid domain `postmaster@Example.com`: this is an email address; use the part \
             after `@`: `Example.com`"
        );
        let err = Domain::parse("https://www.example.com/path?q").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid domain `https://www.example.com/path?q`: this is a URL; drop the scheme and \
             path: `www.example.com`"
        );
        assert_eq!(
            reason("example.com/dkim"),
            DomainErrorReason::Url {
                host: "example.com".into()
            }
        );
    }

    /// A hint never offers a part that would be refused in turn.
    #[test]
    fn hints_offer_only_valid_domains() {
        for (input, message) in [
            (
                "bad@x",
                "this is an email address, and `x` is not a domain either",
            ),
            (
                "http://localhost/",
                "this is a URL, and `localhost` is not a domain either",
            ),
            (
                "nohost:25",
                "a domain has no port, and `nohost` is not a domain either",
            ),
            (
                "me@foo.123",
                "this is an email address, and `foo.123` is not a domain either",
            ),
        ] {
            let err = Domain::parse(input).unwrap_err().to_string();
            assert_eq!(err, format!("invalid domain `{input}`: {message}"));
        }
        assert_eq!(
            Domain::parse("mail.example.com:25")
                .unwrap_err()
                .to_string(),
            "invalid domain `mail.example.com:25`: a domain has no port; drop it: \
             `mail.example.com`"
        );
        assert_eq!(
            Domain::parse("foo.123").unwrap_err().to_string(),
            "invalid domain `foo.123`: the last label is all digits; no top-level domain is"
        );
    }

    #[test]
    fn length_limits() {
        let label63 = "a".repeat(63);
        assert!(Domain::parse(&format!("{label63}.com")).is_ok());
        assert_eq!(
            reason(&format!("{}.com", "a".repeat(64))),
            DomainErrorReason::LabelTooLong { len: 64 }
        );
        // 4 labels of 62 + 3 dots = 251, + ".a" = 253 (the limit).
        let at_limit = format!("{0}.{0}.{0}.{0}.a", "b".repeat(62));
        assert_eq!(at_limit.len(), 253);
        assert!(Domain::parse(&at_limit).is_ok());
        assert!(Domain::parse(&format!("{at_limit}.")).is_ok());
        assert_eq!(
            reason(&format!("{at_limit}a")),
            DomainErrorReason::NameTooLong { len: 254 }
        );
        assert_eq!(
            reason(&"a".repeat(300)),
            DomainErrorReason::NameTooLong { len: 300 }
        );
    }

    #[test]
    fn error_display_escapes_control_characters() {
        let err = Domain::parse("a\u{1b}[31m.com").unwrap_err();
        assert!(!err.to_string().contains('\u{1b}'), "{err}");
    }

    /// F09: a zone file's trailing dot is dropped once; a doubled dot and the bare root are
    /// rejected locally.
    #[test]
    fn f09_trailing_dot_from_zone_files() {
        assert_eq!(
            Domain::parse("example.com.").unwrap().as_str(),
            "example.com"
        );
        assert_eq!(reason("example.com.."), DomainErrorReason::EmptyLabel);
        assert_eq!(reason("."), DomainErrorReason::Root);
    }

    /// F20: what moto accepts without complaint is rejected here before any call.
    #[test]
    fn f20_inputs_an_emulator_accepts() {
        assert_eq!(reason("bad domain"), DomainErrorReason::Whitespace);
        assert_eq!(reason(""), DomainErrorReason::Empty);
        let long = format!("{}.com", vec!["a".repeat(60); 5].join("."));
        assert!(long.len() > 253);
        assert!(matches!(
            reason(&long),
            DomainErrorReason::NameTooLong { .. }
        ));
    }

    proptest! {
        #[test]
        fn parsing_is_idempotent(input in "\\PC{0,80}") {
            if let Ok(domain) = Domain::parse(&input) {
                let again = Domain::parse(domain.as_str()).unwrap();
                prop_assert_eq!(&again, &domain);
            }
        }

        #[test]
        fn accepted_domains_are_lower_case_ldh_within_limits(
            input in "([a-zA-Z0-9-]{1,70}\\.){1,5}[a-zA-Z]{2,10}\\.?",
        ) {
            match Domain::parse(&input) {
                Ok(domain) => {
                    let s = domain.as_str();
                    prop_assert!(s.len() <= MAX_DOMAIN_LEN);
                    prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase()
                        || b.is_ascii_digit() || b == b'-' || b == b'.'));
                    let label_ok = |l: &str| !l.is_empty() && l.len() <= MAX_LABEL_LEN;
                    prop_assert!(domain.labels().all(label_ok));
                }
                Err(err) => prop_assert_eq!(err.input(), input.as_str()),
            }
        }
    }
}
