//! Client settings: what the caller sets, and how the rest is found the way the AWS tools find
//! it (flags first, then environment variables, then the shared config files).

use std::path::PathBuf;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_types::retry::RetryConfig;
use ses_dkim_core::{Credentials, DkimZone, Endpoint, EndpointError, EndpointVariant, Region};

use crate::error::ConfigError;

/// Settings for a [`crate::SesClient`]; `None` means "as the AWS environment says".
///
/// `Debug` never shows credentials: [`Credentials`] redacts its secrets.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The region, ahead of `AWS_REGION`, `AWS_DEFAULT_REGION` and the profile's `region`.
    pub region: Option<String>,
    /// The shared-config profile, ahead of `AWS_PROFILE`; a profile named here also wins over
    /// keys in the environment, as the AWS CLI's `--profile` does.
    pub profile: Option<String>,
    /// The endpoint URL, ahead of `AWS_ENDPOINT_URL_SES`, `AWS_ENDPOINT_URL` and the profile.
    /// Plain `http://` is allowed only here or through those overrides.
    pub endpoint_url: Option<String>,
    /// Use the FIPS endpoint, ahead of `AWS_USE_FIPS_ENDPOINT` and the profile's
    /// `use_fips_endpoint` (either of which must be `true` or `false`).
    pub use_fips: Option<bool>,
    /// Use the dual-stack endpoint, ahead of `AWS_USE_DUALSTACK_ENDPOINT` and the profile's
    /// `use_dualstack_endpoint` (either of which must be `true` or `false`).
    pub use_dual_stack: Option<bool>,
    /// Fixed credentials, instead of the credential chain.
    pub credentials: Option<Credentials>,
    /// A PEM file of the certificate authorities HTTPS trusts instead of the built-in (webpki)
    /// roots, ahead of `AWS_CA_BUNDLE` and the profile's `ca_bundle`; read for `https` endpoints
    /// only.
    pub ca_bundle: Option<PathBuf>,
    /// Attempts per call, ahead of `AWS_MAX_ATTEMPTS` and the profile's `max_attempts`; the
    /// default is 3.
    ///
    /// When this is `None`, an invalid `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE` or profile retry key
    /// is a [`ConfigError::Invalid`]; a count given here is never checked against them.
    pub max_attempts: Option<u32>,
    /// The first retry's backoff ceiling; later ones double up to `max_backoff`.
    pub initial_backoff: Duration,
    /// The largest backoff between attempts.
    pub max_backoff: Duration,
    /// Requests a second for this client (one account and region); SES allows 1.
    pub rate: f64,
    /// Requests that may go out back to back before the rate applies.
    pub burst: u32,
    /// How long a TCP and TLS connection may take to establish.
    pub connect_timeout: Duration,
    /// How long one attempt may take, from sending to the end of the body.
    pub attempt_timeout: Duration,
    /// The largest response body read, in bytes.
    pub max_body_bytes: usize,
    /// The zone CNAME values point into, instead of the region's zone from the table.
    pub dkim_zone: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            region: None,
            profile: None,
            endpoint_url: None,
            use_fips: None,
            use_dual_stack: None,
            credentials: None,
            ca_bundle: None,
            max_attempts: None,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(20),
            rate: 1.0,
            burst: 1,
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(20),
            max_body_bytes: 1024 * 1024,
            dkim_zone: None,
        }
    }
}

/// A PEM file of certificate authorities, and where it was named.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaBundle {
    /// The file.
    pub path: PathBuf,
    /// Where it was named: `the ca_bundle setting (--ca-bundle)`, `AWS_CA_BUNDLE` or `the
    /// profile's ca_bundle`, for error messages.
    pub named_by: &'static str,
}

impl CaBundle {
    fn new(path: impl Into<PathBuf>, named_by: &'static str) -> Self {
        Self {
            path: path.into(),
            named_by,
        }
    }
}

/// Settings with everything looked up: what a client actually uses.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResolvedSettings {
    /// The region requests are signed for.
    pub region: Region,
    /// Where requests go.
    pub endpoint: Endpoint,
    /// The zone CNAME values point into.
    pub dkim_zone: DkimZone,
    /// Attempts and backoff.
    pub retry: RetryConfig,
    /// Where credentials come from.
    pub credentials: SharedCredentialsProvider,
    /// The certificate authorities' PEM file HTTPS trusts, when not the built-in roots.
    pub ca_bundle: Option<CaBundle>,
    /// The rest of the caller's settings.
    pub settings: Settings,
}

