//! One SES client per region, built the same way for every subcommand.

use ses_dkim_client::{ConfigError, SesClient, Settings};
use ses_dkim_core::{EndpointError, RegionError, ZoneError};
use tracing::info;

use crate::cli::SesArgs;

/// Builds one client per region (the first of any repeated one), in the order given.
///
/// # Errors
///
/// Fails when a region's configuration is incomplete or invalid, or no credentials are found.
pub(crate) async fn clients(
    ses: &SesArgs,
    dkim_zone: Option<&str>,
) -> Result<Vec<SesClient>, String> {
    let mut regions: Vec<Option<String>> = Vec::new();
    for region in &ses.region {
        if !regions
            .iter()
            .any(|r| r.as_deref() == Some(region.as_str()))
        {
            regions.push(Some(region.clone()));
        }
    }
    if regions.is_empty() {
        regions.push(None);
    }
    let mut clients = Vec::with_capacity(regions.len());
    for region in regions {
        let settings = Settings {
            region,
            profile: ses.profile.clone(),
            endpoint_url: ses.endpoint_url.clone(),
            ca_bundle: ses.ca_bundle.clone(),
            max_attempts: ses.max_attempts,
            rate: ses.rate,
            dkim_zone: dkim_zone.map(str::to_owned),
            ..Settings::default()
        };
        let client = SesClient::from_settings(settings)
            .await
            .map_err(|e| explain(&e, ses))?;
        // Credentials now, before anything is read, called or written: missing ones are a
        // configuration error, not the failure of whichever domain comes first.
        client.load_credentials().await.map_err(|e| e.to_string())?;
        info!(region = %client.region(), endpoint = %client.endpoint(), "client ready");
        clients.push(client);
    }
    Ok(clients)
}

/// Returns a configuration error with what to do about it with this binary's flags, and for a
/// region or an endpoint URL, where it came from.
fn explain(error: &ConfigError, ses: &SesArgs) -> String {
    let region_flag = !ses.region.is_empty();
    match error {
        // Found unknown by the DKIM-zone lookup or by the endpoint table: the same advice.
        ConfigError::Region(RegionError::Unknown(_))
        | ConfigError::Endpoint(EndpointError::Region(RegionError::Unknown(_))) => format!(
            "{error} (--endpoint-url and --dkim-zone); {}",
            region_origin(region_flag)
        ),
        ConfigError::Region(_) => format!("{error}; {}", region_origin(region_flag)),
        ConfigError::Endpoint(
            EndpointError::InvalidUrl { .. }
            | EndpointError::SmtpHost(_)
            | EndpointError::CustomWithVariant,
        ) => format!("{error}; {}", endpoint_origin(ses.endpoint_url.is_some())),
        ConfigError::Zone(ZoneError::UnknownRegion(_) | ZoneError::Undocumented(_)) => {
            format!("{error}, with --dkim-zone")
        }
        _ => error.to_string(),
    }
}

/// Says where the region came from, as far as this binary can tell: the flag, the variables the
/// AWS tools read, or else the profile.
fn region_origin(region_flag: bool) -> String {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let origin = if region_flag {
        "--region"
    } else if set("AWS_REGION") {
        "AWS_REGION"
    } else if set("AWS_DEFAULT_REGION") {
        "AWS_DEFAULT_REGION"
    } else {
        "the profile's `region`"
    };
    format!("the region came from {origin}")
}

/// Says where the endpoint URL came from, in the order the AWS tools look: the flag, the
/// variables, or else the profile.
fn endpoint_origin(endpoint_flag: bool) -> String {
    let value = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let ignored = value("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let origin = if endpoint_flag {
        "--endpoint-url"
    } else if !ignored && value("AWS_ENDPOINT_URL_SES").is_some() {
        "AWS_ENDPOINT_URL_SES"
    } else if !ignored && value("AWS_ENDPOINT_URL").is_some() {
        "AWS_ENDPOINT_URL"
    } else {
        "the profile's `endpoint_url` (or its `services` section)"
    };
    format!("the endpoint URL came from {origin}")
}
