//! Output formats: every one renders from [`DkimRecordSet`] values, one domain at a time, so a
//! long run can stream its output as each domain completes.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use crate::domain::Domain;
use crate::records::{DkimRecord, DkimRecordSet};

/// How records are written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OutputFormat {
    /// A BIND zone-file fragment: absolute names, or names relative to an `$ORIGIN`.
    #[default]
    Zone,
    /// CSV with the header `domain,region,type,name,value`.
    Csv,
    /// One JSON array of record sets.
    Json,
    /// One JSON record set per line.
    JsonLines,
    /// A Route 53 change batch of `UPSERT` actions, for
    /// `aws route53 change-resource-record-sets --change-batch file://...`.
    Route53,
    /// An aligned table for people.
    Table,
}

impl OutputFormat {
    /// Every format, in the order help texts list them.
    pub const ALL: [Self; 6] = [
        Self::Zone,
        Self::Csv,
        Self::Json,
        Self::JsonLines,
        Self::Route53,
        Self::Table,
    ];

    /// Returns the name used on command lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zone => "zone",
            Self::Csv => "csv",
            Self::Json => "json",
            Self::JsonLines => "jsonl",
            Self::Route53 => "route53",
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
#[error("unknown output format `{0}` (expected zone, csv, json, jsonl, route53 or table)")]
pub struct UnknownFormat(String);

/// Settings that change how records are rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// The TTL of zone-file lines and Route 53 records, in seconds.
    pub ttl: u32,
    /// For the zone format: write `$ORIGIN` and owner names relative to it.
    pub origin: Option<Domain>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            ttl: 1800,
            origin: None,
        }
    }
}

/// A record set that a format cannot express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The domain is not inside the zone file's `$ORIGIN`.
    #[error("`{domain}` is outside the zone `{origin}`")]
    OutsideOrigin {
        /// The record set's domain.
        domain: Domain,
        /// The zone's origin.
        origin: Domain,
    },
}

/// The most records one Route 53 change batch of `UPSERT`s may hold: a
/// `ChangeResourceRecordSets` request takes 1,000 `ResourceRecord` elements, and counts each of
/// an `UPSERT` twice.
pub const ROUTE53_UPSERT_MAX_RECORDS: usize = 500;

/// The most characters the values of one Route 53 change batch of `UPSERT`s may hold together: a
/// `ChangeResourceRecordSets` request takes 32,000 in its `Value` elements, and counts each of an
/// `UPSERT` twice.
pub const ROUTE53_UPSERT_MAX_VALUE_CHARS: usize = 16_000;

/// Why Route 53 would refuse the change batch a [`Renderer`] wrote as one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route53Limit {
    /// The batch has no change, and a request needs at least one.
    Empty,
    /// The batch is larger than one request may be ([`ROUTE53_UPSERT_MAX_RECORDS`],
    /// [`ROUTE53_UPSERT_MAX_VALUE_CHARS`]).
    TooLarge {
        /// The records in the batch.
        records: usize,
        /// The characters of all their values.
        value_chars: usize,
    },
}

/// Renders record sets one at a time into a string buffer, with the header and footer a format
/// needs (CSV's header row, JSON's brackets, the zone's `$ORIGIN`).
///
/// Call [`Renderer::header`] once, [`Renderer::push`] for each set as it arrives, then
/// [`Renderer::footer`] once; write the buffer out after each call.
#[derive(Debug, Clone)]
pub struct Renderer {
    format: OutputFormat,
    options: RenderOptions,
    /// Sets rendered so far (for separators).
    sets: usize,
    /// Records rendered so far (for the Route 53 separators).
    records: usize,
    /// The characters of the values rendered so far (for Route 53's request limits).
    value_chars: usize,
}

impl Renderer {
    /// Creates a renderer for a format.
    pub fn new(format: OutputFormat, options: RenderOptions) -> Self {
        Self {
            format,
            options,
            sets: 0,
            records: 0,
            value_chars: 0,
        }
    }

    /// Appends what comes before the first set.
    pub fn header(&self, out: &mut String) {
        match self.format {
            OutputFormat::Csv => out.push_str("domain,region,type,name,value\n"),
            OutputFormat::Json => out.push('['),
            OutputFormat::Route53 => {
                out.push_str("{\"Comment\":\"DKIM records from ses-dkim\",\"Changes\":[");
            }
            OutputFormat::Zone => {
                if let Some(origin) = &self.options.origin {
                    let _ = writeln!(out, "$ORIGIN {origin}.");
                }
            }
            OutputFormat::JsonLines | OutputFormat::Table => {}
        }
    }