impl ResolvedSettings {
    /// Resolves settings against the environment and the shared config files.
    ///
    /// # Errors
    ///
    /// Fails when no region is found, the region, endpoint or DKIM zone is invalid, or a setting
    /// cannot work (a zero attempt count, a rate that is not positive).
    pub async fn resolve(settings: Settings) -> Result<Self, ConfigError> {
        check(&settings)?;
        let found = environment::look_up(&settings).await?;

        let region = settings
            .region
            .clone()
            .or(found.region)
            .ok_or(ConfigError::NoRegion)?;
        let region = Region::parse(&region)?;
        let configured_url = settings.endpoint_url.clone().or(found.endpoint_url);
        let fips = settings.use_fips.or(found.use_fips).unwrap_or(false);
        let dual_stack = settings
            .use_dual_stack
            .or(found.use_dual_stack)
            .unwrap_or(false);
        let endpoint = resolve_endpoint(&region, configured_url.as_deref(), fips, dual_stack)?;

        let dkim_zone = match &settings.dkim_zone {
            Some(zone) => DkimZone::parse(zone).map_err(|e| ConfigError::Invalid {
                name: "dkim_zone",
                reason: e.to_string(),
            })?,
            // A region missing from the table is most likely misspelt: said as such (with the
            // nearest known one) before its DKIM zone is found missing too.
            None => {
                region.known_info()?;
                DkimZone::for_region(&region)?
            }
        };

        let base = found.retry.unwrap_or_else(RetryConfig::standard);
        let max_attempts = settings.max_attempts.unwrap_or(base.max_attempts());
        let retry = base
            .with_max_attempts(max_attempts)
            .with_initial_backoff(settings.initial_backoff)
            .with_max_backoff(settings.max_backoff);

        let credentials = match &settings.credentials {
            Some(credentials) => SharedCredentialsProvider::new(static_credentials(credentials)),
            None => found
                .credentials
                .ok_or(ConfigError::NoCredentialsProvider)?,
        };
        let ca_bundle = match &settings.ca_bundle {
            Some(path) => Some(CaBundle::new(path, "the ca_bundle setting (--ca-bundle)")),
            None => found.ca_bundle,
        };
        Ok(Self {
            region,
            endpoint,
            dkim_zone,
            retry,
            credentials,
            ca_bundle,
            settings,
        })
    }
}

/// Fixed credentials as the credential types of the AWS SDKs.
fn static_credentials(credentials: &Credentials) -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        credentials.session_token().map(str::to_owned),
        None,
        "ses-dkim-settings",
    )
}

/// What the environment says, before the caller's settings override it.
#[derive(Default)]
struct Found {
    region: Option<String>,
    endpoint_url: Option<String>,
    use_fips: Option<bool>,
    use_dual_stack: Option<bool>,
    retry: Option<RetryConfig>,
    credentials: Option<SharedCredentialsProvider>,
    ca_bundle: Option<CaBundle>,
}

/// The whole AWS configuration chain, through `aws-config`: environment, shared config and
/// credentials files, profiles, SSO, web identity, container and instance metadata.
#[cfg(feature = "credential-chain")]
mod environment {
    use aws_config::default_provider::region::DefaultRegionChain;
    use aws_config::ecs::EcsCredentialsProvider;
    use aws_config::environment::EnvironmentVariableRegionProvider;
    use aws_config::imds::credentials::ImdsCredentialsProvider;
    use aws_config::imds::region::ImdsRegionProvider;
    use aws_config::meta::credentials::CredentialsProviderChain;
    use aws_config::meta::region::RegionProviderChain;
    use aws_config::profile::{
        ProfileFileCredentialsProvider, ProfileFileRegionProvider, ProfileSet,
    };
    use aws_config::provider_config::ProviderConfig;
    use aws_config::{BehaviorVersion, Region};
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_runtime::env_config::file::EnvConfigFiles;
    use aws_smithy_types::retry::RetryConfig;
    use aws_types::os_shim_internal::{Env, Fs};
    use aws_types::service_config::ServiceConfigKey;

    use super::{
        CaBundle, Found, Parser, Settings, parse_attempts, parse_flag, parse_retry_mode,
        parse_setting, set,
    };
    use crate::error::ConfigError;

