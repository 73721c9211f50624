//! Flag groups more than one command takes, declared once and flattened into each
//! (`#[command(flatten)]`), each with the parser that validates it.

use clap::Args;
use secrecy::SecretString;

use super::values::{ConfigError, bad, media_secret, parse_url, set};
use crate::github::CommentMode;

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
