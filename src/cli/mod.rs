//! Flags and environment → validated, typed configuration, one file per command.
//!
//! clap reads each flag or its environment variable as raw text; each command's `into_config`
//! then validates everything before any work starts (ripgrep's low-level/high-level split),
//! with the typed parsers of [`values`]. An empty value means unset, because `action.yml` maps
//! every input onto a variable and GitHub passes unset inputs as empty strings. No other module
//! reads the environment. The argument structs hold secrets as raw text, so none of them
//! implements `Debug`.

mod app;
mod cancel;
mod relay;
mod report;
mod run;
mod shared;
mod values;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::ci_build_id::{GithubRunId, RunAttempt};
use crate::currents::CurrentsConfig;
use crate::github::runtime::Runtime;
use crate::retry::RetryPolicy;
use values::{bad, parse_bool, parse_url, secret, set};

pub use crate::github::CommentMode;
pub use crate::report::FailOn;
pub use cancel::{CancelArgs, CancelConfig};
pub use relay::{
    DEFAULT_DATABASE_URL, DEFAULT_LEASE, DEFAULT_LISTEN, DEFAULT_MAX_BODY,
    DEFAULT_RELAY_POLL_INTERVAL, RelayArgs,
};
pub use report::{
    CheckMode, CompareWith, DEFAULT_POLL_INTERVAL, DEFAULT_WAIT_TIMEOUT, Publish, ReportArgs,
    ReportConfig, ReportInput, ShaSources,
};
pub use run::{RunAction, RunArgs, RunCommand, RunConfig};
pub use shared::{
    CheckArgs, DEFAULT_CHECK_NAME, DEFAULT_GITHUB_API_URL, GithubApiArgs, MediaArgs, TriageArgs,
};
pub use values::ConfigError;

/// The default Currents API.
pub const DEFAULT_API_URL: &str = "https://api.currents.dev/v1";

#[derive(Parser)]
#[command(
    name = "currents-bridge",
    version,
    about = "Publish Currents test runs as GitHub checks, and cancel them with their workflows."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Wait for this workflow's Currents run, then publish it as a check run, job summary and
    /// step outputs.
    Report(Box<ReportArgs>),
    /// Cancel this workflow's Currents run.
    Cancel(Box<CancelArgs>),
    /// Receive GitHub workflow webhooks and cancel the Currents runs of cancelled workflows.
    Relay(Box<RelayArgs>),
    /// Get, cancel or delete one Currents run.
    Run(Box<RunArgs>),
    /// Do nothing. The action's pre step runs it so that its post step is always registered.
    #[command(hide = true)]
    Noop,
}

/// Settings shared by every command that calls Currents.
#[derive(Args)]
pub struct CurrentsArgs {
    /// Currents API base URL [default: https://api.currents.dev/v1]
    #[arg(long, env = "CURRENTS_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
    /// Currents API key (Organization > API Keys). Never logged.
    #[arg(
        long,
        env = "CURRENTS_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    /// Currents project id
    #[arg(long, env = "CURRENTS_PROJECT_ID", value_name = "ID")]
    pub project_id: Option<String>,
    /// Print what would be done instead of doing it
    #[arg(long, env = "CURRENTS_DRY_RUN", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub dry_run: Option<String>,
    /// Instance fetches in flight at once [default: 8]
    #[arg(long, env = "CURRENTS_FETCH_CONCURRENCY", value_name = "N")]
    pub fetch_concurrency: Option<String>,
}

/// Which Currents run `report` and `cancel` act on.
#[derive(Args)]
pub struct RunSelectArgs {
    /// The run's ciBuildId [default: {GITHUB_REPOSITORY}-{GITHUB_RUN_ID}-{GITHUB_RUN_ATTEMPT}]
    #[arg(long, env = "CURRENTS_CI_BUILD_ID", value_name = "ID")]
    pub ci_build_id: Option<String>,
    /// The Currents run id; skips the lookup by ciBuildId
    #[arg(long, env = "CURRENTS_RUN_ID", value_name = "ID")]
    pub run_id: Option<String>,
}