    /// Appends one domain's records.
    ///
    /// # Errors
    ///
    /// Returns [`RenderError::OutsideOrigin`] for a zone file with an origin that does not
    /// contain the domain; nothing is appended then.
    pub fn push(&mut self, set: &DkimRecordSet, out: &mut String) -> Result<(), RenderError> {
        let first = self.sets == 0;
        // Every format writes each name and value about once plus some framing: reserving that
        // up front saves the buffer's repeated regrowth.
        let text: usize = set
            .records
            .iter()
            .map(|r| r.name().len() + r.value().len())
            .sum();
        out.reserve(2 * text + 64 * set.records.len() + 128);
        match self.format {
            OutputFormat::Zone => zone(set, &self.options, out)?,
            OutputFormat::Csv => csv_rows(set, out),
            OutputFormat::Json => {
                out.push_str(if first { "\n  " } else { ",\n  " });
                json(set, out);
            }
            OutputFormat::JsonLines => {
                json(set, out);
                out.push('\n');
            }
            OutputFormat::Route53 => {
                for record in &set.records {
                    out.push_str(if self.records == 0 { "\n  " } else { ",\n  " });
                    route53_change(record, self.options.ttl, out);
                    self.records += 1;
                    self.value_chars += record.value().len();
                }
            }
            OutputFormat::Table => table(set, first, out),
        }
        self.sets += 1;
        Ok(())
    }

