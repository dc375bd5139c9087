//! Output formats: every one renders from [`DkimRecordSet`] values, one domain at a time, so a
//! long run can stream its output as each domain completes.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use crate::records::DkimRecordSet;

/// How records are written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OutputFormat {
    /// A BIND zone-file fragment with absolute names.
    #[default]
    Zone,
    /// CSV with the header `domain,region,type,name,value`.
    Csv,
    /// One JSON array of record sets.
    Json,
    /// An aligned table for people.
    Table,
}

impl OutputFormat {
    /// Every format, in the order help texts list them.
    pub const ALL: [Self; 4] = [Self::Zone, Self::Csv, Self::Json, Self::Table];

    /// Returns the name used on command lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zone => "zone",
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Table => "table",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OutputFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

/// A format name that is not one of [`OutputFormat::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown output format `{0}` (expected zone, csv, json or table)")]
pub struct UnknownFormat(String);

/// Settings that change how records are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// The TTL written into zone-file lines, in seconds.
    pub ttl: u32,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self { ttl: 1800 }
    }
}

/// Renders record sets one at a time into a string buffer, with the header and footer a format
/// needs (CSV's header row, JSON's brackets).
///
/// Call [`Renderer::header`] once, [`Renderer::push`] for each set as it arrives, then
/// [`Renderer::footer`] once; write the buffer out after each call.
#[derive(Debug, Clone)]
pub struct Renderer {
    format: OutputFormat,
    options: RenderOptions,
    sets: usize,
}

impl Renderer {
    /// Creates a renderer for a format.
    pub fn new(format: OutputFormat, options: RenderOptions) -> Self {
        Self {
            format,
            options,
            sets: 0,
        }
    }

    /// Appends what comes before the first set.
    pub fn header(&self, out: &mut String) {
        match self.format {
            OutputFormat::Csv => out.push_str("domain,region,type,name,value\n"),
            OutputFormat::Json => out.push('['),
            OutputFormat::Zone | OutputFormat::Table => {}
        }
    }

    /// Appends one domain's records.
    pub fn push(&mut self, set: &DkimRecordSet, out: &mut String) {
        let first = self.sets == 0;
        self.sets += 1;
        match self.format {
            OutputFormat::Zone => zone(set, self.options.ttl, out),
            OutputFormat::Csv => csv_rows(set, out),
            OutputFormat::Json => {
                out.push_str(if first { "\n  " } else { ",\n  " });
                json(set, out);
            }
            OutputFormat::Table => table(set, first, out),
        }
    }

    /// Appends what comes after the last set.
    pub fn footer(&self, out: &mut String) {
        if self.format == OutputFormat::Json {
            out.push_str(if self.sets == 0 { "]\n" } else { "\n]\n" });
        }
    }

    /// Renders a whole list of sets at once.
    pub fn render_all<'a>(
        format: OutputFormat,
        options: RenderOptions,
        sets: impl IntoIterator<Item = &'a DkimRecordSet>,
    ) -> String {
        let mut renderer = Self::new(format, options);
        let mut out = String::new();
        renderer.header(&mut out);
        for set in sets {
            renderer.push(set, &mut out);
        }
        renderer.footer(&mut out);
        out
    }
}

fn zone(set: &DkimRecordSet, ttl: u32, out: &mut String) {
    // Writing into a String cannot fail.
    let _ = write!(out, "; {} ({})", set.domain, set.region);
    if let Some(id) = &set.request_id {
        let _ = write!(out, " request id {}", comment_safe(id));
    }
    out.push('\n');
    for record in &set.records {
        let _ = writeln!(
            out,
            "{}\t{ttl}\tIN\t{}\t{}",
            record.name, record.record_type, record.value
        );
    }
}

fn csv_rows(set: &DkimRecordSet, out: &mut String) {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for record in &set.records {
        // Writing into a Vec cannot fail; names and values are LDH and never need quoting, but
        // the csv crate quotes whatever would.
        let _ = writer.write_record([
            set.domain.as_str(),
            set.region.as_str(),
            record.record_type,
            &record.name,
            &record.value,
        ]);
    }
    if let Ok(bytes) = writer.into_inner() {
        out.push_str(&String::from_utf8_lossy(&bytes));
    }
}

fn json(set: &DkimRecordSet, out: &mut String) {
    match serde_json::to_string(set) {
        Ok(text) => out.push_str(&text),
        // Serialising plain strings and vectors cannot fail; keep the output valid regardless.
        Err(_) => out.push_str("null"),
    }
}

