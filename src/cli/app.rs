//! App mode's flags (the relay as a GitHub App) and their validated configuration.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use secrecy::{ExposeSecret, SecretString};

use super::relay::secrets_of;
use super::shared::{CheckArgs, GithubApiArgs, TriageArgs};
use super::values::{ConfigError, bad, parse_duration, parse_url, secret, set};
use crate::github::GithubServer;
use crate::github::app::{AppCredentials, AppId};
use crate::relay::{AppModeConfig, ChecksConfig, ProjectRepos};

/// How often App mode looks for GitHub deliveries that never reached the relay.
pub const DEFAULT_CATCHUP_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// How often App mode looks at Currents for runs whose webhooks never arrived: the bound on
/// how long a check can stay open after its run ended.
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// App mode: the relay as a GitHub App.
#[derive(Args)]
pub struct AppArgs {
    /// The GitHub App's id; with a private key, enables App mode
    #[arg(long, env = "GITHUB_APP_ID", value_name = "ID")]
    pub github_app_id: Option<String>,
    /// The App's PEM private key (the text). Never logged.
    #[arg(
        long,
        env = "GITHUB_APP_PRIVATE_KEY",
        hide_env_values = true,
        value_name = "PEM"
    )]
    pub github_app_private_key: Option<String>,
    /// Or a path to the App's PEM private key
    #[arg(long, env = "GITHUB_APP_PRIVATE_KEY_FILE", value_name = "PATH")]
    pub github_app_private_key_file: Option<PathBuf>,
    #[command(flatten)]
    pub github_api: GithubApiArgs,
    /// Values accepted in Currents' X-Currents-Bridge-Secret header, comma-separated, newest first; enables POST /webhooks/currents. Never logged.
    #[arg(
        long,
        env = "CURRENTS_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRETS"
    )]
    pub currents_webhook_secret: Option<String>,
    /// Which repositories each Currents project may report on: PROJECT_ID=OWNER/REPO or PROJECT_ID=OWNER/*, comma-separated; required with --currents-webhook-secret
    #[arg(long, env = "CURRENTS_PROJECTS", value_name = "LIST")]
    pub currents_projects: Option<String>,
    /// The GitHub web host that runs' remotes must be on [default: from --github-api-url: https://github.com, https://HOST for HOST/api/v3, https://SUB.ghe.com for api.SUB.ghe.com]
    #[arg(long, env = "GITHUB_SERVER_URL", value_name = "URL")]
    pub github_server_url: Option<String>,
    /// How often to look for GitHub deliveries that never arrived; 0 turns it off [default: 10m]
    #[arg(long, env = "RELAY_CATCHUP_INTERVAL", value_name = "DURATION")]
    pub catchup_interval: Option<String>,
    /// How often to look at Currents for runs whose webhooks never arrived, so that no check stays open; 0 turns it off [default: 5m]
    #[arg(long, env = "RELAY_RECONCILE_INTERVAL", value_name = "DURATION")]
    pub reconcile_interval: Option<String>,
    #[command(flatten)]
    pub check: CheckArgs,
    #[command(flatten)]
    pub triage: TriageArgs,
    /// How long a quarantine made with a check's `Quarantine flaky` button lasts (1h to 90d) [default: 7d]
    #[arg(long, env = "RELAY_QUARANTINE_FOR", value_name = "DURATION")]
    pub quarantine_for: Option<String>,
}

