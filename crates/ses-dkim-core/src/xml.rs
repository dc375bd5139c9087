//! A small walker over Query-protocol XML: element paths by local name, text per element.
//!
//! Namespaces and prefixes are ignored (elements are matched by local name), declarations,
//! comments and processing instructions are skipped, and a DOCTYPE is refused outright so that no
//! entity is ever expanded.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::error::ParseErrorKind;

/// The element names the parsers care about; everything else is [`Tag::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    VerifyDomainDkimResponse,
    VerifyDomainDkimResult,
    GetIdentityDkimAttributesResponse,
    GetIdentityDkimAttributesResult,
    DkimTokens,
    DkimAttributes,
    DkimEnabled,
    DkimVerificationStatus,
    Member,
    Entry,
    Key,
    Value,
    ErrorResponse,
    Response,
    Errors,
    Error,
    Type,
    Code,
    Message,
    Detail,
    RequestId,
    ResponseMetadata,
    Other,
}

impl Tag {
    fn from_local_name(name: &str) -> Self {
        match name {
            "VerifyDomainDkimResponse" => Self::VerifyDomainDkimResponse,
            "VerifyDomainDkimResult" => Self::VerifyDomainDkimResult,
            "GetIdentityDkimAttributesResponse" => Self::GetIdentityDkimAttributesResponse,
            "GetIdentityDkimAttributesResult" => Self::GetIdentityDkimAttributesResult,
            "DkimTokens" => Self::DkimTokens,
            "DkimAttributes" => Self::DkimAttributes,
            "DkimEnabled" => Self::DkimEnabled,
            "DkimVerificationStatus" => Self::DkimVerificationStatus,
            "member" => Self::Member,
            "entry" => Self::Entry,
            "key" => Self::Key,
            "value" => Self::Value,
            "ErrorResponse" => Self::ErrorResponse,
            "Response" => Self::Response,
            "Errors" => Self::Errors,
            "Error" => Self::Error,
            "Type" => Self::Type,
            "Code" => Self::Code,
            "Message" => Self::Message,
            "Detail" => Self::Detail,
            "RequestId" | "RequestID" => Self::RequestId,
            "ResponseMetadata" => Self::ResponseMetadata,
            _ => Self::Other,
        }
    }
}

/// What the walker reports to a visitor.
pub(crate) enum Visit<'a> {
    /// An element opened; `path` ends with it, `name` is its local name.
    Start { path: &'a [Tag], name: &'a str },
    /// An element closed; `text` is all the character data directly inside it, untrimmed.
    End { path: &'a [Tag], text: &'a str },
}

/// Elements nested deeper than this are refused; real responses nest six levels at most.
const MAX_DEPTH: usize = 32;

/// The text buffer's first capacity at most: a 100-identity status answer fits.
const INITIAL_TEXT_CAPACITY: usize = 64 * 1024;

/// A failure while walking, with the byte offset where it was noticed.
pub(crate) struct WalkError {
    pub(crate) offset: usize,
    pub(crate) kind: ParseErrorKind,
}

