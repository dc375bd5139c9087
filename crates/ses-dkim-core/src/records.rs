//! DKIM CNAME records built from tokens: the one value every output format renders.

use std::fmt;

use crate::domain::{Domain, DomainError, MAX_DOMAIN_LEN};
use crate::region::Region;
use crate::response::DkimToken;

/// The zone that DKIM CNAME values point into, such as `dkim.amazonses.com`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DkimZone(Domain);

impl DkimZone {
    /// Returns the zone SES uses for a region, from the compiled-in table.
    ///
    /// # Errors
    ///
    /// Returns [`ZoneError::UnknownRegion`] when the region is not in the table and
    /// [`ZoneError::Undocumented`] when no source states the region's zone; both say to pass the
    /// zone explicitly.
    pub fn for_region(region: &Region) -> Result<Self, ZoneError> {
        let info = region
            .info()
            .ok_or_else(|| ZoneError::UnknownRegion(region.clone()))?;
        let zone = info
            .dkim_zone
            .ok_or_else(|| ZoneError::Undocumented(region.clone()))?;
        Self::parse(zone).map_err(ZoneError::Invalid)
    }

    /// Parses an explicit zone, for regions the table does not know or gets wrong.
    ///
    /// # Errors
    ///
    /// Fails when the zone is not a valid domain name.
    pub fn parse(zone: &str) -> Result<Self, DomainError> {
        Domain::parse(zone).map(Self)
    }

    /// Returns the zone without a trailing dot.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for DkimZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DkimZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DkimZone({:?})", self.as_str())
    }
}

/// A DKIM zone that cannot be determined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ZoneError {
    /// The region is missing from the table.
    #[error(
        "the DKIM zone of region `{0}` is not known{hint}; pass the zone explicitly, e.g. \
         dkim.<region>.amazonses.com",
        hint = match crate::region::did_you_mean(.0.as_str()) {
            hint if hint.is_empty() => " (is the region spelt right?)".to_owned(),
            hint => hint,
        }
    )]
    UnknownRegion(Region),
    /// The region is known, but no source states its DKIM zone.
    #[error("no source states the DKIM zone of region `{0}`; pass it explicitly")]
    Undocumented(Region),
    /// The zone is not a valid domain name.
    #[error("invalid DKIM zone: {0}")]
    Invalid(DomainError),
}

/// What follows a token in a record's owner name.
const DOMAINKEY: &str = "._domainkey";

/// The one DNS record type Easy DKIM uses.
pub const RECORD_TYPE: &str = "CNAME";

/// One DNS record to publish: `<token>._domainkey.<domain>.` CNAME `<token>.<zone>.`.
///
/// The owner name and the target share one allocation.
#[derive(Clone, PartialEq, Eq)]
pub struct DkimRecord {
    /// The owner name, then the target: `<token>._domainkey.<domain>.<token>.<zone>.`.
    text: Box<str>,
    /// Where the owner name ends and the target begins.
    name_len: usize,
    /// Where the relative owner name, `<token>._domainkey`, ends.
    host_len: usize,
}

impl DkimRecord {
    /// Builds the record of one token.
    ///
    /// # Errors
    ///
    /// Returns [`RecordError::NameTooLong`] when the name or the target would be longer than DNS
    /// allows.
    fn new(token: &str, domain: &Domain, zone: &DkimZone) -> Result<Self, RecordError> {
        let domain = domain.as_str();
        let zone = zone.as_str();
        let host_len = token.len() + DOMAINKEY.len();
        let name_len = host_len + 1 + domain.len() + 1;
        let value_len = token.len() + 1 + zone.len() + 1;
        // Built with the exact capacity: this runs for every domain, and `format!` costs several
        // times as much.
        let mut text = String::with_capacity(name_len + value_len);
        for part in [token, DOMAINKEY, ".", domain, ".", token, ".", zone, "."] {
            text.push_str(part);
        }
        let record = Self {
            text: text.into_boxed_str(),
            name_len,
            host_len,
        };
        for full in [record.name(), record.value()] {
            // The limit counts the name without its root dot.
            if full.len().saturating_sub(1) > MAX_DOMAIN_LEN {
                return Err(RecordError::NameTooLong {
                    name: full.to_owned(),
                });
            }
        }
        Ok(record)
    }

    /// Returns the absolute owner name, ending in exactly one dot.
    pub fn name(&self) -> &str {
        self.text.get(..self.name_len).unwrap_or_default()
    }