impl AppArgs {
    pub(super) fn into_config(self) -> Result<Option<AppModeConfig>, ConfigError> {
        let app_id = set(self.github_app_id.clone());
        let inline = secret(self.github_app_private_key.clone());
        let file = self
            .github_app_private_key_file
            .clone()
            .filter(|p| !p.as_os_str().is_empty());
        let currents_secrets = secrets_of(self.currents_webhook_secret.clone());
        let Some(app_id) = app_id else {
            if inline.is_some() || file.is_some() {
                return Err(bad(
                    "a GitHub App private key is set but --github-app-id (GITHUB_APP_ID) is not",
                ));
            }
            if currents_secrets.is_some() || set(self.currents_projects.clone()).is_some() {
                return Err(bad(
                    "--currents-webhook-secret (CURRENTS_WEBHOOK_SECRET) and --currents-projects (CURRENTS_PROJECTS) need App mode: set --github-app-id and the App's private key, so that the relay can post checks",
                ));
            }
            return Ok(None);
        };
        let app_id = app_id
            .parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .map(AppId::new)
            .ok_or_else(|| {
                bad(format!(
                    "--github-app-id (GITHUB_APP_ID) must be the App's numeric id, not {app_id:?}"
                ))
            })?;
        let private_key = private_key(inline, file)?;
        let api_url = self.github_api.api_url()?;
        let checks = match currents_secrets {
            Some(secrets) => Some(ChecksConfig {
                secrets,
                projects: projects_of(self.currents_projects.clone())?,
            }),
            None => None,
        };
        Ok(Some(AppModeConfig {
            credentials: AppCredentials {
                app_id,
                private_key,
            },
            server: server_of(self.github_server_url.clone(), &api_url)?,
            api_url,
            checks,
            reconcile_interval: parse_duration(
                "--reconcile-interval (RELAY_RECONCILE_INTERVAL)",
                self.reconcile_interval.clone(),
                DEFAULT_RECONCILE_INTERVAL,
            )?,
            catchup_interval: parse_duration(
                "--catchup-interval (RELAY_CATCHUP_INTERVAL)",
                self.catchup_interval.clone(),
                DEFAULT_CATCHUP_INTERVAL,
            )?,
            check_name: self.check.check_name(),
            comment: self.check.comment()?,
            triage: self.triage.settings()?,
            quarantine_for: quarantine_for(self.quarantine_for.clone())?,
        }))
    }
}

/// How long a quarantine from a button lasts by default.
pub const DEFAULT_QUARANTINE_FOR: Duration = Duration::from_secs(7 * 86_400);

/// `--quarantine-for`: from an hour to 90 days.
fn quarantine_for(raw: Option<String>) -> Result<Duration, ConfigError> {
    let name = "--quarantine-for (RELAY_QUARANTINE_FOR)";
    let duration = parse_duration(name, raw, DEFAULT_QUARANTINE_FOR)?;
    if !(Duration::from_secs(3600)..=Duration::from_secs(90 * 86_400)).contains(&duration) {
        return Err(bad(format!("{name} must be from 1h to 90d")));
    }
    Ok(duration)
}

/// The App's PEM key: the text or a file, one of the two.
fn private_key(
    inline: Option<SecretString>,
    file: Option<PathBuf>,
) -> Result<SecretString, ConfigError> {
    let private_key = match (inline, file) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "set one of --github-app-private-key (GITHUB_APP_PRIVATE_KEY) and --github-app-private-key-file (GITHUB_APP_PRIVATE_KEY_FILE), not both",
            ));
        }
        (Some(key), None) => key,
        (None, Some(path)) => SecretString::from(std::fs::read_to_string(&path).map_err(|e| {
            bad(format!(
                "cannot read --github-app-private-key-file (GITHUB_APP_PRIVATE_KEY_FILE) {}: {e}",
                path.display()
            ))
        })?),
        (None, None) => {
            return Err(bad(
                "App mode needs the App's private key: set --github-app-private-key (GITHUB_APP_PRIVATE_KEY) or --github-app-private-key-file (GITHUB_APP_PRIVATE_KEY_FILE)",
            ));
        }
    };
    if !private_key.expose_secret().contains("PRIVATE KEY-----") {
        return Err(bad(
            "the GitHub App private key is not PEM text (-----BEGIN RSA PRIVATE KEY-----…): download it from the App's settings, Private keys",
        ));
    }
    Ok(private_key)
}

/// `--currents-projects`, required in App mode with Currents' webhooks.
fn projects_of(raw: Option<String>) -> Result<ProjectRepos, ConfigError> {
    let raw = set(raw).ok_or_else(|| {
        bad(format!(
            "--currents-projects (CURRENTS_PROJECTS) is required with --currents-webhook-secret: it names the repositories each Currents project may report on, as {}",
            crate::relay::allow::FORMAT
        ))
    })?;
    ProjectRepos::parse(&raw)
        .map_err(|e| bad(format!("--currents-projects (CURRENTS_PROJECTS): {e}")))
}

/// `--github-server-url`, or the server of the API URL.
fn server_of(raw: Option<String>, api_url: &url::Url) -> Result<GithubServer, ConfigError> {
    match set(raw) {
        None => Ok(GithubServer::from_api_url(api_url)),
        raw => {
            let url = parse_url("--github-server-url (GITHUB_SERVER_URL)", raw, "")?;
            GithubServer::from_server_url(&url)
                .ok_or_else(|| bad("--github-server-url (GITHUB_SERVER_URL) names no host"))
        }
    }
}