    pub(super) async fn look_up(settings: &Settings) -> Result<Found, ConfigError> {
        let env = Env::real();
        // First of all, before any chain is asked for a region or credentials (which can wait on
        // instance metadata): the profiles every later step reads come only with the check.
        let profiles = named_profiles(settings.profile.as_deref(), &env, &Fs::real()).await?;
        let profiles = profiles.as_ref();

        // Read here, and always handed to aws-config, which would otherwise panic on an invalid
        // `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE` or profile retry key.
        let retry = match settings.max_attempts {
            Some(attempts) => RetryConfig::standard().with_max_attempts(attempts),
            None => {
                let attempts = setting(&env, profiles, RETRY_ATTEMPTS, parse_attempts)?;
                // Checked so that a typo is not ignored; the client paces and retries the same
                // way in every mode.
                setting(&env, profiles, RETRY_MODE, parse_retry_mode)?;
                attempts.map_or_else(RetryConfig::standard, |attempts| {
                    RetryConfig::standard().with_max_attempts(attempts)
                })
            }
        };
        // aws-config only logs a warning for a value that is not `true` or `false` and goes on
        // without FIPS, which nobody who asked for it wants.
        let use_fips = match settings.use_fips {
            Some(_) => None,
            None => setting(&env, profiles, USE_FIPS, parse_flag)?,
        };
        let use_dual_stack = match settings.use_dual_stack {
            Some(_) => None,
            None => setting(&env, profiles, USE_DUAL_STACK, parse_flag)?,
        };
        // Read and applied here: aws-config takes a value that is not exactly `true` or `false`
        // (also one with spaces around it) for `false`, and a blank variable over the profile's
        // key for an invalid one.
        let ignore_urls = setting(&env, profiles, IGNORE_URLS, parse_flag)?.unwrap_or(false);
        // aws-config has no setting for it: read as the AWS CLI reads it.
        let from_env =
            set(env.get("AWS_CA_BUNDLE").ok()).map(|path| CaBundle::new(path, "AWS_CA_BUNDLE"));
        let ca_bundle = from_env.or_else(|| {
            let path = set(profiles?.get("ca_bundle").map(str::to_owned))?;
            Some(CaBundle::new(path, "the profile's ca_bundle"))
        });

        // Looked up once, here, and handed to aws-config and to the profile's credential chain,
        // which would otherwise each run the chain (instance metadata last) again.
        let region = match &settings.region {
            Some(region) => Some(Region::new(region.clone())),
            None => {
                region_chain(settings.profile.as_deref(), &env, profiles)?
                    .region()
                    .await
            }
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region.clone())
            .retry_config(retry.clone());
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(credentials) = &settings.credentials {
            loader = loader.credentials_provider(super::static_credentials(credentials));
        } else if let Some(profile) = &settings.profile {
            let chain = profile_first(profile, region.clone(), &env, profiles, &retry)?;
            loader = loader.credentials_provider(chain);
        }
        let config = loader.load().await;

        let service_url = ServiceConfigKey::builder()
            .service_id("SES")
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .ok()
            .and_then(|key| config.service_config().and_then(|c| c.load_config(key)));
        Ok(Found {
            region: region.map(|r| r.as_ref().to_owned()),
            endpoint_url: if ignore_urls {
                None
            } else {
                service_url.or_else(|| config.endpoint_url().map(str::to_owned))
            },
            use_fips,
            use_dual_stack,
            retry: Some(retry),
            credentials: config.credentials_provider(),
            ca_bundle,
        })
    }

    /// aws-config's region chain (the environment, the profile's `region`, then instance
    /// metadata); for a profile named by `--profile`, that profile's, asking instance metadata
    /// at the endpoint that profile gives (see [`imds_client`]).
    fn region_chain(
        profile: Option<&str>,
        env: &Env,
        profiles: Option<&ProfileSet>,
    ) -> Result<RegionProviderChain, ConfigError> {
        let Some(profile) = profile else {
            return Ok(RegionProviderChain::first_try(
                DefaultRegionChain::builder().build(),
            ));
        };
        let imds = imds_client(&ProviderConfig::default(), env, profiles)?;
        Ok(
            RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
                .or_else(
                    ProfileFileRegionProvider::builder()
                        .profile_name(profile)
                        .build(),
                )
                .or_else(ImdsRegionProvider::builder().imds_client(imds).build()),
        )
    }