/// Walks a document, calling `visit` for each element start and end.
///
/// An error from `visit` stops the walk and is reported at the current offset.
pub(crate) fn walk(
    body: &[u8],
    mut visit: impl FnMut(Visit<'_>) -> Result<(), ParseErrorKind>,
) -> Result<(), WalkError> {
    // The reader checks the UTF-8 of every piece of the document as it reads it, so the body is
    // not checked ahead as well.
    let mut reader = Reader::from_reader(body);
    let mut path = Path::default();
    // Character data of the open elements, outermost first; `path` keeps where each element's
    // text begins. A closing element cuts its text off again, so an element's text is all the
    // character data directly inside it, also where a child element interrupts it. Text never
    // grows longer than the document (references are longer than what they stand for), so for
    // answers of ordinary size the buffer is allocated once.
    let mut buffer = String::with_capacity(body.len().min(INITIAL_TEXT_CAPACITY));
    let mut seen_root = false;

    loop {
        let position = offset(reader.buffer_position());
        let fail = |kind| WalkError {
            offset: position,
            kind,
        };
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                let kind = match e {
                    quick_xml::Error::Encoding(_) => ParseErrorKind::NotUtf8,
                    other => ParseErrorKind::Xml(other.to_string()),
                };
                return Err(WalkError {
                    offset: offset(reader.error_position()),
                    kind,
                });
            }
        };

        match event {
            Event::Start(start) | Event::Empty(start) if seen_root && path.is_empty() => {
                let name = start.local_name();
                let name: &str = name.as_ref();
                let name = name.to_owned();
                return Err(fail(ParseErrorKind::TrailingElement(name)));
            }
            Event::Start(start) => {
                seen_root = true;
                let local = start.local_name();
                let name: &str = local.as_ref();
                if !path.push(Tag::from_local_name(name), buffer.len()) {
                    return Err(fail(ParseErrorKind::TooDeep));
                }
                visit(Visit::Start {
                    path: path.tags(),
                    name,
                })
                .map_err(fail)?;
            }
            Event::Empty(start) => {
                seen_root = true;
                let local = start.local_name();
                let name: &str = local.as_ref();
                if !path.push(Tag::from_local_name(name), buffer.len()) {
                    return Err(fail(ParseErrorKind::TooDeep));
                }
                visit(Visit::Start {
                    path: path.tags(),
                    name,
                })
                .map_err(fail)?;
                visit(Visit::End {
                    path: path.tags(),
                    text: "",
                })
                .map_err(fail)?;
                path.pop();
            }
            Event::End(_) => {
                let start = path.text_start();
                visit(Visit::End {
                    path: path.tags(),
                    text: buffer.get(start..).unwrap_or_default(),
                })
                .map_err(fail)?;
                path.pop();
                buffer.truncate(start);
            }
            Event::Text(chars) => {
                if path.is_empty() {
                    // Only whitespace may stand outside the root element.
                    if !chars.xml10_content().trim().is_empty() {
                        return Err(fail(ParseErrorKind::TextOutsideRoot));
                    }
                } else {
                    buffer.push_str(&chars.xml10_content());
                }
            }
            // Like text, character data and references may only stand inside the root element.
            Event::CData(_) | Event::GeneralRef(_) if path.is_empty() => {
                return Err(fail(ParseErrorKind::TextOutsideRoot));
            }
            Event::CData(cdata) => buffer.push_str(&cdata.xml10_content()),
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    Ok(None) => None,
                    Err(e) => return Err(fail(ParseErrorKind::Xml(e.to_string()))),
                };
                match resolved {
                    Some(c) => buffer.push(c),
                    None => {
                        let name = reference.xml10_content();
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(value) => buffer.push_str(value),
                            None => {
                                return Err(fail(ParseErrorKind::UnknownEntity(name.into_owned())));
                            }
                        }
                    }
                }
            }
            Event::DocType(_) => return Err(fail(ParseErrorKind::DocType)),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => {
                if !path.is_empty() {
                    return Err(fail(ParseErrorKind::Truncated));
                }
                if !seen_root {
                    return Err(fail(ParseErrorKind::Empty));
                }
                return Ok(());
            }
        }
    }
}

/// The open elements, outermost first, each with where its text begins in the text buffer.
///
/// Kept in arrays of [`MAX_DEPTH`] rather than vectors: no allocation for the walk's bookkeeping.
struct Path {
    tags: [Tag; MAX_DEPTH],
    text_starts: [usize; MAX_DEPTH],
    len: usize,
}

impl Default for Path {
    fn default() -> Self {
        Self {
            tags: [Tag::Other; MAX_DEPTH],
            text_starts: [0; MAX_DEPTH],
            len: 0,
        }
    }
}