fn table(set: &DkimRecordSet, first: bool, out: &mut String) {
    if !first {
        out.push('\n');
    }
    let _ = write!(out, "{} ({})", set.domain, set.region);
    if let Some(id) = &set.request_id {
        let _ = write!(out, "  request id {}", comment_safe(id));
    }
    out.push('\n');
    let width = set
        .records
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0)
        .max("NAME".len());
    let _ = writeln!(out, "  {:<width$}  TYPE   VALUE", "NAME");
    for record in &set.records {
        let _ = writeln!(
            out,
            "  {:<width$}  {:<5}  {}",
            record.name, record.record_type, record.value
        );
    }
}

/// Keeps text from the server on one comment line: control characters become spaces.
fn comment_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Domain;
    use crate::records::DkimZone;
    use crate::region::Region;
    use crate::response::DkimToken;

    const T1: &str = "abcdefghijklmnopqrstuvwxyz234567";
    const T2: &str = "bcdefghijklmnopqrstuvwxyz234567a";
    const T3: &str = "cdefghijklmnopqrstuvwxyz234567ab";

    fn example(request_id: Option<&str>) -> DkimRecordSet {
        let region = Region::parse("us-east-1").unwrap();
        let zone = DkimZone::for_region(&region).unwrap();
        let tokens = [T1, T2, T3]
            .iter()
            .map(|t| DkimToken::new(t).unwrap())
            .collect();
        let domain = Domain::parse("example.com").unwrap();
        DkimRecordSet::new(domain, region, &zone, tokens, request_id.map(str::to_owned)).unwrap()
    }

    #[test]
    fn zone_fragment() {
        let out = Renderer::render_all(
            OutputFormat::Zone,
            RenderOptions::default(),
            [&example(Some("rid"))],
        );
        let expected = format!(
            "; example.com (us-east-1) request id rid\n\
             {T1}._domainkey.example.com.\t1800\tIN\tCNAME\t{T1}.dkim.amazonses.com.\n\
             {T2}._domainkey.example.com.\t1800\tIN\tCNAME\t{T2}.dkim.amazonses.com.\n\
             {T3}._domainkey.example.com.\t1800\tIN\tCNAME\t{T3}.dkim.amazonses.com.\n"
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn csv_reads_back() {
        let sets = [example(None), example(None)];
        let out = Renderer::render_all(OutputFormat::Csv, RenderOptions::default(), &sets);
        let mut reader = csv::Reader::from_reader(out.as_bytes());
        assert_eq!(
            reader.headers().unwrap(),
            vec!["domain", "region", "type", "name", "value"]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 6);
        assert_eq!(&rows[0][3], format!("{T1}._domainkey.example.com."));
        assert_eq!(&rows[0][4], format!("{T1}.dkim.amazonses.com."));
    }

    #[test]
    fn json_reads_back() {
        let out = Renderer::render_all(
            OutputFormat::Json,
            RenderOptions::default(),
            [&example(Some("r")), &example(None)],
        );
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        let sets = value.as_array().unwrap();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0]["domain"], "example.com");
        assert_eq!(sets[0]["region"], "us-east-1");
        assert_eq!(sets[0]["request_id"], "r");
        assert_eq!(sets[0]["tokens"][2], T3);
        assert_eq!(sets[0]["records"][0]["type"], "CNAME");
        assert_eq!(sets[0]["records"][0]["host"], format!("{T1}._domainkey"));
        let empty = Renderer::render_all(OutputFormat::Json, RenderOptions::default(), []);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&empty).unwrap(),
            serde_json::json!([])
        );
    }

    #[test]
    fn table_is_aligned() {
        let out = Renderer::render_all(
            OutputFormat::Table,
            RenderOptions::default(),
            [&example(None)],
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "example.com (us-east-1)");
        let column = lines[1].find("TYPE").unwrap();
        assert!(
            lines[2..].iter().all(|l| l.find("CNAME") == Some(column)),
            "{out}"
        );
    }

    /// F03: every format renders from the same record value, and none puts the customer's
    /// domain into a CNAME value.
    #[test]
    fn f03_one_output_format_fixed_another_not() {
        let set = example(None);
        for format in OutputFormat::ALL {
            let out = Renderer::render_all(format, RenderOptions::default(), [&set]);
            for record in &set.records {
                assert!(out.contains(&record.value), "{format}: {out}");
            }
            for value_text in out
                .split(['\t', '\n', ',', ' ', '"'])
                .filter(|t| t.contains(".dkim."))
            {
                assert!(
                    !value_text.contains("example.com"),
                    "{format}: {value_text}"
                );
            }
            assert!(!out.contains(".."), "{format}");
        }
    }

    #[test]
    fn format_names() {
        assert_eq!("CSV".parse::<OutputFormat>().unwrap(), OutputFormat::Csv);
        assert!("yaml".parse::<OutputFormat>().is_err());
    }
}