    /// The credential chain for a profile named by `--profile`: aws-config's default chain
    /// without what it reads from the environment alone (keys, and a web identity named by
    /// `AWS_WEB_IDENTITY_TOKEN_FILE`): the profile (its keys, SSO, `credential_process`, an
    /// assumed role, its own web identity), then the container's and the instance's credentials.
    ///
    /// The AWS CLI does the same: a profile named on the command line wins over credentials left
    /// in the environment (which may be another account's), while `AWS_PROFILE` does not.
    fn profile_first(
        profile: &str,
        region: Option<Region>,
        env: &Env,
        profiles: Option<&ProfileSet>,
        retry: &RetryConfig,
    ) -> Result<SharedCredentialsProvider, ConfigError> {
        let conf = ProviderConfig::default()
            .with_region(region)
            .with_retry_config(retry.clone());
        let profile_keys = ProfileFileCredentialsProvider::builder()
            .configure(&conf)
            .profile_name(profile)
            .build();
        let chain = CredentialsProviderChain::first_try("Profile", profile_keys)
            .or_else(
                "EcsContainer",
                EcsCredentialsProvider::builder().configure(&conf).build(),
            )
            .or_else(
                "Ec2InstanceMetadata",
                ImdsCredentialsProvider::builder()
                    .configure(&conf)
                    .imds_client(imds_client(&conf, env, profiles)?)
                    .build(),
            );
        Ok(SharedCredentialsProvider::new(chain))
    }

    /// The instance-metadata client, at the endpoint [`imds_endpoint`] finds. It is always set
    /// explicitly: aws-config's own client would read the endpoint and its mode from the profile
    /// of `AWS_PROFILE` (even ahead of the named profile's mode) and refuse a blank variable.
    fn imds_client(
        conf: &ProviderConfig,
        env: &Env,
        profiles: Option<&ProfileSet>,
    ) -> Result<aws_config::imds::Client, ConfigError> {
        let url = imds_endpoint(env, profiles)?;
        // Checked already, with the same parse: this cannot fail.
        let client = parse_setting(IMDS_ENDPOINT.1, &url, "", imds_at)?;
        Ok(client.configure(conf).build())
    }