    /// Checks, before any call, that this renderer can express a domain's records: with a zone
    /// origin, the domain must be inside it.
    ///
    /// # Errors
    ///
    /// Returns [`RenderError::OutsideOrigin`] as [`Renderer::push`] would for the domain.
    pub fn admits(&self, domain: &Domain) -> Result<(), RenderError> {
        match &self.options.origin {
            Some(origin) if self.format == OutputFormat::Zone && !is_within(domain, origin) => {
                Err(RenderError::OutsideOrigin {
                    domain: domain.clone(),
                    origin: origin.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Appends what comes after the last set.
    pub fn footer(&self, out: &mut String) {
        match self.format {
            OutputFormat::Json => out.push_str(if self.sets == 0 { "]\n" } else { "\n]\n" }),
            OutputFormat::Route53 => {
                out.push_str(if self.records == 0 { "]}\n" } else { "\n]}\n" })
            }
            _ => {}
        }
    }

    /// For the Route 53 format, returns why Route 53 would refuse the change batch rendered so
    /// far as one `ChangeResourceRecordSets` request; `None` when it would take it, and for every
    /// other format.
    ///
    /// Route 53 also takes the changes of one hosted zone only a request, which a renderer cannot
    /// know.
    pub fn route53_limit(&self) -> Option<Route53Limit> {
        if self.format != OutputFormat::Route53 {
            return None;
        }
        let too_large = self.records > ROUTE53_UPSERT_MAX_RECORDS
            || self.value_chars > ROUTE53_UPSERT_MAX_VALUE_CHARS;
        if self.records == 0 {
            Some(Route53Limit::Empty)
        } else if too_large {
            Some(Route53Limit::TooLarge {
                records: self.records,
                value_chars: self.value_chars,
            })
        } else {
            None
        }
    }

    /// Renders a whole list of sets at once.
    ///
    /// # Errors
    ///
    /// Returns the first set's [`RenderError`], as [`Renderer::push`] does.
    pub fn render_all<'a>(
        format: OutputFormat,
        options: RenderOptions,
        sets: impl IntoIterator<Item = &'a DkimRecordSet>,
    ) -> Result<String, RenderError> {
        let mut renderer = Self::new(format, options);
        let mut out = String::new();
        renderer.header(&mut out);
        for set in sets {
            renderer.push(set, &mut out)?;
        }
        renderer.footer(&mut out);
        Ok(out)
    }
}

fn zone(set: &DkimRecordSet, options: &RenderOptions, out: &mut String) -> Result<(), RenderError> {
    // The part of each name to drop: `.<origin>.` when the zone file has an origin.
    let suffix = match &options.origin {
        Some(origin) if !is_within(&set.domain, origin) => {
            return Err(RenderError::OutsideOrigin {
                domain: set.domain.clone(),
                origin: origin.clone(),
            });
        }
        Some(origin) => Some(format!(".{origin}.")),
        None => None,
    };

    // Writing into a String cannot fail.
    let _ = write!(out, "; {} ({})", set.domain, set.region);
    if let Some(id) = &set.request_id {
        let _ = write!(out, " request id {}", comment_safe(id));
    }
    out.push('\n');
    for record in &set.records {
        let owner = suffix
            .as_deref()
            .and_then(|suffix| record.name().strip_suffix(suffix))
            .unwrap_or(record.name());
        let ttl = options.ttl;
        let _ = writeln!(
            out,
            "{owner}\t{ttl}\tIN\t{}\t{}",
            record.record_type(),
            record.value()
        );
    }
    Ok(())
}

/// Returns `true` when `domain` is `origin` or a name below it.
fn is_within(domain: &Domain, origin: &Domain) -> bool {
    let (domain, origin) = (domain.as_str(), origin.as_str());
    domain == origin
        || domain
            .strip_suffix(origin)
            .is_some_and(|head| head.ends_with('.'))
}

fn csv_rows(set: &DkimRecordSet, out: &mut String) {
    // Every field is letters, digits, hyphens, dots and underscores by construction, so none
    // needs quoting; the tests read the output back with the csv crate.
    for record in &set.records {
        for (i, field) in [
            set.domain.as_str(),
            set.region.as_str(),
            record.record_type(),
            record.name(),
            record.value(),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                out.push(',');
            }
            out.push_str(field);
        }
        out.push('\n');
    }
}

/// Writes a record set as JSON, exactly as its `Serialize` implementation would (a unit test
/// holds the two together), without serde's overhead on the hot path.
fn json(set: &DkimRecordSet, out: &mut String) {
    out.push_str("{\"domain\":");
    json_plain(set.domain.as_str(), out);
    out.push_str(",\"region\":");
    json_plain(set.region.as_str(), out);
    if let Some(id) = &set.request_id {
        out.push_str(",\"request_id\":");
        json_str(id, out);
    }
    out.push_str(",\"tokens\":[");
    for (i, token) in set.tokens.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_plain(token.as_str(), out);
    }
    out.push_str("],\"records\":[");
    for (i, record) in set.records.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json_plain(record.name(), out);
        out.push_str(",\"host\":");
        json_plain(record.host(), out);
        out.push_str(",\"type\":");
        json_plain(record.record_type(), out);
        out.push_str(",\"value\":");
        json_plain(record.value(), out);
        out.push('}');
    }
    out.push_str("]}");
}

fn route53_change(record: &DkimRecord, ttl: u32, out: &mut String) {
    out.push_str("{\"Action\":\"UPSERT\",\"ResourceRecordSet\":{\"Name\":");
    json_plain(record.name(), out);
    out.push_str(",\"Type\":");
    json_plain(record.record_type(), out);
    let _ = write!(out, ",\"TTL\":{ttl},\"ResourceRecords\":[{{\"Value\":");
    json_plain(record.value(), out);
    out.push_str("}]}}");
}

/// Writes a JSON string literal for text that never needs escaping: domains, regions, tokens,
/// names and values are letters, digits, hyphens, dots and underscores by construction.
fn json_plain(text: &str, out: &mut String) {
    debug_assert!(
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    );
    out.push('"');
    out.push_str(text);
    out.push('"');
}

/// Writes a JSON string literal for text from elsewhere (a request id from the server), escaping
/// what needs it.
fn json_str(text: &str, out: &mut String) {
    let plain = text
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f);
    if plain {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        match serde_json::to_string(text) {
            Ok(quoted) => out.push_str(&quoted),
            // A `&str` always serialises; stay valid JSON regardless.
            Err(_) => out.push_str("\"\""),
        }
    }
}

fn table(set: &DkimRecordSet, first: bool, out: &mut String) {
    if !first {
        out.push('\n');
    }
    out.push_str(set.domain.as_str());
    out.push_str(" (");
    out.push_str(set.region.as_str());
    out.push(')');
    if let Some(id) = &set.request_id {
        out.push_str("  request id ");
        out.push_str(&comment_safe(id));
    }
    out.push('\n');
    let width = set
        .records
        .iter()
        .map(|r| r.name().len())
        .max()
        .unwrap_or(0)
        .max("NAME".len());
    padded_row(out, "NAME", width, "TYPE ", "VALUE");
    for record in &set.records {
        padded_row(
            out,
            record.name(),
            width,
            record.record_type(),
            record.value(),
        );
    }
}

