//! Reading a list of domains from any [`BufRead`], one line at a time, never the whole file.

use std::fmt;
use std::io::{self, BufRead};

use ses_dkim_core::{Domain, DomainError, ListLine, parse_list_line};

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
/// Any line ending works (`\n`, `\r\n`); surrounding whitespace is trimmed; blank lines and `#`
/// comments are skipped. Reading stops at the end of input or at the first I/O error, which is
/// returned as the last item.
pub struct DomainList<R> {
    reader: R,
    line: u64,
    buffer: Vec<u8>,
}

impl<R: BufRead> DomainList<R> {
    /// Wraps a reader.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            line: 0,
            buffer: Vec::with_capacity(256),
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
            read_any = true;
            let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (available.get(..at).unwrap_or(available), Some(at + 1)),
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

    /// F11: CRLF, blank lines, and spaces or tabs around a domain leave nothing behind.
    #[test]
    fn f11_line_endings_and_blanks_in_list_files() {
        let entries = read(b"example.com\r\nexample.org\r\n\r\n   example.net  \t\n");
        let domains: Vec<(u64, String)> = entries
            .into_iter()
            .map(|(line, d)| (line, d.unwrap()))
            .collect();
        assert_eq!(
            domains,
            [
                (1, "example.com".into()),
                (2, "example.org".into()),
                (4, "example.net".into())
            ]
        );
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
