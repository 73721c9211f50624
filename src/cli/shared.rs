//! Flag groups more than one command takes, declared once and flattened into each
//! (`#[command(flatten)]`), each with the parser that validates it.

use clap::Args;
use secrecy::SecretString;

use super::values::{ConfigError, bad, media_secret, parse_url, set};
use crate::github::CommentMode;
use crate::report::{DEFAULT_HISTORY_DAYS, FlakyThreshold, TriageSettings};

/// The default GitHub API (github.com); GHES sets `GITHUB_API_URL`.
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
/// The default check name.
pub const DEFAULT_CHECK_NAME: &str = "Currents";

/// The check run and the pull request comment (`report`, and the relay's App mode).
#[derive(Args)]
pub struct CheckArgs {
    /// Name of the check run [default: Currents]
    #[arg(long, env = "CURRENTS_CHECK_NAME", value_name = "NAME")]
    pub check_name: Option<String>,
    /// The sticky pull request comment: off, always, or failures (post when the run did not
    /// pass, and keep updating it once it exists) [default: failures]
    #[arg(long, env = "CURRENTS_COMMENT", value_name = "WHEN")]
    pub comment: Option<String>,
}

impl CheckArgs {
    pub(super) fn check_name(&self) -> String {
        set(self.check_name.clone()).unwrap_or_else(|| DEFAULT_CHECK_NAME.to_owned())
    }

    pub(super) fn comment(&self) -> Result<CommentMode, ConfigError> {
        match set(self.comment.clone())
            .map(|m| m.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("failures") => Ok(CommentMode::Failures),
            Some("always") => Ok(CommentMode::Always),
            Some("off" | "false") => Ok(CommentMode::Off),
            Some(other) => Err(bad(format!(
                "--comment (CURRENTS_COMMENT) must be off, always or failures, not {other:?}"
            ))),
        }
    }
}

/// Where GitHub's API is (`report`, and the relay's App mode).
#[derive(Args)]
pub struct GithubApiArgs {
    /// GitHub's API: https://api.github.com, https://HOST/api/v3 on GHES, or https://api.SUB.ghe.com [default: https://api.github.com]
    #[arg(long, env = "GITHUB_API_URL", value_name = "URL")]
    pub github_api_url: Option<String>,
}

impl GithubApiArgs {
    pub(super) fn api_url(&self) -> Result<url::Url, ConfigError> {
        parse_url(
            "--github-api-url (GITHUB_API_URL)",
            self.github_api_url.clone(),
            DEFAULT_GITHUB_API_URL,
        )
    }
}

/// The secret shared by the `report` step and the relay for lasting media links.
#[derive(Args)]
pub struct MediaArgs {
    /// Secret shared by the report step and the relay for lasting media links; enables the relay's GET /media/{token}. Never logged.
    #[arg(
        long,
        env = "CURRENTS_MEDIA_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub media_secret: Option<String>,
}

impl MediaArgs {
    pub(super) fn secret(&self) -> Result<Option<SecretString>, ConfigError> {
        media_secret(self.media_secret.clone())
    }
}

/// Triage of failures against the base branch (`report`, and the relay's App mode).
#[derive(Args)]
pub struct TriageArgs {
    /// Triage failures with the base branch's test history and the project's Currents Actions:
    /// on, or off (verdicts from the base run only) [default: on]
    #[arg(long, env = "CURRENTS_TRIAGE", value_name = "ON|OFF")]
    pub triage: Option<String>,
    /// Days of the base branch's history read (1-365) [default: 30]
    #[arg(long, env = "CURRENTS_HISTORY_DAYS", value_name = "DAYS")]
    pub history_days: Option<String>,
    /// At or above this flakiness rate on the base branch a failure is flaky, a percentage
    /// such as 5% or 12.5% [default: 5%]
    #[arg(long, env = "CURRENTS_FLAKY_THRESHOLD", value_name = "PERCENT")]
    pub flaky_threshold: Option<String>,
}

impl TriageArgs {
    pub(super) fn settings(&self) -> Result<TriageSettings, ConfigError> {
        let on = match set(self.triage.clone())
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("on" | "true") => true,
            Some("off" | "false") => false,
            Some(other) => {
                return Err(bad(format!(
                    "--triage (CURRENTS_TRIAGE) must be on or off, not {other:?}"
                )));
            }
        };
        let days = match set(self.history_days.clone()) {
            None => DEFAULT_HISTORY_DAYS,
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=365).contains(d))
                .ok_or_else(|| {
                    bad(format!(
                        "--history-days (CURRENTS_HISTORY_DAYS) must be a number of days from 1 to 365, not {raw:?}"
                    ))
                })?,
        };
        Ok(TriageSettings {
            history_days: on.then_some(days),
            flaky_threshold: self.threshold()?,
        })
    }

    fn threshold(&self) -> Result<FlakyThreshold, ConfigError> {
        let Some(raw) = set(self.flaky_threshold.clone()) else {
            return Ok(FlakyThreshold::default());
        };
        raw.trim()
            .trim_end_matches('%')
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite())
            .and_then(|p| FlakyThreshold::new(p / 100.0))
            .ok_or_else(|| {
                bad(format!(
                    "--flaky-threshold (CURRENTS_FLAKY_THRESHOLD) must be a percentage from 0% to 100%, such as 5%, not {raw:?}"
                ))
            })
    }
}