/// Appends `n` spaces, a slice at a time rather than a character at a time.
fn push_spaces(out: &mut String, mut n: usize) {
    const SPACES: &str = "                                                                ";
    while n > 0 {
        let run = n.min(SPACES.len());
        out.push_str(SPACES.get(..run).unwrap_or_default());
        n -= run;
    }
}

/// Writes `  <name padded to width>  <type>  <value>` and a line break.
fn padded_row(out: &mut String, name: &str, width: usize, record_type: &str, value: &str) {
    out.push_str("  ");
    out.push_str(name);
    push_spaces(out, width.saturating_sub(name.len()) + 2);
    out.push_str(record_type);
    out.push_str("  ");
    out.push_str(value);
    out.push('\n');
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
        )
        .unwrap();
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
        let out = Renderer::render_all(OutputFormat::Csv, RenderOptions::default(), &sets).unwrap();
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
        )
        .unwrap();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        let sets = value.as_array().unwrap();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0]["domain"], "example.com");
        assert_eq!(sets[0]["region"], "us-east-1");
        assert_eq!(sets[0]["request_id"], "r");
        assert_eq!(sets[0]["tokens"][2], T3);
        assert_eq!(sets[0]["records"][0]["type"], "CNAME");
        assert_eq!(sets[0]["records"][0]["host"], format!("{T1}._domainkey"));
        let empty = Renderer::render_all(OutputFormat::Json, RenderOptions::default(), []).unwrap();
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
        )
        .unwrap();
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
            let out = Renderer::render_all(format, RenderOptions::default(), [&set]).unwrap();
            for record in &set.records {
                assert!(out.contains(record.value()), "{format}: {out}");
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
    fn hand_written_json_matches_serde() {
        for id in [None, Some("plain-id"), Some("quote\" back\\slash \u{1} é")] {
            let set = example(id);
            let mut out = String::new();
            json(&set, &mut out);
            assert_eq!(out, serde_json::to_string(&set).unwrap());
        }
    }

    #[test]
    fn json_lines_are_one_set_each() {
        let sets = [example(None), example(Some("r2"))];
        let out =
            Renderer::render_all(OutputFormat::JsonLines, RenderOptions::default(), &sets).unwrap();
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["request_id"], "r2");
        assert_eq!(lines[0]["records"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn route53_change_batch() {
        let options = RenderOptions {
            ttl: 300,
            ..RenderOptions::default()
        };
        let sets = [example(None), example(None)];
        let out = Renderer::render_all(OutputFormat::Route53, options.clone(), &sets).unwrap();
        let batch: serde_json::Value = serde_json::from_str(&out).unwrap();
        let changes = batch["Changes"].as_array().unwrap();
        assert_eq!(changes.len(), 6);
        assert_eq!(changes[0]["Action"], "UPSERT");
        let rrset = &changes[0]["ResourceRecordSet"];
        assert_eq!(rrset["Name"], format!("{T1}._domainkey.example.com."));
        assert_eq!(rrset["Type"], "CNAME");
        assert_eq!(rrset["TTL"], 300);
        assert_eq!(
            rrset["ResourceRecords"][0]["Value"],
            format!("{T1}.dkim.amazonses.com.")
        );
        let empty = Renderer::render_all(OutputFormat::Route53, options, []).unwrap();
        let empty: serde_json::Value = serde_json::from_str(&empty).unwrap();
        assert_eq!(empty["Changes"], serde_json::json!([]));
    }

    #[test]
    fn route53_batches_are_checked_against_one_requests_limits() {
        let mut renderer = Renderer::new(OutputFormat::Route53, RenderOptions::default());
        assert_eq!(renderer.route53_limit(), Some(Route53Limit::Empty));
        // Real tokens make values of 52 characters: 102 domains' values fit, the 103rd's do not,
        // while 309 records are still well within the record limit.
        let set = example(None);
        let value_chars: usize = set.records.iter().map(|r| r.value().len()).sum();
        assert_eq!(value_chars, 3 * 52);
        let mut out = String::new();
        for _ in 0..102 {
            renderer.push(&set, &mut out).unwrap();
        }
        assert_eq!(renderer.route53_limit(), None);
        renderer.push(&set, &mut out).unwrap();
        assert_eq!(
            renderer.route53_limit(),
            Some(Route53Limit::TooLarge {
                records: 309,
                value_chars: 103 * 3 * 52
            })
        );
        let csv = Renderer::new(OutputFormat::Csv, RenderOptions::default());
        assert_eq!(csv.route53_limit(), None);
    }

    #[test]
    fn route53_batches_are_checked_against_the_record_limit_too() {
        // One-letter tokens make values of 21 characters: 500 records fit the record limit with
        // 10,500 characters, and the 501st record is one too many.
        let region = Region::parse("us-east-1").unwrap();
        let zone = DkimZone::for_region(&region).unwrap();
        let short = |domain: &str, tokens: &[&str]| {
            let tokens = tokens.iter().map(|t| DkimToken::new(t).unwrap()).collect();
            let domain = Domain::parse(domain).unwrap();
            DkimRecordSet::new(domain, region.clone(), &zone, tokens, None).unwrap()
        };
        let mut renderer = Renderer::new(OutputFormat::Route53, RenderOptions::default());
        let mut out = String::new();
        for n in 0..166 {
            let set = short(&format!("d{n}.example"), &["a", "b", "c"]);
            renderer.push(&set, &mut out).unwrap();
        }
        renderer
            .push(&short("last.example", &["a", "b"]), &mut out)
            .unwrap();
        assert_eq!(renderer.route53_limit(), None, "500 records fit");
        renderer
            .push(&short("over.example", &["a"]), &mut out)
            .unwrap();
        assert_eq!(
            renderer.route53_limit(),
            Some(Route53Limit::TooLarge {
                records: 501,
                value_chars: 501 * 21
            })
        );
    }

    #[test]
    fn spaces_are_pushed_in_any_number() {
        for n in [0, 1, 63, 64, 65, 200] {
            let mut out = String::from("x");
            push_spaces(&mut out, n);
            assert_eq!(out.len(), n + 1);
            assert!(out[1..].bytes().all(|b| b == b' '), "{n}");
        }
    }

    #[test]
    fn zone_with_origin_writes_relative_owner_names() {
        let origin = Domain::parse("example.com").unwrap();
        let options = RenderOptions {
            origin: Some(origin),
            ..RenderOptions::default()
        };
        let out =
            Renderer::render_all(OutputFormat::Zone, options.clone(), [&example(None)]).unwrap();
        assert!(out.starts_with("$ORIGIN example.com.\n"), "{out}");
        assert!(
            out.contains(&format!(
                "\n{T1}._domainkey\t1800\tIN\tCNAME\t{T1}.dkim.amazonses.com.\n"
            )),
            "{out}"
        );

        // A subdomain identity keeps its own labels relative to the origin.
        let region = Region::parse("us-east-1").unwrap();
        let zone = DkimZone::for_region(&region).unwrap();
        let tokens = vec![DkimToken::new(T1).unwrap()];
        let sub = DkimRecordSet::new(
            Domain::parse("mail.example.com").unwrap(),
            region.clone(),
            &zone,
            tokens.clone(),
            None,
        )
        .unwrap();
        let out = Renderer::render_all(OutputFormat::Zone, options.clone(), [&sub]).unwrap();
        assert!(out.contains(&format!("\n{T1}._domainkey.mail\t")), "{out}");

        // A domain outside the zone is an error for that domain only.
        let other = DkimRecordSet::new(
            Domain::parse("example.org").unwrap(),
            region.clone(),
            &zone,
            tokens.clone(),
            None,
        )
        .unwrap();
        let lookalike = DkimRecordSet::new(
            Domain::parse("badexample.com").unwrap(),
            region,
            &zone,
            tokens,
            None,
        )
        .unwrap();
        let mut renderer = Renderer::new(OutputFormat::Zone, options);
        let mut out = String::new();
        for set in [&other, &lookalike] {
            assert!(matches!(
                renderer.push(set, &mut out),
                Err(RenderError::OutsideOrigin { .. })
            ));
        }
        assert!(out.is_empty());
    }

    #[test]
    fn format_names() {
        assert_eq!("CSV".parse::<OutputFormat>().unwrap(), OutputFormat::Csv);
        assert!("yaml".parse::<OutputFormat>().is_err());
    }

    mod read_back {
        use std::collections::BTreeSet;

        use hickory_proto::rr::{Name, RData};
        use hickory_proto::serialize::txt::Parser;
        use proptest::prelude::*;

        use super::*;
        use crate::region::REGIONS;

        /// A record as every reader sees it: (name, value), both absolute.
        type Pair = (String, String);

        fn expected(sets: &[DkimRecordSet]) -> BTreeSet<Pair> {
            sets.iter()
                .flat_map(|s| {
                    s.records
                        .iter()
                        .map(|r| (r.name().to_owned(), r.value().to_owned()))
                })
                .collect()
        }

        fn from_zone(text: &str) -> BTreeSet<Pair> {
            let (_, records) = Parser::new(text, None, Some(Name::root())).parse().unwrap();
            records
                .values()
                .flat_map(|set| set.records_without_rrsigs())
                .map(|record| match &record.data {
                    RData::CNAME(target) => (record.name.to_ascii(), target.0.to_ascii()),
                    other => panic!("not a CNAME: {other:?}"),
                })
                .collect()
        }

        fn from_csv(text: &str) -> BTreeSet<Pair> {
            let mut reader = csv::Reader::from_reader(text.as_bytes());
            reader
                .records()
                .map(|row| {
                    let row = row.unwrap();
                    assert_eq!(row.len(), 5);
                    assert_eq!(&row[2], "CNAME");
                    (row[3].to_owned(), row[4].to_owned())
                })
                .collect()
        }

        fn from_sets_json(sets: &[serde_json::Value]) -> BTreeSet<Pair> {
            sets.iter()
                .flat_map(|set| set["records"].as_array().unwrap().iter())
                .map(|r| {
                    (
                        r["name"].as_str().unwrap().to_owned(),
                        r["value"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        }

        fn from_route53(text: &str) -> BTreeSet<Pair> {
            let batch: serde_json::Value = serde_json::from_str(text).unwrap();
            batch["Changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|change| {
                    let rrset = &change["ResourceRecordSet"];
                    let value = rrset["ResourceRecords"][0]["Value"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    (rrset["Name"].as_str().unwrap().to_owned(), value)
                })
                .collect()
        }

        fn label() -> impl Strategy<Value = String> {
            "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
        }

        fn record_sets() -> impl Strategy<Value = Vec<DkimRecordSet>> {
            let domain = proptest::collection::vec(label(), 2..5).prop_map(|l| l.join("."));
            let token = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?";
            let one = (
                domain,
                0..REGIONS.len(),
                proptest::collection::vec(token, 1..5),
            );
            proptest::collection::vec(one, 1..4).prop_map(|sets| {
                sets.into_iter()
                    .filter_map(|(domain, region, tokens)| {
                        let domain = Domain::parse(&domain).ok()?;
                        let region = Region::parse(REGIONS[region].name).unwrap();
                        let zone = DkimZone::for_region(&region)
                            .unwrap_or_else(|_| DkimZone::parse("dkim.example.net").unwrap());
                        let tokens: Vec<DkimToken> =
                            tokens.iter().map(|t| DkimToken::new(t).unwrap()).collect();
                        DkimRecordSet::new(domain, region, &zone, tokens, None).ok()
                    })
                    .collect()
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn every_format_reads_back_to_the_same_records(sets in record_sets()) {
                let want = expected(&sets);
                for set in &sets {
                    prop_assert_eq!(set.records.len(), set.tokens.len());
                    for record in &set.records {
                        for text in [record.name(), record.value()] {
                            prop_assert!(text.ends_with('.') && !text.ends_with(".."));
                            prop_assert!(text.len() - 1 <= crate::domain::MAX_DOMAIN_LEN);
                        }
                    }
                }
                let render = |format| Renderer::render_all(format, RenderOptions::default(), &sets).unwrap();

                // Duplicated (name, value) pairs collapse in a set; compare sets of pairs.
                // DNS names compare without case, and the zone parser lower-cases them.
                let folded: BTreeSet<Pair> = want
                    .iter()
                    .map(|(n, v)| (n.to_ascii_lowercase(), v.to_ascii_lowercase()))
                    .collect();
                prop_assert_eq!(from_zone(&render(OutputFormat::Zone)), folded);
                prop_assert_eq!(from_csv(&render(OutputFormat::Csv)), want.clone());
                let json: Vec<serde_json::Value> = serde_json::from_str(&render(OutputFormat::Json)).unwrap();
                prop_assert_eq!(json.len(), sets.len());
                prop_assert_eq!(from_sets_json(&json), want.clone());
                let lines: Vec<serde_json::Value> = render(OutputFormat::JsonLines)
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect();
                prop_assert_eq!(from_sets_json(&lines), want.clone());
                prop_assert_eq!(from_route53(&render(OutputFormat::Route53)), want.clone());
                let table = render(OutputFormat::Table);
                for (name, value) in &want {
                    let row = table.lines().find(|l| l.split_whitespace().next() == Some(name.as_str()));
                    prop_assert!(row.is_some_and(|row| row.split_whitespace().nth(2) == Some(value.as_str())));
                }
            }
        }
    }
}
