//! Reading `VerifyDomainDkim` answers: the tokens on success, a typed error otherwise.

use std::fmt;

use crate::error::{ParseError, ParseErrorKind, ResponseError, ServiceError};
use crate::xml::{self, Tag, Visit};

/// The response header that carries the request id, in lower case as `http` stores it.
pub const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// One Easy DKIM token: a DNS label of letters, digits and hyphens, at most 63 octets.
///
/// Real tokens are 32 characters of lower-case base32; documentation examples are mixed case and
/// test peers return longer ones, so only the DNS-label shape is checked.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DkimToken(String);

impl DkimToken {
    /// Checks that `token` is a DNS label.
    ///
    /// # Errors
    ///
    /// Returns [`ParseErrorKind::InvalidToken`] for an empty token, one longer than 63 octets or
    /// one with any character but letters, digits and hyphens.
    pub fn new(token: &str) -> Result<Self, ParseErrorKind> {
        let valid = !token.is_empty()
            && token.len() <= crate::domain::MAX_LABEL_LEN
            && token.bytes().all(is_label_byte);
        if valid {
            Ok(Self(token.to_owned()))
        } else {
            Err(ParseErrorKind::InvalidToken(token.to_owned()))
        }
    }

    /// Returns the token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Returns `true` for a letter, a digit or a hyphen, by one table lookup.
fn is_label_byte(byte: u8) -> bool {
    // Indexing here runs at compile time, where going out of bounds fails the build.
    #[expect(clippy::indexing_slicing, reason = "evaluated at compile time")]
    const LABEL_BYTES: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0u8;
        while b < 128 {
            table[b as usize] = b.is_ascii_alphanumeric() || b == b'-';
            b += 1;
        }
        table
    };
    LABEL_BYTES.get(usize::from(byte)) == Some(&true)
}

impl fmt::Display for DkimToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DkimToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DkimToken({:?})", self.0)
    }
}