    /// Returns the owner name relative to the domain, `<token>._domainkey`, for web panels that
    /// append the domain themselves.
    pub fn host(&self) -> &str {
        self.text.get(..self.host_len).unwrap_or_default()
    }

    /// Returns the record type: always `CNAME`.
    pub fn record_type(&self) -> &'static str {
        RECORD_TYPE
    }

    /// Returns the absolute target, ending in exactly one dot.
    pub fn value(&self) -> &str {
        self.text.get(self.name_len..).unwrap_or_default()
    }
}

impl fmt::Debug for DkimRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimRecord")
            .field("name", &self.name())
            .field("host", &self.host())
            .field("record_type", &self.record_type())
            .field("value", &self.value())
            .finish()
    }
}

impl serde::Serialize for DkimRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut record = serializer.serialize_struct("DkimRecord", 4)?;
        record.serialize_field("name", self.name())?;
        record.serialize_field("host", self.host())?;
        record.serialize_field("type", self.record_type())?;
        record.serialize_field("value", self.value())?;
        record.end()
    }
}

/// The records of one domain in one region, with what SES said.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DkimRecordSet {
    /// The domain the records are for.
    pub domain: Domain,
    /// The region whose SES issued the tokens; the same domain in another region has other
    /// tokens.
    pub region: Region,
    /// The SES request id of the call that returned the tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The tokens, in SES's order.
    pub tokens: Vec<DkimToken>,
    /// One record per token, in the same order.
    pub records: Vec<DkimRecord>,
}

impl DkimRecordSet {
    /// Builds one CNAME record per token.
    ///
    /// # Errors
    ///
    /// Returns [`RecordError::NoTokens`] for an empty token list (SES always gives three; a
    /// set without records would publish nothing), and [`RecordError::NameTooLong`] when a
    /// record's name or value would exceed 253 octets, which happens only for domains or zones
    /// near the DNS length limit.
    pub fn new(
        domain: Domain,
        region: Region,
        zone: &DkimZone,
        tokens: Vec<DkimToken>,
        request_id: Option<String>,
    ) -> Result<Self, RecordError> {
        if tokens.is_empty() {
            return Err(RecordError::NoTokens {
                domain: domain.into_string(),
            });
        }
        let records = tokens
            .iter()
            .map(|token| DkimRecord::new(token.as_str(), &domain, zone))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            domain,
            region,
            request_id,
            tokens,
            records,
        })
    }
}

