//! Domain list files: one line at a time ([`parse_list_line`]), or a whole list read as a stream
//! from any [`BufRead`] ([`DomainList`]), never loaded whole.

use std::fmt;
use std::io::{self, BufRead};

use crate::domain::{Domain, DomainError};

/// What one line of a list holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListLine {
    /// A blank line or a comment.
    Skip,
    /// A valid domain.
    Domain(Domain),
    /// A line that is not a valid domain.
    Invalid(DomainError),
}

/// Classifies one line of a list file, with or without its line ending.
///
/// Surrounding whitespace (including `\r` from CRLF files) is trimmed; a line that is then empty
/// or starts with `#` is skipped; a `#` later on a line starts a trailing comment, which is
/// ignored (no domain holds a `#`).
pub fn parse_list_line(line: &str) -> ListLine {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return ListLine::Skip;
    }
    // `example.com  # customer 42`: keep the domain, drop the comment.
    let content = match line.find('#') {
        Some(at) => line.get(..at).unwrap_or(line).trim_end(),
        None => line,
    };
    match Domain::parse(content) {
        Ok(domain) => ListLine::Domain(domain),
        Err(e) => ListLine::Invalid(e),
    }
}

/// Lines longer than this many bytes are reported and skipped; no domain comes close.
pub const MAX_LINE_BYTES: usize = 4096;

/// One line of the list that holds a domain or an error (blank and comment lines are skipped).
#[derive(Debug)]
pub struct Entry {
    /// The 1-based line number.
    pub line: u64,
    /// The domain, or why the line is not one.
    pub item: Result<Domain, LineError>,
}

/// Why a line does not hold a usable domain.
#[derive(Debug)]
#[non_exhaustive]
pub enum LineError {
    /// The line is not a valid domain.
    Domain(DomainError),
    /// The line is not UTF-8.
    NotUtf8,
    /// The line is longer than [`MAX_LINE_BYTES`].
    TooLong,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(e) => e.fmt(f),
            Self::NotUtf8 => f.write_str("the line is not valid UTF-8"),
            Self::TooLong => write!(f, "the line is longer than {MAX_LINE_BYTES} bytes"),
        }
    }
}

impl std::error::Error for LineError {}

/// An iterator over the domain lines of a list, in order.
///
/// Any line ending works (`\n`, `\r\n`, and a lone `\r` as old Mac files have); surrounding
/// whitespace is trimmed; blank lines and `#` comments are skipped. Reading stops at the end of input or at the first I/O error, which is
/// returned as the last item.
pub struct DomainList<R> {
    reader: R,
    line: u64,
    buffer: Vec<u8>,
    /// The last line ended with `\r`: a `\n` right after it belongs to that ending.
    after_cr: bool,
}

impl<R: BufRead> DomainList<R> {
    /// Wraps a reader.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            line: 0,
            buffer: Vec::with_capacity(256),
            after_cr: false,
        }
    }

    /// Reads one line into the buffer, keeping at most `MAX_LINE_BYTES + 1` bytes of it.
    ///
    /// Returns `Ok(None)` at the end of input and whether the line was cut otherwise.
    fn read_line(&mut self) -> io::Result<Option<bool>> {
        self.buffer.clear();
        let mut cut = false;
        let mut read_any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(read_any.then_some(cut));
            }
            if std::mem::take(&mut self.after_cr) && available.first() == Some(&b'\n') {
                // The `\n` of a `\r\n` that a buffer boundary split.
                self.reader.consume(1);
                continue;
            }
            read_any = true;
            let (chunk, done) = match available.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(at) => {
                    // A `\r` at the buffer's end may have its `\n` in the next read.
                    let (len, after_cr) = match (available.get(at), available.get(at + 1)) {
                        (Some(b'\r'), Some(b'\n')) => (2, false),
                        (Some(b'\r'), None) => (1, true),
                        _ => (1, false),
                    };
                    self.after_cr = after_cr;
                    (available.get(..at).unwrap_or(available), Some(at + len))
                }
                None => (available, None),
            };
            let room = (MAX_LINE_BYTES + 1).saturating_sub(self.buffer.len());
            if chunk.len() > room {
                cut = true;
            }
            self.buffer
                .extend_from_slice(chunk.get(..chunk.len().min(room)).unwrap_or(chunk));
            let consumed = done.unwrap_or(available.len());
            self.reader.consume(consumed);
            if done.is_some() {
                return Ok(Some(cut));
            }
        }
    }
}