    /// The instance-metadata endpoint, in aws-config's order (`AWS_EC2_METADATA_SERVICE_ENDPOINT`,
    /// the profile's `ec2_metadata_service_endpoint`, then the endpoint of the mode in
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE` or the profile's
    /// `ec2_metadata_service_endpoint_mode`, IPv4 otherwise), but with the profile selected in
    /// `profiles` and a blank variable counted as unset.
    fn imds_endpoint(env: &Env, profiles: Option<&ProfileSet>) -> Result<String, ConfigError> {
        if let Some(url) = setting(env, profiles, IMDS_ENDPOINT, parse_imds_url)? {
            return Ok(url);
        }
        let mode = setting(env, profiles, IMDS_ENDPOINT_MODE, parse_imds_mode)?;
        Ok(mode.unwrap_or(IMDS_IPV4).to_owned())
    }

    /// The instance-metadata endpoint of the endpoint mode `IPv4`, as aws-config has it.
    const IMDS_IPV4: &str = "http://169.254.169.254";
    /// The instance-metadata endpoint of the endpoint mode `IPv6`, as aws-config has it.
    const IMDS_IPV6: &str = "http://[fd00:ec2::254]";

    /// An instance-metadata client builder for the endpoint `text`, as aws-config parses it.
    fn imds_at(text: &str) -> Result<aws_config::imds::client::Builder, &'static str> {
        aws_config::imds::Client::builder()
            .endpoint(text)
            .map_err(|_| "is not a URL")
    }

    /// Reads an instance-metadata endpoint as aws-config's client parses it.
    fn parse_imds_url(text: &str) -> Result<String, &'static str> {
        imds_at(text).map(|_| text.to_owned())
    }

    /// Reads an instance-metadata endpoint mode, in any case, into the endpoint it stands for.
    fn parse_imds_mode(text: &str) -> Result<&'static str, &'static str> {
        if text.eq_ignore_ascii_case("IPv4") {
            Ok(IMDS_IPV4)
        } else if text.eq_ignore_ascii_case("IPv6") {
            Ok(IMDS_IPV6)
        } else {
            Err("is not an endpoint mode: use `IPv4` or `IPv6`")
        }
    }

    /// An environment variable and the profile key that stands in for it.
    type Names = (&'static str, &'static str);

    const RETRY_ATTEMPTS: Names = ("AWS_MAX_ATTEMPTS", "max_attempts");
    const RETRY_MODE: Names = ("AWS_RETRY_MODE", "retry_mode");
    const USE_FIPS: Names = ("AWS_USE_FIPS_ENDPOINT", "use_fips_endpoint");
    const USE_DUAL_STACK: Names = ("AWS_USE_DUALSTACK_ENDPOINT", "use_dualstack_endpoint");
    const IGNORE_URLS: Names = (
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "ignore_configured_endpoint_urls",
    );
    const IMDS_ENDPOINT: Names = (
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "ec2_metadata_service_endpoint",
    );
    const IMDS_ENDPOINT_MODE: Names = (
        "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
        "ec2_metadata_service_endpoint_mode",
    );

    /// Reads a setting from its environment variable or, when that is unset or blank, from the
    /// selected profile; a value `parse` refuses is an error that names where it was set.
    fn setting<T>(
        env: &Env,
        profiles: Option<&ProfileSet>,
        (variable, key): Names,
        parse: Parser<T>,
    ) -> Result<Option<T>, ConfigError> {
        if let Some(text) = set(env.get(variable).ok()) {
            return parse_setting(variable, &text, "", parse).map(Some);
        }
        let Some(profiles) = profiles else {
            return Ok(None);
        };
        let Some(text) = set(profiles.get(key).map(str::to_owned)) else {
            return Ok(None);
        };
        let whence = format!(" in the profile `{}`", profiles.selected_profile());
        parse_setting(key, &text, &whence, parse).map(Some)
    }

    /// Reads the shared config and credentials files (as `env` names them, from `fs`), with the
    /// profile of `--profile` or `AWS_PROFILE` selected; `None` when they cannot be read
    /// (aws-config says why).
    ///
    /// A misspelt profile is named here, whatever else is set, as the AWS CLI names it: otherwise
    /// it would show as a missing region (after a wait on instance metadata), or go unnoticed
    /// next to keys in the environment.
    async fn named_profiles(
        named: Option<&str>,
        env: &Env,
        fs: &Fs,
    ) -> Result<Option<ProfileSet>, ConfigError> {
        let files = EnvConfigFiles::default();
        let selected = named.map(|name| name.to_owned().into());
        let profiles = aws_config::profile::load(fs, env, &files, selected)
            .await
            .ok();
        match missing_profile(named, env, profiles.as_ref()) {
            Some(profile) => Err(ConfigError::UnknownProfile(profile)),
            None => Ok(profiles),
        }
    }

    /// Returns the profile named by `--profile` or `AWS_PROFILE` when the config and credentials
    /// files do not define it; `None` when no profile was named or it exists.
    fn missing_profile(
        named: Option<&str>,
        env: &Env,
        profiles: Option<&ProfileSet>,
    ) -> Option<String> {
        if named.is_none() && set(env.get("AWS_PROFILE").ok()).is_none() {
            return None;
        }
        let profiles = profiles?;
        let selected = profiles.selected_profile();
        profiles
            .get_profile(selected)
            .is_none()
            .then(|| selected.to_owned())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const CONFIG: &str = "/aws/config";
        const CREDENTIALS: &str = "/aws/credentials";
        const FILES: [(&str, &str); 2] = [
            ("AWS_CONFIG_FILE", CONFIG),
            ("AWS_SHARED_CREDENTIALS_FILE", CREDENTIALS),
        ];

        /// An environment of `vars` and the two shared files, whose config file is `config`.
        fn world(vars: &[(&str, &str)], config: &str) -> (Env, Fs) {
            let env = Env::from_slice(&[&FILES[..], vars].concat());
            let fs = Fs::from_slice(&[(CONFIG, config), (CREDENTIALS, "")]);
            (env, fs)
        }

        /// The profile check needs only the environment and the files, and nothing there names a
        /// region: a misspelt profile is named from them, before any chain could be asked for a
        /// region (so never as "no AWS region", and without waiting on instance metadata).
        #[tokio::test]
        async fn a_misspelt_profile_is_named_from_the_files_alone() {
            let config = "[profile real]\nregion = eu-west-1\n";
            let (env, fs) = world(&[], config);
            let flag = named_profiles(Some("rael"), &env, &fs).await;
            assert!(
                matches!(&flag, Err(ConfigError::UnknownProfile(p)) if p == "rael"),
                "{flag:?}"
            );
            let (variable_env, fs) = world(&[("AWS_PROFILE", "rael")], config);
            let variable = named_profiles(None, &variable_env, &fs).await;
            assert!(
                matches!(&variable, Err(ConfigError::UnknownProfile(p)) if p == "rael"),
                "{variable:?}"
            );

            // `--profile` wins over `AWS_PROFILE`; no profile named at all is no error.
            let flag_wins = named_profiles(Some("real"), &variable_env, &fs).await;
            let selected = flag_wins.unwrap().unwrap();
            assert_eq!(selected.selected_profile(), "real");
            assert!(named_profiles(None, &env, &fs).await.unwrap().is_some());
        }

        const IMDS_CONFIG: &str = "\
[default]
ec2_metadata_service_endpoint = http://127.0.0.1:1
[profile other]
ec2_metadata_service_endpoint = http://127.0.0.1:2
[profile six]
ec2_metadata_service_endpoint_mode = IPv6
[profile four]
ec2_metadata_service_endpoint_mode = ipv4
[profile own]
ec2_metadata_service_endpoint = http://127.0.0.1:3
ec2_metadata_service_endpoint_mode = IPv6
[profile plain]
region = eu-west-1
[profile bad]
ec2_metadata_service_endpoint_mode = IPv5
";

        /// Environment variables, as names and values.
        type Vars<'a> = &'a [(&'a str, &'a str)];

        /// The instance-metadata endpoint for `profile`, with `vars` set.
        async fn imds_for(profile: &str, vars: Vars<'_>) -> Result<String, ConfigError> {
            let (env, fs) = world(vars, IMDS_CONFIG);
            let profiles = named_profiles(Some(profile), &env, &fs).await?;
            imds_endpoint(&env, profiles.as_ref())
        }

        /// The named profile decides: its mode alone gives that mode's endpoint, not the
        /// endpoint of the default profile or of `AWS_PROFILE`'s (which aws-config's client
        /// would take first); a blank variable is unset.
        #[tokio::test]
        async fn the_named_profile_decides_the_instance_metadata_endpoint() {
            let other = [("AWS_PROFILE", "other")];
            let blank = [
                ("AWS_EC2_METADATA_SERVICE_ENDPOINT", " "),
                ("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", ""),
            ];
            // In aws-config's order, the environment's mode comes after the profile's endpoint
            // and before the profile's mode.
            let four = [("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", " IPV4 ")];
            let cases: [(&str, Vars<'_>, &str); 10] = [
                ("six", &[], IMDS_IPV6),
                ("six", &other, IMDS_IPV6),
                ("six", &blank, IMDS_IPV6),
                ("six", &four, IMDS_IPV4),
                ("four", &other, IMDS_IPV4),
                ("own", &other, "http://127.0.0.1:3"),
                ("own", &four, "http://127.0.0.1:3"),
                ("plain", &other, IMDS_IPV4),
                ("plain", &blank, IMDS_IPV4),
                (
                    "plain",
                    &[("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "ipv6")],
                    IMDS_IPV6,
                ),
            ];
            for (profile, vars, expected) in cases {
                let found = imds_for(profile, vars).await;
                assert_eq!(found.ok().as_deref(), Some(expected), "{profile} {vars:?}");
            }
            // The environment's endpoint wins over the profile's, and over any mode.
            let env_url = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:4")];
            let found = imds_for("own", &env_url).await;
            assert_eq!(found.ok().as_deref(), Some("http://127.0.0.1:4"));
            // The explicit endpoint makes a client, whatever the other profiles say.
            let (env, fs) = world(&other, IMDS_CONFIG);
            let profiles = named_profiles(Some("six"), &env, &fs).await.unwrap();
            assert!(imds_client(&ProviderConfig::default(), &env, profiles.as_ref()).is_ok());
        }

        /// A value that is no mode or no URL is named with where it was set.
        #[tokio::test]
        async fn invalid_instance_metadata_settings_are_named() {
            let found = imds_for("bad", &[]).await;
            assert!(
                matches!(&found, Err(ConfigError::Invalid { name, reason })
                    if *name == "ec2_metadata_service_endpoint_mode"
                        && reason.starts_with("`IPv5` in the profile `bad` ")),
                "{found:?}"
            );
            let mode = [("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv5")];
            let found = imds_for("plain", &mode).await;
            assert!(
                matches!(&found, Err(ConfigError::Invalid { name, reason })
                    if *name == "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"
                        && reason == "`IPv5` is not an endpoint mode: use `IPv4` or `IPv6`"),
                "{found:?}"
            );
            let url = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://bad host/")];
            let found = imds_for("plain", &url).await;
            assert!(
                matches!(&found, Err(ConfigError::Invalid { name, reason })
                    if *name == "AWS_EC2_METADATA_SERVICE_ENDPOINT"
                        && reason == "`http://bad host/` is not a URL"),
                "{found:?}"
            );
        }
    }
}

