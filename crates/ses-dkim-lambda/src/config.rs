//! The function's configuration, read once from its environment at start-up.

use std::time::Duration;

use ses_dkim_client::Settings;
use ses_dkim_core::{Region, RegionError};

/// The calls a second SES allows `VerifyDomainDkim` per account and region.
pub(crate) const DEFAULT_RATE: f64 = 1.0;

/// The attempts one domain gets, unless `SES_DKIM_MAX_ATTEMPTS` says otherwise.
pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// The most attempts one domain may get, as for the CLI's `--max-attempts`.
pub(crate) const MAX_ATTEMPTS: u32 = 20;

/// The time kept back from an invocation's deadline to write the answer.
pub(crate) const ANSWER_MARGIN: Duration = Duration::from_millis(500);

/// What the function needs to know besides the event.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The region of events that name none: the function's own (`AWS_REGION`).
    pub(crate) default_region: Option<Region>,
    /// The settings every region's client starts from; the region is filled in per client.
    pub(crate) settings: Settings,
    /// The time kept back from the deadline to write the answer.
    pub(crate) answer_margin: Duration,
    /// Settings that work but are likely mistakes, to log once at start-up.
    pub(crate) warnings: Vec<String>,
}

impl Config {
    /// Reads the configuration through `lookup` (the process environment, in production).
    ///
    /// - `AWS_REGION`, else `AWS_DEFAULT_REGION`: the region of events that name none.
    /// - `SES_DKIM_RATE`: the calls a second that all instances together may make in one region
    ///   (default 1, SES's limit).
    /// - `SES_DKIM_CONCURRENCY`: how many instances may run at once, the function's reserved
    ///   concurrency (default 1); each instance paces itself to `SES_DKIM_RATE` divided by this.
    /// - `SES_DKIM_MAX_ATTEMPTS`: attempts per domain, 1 to 20 (default 3).
    ///
    /// A rate above SES's one call a second is accepted (an account may have a raised limit),
    /// with a warning in [`Config::warnings`].
    ///
    /// Endpoint overrides (`AWS_ENDPOINT_URL_SES`) and credentials are read by the client, the
    /// way the AWS SDKs read them.
    ///
    /// # Errors
    ///
    /// Fails when a variable is set to a value that cannot work.
    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let default_region = set("AWS_REGION")
            .or_else(|| set("AWS_DEFAULT_REGION"))
            .map(|name| Region::parse(&name))
            .transpose()?;
        let rate = match set("SES_DKIM_RATE") {
            Some(text) => parse_rate(&text)?,
            None => DEFAULT_RATE,
        };
        let concurrency = match set("SES_DKIM_CONCURRENCY") {
            Some(text) => parse_count("SES_DKIM_CONCURRENCY", &text)?,
            None => 1,
        };
        let max_attempts = match set("SES_DKIM_MAX_ATTEMPTS") {
            Some(text) => parse_attempts(&text)?,
            None => DEFAULT_MAX_ATTEMPTS,
        };
        let mut warnings = Vec::new();
        if rate > DEFAULT_RATE {
            warnings.push(format!(
                "SES_DKIM_RATE={rate} is above SES's limit of one VerifyDomainDkim call a second \
                 per account and region; unless the account's limit was raised, SES throttles \
                 the calls beyond it"
            ));
        }

        let settings = Settings {
            rate: rate / f64::from(concurrency),
            burst: 1,
            // Given here, aws-config never reads `AWS_MAX_ATTEMPTS`, on whose invalid value it
            // panics.
            max_attempts: Some(max_attempts),
            ..Settings::default()
        };
        Ok(Self {
            default_region,
            settings,
            answer_margin: ANSWER_MARGIN,
            warnings,
        })
    }
}

/// A variable of the function's environment with a value that cannot work.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// `AWS_REGION` is not a region name.
    #[error(transparent)]
    Region(#[from] RegionError),
    /// Another variable has a bad value.
    #[error("invalid {name} `{value}`: {reason}")]
    Invalid {
        /// The variable's name.
        name: &'static str,
        /// Its value.
        value: String,
        /// What a value must be.
        reason: &'static str,
    },
}

