//! AWS regions where SES v1 runs, with what each one needs: its endpoint hosts and the zone its
//! DKIM CNAME records point into.

use std::fmt;
use std::sync::Arc;

/// A region name such as `us-east-1`, checked for shape but not necessarily known.
///
/// Known regions carry endpoint and DKIM-zone facts ([`Region::info`]); an unknown but
/// well-formed name is still usable with an explicit endpoint and DKIM zone, so that a region
/// AWS opens after this release is not locked out.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region(Arc<str>);

impl Region {
    /// Parses a region name: lower-case letters, digits and hyphens, as in `af-south-1`.
    ///
    /// # Errors
    ///
    /// Returns [`RegionError::Malformed`] for anything else (upper case, spaces, empty).
    pub fn parse(name: &str) -> Result<Self, RegionError> {
        let name = name.trim();
        let well_formed = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if well_formed {
            Ok(Self(name.into()))
        } else {
            Err(RegionError::Malformed(name.to_owned()))
        }
    }

    /// Returns the region's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns what is known about this region, or `None` for a region missing from the table.
    pub fn info(&self) -> Option<&'static RegionInfo> {
        REGIONS.iter().find(|info| info.name == &*self.0)
    }

    /// Returns the known region's facts, or an error listing the known regions.
    ///
    /// # Errors
    ///
    /// Returns [`RegionError::Unknown`] when the region is not in the compiled-in table.
    pub fn known_info(&self) -> Result<&'static RegionInfo, RegionError> {
        self.info()
            .ok_or_else(|| RegionError::Unknown(self.as_str().to_owned()))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({:?})", self.0)
    }
}

impl std::str::FromStr for Region {
    type Err = RegionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A region name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegionError {
    /// The name is not shaped like a region.
    #[error("invalid region `{0}`: expected a name like `us-east-1`")]
    Malformed(String),
    /// The name is well-formed but SES v1 is not known to run there.
    #[error(
        "unknown SES region `{0}`{hint} (known: {known}); for a newer region give the endpoint \
         and DKIM zone explicitly",
        hint = did_you_mean(.0),
        known = known_region_names()
    )]
    Unknown(String),
}

/// Facts about one region where SES v1 runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegionInfo {
    /// The region name, e.g. `eu-west-1`.
    pub name: &'static str,
    /// The partition, e.g. `aws` or `aws-us-gov`.
    pub partition: &'static str,
    /// The DNS suffix of the standard and FIPS endpoints, e.g. `amazonaws.com`.
    pub dns_suffix: &'static str,
    /// The DNS suffix of the dual-stack endpoints, e.g. `api.aws`.
    pub dualstack_dns_suffix: &'static str,
    /// Whether AWS lists a FIPS endpoint for SES here.
    pub has_fips: bool,
    /// The zone DKIM CNAME values point into, or `None` where no source states it.
    pub dkim_zone: Option<&'static str>,
}

/// The DKIM zone of most regions.
pub const DEFAULT_DKIM_ZONE: &str = "dkim.amazonses.com";

const fn region(
    name: &'static str,
    partition: &'static str,
    has_fips: bool,
    dkim_zone: Option<&'static str>,
) -> RegionInfo {
    let (dns_suffix, dualstack_dns_suffix) = if matches!(partition.as_bytes(), b"aws-eusc") {
        ("amazonaws.eu", "api.amazonwebservices.eu")
    } else {
        ("amazonaws.com", "api.aws")
    };
    RegionInfo {
        name,
        partition,
        dns_suffix,
        dualstack_dns_suffix,
        has_fips,
        dkim_zone,
    }
}

const D: Option<&str> = Some(DEFAULT_DKIM_ZONE);