/// The environment variables of the AWS tools only, for lean builds (such as the Lambda
/// function, whose credentials, region and overrides all come from its environment).
#[cfg(not(feature = "credential-chain"))]
mod environment {
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_smithy_types::retry::RetryConfig;

    use super::{
        Found, Parser, Settings, parse_attempts, parse_flag, parse_retry_mode, parse_setting, set,
    };
    use crate::error::ConfigError;

    pub(super) async fn look_up(settings: &Settings) -> Result<Found, ConfigError> {
        look_up_in(settings, |name| std::env::var(name).ok())
    }

    /// Looks the settings up in the environment `env` reads from.
    pub(super) fn look_up_in(
        settings: &Settings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Found, ConfigError> {
        if settings.profile.is_some() {
            return Err(ConfigError::Invalid {
                name: "profile",
                reason: "this build reads the environment only (feature `credential-chain` is off)"
                    .to_owned(),
            });
        }
        let var = |name: &str| set(env(name));

        let ignore_urls =
            read(&env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", parse_flag)?.unwrap_or(false);
        let endpoint_url = if ignore_urls {
            None
        } else {
            var("AWS_ENDPOINT_URL_SES").or_else(|| var("AWS_ENDPOINT_URL"))
        };
        let retry = match settings.max_attempts {
            Some(_) => None,
            None => read(&env, "AWS_MAX_ATTEMPTS", parse_attempts)?
                .map(|attempts| RetryConfig::standard().with_max_attempts(attempts)),
        };
        if settings.max_attempts.is_none() {
            read(&env, "AWS_RETRY_MODE", parse_retry_mode)?;
        }
        let use_fips = match settings.use_fips {
            Some(_) => None,
            None => read(&env, "AWS_USE_FIPS_ENDPOINT", parse_flag)?,
        };
        let use_dual_stack = match settings.use_dual_stack {
            Some(_) => None,
            None => read(&env, "AWS_USE_DUALSTACK_ENDPOINT", parse_flag)?,
        };
        let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(key), Some(secret)) => Some(SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    key,
                    secret,
                    var("AWS_SESSION_TOKEN"),
                    None,
                    "environment",
                ),
            )),
            _ => None,
        };
        Ok(Found {
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            endpoint_url,
            use_fips,
            use_dual_stack,
            retry,
            credentials,
            ca_bundle: var("AWS_CA_BUNDLE").map(|path| super::CaBundle::new(path, "AWS_CA_BUNDLE")),
        })
    }

    /// Reads an environment variable that is set and not blank; a value `parse` refuses is an
    /// error that names the variable.
    fn read<T>(
        env: impl Fn(&str) -> Option<String>,
        name: &'static str,
        parse: Parser<T>,
    ) -> Result<Option<T>, ConfigError> {
        set(env(name))
            .map(|text| parse_setting(name, &text, "", parse))
            .transpose()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn look_up_with(pairs: &[(&str, &str)]) -> Result<Found, ConfigError> {
            look_up_in(&Settings::default(), |name| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            })
        }

        #[test]
        fn switches_are_read_strictly_and_blank_is_unset() {
            let url = ("AWS_ENDPOINT_URL", "http://127.0.0.1:1");
            let found = look_up_with(&[url, ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", " ")]);
            assert_eq!(found.unwrap().endpoint_url.as_deref(), Some(url.1));
            let found = look_up_with(&[url, ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE")]);
            assert_eq!(found.unwrap().endpoint_url, None);
            for name in [
                "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
                "AWS_USE_FIPS_ENDPOINT",
                "AWS_USE_DUALSTACK_ENDPOINT",
                "AWS_MAX_ATTEMPTS",
                "AWS_RETRY_MODE",
            ] {
                let error = look_up_with(&[(name, "1.5")]).err();
                assert!(
                    matches!(&error, Some(ConfigError::Invalid { name: n, reason })
                        if *n == name && reason.starts_with("`1.5` ")),
                    "{name}: {error:?}"
                );
            }
        }
    }
}

/// Reads a setting's text into its value, or says why the text is no such value.
type Parser<T> = fn(&str) -> Result<T, &'static str>;

/// A value that is not blank.
fn set(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// Parses the text of the setting `name`; a value `parse` refuses is an error that names the
/// setting and the value, followed by `whence` (such as where the value was set).
fn parse_setting<T>(
    name: &'static str,
    text: &str,
    whence: &str,
    parse: Parser<T>,
) -> Result<T, ConfigError> {
    parse(text.trim()).map_err(|problem| ConfigError::Invalid {
        name,
        reason: format!("`{text}`{whence} {problem}"),
    })
}

/// Reads `max_attempts` as the AWS tools do: a whole number of at least 1.
fn parse_attempts(text: &str) -> Result<u32, &'static str> {
    match text.parse::<u32>() {
        Ok(attempts) if attempts > 0 => Ok(attempts),
        _ => Err("is not a whole number of at least 1"),
    }
}

/// Checks `retry_mode` against the modes the AWS tools know; the client retries the same way in
/// each of them.
fn parse_retry_mode(text: &str) -> Result<(), &'static str> {
    let known = ["standard", "adaptive", "legacy"];
    if known.iter().any(|mode| text.eq_ignore_ascii_case(mode)) {
        Ok(())
    } else {
        Err("is not a retry mode: use `standard`, `adaptive` or `legacy`")
    }
}

/// Reads a `true` or `false` setting, in any case.
fn parse_flag(text: &str) -> Result<bool, &'static str> {
    if text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("is neither `true` nor `false`")
    }
}