/// Records that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// There were no tokens to make records of.
    #[error("no DKIM tokens for `{domain}`: there are no records to publish")]
    NoTokens {
        /// The domain the set was for.
        domain: String,
    },
    /// A name or value would exceed the DNS limit of 253 octets.
    #[error("the record name `{name}` would be longer than 253 octets")]
    NameTooLong {
        /// The over-long name.
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const T1: &str = "abcdefghijklmnopqrstuvwxyz234567";
    const T2: &str = "bcdefghijklmnopqrstuvwxyz234567a";
    const T3: &str = "cdefghijklmnopqrstuvwxyz234567ab";

    fn set(domain: &str, region: &str) -> DkimRecordSet {
        let region = Region::parse(region).unwrap();
        let zone = DkimZone::for_region(&region).unwrap();
        let tokens = [T1, T2, T3]
            .iter()
            .map(|t| DkimToken::new(t).unwrap())
            .collect();
        DkimRecordSet::new(Domain::parse(domain).unwrap(), region, &zone, tokens, None).unwrap()
    }

    /// F05: no tokens is an error for that domain, never a set of zero records.
    #[test]
    fn f05_an_empty_token_list_makes_no_record_set() {
        let region = Region::parse("us-east-1").unwrap();
        let zone = DkimZone::for_region(&region).unwrap();
        let domain = Domain::parse("example.com").unwrap();
        let error = DkimRecordSet::new(domain, region, &zone, Vec::new(), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no DKIM tokens for `example.com`: there are no records to publish"
        );
    }

    /// F01: the region decides the CNAME target.
    #[test]
    fn f01_region_decides_the_cname_target() {
        let cape_town = set("example.com", "af-south-1");
        assert_eq!(
            cape_town.records[0].name(),
            format!("{T1}._domainkey.example.com.")
        );
        assert_eq!(
            cape_town.records[0].value(),
            format!("{T1}.dkim.af-south-1.amazonses.com.")
        );
        assert_eq!(cape_town.records[0].record_type(), "CNAME");
        let virginia = set("example.com", "us-east-1");
        assert_eq!(
            virginia.records[0].value(),
            format!("{T1}.dkim.amazonses.com.")
        );
        assert_eq!(virginia.records.len(), 3);
    }

    /// F02: newer regions have regional zones, and any zone can be overridden.
    #[test]
    fn f02_the_regional_table_goes_stale() {
        for name in [
            "ca-west-1",
            "me-central-1",
            "ap-southeast-5",
            "eu-central-2",
            "ap-south-2",
        ] {
            let region = Region::parse(name).unwrap();
            assert_eq!(
                DkimZone::for_region(&region).unwrap().as_str(),
                format!("dkim.{name}.amazonses.com")
            );
        }
        let override_zone = DkimZone::parse("dkim.xx-new-1.amazonses.com.").unwrap();
        let tokens = vec![DkimToken::new(T1).unwrap()];
        let region = Region::parse("us-east-1").unwrap();
        let set = DkimRecordSet::new(
            Domain::parse("example.com").unwrap(),
            region,
            &override_zone,
            tokens,
            None,
        )
        .unwrap();
        assert_eq!(
            set.records[0].value(),
            format!("{T1}.dkim.xx-new-1.amazonses.com.")
        );

        let unknown = Region::parse("xx-new-1").unwrap();
        assert!(matches!(
            DkimZone::for_region(&unknown),
            Err(ZoneError::UnknownRegion(_))
        ));
        // A new region gets the question, a misspelt one the nearest known region.
        let new = DkimZone::for_region(&unknown).unwrap_err().to_string();
        assert!(
            new.contains("`xx-new-1` is not known (is the region spelt right?);"),
            "{new}"
        );
        let typo = Region::parse("eu-wst-1").unwrap();
        let typo = DkimZone::for_region(&typo).unwrap_err().to_string();
        assert!(
            typo.contains("`eu-wst-1` is not known: did you mean `eu-west-1`?;"),
            "{typo}"
        );
        let eusc = Region::parse("eusc-de-east-1").unwrap();
        assert!(matches!(
            DkimZone::for_region(&eusc),
            Err(ZoneError::Undocumented(_))
        ));
    }

    /// F12 and F13: names end in exactly one dot, the relative host is `<token>._domainkey`,
    /// and the domain is never doubled.
    #[test]
    fn f12_f13_one_dot_and_relative_host() {
        for input in ["example.com", "example.com."] {
            let set = set(input, "eu-west-1");
            for record in &set.records {
                assert!(record.name().ends_with(".example.com.") && !record.name().ends_with(".."));
                assert!(!record.name().contains("..") && !record.value().contains(".."));
                assert!(!record.name().contains("example.com.example.com"));
                assert!(
                    record.host().ends_with("._domainkey") && !record.host().contains("example")
                );
                assert!(!record.value().contains("example.com"));
            }
        }
    }

    /// The parts of a record are exact slices of its one text, and serde shows them under the
    /// names the JSON output uses.
    #[test]
    fn a_record_shows_its_parts_under_their_names() {
        let set = set("example.com", "us-east-1");
        let record = &set.records[1];
        assert_eq!(record.name(), format!("{T2}._domainkey.example.com."));
        assert_eq!(record.host(), format!("{T2}._domainkey"));
        assert_eq!(record.record_type(), "CNAME");
        assert_eq!(record.value(), format!("{T2}.dkim.amazonses.com."));
        assert_eq!(
            serde_json::to_value(record).unwrap(),
            serde_json::json!({
                "name": record.name(),
                "host": record.host(),
                "type": "CNAME",
                "value": record.value(),
            })
        );
        let shown = format!("{record:?}");
        assert!(
            shown.contains(&format!("value: \"{T2}.dkim.amazonses.com.\"")),
            "{shown}"
        );
    }

    #[test]
    fn overlong_names_are_refused() {
        let long = format!("{0}.{0}.{0}.{1}.com", "a".repeat(63), "b".repeat(50));
        let region = Region::parse("us-east-1").unwrap();
        let zone = DkimZone::for_region(&region).unwrap();
        let err = DkimRecordSet::new(
            Domain::parse(&long).unwrap(),
            region,
            &zone,
            vec![DkimToken::new(T1).unwrap()],
            None,
        );
        assert!(matches!(err, Err(RecordError::NameTooLong { .. })));
    }
}