impl serde::Serialize for DkimToken {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A successful `VerifyDomainDkim` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyDomainDkimOutput {
    /// The tokens in the order SES gave them; never empty.
    pub tokens: Vec<DkimToken>,
    /// The request id from `ResponseMetadata`, if present.
    pub request_id: Option<String>,
}

/// Parses the status and body of a `VerifyDomainDkim` response.
///
/// A `VerifyDomainDkimResponse` gives the tokens; an `ErrorResponse` (with any status) gives a
/// [`ServiceError`]; anything else, including a success without tokens or with a token that is not
/// a DNS label, gives a [`ParseError`] with the offset and the start of the body.
///
/// # Errors
///
/// Returns [`ResponseError::Service`] or [`ResponseError::Parse`] as described above.
pub fn parse_verify_domain_dkim(
    status: u16,
    body: &[u8],
) -> Result<VerifyDomainDkimOutput, ResponseError> {
    let mut tokens = Vec::with_capacity(3);

    let request_id = parse_document(status, body, SuccessRoot::VERIFY, |visit| {
        match visit {
            Visit::Start {
                path: [_, Tag::VerifyDomainDkimResult, Tag::DkimTokens, last],
                name,
            } if *last != Tag::Member => {
                return Err(ParseErrorKind::UnexpectedListElement {
                    found: name.to_owned(),
                    list: "DkimTokens",
                });
            }
            // A token is plain text; markup inside a member would vanish from its text.
            Visit::Start {
                path:
                    [
                        _,
                        Tag::VerifyDomainDkimResult,
                        Tag::DkimTokens,
                        Tag::Member,
                        _,
                    ],
                name,
            } => {
                return Err(ParseErrorKind::InvalidValue {
                    element: "member",
                    value: format!("<{name}>"),
                });
            }
            Visit::End {
                path: [_, Tag::VerifyDomainDkimResult, Tag::DkimTokens, Tag::Member],
                text,
            } => {
                tokens.push(DkimToken::new(text.trim())?);
            }
            _ => {}
        }
        Ok(())
    })?;

    if tokens.is_empty() {
        return Err(ParseError::new(status, body.len(), ParseErrorKind::NoTokens, body).into());
    }
    Ok(VerifyDomainDkimOutput { tokens, request_id })
}

/// The root element of an operation's success response.
#[derive(Clone, Copy)]
pub(crate) struct SuccessRoot {
    tag: Tag,
    name: &'static str,
}

impl SuccessRoot {
    const VERIFY: Self = Self {
        tag: Tag::VerifyDomainDkimResponse,
        name: "VerifyDomainDkimResponse",
    };
    pub(crate) const STATUS: Self = Self {
        tag: Tag::GetIdentityDkimAttributesResponse,
        name: "GetIdentityDkimAttributesResponse",
    };
}

/// Walks a Query-protocol response: an `ErrorResponse` becomes a [`ServiceError`]; inside the
/// expected success root, every event goes to `on_success`; any other root is a parse error.
///
/// Returns the success response's request id from `ResponseMetadata`.
pub(crate) fn parse_document(
    status: u16,
    body: &[u8],
    root: SuccessRoot,
    mut on_success: impl FnMut(Visit<'_>) -> Result<(), ParseErrorKind>,
) -> Result<Option<String>, ResponseError> {
    let mut is_error = false;
    let mut request_id = None;
    let mut error = ErrorFields::default();

    let walked = xml::walk(body, |visit| {
        if let Visit::Start {
            path: [first],
            name,
        } = visit
        {
            is_error = matches!(first, Tag::ErrorResponse | Tag::Response);
            if !is_error && *first != root.tag {
                return Err(ParseErrorKind::UnexpectedRoot {
                    found: name.to_owned(),
                    expected: root.name,
                });
            }
        }
        match visit {
            Visit::End { path, text } if is_error => error.collect(path, text),
            Visit::End {
                path: [_, Tag::ResponseMetadata, Tag::RequestId],
                text,
            } => {
                request_id = non_empty(text);
            }
            _ if is_error => {}
            _ => on_success(visit)?,
        }
        Ok(())
    });

    if let Err(e) = walked {
        return Err(ParseError::new(status, e.offset, e.kind, body).into());
    }
    if is_error {
        return Err(error.into_service_error(status).into());
    }
    Ok(request_id)
}

/// The fields of an `ErrorResponse`, gathered from whichever envelope holds them.
#[derive(Default)]
pub(crate) struct ErrorFields {
    error_type: Option<String>,
    code: Option<String>,
    message: Option<String>,
    detail: Option<String>,
    request_id: Option<String>,
    errors_seen: usize,
}

impl ErrorFields {
    /// Takes the text of an element inside `ErrorResponse` (or moto's `Response/Errors`).
    ///
    /// Only the first `Error` counts; the request id may stand anywhere.
    pub(crate) fn collect(&mut self, path: &[Tag], text: &str) {
        match path {
            [.., Tag::Error] => self.errors_seen += 1,
            [.., Tag::RequestId] => self.request_id = self.request_id.take().or(non_empty(text)),
            [.., Tag::Error, field] if self.errors_seen == 0 => {
                let slot = match field {
                    Tag::Type => &mut self.error_type,
                    Tag::Code => &mut self.code,
                    Tag::Message => &mut self.message,
                    Tag::Detail => &mut self.detail,
                    _ => return,
                };
                *slot = non_empty(text);
            }
            _ => {}
        }
    }

    /// Builds the service error; a missing code or message becomes empty.
    pub(crate) fn into_service_error(self, status: u16) -> ServiceError {
        ServiceError {
            status,
            error_type: self.error_type,
            code: self.code.unwrap_or_default(),
            message: self.message.unwrap_or_default(),
            detail: self.detail,
            request_id: self.request_id,
        }
    }
}

/// Returns the trimmed text, or `None` when nothing is left.
pub(crate) fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::error::ErrorKind;

    const T1: &str = "abcdefghijklmnopqrstuvwxyz234567";
    const T2: &str = "bcdefghijklmnopqrstuvwxyz234567a";
    const T3: &str = "cdefghijklmnopqrstuvwxyz234567ab";

    fn ok_body(members: &str) -> String {
        format!(
            "<VerifyDomainDkimResponse xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\">\
             <VerifyDomainDkimResult><DkimTokens>{members}</DkimTokens></VerifyDomainDkimResult>\
             <ResponseMetadata><RequestId>rid-7</RequestId></ResponseMetadata>\
             </VerifyDomainDkimResponse>"
        )
    }

    fn members(tokens: &[&str]) -> String {
        tokens
            .iter()
            .map(|t| format!("<member>{t}</member>"))
            .collect()
    }

    fn tokens(body: &str) -> Vec<String> {
        let output = parse_verify_domain_dkim(200, body.as_bytes()).unwrap();
        output
            .tokens
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect()
    }

    fn parse_kind(status: u16, body: &str) -> ParseErrorKind {
        match parse_verify_domain_dkim(status, body.as_bytes()) {
            Err(ResponseError::Parse(e)) => e.kind,
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    /// F04: a list of three members is three tokens in order, however it is laid out.
    #[test]
    fn f04_list_parsed_as_a_single_value() {
        assert_eq!(tokens(&ok_body(&members(&[T1, T2, T3]))), [T1, T2, T3]);
        let pretty = format!(
            "\n      <member>{T1}</member>\n      <member>{T2}</member>\n\
             \t\t<member>{T3}</member>\n    "
        );
        assert_eq!(tokens(&ok_body(&pretty)), [T1, T2, T3]);
        let output = parse_verify_domain_dkim(200, ok_body(&members(&[T1])).as_bytes()).unwrap();
        assert_eq!(output.request_id.as_deref(), Some("rid-7"));
    }

    /// F05: an empty token list, or members under another name, is an error, never zero records.
    #[test]
    fn f05_empty_token_list_reported_as_success() {
        assert_eq!(parse_kind(200, &ok_body("")), ParseErrorKind::NoTokens);
        let self_closing = ok_body("").replace("<DkimTokens></DkimTokens>", "<DkimTokens/>");
        assert_eq!(parse_kind(200, &self_closing), ParseErrorKind::NoTokens);
        let items = format!("<item>{T1}</item><item>{T2}</item>");
        assert!(matches!(
            parse_kind(200, &ok_body(&items)),
            ParseErrorKind::UnexpectedListElement { .. }
        ));
    }

    /// F06: declarations, comments, CRLF and unknown elements are fine; malformed XML is not.
    #[test]
    fn f06_strict_parser_rejects_valid_xml() {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!-- a comment -->\r\n\
             <VerifyDomainDkimResponse>\r\n<VerifyDomainDkimResult>\r\n<Unknown>x</Unknown>\r\n\
             <DkimTokens>\r\n{}\r\n</DkimTokens>\r\n<Extra/></VerifyDomainDkimResult>\r\n\
             </VerifyDomainDkimResponse>\r\n",
            members(&[T1, T2, T3]).replace("</member>", "</member>\r\n")
        );
        assert_eq!(tokens(&body), [T1, T2, T3]);
        let prefixed = ok_body(&members(&[T1]))
            .replace("<", "<ses:")
            .replace("<ses:/", "</ses:")
            .replace("xmlns=", "xmlns:ses=");
        assert_eq!(tokens(&prefixed), [T1]);
        assert!(matches!(
            parse_kind(200, &ok_body(&members(&[T1])).replace("</DkimTokens>", "")),
            ParseErrorKind::Xml(_)
        ));
    }

    /// F20: moto's 41- and 42-character tokens are accepted.
    #[test]
    fn f20_accepts_moto_tokens() {
        let moto = [
            "vvjuipp74whm76gqoni7qmwwn4w4qusjiainivf6sf",
            "3frqe7jn4obpuxjpwpolz6ipb3k5nvt2nhjpik2oy",
        ];
        assert_eq!(tokens(&ok_body(&members(&moto))), moto);
    }

    /// F21: an HTML error page gives the status and a printable snippet, and is retryable.
    #[test]
    fn f21_html_error_page() {
        let html = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n";
        let err = parse_verify_domain_dkim(500, html.as_bytes()).unwrap_err();
        assert_eq!(err.status(), 500);
        assert_eq!(err.kind(), ErrorKind::Transient);
        let shown = err.to_string();
        assert!(
            shown.contains("HTTP 500") && shown.contains("<!doctype html> <html lang=en>"),
            "{shown}"
        );
    }

    #[test]
    fn tokens_must_be_dns_labels() {
        for bad in ["a b", "a.b", "a&amp;b", &"x".repeat(64), ""] {
            let body = ok_body(&format!("<member>{T1}</member><member>{bad}</member>"));
            assert!(
                matches!(parse_kind(200, &body), ParseErrorKind::InvalidToken(_)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn markup_inside_a_token_is_refused() {
        for (inner, child) in [
            ("abc<x/>def", "x"),
            ("abc<b>q</b>def", "b"),
            ("<i>abc</i>", "i"),
        ] {
            let body = ok_body(&format!("<member>{T1}</member><member>{inner}</member>"));
            let expected = ParseErrorKind::InvalidValue {
                element: "member",
                value: format!("<{child}>"),
            };
            assert_eq!(parse_kind(200, &body), expected, "{inner}");
        }
    }

    #[test]
    fn doctype_is_refused() {
        let body = format!(
            "<!DOCTYPE x [<!ENTITY e \"{T1}\">]>{}",
            ok_body("<member>&e;</member>")
        );
        assert_eq!(parse_kind(200, &body), ParseErrorKind::DocType);
    }

    #[test]
    fn error_envelopes() {
        let real = include_str!("../tests/data/responses/error.throttling.ses-real.xml");
        let Err(ResponseError::Service(e)) = parse_verify_domain_dkim(400, real.as_bytes()) else {
            panic!("expected a service error");
        };
        assert_eq!(
            (e.code.as_str(), e.kind()),
            ("Throttling", ErrorKind::Throttling)
        );
        assert_eq!(e.error_type.as_deref(), Some("Sender"));
        assert_eq!(
            e.request_id.as_deref(),
            Some("8f23e6e6-b4f2-4572-b426-343b370cb32c")
        );

        let moto = "<ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code>\
                    <Message>bad</Message></Error></Errors>\
                    <RequestId>r</RequestId></ErrorResponse>";
        let Err(ResponseError::Service(e)) = parse_verify_domain_dkim(403, moto.as_bytes()) else {
            panic!("expected a service error");
        };
        assert_eq!(e.code, "InvalidClientTokenId");
        assert_eq!(e.request_id.as_deref(), Some("r"));
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(
            status in 100u16..600,
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let _ = parse_verify_domain_dkim(status, &body);
        }

        #[test]
        fn generated_tokens_round_trip(
            toks in proptest::collection::vec("[a-zA-Z0-9][a-zA-Z0-9-]{0,62}", 1..6),
        ) {
            let refs: Vec<&str> = toks.iter().map(String::as_str).collect();
            prop_assert_eq!(tokens(&ok_body(&members(&refs))), toks);
        }

        #[test]
        fn mutated_responses_never_panic(
            cut in 0usize..600,
            insert_at in 0usize..600,
            element in "<[a-zA-Z]{1,8}(/>|>[a-z]{0,4}</[a-zA-Z]{1,8}>)",
            rename in proptest::sample::select(vec!["member", "DkimTokens", "VerifyDomainDkimResult", "RequestId"]),
            to in "[a-zA-Z]{1,12}",
        ) {
            let body = ok_body(&members(&[T1, T2, T3]));
            let truncated = &body.as_bytes()[..cut.min(body.len())];
            let _ = parse_verify_domain_dkim(200, truncated);

            let at = insert_at.min(body.len());
            let inserted = format!("{}{element}{}", &body[..at], &body[at..]);
            let _ = parse_verify_domain_dkim(200, inserted.as_bytes());

            let renamed = body.replace(&format!("<{rename}>"), &format!("<{to}>"))
                .replace(&format!("</{rename}>"), &format!("</{to}>"));
            let outcome = parse_verify_domain_dkim(200, renamed.as_bytes());
            // Renaming away the token list's path never yields tokens from nowhere.
            if rename != "RequestId" && to != rename {
                prop_assert!(outcome.is_err() || to == rename);
            }
        }

        #[test]
        fn any_namespace_prefix_parses_the_same(prefix in "[a-z][a-z0-9]{0,6}", uri in "[a-z]{1,10}:[a-z/.]{0,20}") {
            let body = ok_body(&members(&[T1, T2]));
            let prefixed = body
                .replace("</", "\u{0}")
                .replace('<', &format!("<{prefix}:"))
                .replace('\u{0}', &format!("</{prefix}:"))
                .replace("xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\"", &format!("xmlns:{prefix}=\"{uri}\""));
            prop_assert_eq!(tokens(&prefixed), [T1, T2]);
        }
    }
}