/// Picks the endpoint: an override wins; otherwise the region's table entry for the variant.
pub(crate) fn resolve_endpoint(
    region: &Region,
    url: Option<&str>,
    fips: bool,
    dual_stack: bool,
) -> Result<Endpoint, EndpointError> {
    if let Some(url) = url {
        if fips || dual_stack {
            return Err(EndpointError::CustomWithVariant);
        }
        return Endpoint::parse(url);
    }
    let variant = match (fips, dual_stack) {
        (false, false) => EndpointVariant::Standard,
        (true, false) => EndpointVariant::Fips,
        (false, true) => EndpointVariant::DualStack,
        (true, true) => EndpointVariant::FipsDualStack,
    };
    Endpoint::for_region(region, variant)
}

fn check(settings: &Settings) -> Result<(), ConfigError> {
    let invalid = |name, reason: &str| {
        Err(ConfigError::Invalid {
            name,
            reason: reason.into(),
        })
    };
    if settings.max_attempts == Some(0) {
        return invalid("max_attempts", "must be at least 1");
    }
    if !(settings.rate.is_finite() && settings.rate > 0.0) {
        return invalid("rate", "must be a positive number of requests a second");
    }
    if settings.max_body_bytes == 0 {
        return invalid("max_body_bytes", "must be positive");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_wins_and_excludes_variants() {
        let region = Region::parse("eu-west-1").unwrap();
        let local = resolve_endpoint(&region, Some("http://127.0.0.1:4566"), false, false).unwrap();
        assert_eq!(local.to_string(), "http://127.0.0.1:4566");
        assert!(matches!(
            resolve_endpoint(&region, Some("http://127.0.0.1:4566"), true, false),
            Err(EndpointError::CustomWithVariant)
        ));
        let standard = resolve_endpoint(&region, None, false, false).unwrap();
        assert_eq!(
            standard.to_string(),
            "https://email.eu-west-1.amazonaws.com"
        );
        let fips = resolve_endpoint(&Region::parse("us-east-2").unwrap(), None, true, false);
        assert_eq!(
            fips.unwrap().to_string(),
            "https://email-fips.us-east-2.amazonaws.com"
        );
    }

    #[test]
    fn settings_debug_hides_credentials() {
        let settings = Settings {
            credentials: Some(Credentials::new(
                "AKID",
                "very-secret",
                Some("tok-secret".into()),
            )),
            ..Settings::default()
        };
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains("very-secret") && !shown.contains("tok-secret"),
            "{shown}"
        );
    }

    /// The values the AWS tools accept for the retry and endpoint switches, and no others.
    #[test]
    fn switches_parse_as_the_aws_tools_read_them() {
        assert_eq!(parse_attempts("25"), Ok(25));
        for bad in ["0", "-1", "x", "2.5", ""] {
            assert!(parse_attempts(bad).is_err(), "{bad}");
        }
        for mode in ["standard", "Adaptive", "LEGACY"] {
            assert_eq!(parse_retry_mode(mode), Ok(()), "{mode}");
        }
        assert!(parse_retry_mode("fast").is_err());
        assert_eq!(
            (parse_flag("TRUE"), parse_flag("false")),
            (Ok(true), Ok(false))
        );
        for bad in ["maybe", "yes", "1", "on"] {
            assert!(parse_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nonsense_settings_are_refused() {
        let zero = Settings {
            max_attempts: Some(0),
            ..Settings::default()
        };
        assert!(check(&zero).is_err());
        let stopped = Settings {
            rate: 0.0,
            ..Settings::default()
        };
        assert!(check(&stopped).is_err());
    }
}