impl Path {
    /// Opens an element; `false` when [`MAX_DEPTH`] elements are open already.
    fn push(&mut self, tag: Tag, text_start: usize) -> bool {
        match (
            self.tags.get_mut(self.len),
            self.text_starts.get_mut(self.len),
        ) {
            (Some(slot), Some(start)) => {
                *slot = tag;
                *start = text_start;
                self.len += 1;
                true
            }
            _ => false,
        }
    }

    /// Closes the innermost element.
    fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }

    /// Returns the open elements' tags.
    fn tags(&self) -> &[Tag] {
        self.tags.get(..self.len).unwrap_or_default()
    }

    /// Returns where the innermost element's text begins (0 with none open).
    fn text_start(&self) -> usize {
        self.len
            .checked_sub(1)
            .and_then(|i| self.text_starts.get(i))
            .copied()
            .unwrap_or(0)
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn offset(position: u64) -> usize {
    usize::try_from(position).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns each element's local name and text, in the order the elements close.
    fn texts(body: &str) -> Result<Vec<(String, String)>, ParseErrorKind> {
        let mut seen = Vec::new();
        let mut names = Vec::new();
        walk(body.as_bytes(), |visit| {
            match visit {
                Visit::Start { name, .. } => names.push(name.to_owned()),
                Visit::End { text, .. } => {
                    seen.push((names.pop().unwrap_or_default(), text.to_owned()));
                }
            }
            Ok(())
        })
        .map_err(|e| e.kind)?;
        Ok(seen)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
            .collect()
    }

    #[test]
    fn text_is_all_character_data_directly_inside() {
        let seen = texts("<a>x<b>y</b>z<c/>&amp;<![CDATA[<w>]]></a>").unwrap();
        assert_eq!(seen, pairs(&[("b", "y"), ("c", ""), ("a", "xz&<w>")]));
    }

    #[test]
    fn references_outside_the_root_are_refused() {
        for body in ["&amp;<a/>", "<![CDATA[x]]><a/>", "<a/>&#65;", "x<a/>"] {
            assert_eq!(texts(body), Err(ParseErrorKind::TextOutsideRoot), "{body}");
        }
        assert_eq!(texts(" \r\n<a/>\n").unwrap(), pairs(&[("a", "")]));
    }

    /// Bytes that are not UTF-8 anywhere in the document, markup or text, are refused as such.
    #[test]
    fn bodies_that_are_not_utf8_are_refused() {
        for body in [
            &b"<a>\xff</a>"[..],
            b"<a\xc3>x</a\xc3>",
            b"\xef\xbb<a/>",
            b"<a/><!-- \x80 -->",
            b"<a x='\xe2\x82'/>",
            b"<a/>\xff",
        ] {
            let kind = walk(body, |_| Ok(())).map_err(|e| e.kind);
            assert_eq!(kind, Err(ParseErrorKind::NotUtf8), "{body:?}");
        }
        assert_eq!(
            texts("<a>\u{e9}\u{20ac}</a>").unwrap(),
            pairs(&[("a", "\u{e9}\u{20ac}")])
        );
    }

    /// Elements, empty ones too, may nest `MAX_DEPTH` deep and no deeper.
    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        let nested = |depth: usize, inner: &str| {
            format!("{}{inner}{}", "<a>".repeat(depth), "</a>".repeat(depth))
        };
        assert_eq!(texts(&nested(MAX_DEPTH, "x")).unwrap().len(), MAX_DEPTH);
        assert_eq!(
            texts(&nested(MAX_DEPTH - 1, "<b/>")).unwrap().len(),
            MAX_DEPTH
        );
        assert_eq!(
            texts(&nested(MAX_DEPTH + 1, "")),
            Err(ParseErrorKind::TooDeep)
        );
        assert_eq!(
            texts(&nested(MAX_DEPTH, "<b/>")),
            Err(ParseErrorKind::TooDeep)
        );
    }
}
