//! The validated configuration of `relay` and its subcommand: built by `cli/relay.rs` from
//! flags and the environment, read by the rest of `relay/`.

use std::time::Duration;

use secrecy::SecretString;

use super::allow::ProjectRepos;
use super::client::TrustedProxies;
use super::verify::WebhookSecrets;
use super::worker::WorkerConfig;
use crate::currents::{CurrentsConfig, ProjectId};
use crate::github::GithubServer;
use crate::github::app::AppCredentials;

/// The validated configuration of `relay`.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub listen: String,
    /// `/metrics` and `/admin` on their own address; on `listen` when `None`.
    pub admin_listen: Option<String>,
    pub secrets: WebhookSecrets,
    /// May hold a password: never logged.
    pub database_url: SecretString,
    pub admin_token: Option<SecretString>,
    pub max_body: usize,
    /// The most client connections served at once (capped by the file-descriptor limit).
    pub max_connections: usize,
    /// How long a graceful stop may take before what is left is abandoned.
    pub shutdown_timeout: Duration,
    /// Finished jobs and deliveries older than this are deleted.
    pub retention: Duration,
    /// `None` only with `--dry-run` and no key.
    pub currents: Option<CurrentsConfig>,
    pub worker: WorkerConfig,
    /// App mode: `--github-app-id` with a private key.
    pub app: Option<AppModeConfig>,
    /// `--media-secret`: enables `GET /media/{token}`.
    pub media_secret: Option<SecretString>,
    /// `--public-url`: where the relay is reached, for the media links of App mode's checks.
    pub public_url: Option<url::Url>,
    /// `--fetch-concurrency`: instances App mode's check jobs fetch at once.
    pub fetch_concurrency: usize,
    /// `--trusted-proxies`: whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
}

/// The relay as a GitHub App.
#[derive(Debug, Clone)]
pub struct AppModeConfig {
    pub credentials: AppCredentials,
    /// `GITHUB_API_URL`.
    pub api_url: url::Url,
    /// `--github-server-url`: the host that runs' remotes must be on.
    pub server: GithubServer,
    /// Currents' webhooks and the checks they drive (`--currents-webhook-secret`).
    pub checks: Option<ChecksConfig>,
    /// Zero turns the catch-up off.
    pub catchup_interval: Duration,
    /// Zero turns the reconcile pass off.
    pub reconcile_interval: Duration,
    pub check_name: String,
    pub comment: crate::github::CommentMode,
    /// `--triage`, `--history-days`, `--flaky-threshold`, as the `report` step's.
    pub triage: crate::report::TriageSettings,
    /// `--quarantine-for`: how long a quarantine from a check's button lasts.
    pub quarantine_for: Duration,
}

/// App mode's checks: `POST /webhooks/currents` and where each project may report.
#[derive(Debug, Clone)]
pub struct ChecksConfig {
    /// The values accepted in `X-Currents-Bridge-Secret`.
    pub secrets: WebhookSecrets,
    /// `--currents-projects`.
    pub projects: ProjectRepos,
}

/// The validated `relay register-currents-webhook`.
#[derive(Debug, Clone)]
pub struct RegisterConfig {
    pub currents: CurrentsConfig,
    pub project_id: ProjectId,
    pub url: url::Url,
    /// Sent in `X-Currents-Bridge-Secret`: the newest of `CURRENTS_WEBHOOK_SECRET`.
    pub secret: SecretString,
    pub label: String,
}
