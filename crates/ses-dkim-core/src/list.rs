//! One line of a domain list file: a domain, or nothing (a blank line or a `#` comment).

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
/// or starts with `#` is skipped; anything after whitespace and `#` on a domain line is a trailing
/// comment and ignored.
pub fn parse_list_line(line: &str) -> ListLine {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return ListLine::Skip;
    }
    // `example.com  # customer 42`: keep the domain, drop the comment.
    let content = match line.find(" #").or_else(|| line.find("\t#")) {
        Some(at) => line.get(..at).unwrap_or(line).trim_end(),
        None => line,
    };
    match Domain::parse(content) {
        Ok(domain) => ListLine::Domain(domain),
        Err(e) => ListLine::Invalid(e),
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
        assert!(matches!(
            parse_list_line("bad domain"),
            ListLine::Invalid(_)
        ));
    }
}