fn parse_rate(text: &str) -> Result<f64, ConfigError> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(ConfigError::Invalid {
            name: "SES_DKIM_RATE",
            value: text.to_owned(),
            reason: "expected a positive number of calls a second",
        }),
    }
}

fn parse_attempts(text: &str) -> Result<u32, ConfigError> {
    match text.trim().parse::<u32>() {
        Ok(count) if (1..=MAX_ATTEMPTS).contains(&count) => Ok(count),
        _ => Err(ConfigError::Invalid {
            name: "SES_DKIM_MAX_ATTEMPTS",
            value: text.to_owned(),
            reason: "expected a whole number from 1 to 20, as for the CLI's --max-attempts",
        }),
    }
}

fn parse_count(name: &'static str, text: &str) -> Result<u32, ConfigError> {
    match text.trim().parse::<u32>() {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(ConfigError::Invalid {
            name,
            value: text.to_owned(),
            reason: "expected a whole number of at least 1",
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_pace_one_instance_at_one_call_a_second() {
        let config = config(&[("AWS_REGION", "eu-west-1")]).unwrap();
        assert_eq!(config.default_region.unwrap().as_str(), "eu-west-1");
        assert!((config.settings.rate - 1.0).abs() < f64::EPSILON);
        assert_eq!(config.settings.burst, 1);
        assert_eq!(config.settings.max_attempts, Some(3));
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }

    #[test]
    fn attempts_are_limited_as_for_the_cli() {
        for (value, attempts) in [("1", 1), ("20", 20), (" 7 ", 7)] {
            let config = config(&[("SES_DKIM_MAX_ATTEMPTS", value)]).unwrap();
            assert_eq!(config.settings.max_attempts, Some(attempts), "{value}");
        }
        for value in ["0", "21", "50"] {
            let error = config(&[("SES_DKIM_MAX_ATTEMPTS", value)])
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("SES_DKIM_MAX_ATTEMPTS") && error.contains(&format!("`{value}`")),
                "{error}"
            );
            assert!(error.contains("from 1 to 20"), "{error}");
        }
    }

    #[test]
    fn a_rate_above_ses_limit_is_kept_with_one_warning() {
        let fast = config(&[("SES_DKIM_RATE", "5")]).unwrap();
        assert!((fast.settings.rate - 5.0).abs() < f64::EPSILON);
        assert_eq!(fast.warnings.len(), 1, "{:?}", fast.warnings);
        assert!(
            fast.warnings[0].contains("SES_DKIM_RATE=5"),
            "{:?}",
            fast.warnings
        );
        for rate in ["1", "0.5"] {
            let slow = config(&[("SES_DKIM_RATE", rate)]).unwrap();
            assert!(slow.warnings.is_empty(), "{rate}: {:?}", slow.warnings);
        }
    }

    #[test]
    fn the_rate_is_shared_between_instances() {
        let config = config(&[("SES_DKIM_RATE", "1"), ("SES_DKIM_CONCURRENCY", "4")]).unwrap();
        assert!((config.settings.rate - 0.25).abs() < f64::EPSILON);
        assert!(config.default_region.is_none());
    }

    #[test]
    fn the_region_falls_back_to_aws_default_region() {
        let config = config(&[("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "af-south-1")]).unwrap();
        assert_eq!(config.default_region.unwrap().as_str(), "af-south-1");
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        for (name, value) in [
            ("SES_DKIM_RATE", "0"),
            ("SES_DKIM_RATE", "fast"),
            ("SES_DKIM_RATE", "inf"),
            ("SES_DKIM_CONCURRENCY", "0"),
            ("SES_DKIM_MAX_ATTEMPTS", "-1"),
            ("AWS_REGION", "EU WEST"),
        ] {
            let error = config(&[(name, value)]).unwrap_err().to_string();
            assert!(error.contains(value), "{name}={value}: {error}");
        }
    }
}