impl<R: BufRead> Iterator for DomainList<R> {
    type Item = io::Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let cut = match self.read_line() {
                Ok(Some(cut)) => cut,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            };
            self.line += 1;
            let line = self.line;
            if cut || self.buffer.len() > MAX_LINE_BYTES {
                return Some(Ok(Entry {
                    line,
                    item: Err(LineError::TooLong),
                }));
            }
            let Ok(text) = std::str::from_utf8(&self.buffer) else {
                return Some(Ok(Entry {
                    line,
                    item: Err(LineError::NotUtf8),
                }));
            };
            match parse_list_line(text) {
                ListLine::Skip => continue,
                ListLine::Domain(domain) => {
                    return Some(Ok(Entry {
                        line,
                        item: Ok(domain),
                    }));
                }
                ListLine::Invalid(e) => {
                    return Some(Ok(Entry {
                        line,
                        item: Err(LineError::Domain(e)),
                    }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(line: &str) -> String {
        match parse_list_line(line) {
            ListLine::Domain(d) => d.into_string(),
            other => panic!("{line:?}: {other:?}"),
        }
    }

    /// F11: CRLF endings, blank lines and surrounding tabs leave nothing behind.
    #[test]
    fn f11_line_endings_and_blanks_in_list_files() {
        let bytes = "example.com\r\nexample.org\r\n\r\n   example.net  \t\n";
        let domains: Vec<String> = bytes
            .split('\n')
            .filter_map(|line| match parse_list_line(line) {
                ListLine::Domain(d) => Some(d.into_string()),
                ListLine::Skip => None,
                ListLine::Invalid(e) => panic!("{e}"),
            })
            .collect();
        assert_eq!(domains, ["example.com", "example.org", "example.net"]);
        assert!(domains.iter().all(|d| !d.contains(['\r', ' ', '\t'])));
    }

    #[test]
    fn comments_and_invalid_lines() {
        assert_eq!(parse_list_line("# customers"), ListLine::Skip);
        assert_eq!(parse_list_line("   "), ListLine::Skip);
        assert_eq!(domain("example.com # customer 42"), "example.com");
        assert_eq!(domain("example.com\t# customer 42"), "example.com");
        assert_eq!(domain("example.com#customer-42"), "example.com");
        assert!(matches!(
            parse_list_line("bad domain"),
            ListLine::Invalid(_)
        ));
    }

    fn read(bytes: &[u8]) -> Vec<(u64, Result<String, String>)> {
        DomainList::new(bytes)
            .map(|entry| {
                let entry = entry.unwrap();
                (
                    entry.line,
                    entry
                        .item
                        .map(Domain::into_string)
                        .map_err(|e| e.to_string()),
                )
            })
            .collect()
    }

    /// Returns each line number and domain of a list whose every domain line is valid.
    fn valid(bytes: &[u8]) -> Vec<(u64, String)> {
        read(bytes)
            .into_iter()
            .map(|(line, d)| (line, d.unwrap()))
            .collect()
    }

    /// F11: CRLF, blank lines, and spaces or tabs around a domain leave nothing behind.
    #[test]
    fn f11_line_endings_and_blanks_in_a_streamed_list() {
        assert_eq!(
            valid(b"example.com\r\nexample.org\r\n\r\n   example.net  \t\n"),
            [
                (1, "example.com".into()),
                (2, "example.org".into()),
                (4, "example.net".into())
            ]
        );
    }

    /// F11: a lone `\r` (old Mac files) ends a line too, and a `\r\n` is one ending even when a
    /// read buffer splits it, so line numbers stay right.
    #[test]
    fn f11_lone_carriage_returns_end_lines() {
        assert_eq!(
            valid(b"a.example\rb.example # x\r\rc.example"),
            [
                (1, "a.example".into()),
                (2, "b.example".into()),
                (4, "c.example".into())
            ]
        );
        // Every split of a CRLF file across reads gives the same lines.
        let bytes = b"a.example\r\nb.example\r\n\r\nc.example\r\n";
        for capacity in 1..=bytes.len() {
            let reader = io::BufReader::with_capacity(capacity, &bytes[..]);
            let lines: Vec<u64> = DomainList::new(reader).map(|e| e.unwrap().line).collect();
            assert_eq!(lines, [1, 2, 4], "buffer of {capacity}");
        }
    }

    #[test]
    fn no_final_newline_comments_and_errors_keep_line_numbers() {
        let entries = read(b"# list\nbad domain\n\xff\xfe\nexample.com");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].0, 2);
        assert!(entries[0].1.as_ref().unwrap_err().contains("whitespace"));
        assert_eq!(entries[1], (3, Err("the line is not valid UTF-8".into())));
        assert_eq!(entries[2], (4, Ok("example.com".into())));
    }

    #[test]
    fn overlong_lines_are_cut_and_reported() {
        let mut bytes = vec![b'a'; MAX_LINE_BYTES * 3];
        bytes.extend_from_slice(b"\nexample.com\n");
        let reader = io::BufReader::with_capacity(64, bytes.as_slice());
        let entries: Vec<Entry> = DomainList::new(reader).map(Result::unwrap).collect();
        assert_eq!(entries.len(), 2);
        assert!(matches!(entries[0].item, Err(LineError::TooLong)));
        assert_eq!(entries[1].line, 2);
        assert_eq!(entries[1].item.as_ref().unwrap().as_str(), "example.com");
    }

    #[test]
    fn empty_input() {
        assert!(read(b"").is_empty());
        assert!(read(b"\n\n# only comments\n").is_empty());
    }
}