/// The workflow run, as the runner describes it.
#[derive(Args)]
pub struct GithubRunArgs {
    #[arg(long, env = "GITHUB_REPOSITORY", hide = true)]
    pub github_repository: Option<String>,
    #[arg(long, env = "GITHUB_RUN_ID", hide = true)]
    pub github_run_id: Option<String>,
    #[arg(long, env = "GITHUB_RUN_ATTEMPT", hide = true)]
    pub github_run_attempt: Option<String>,
    #[arg(long, env = "GITHUB_OUTPUT", hide = true)]
    pub github_output: Option<PathBuf>,
    #[arg(long, env = "GITHUB_STEP_SUMMARY", hide = true)]
    pub github_step_summary: Option<PathBuf>,
    #[arg(long = "github-actions", env = "GITHUB_ACTIONS", hide = true)]
    pub github_actions: Option<String>,
}

impl CurrentsArgs {
    fn config(&self) -> Result<CurrentsConfig, ConfigError> {
        let api_key = secret(self.api_key.clone()).ok_or_else(|| {
            bad("the Currents API key is missing: set the api-key input or CURRENTS_API_KEY (Currents: Organization > API Keys)")
        })?;
        Ok(CurrentsConfig {
            api_url: parse_url(
                "--api-url (CURRENTS_API_URL)",
                self.api_url.clone(),
                DEFAULT_API_URL,
            )?,
            api_key,
            retry: RetryPolicy::ACTION,
        })
    }

    /// `--fetch-concurrency` (`CURRENTS_FETCH_CONCURRENCY`), the one setting of how many
    /// instances every command fetches at once.
    fn fetch_concurrency(&self) -> Result<usize, ConfigError> {
        match set(self.fetch_concurrency.clone()) {
            None => Ok(crate::currents::FETCH_CONCURRENCY),
            Some(n) => n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| {
                    bad(format!(
                        "--fetch-concurrency (CURRENTS_FETCH_CONCURRENCY) must be a number from 1 to 64, not {n:?}"
                    ))
                }),
        }
    }

    /// `--dry-run` (`CURRENTS_DRY_RUN`), parsed once for every command.
    fn dry_run(&self) -> Result<bool, ConfigError> {
        parse_bool("--dry-run (CURRENTS_DRY_RUN)", self.dry_run.clone(), false)
    }
}

/// The workflow run's id and attempt, validated.
fn github_run(args: &GithubRunArgs) -> Result<Option<(GithubRunId, RunAttempt)>, ConfigError> {
    let (Some(id), attempt) = (
        set(args.github_run_id.clone()),
        set(args.github_run_attempt.clone()),
    ) else {
        return Ok(None);
    };
    let id = id
        .parse()
        .map_err(|_| bad(format!("GITHUB_RUN_ID must be a number, not {id:?}")))?;
    let attempt = match attempt {
        Some(a) => a
            .parse()
            .map_err(|_| bad(format!("GITHUB_RUN_ATTEMPT must be a number, not {a:?}")))?,
        None => 1,
    };
    Ok(Some((GithubRunId::new(id), RunAttempt::new(attempt))))
}

impl GithubRunArgs {
    fn runtime(&self) -> Runtime {
        let path = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
        Runtime {
            output_file: path(&self.github_output),
            summary_file: path(&self.github_step_summary),
            in_actions: set(self.github_actions.clone()).is_some_and(|v| v == "true"),
        }
    }
}

/// Whether a secret is set to something, without exposing it.
pub fn is_set(secret: &SecretString) -> bool {
    !secret.expose_secret().is_empty()
}

/// The command line, with the action's pre and post entrypoints mapped onto commands.
///
/// A Docker action's `pre-entrypoint` and `post-entrypoint` get the same `args` as the main
/// step, so they cannot select a command; the image links the binary under two more names
/// instead: `currents-bridge-pre` does nothing (it only makes GitHub register the post step)
/// and `currents-bridge-post` cancels.
pub fn entrypoint_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let name = args
        .first()
        .and_then(|a| {
            std::path::Path::new(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let command = match name.as_str() {
        "currents-bridge-pre" => "noop",
        "currents-bridge-post" => "cancel",
        _ => return args,
    };
    args.truncate(1);
    args.push(command.into());
    args
}