/// Every region where SES v1 runs, from botocore's endpoint data and the AWS General Reference
/// (`data/endpoints.ses-v1.tsv` and `data/dkim-cname-hosted-zone-by-region.tsv`; a unit test
/// keeps this table and those files in step).
pub const REGIONS: &[RegionInfo] = &[
    region(
        "af-south-1",
        "aws",
        false,
        Some("dkim.af-south-1.amazonses.com"),
    ),
    region("ap-northeast-1", "aws", false, D),
    region("ap-northeast-2", "aws", false, D),
    region(
        "ap-northeast-3",
        "aws",
        false,
        Some("dkim.ap-northeast-3.amazonses.com"),
    ),
    region("ap-south-1", "aws", false, D),
    region(
        "ap-south-2",
        "aws",
        false,
        Some("dkim.ap-south-2.amazonses.com"),
    ),
    region("ap-southeast-1", "aws", false, D),
    region("ap-southeast-2", "aws", false, D),
    region(
        "ap-southeast-3",
        "aws",
        false,
        Some("dkim.ap-southeast-3.amazonses.com"),
    ),
    region(
        "ap-southeast-5",
        "aws",
        false,
        Some("dkim.ap-southeast-5.amazonses.com"),
    ),
    region("ca-central-1", "aws", true, D),
    region(
        "ca-west-1",
        "aws",
        false,
        Some("dkim.ca-west-1.amazonses.com"),
    ),
    region("eu-central-1", "aws", false, D),
    region(
        "eu-central-2",
        "aws",
        false,
        Some("dkim.eu-central-2.amazonses.com"),
    ),
    region("eu-north-1", "aws", false, D),
    region(
        "eu-south-1",
        "aws",
        false,
        Some("dkim.eu-south-1.amazonses.com"),
    ),
    region("eu-west-1", "aws", false, D),
    region("eu-west-2", "aws", false, D),
    region("eu-west-3", "aws", false, D),
    region(
        "il-central-1",
        "aws",
        false,
        Some("dkim.il-central-1.amazonses.com"),
    ),
    region(
        "me-central-1",
        "aws",
        false,
        Some("dkim.me-central-1.amazonses.com"),
    ),
    region("me-south-1", "aws", false, D),
    region("sa-east-1", "aws", false, D),
    region("us-east-1", "aws", true, D),
    region("us-east-2", "aws", true, D),
    region("us-west-1", "aws", true, D),
    region("us-west-2", "aws", true, D),
    region(
        "us-gov-east-1",
        "aws-us-gov",
        true,
        Some("dkim.us-gov-east-1.amazonses.com"),
    ),
    region("us-gov-west-1", "aws-us-gov", true, D),
    region("eusc-de-east-1", "aws-eusc", false, None),
];

/// Returns `: did you mean `…`?` when a known region is within two edits of `name`.
pub(crate) fn did_you_mean(name: &str) -> String {
    REGIONS
        .iter()
        .map(|r| (strsim::levenshtein(name, r.name), r.name))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, known)| format!(": did you mean `{known}`?"))
        .unwrap_or_default()
}

fn known_region_names() -> String {
    REGIONS
        .iter()
        .map(|r| r.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const ENDPOINTS_TSV: &str = include_str!("../data/endpoints.ses-v1.tsv");

    #[test]
    fn a_misspelt_region_is_answered_with_the_nearest_known_one() {
        let typo = Region::parse("eu-wst-1").unwrap().known_info().unwrap_err();
        assert!(
            typo.to_string()
                .starts_with("unknown SES region `eu-wst-1`: did you mean `eu-west-1`? (known: "),
            "{typo}"
        );
        // Nothing near: no guess.
        let far = Region::parse("mars-north-9")
            .unwrap()
            .known_info()
            .unwrap_err();
        assert!(
            far.to_string()
                .starts_with("unknown SES region `mars-north-9` (known: "),
            "{far}"
        );
    }
    const ZONES_TSV: &str = include_str!("../data/dkim-cname-hosted-zone-by-region.tsv");

    fn rows(tsv: &str) -> impl Iterator<Item = Vec<&str>> {
        tsv.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.split('\t').collect())
    }

    #[test]
    fn table_matches_the_endpoint_data() {
        let from_tsv: BTreeMap<&str, Vec<&str>> = rows(ENDPOINTS_TSV).map(|r| (r[1], r)).collect();
        assert_eq!(from_tsv.len(), REGIONS.len());
        for info in REGIONS {
            let row = &from_tsv[info.name];
            assert_eq!(row[0], info.partition, "{}", info.name);
            assert_eq!(row[2], format!("email.{}.{}", info.name, info.dns_suffix));
            assert_eq!(row[3] != "-", info.has_fips, "{}", info.name);
            assert_eq!(
                row[4],
                format!("email.{}.{}", info.name, info.dualstack_dns_suffix)
            );
        }
    }

    #[test]
    fn table_matches_the_dkim_zone_data() {
        let from_tsv: BTreeMap<&str, &str> = rows(ZONES_TSV).map(|r| (r[0], r[1])).collect();
        assert_eq!(from_tsv.len(), REGIONS.len());
        for info in REGIONS {
            let expected = match from_tsv[info.name] {
                "UNKNOWN" => None,
                zone => Some(zone),
            };
            assert_eq!(info.dkim_zone, expected, "{}", info.name);
        }
    }

    #[test]
    fn parse_and_lookup() {
        assert_eq!(Region::parse(" eu-west-1 ").unwrap().as_str(), "eu-west-1");
        assert!(matches!(
            Region::parse("EU-WEST-1"),
            Err(RegionError::Malformed(_))
        ));
        assert!(matches!(Region::parse(""), Err(RegionError::Malformed(_))));
        let unknown = Region::parse("mars-north-1").unwrap();
        assert!(unknown.info().is_none());
        let err = unknown.known_info().unwrap_err().to_string();
        assert!(
            err.contains("mars-north-1") && err.contains("af-south-1, "),
            "{err}"
        );
    }
}
