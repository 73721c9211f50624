//! Flags and environment → validated, typed configuration.
//!
//! clap reads each flag or its environment variable as raw text; [`ReportArgs::into_config`]
//! and [`CancelArgs::into_config`] then validate everything before any work starts (ripgrep's
//! low-level/high-level split). An empty value means unset, because `action.yml` maps every
//! input onto a variable and GitHub passes unset inputs as empty strings. No other module reads
//! the environment.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::ci_build_id::{CiBuildId, GithubRunId, RunAttempt, github_ci_build_id};
use crate::currents::models::CancelByGithubRequest;
use crate::currents::{CancelTarget, CurrentsConfig, ProjectId, RunId, RunTarget, WaitTiming};
use crate::github::runtime::Runtime;
use crate::github::{GithubConfig, Repository};
use crate::retry::RetryPolicy;

/// The default Currents API.
pub const DEFAULT_API_URL: &str = "https://api.currents.dev/v1";
/// The default GitHub API (github.com); GHES sets `GITHUB_API_URL`.
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
/// The default check name.
pub const DEFAULT_CHECK_NAME: &str = "Currents";
/// How long `report` waits for the run by default: long enough for the slowest shards of a
/// typical suite to upload after the reporting job starts.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How often `report` polls by default: a run's state changes per spec, every few seconds.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Instance fetches in flight at once by default: a 100-spec failure fetches in 13 rounds,
/// without a burst that a rate limiter would notice.
pub const DEFAULT_FETCH_CONCURRENCY: usize = 8;

#[derive(Debug, Parser)]
#[command(
    name = "currents-bridge",
    version,
    about = "Publish Currents test runs as GitHub checks, and cancel them with their workflows."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Wait for this workflow's Currents run, then publish it as a check run, job summary and
    /// step outputs.
    Report(Box<ReportArgs>),
    /// Cancel this workflow's Currents run.
    Cancel(Box<CancelArgs>),
    /// Receive GitHub workflow webhooks and cancel the Currents runs of cancelled workflows.
    Relay(Box<RelayArgs>),
    /// Do nothing. The action's pre step runs it so that its post step is always registered.
    #[command(hide = true)]
    Noop,
}

/// Settings shared by every command that calls Currents.
#[derive(Debug, Args)]
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
}

/// Which Currents run `report` and `cancel` act on.
#[derive(Debug, Args)]
pub struct RunSelectArgs {
    /// The run's ciBuildId [default: {GITHUB_REPOSITORY}-{GITHUB_RUN_ID}-{GITHUB_RUN_ATTEMPT}]
    #[arg(long, env = "CURRENTS_CI_BUILD_ID", value_name = "ID")]
    pub ci_build_id: Option<String>,
    /// The Currents run id; skips the lookup by ciBuildId
    #[arg(long, env = "CURRENTS_RUN_ID", value_name = "ID")]
    pub run_id: Option<String>,
}

/// The workflow run, as the runner describes it.
#[derive(Debug, Args)]
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
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub currents: CurrentsArgs,
    #[command(flatten)]
    pub select: RunSelectArgs,
    #[command(flatten)]
    pub run: GithubRunArgs,
    /// GitHub API base URL [default: https://api.github.com]
    #[arg(long, env = "GITHUB_API_URL", value_name = "URL")]
    pub github_api_url: Option<String>,
    /// Token that may write check runs (`permissions: checks: write`). Never logged.
    #[arg(
        long,
        env = "GITHUB_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub github_token: Option<String>,
    /// Name of the check run [default: Currents]
    #[arg(long, env = "CURRENTS_CHECK_NAME", value_name = "NAME")]
    pub check_name: Option<String>,
    /// How long to wait for the run to complete, e.g. 10m, 90s [default: 10m]
    #[arg(long, env = "CURRENTS_WAIT_TIMEOUT", value_name = "DURATION")]
    pub wait_timeout: Option<String>,
    /// How often to poll while waiting [default: 5s]
    #[arg(long, env = "CURRENTS_POLL_INTERVAL", value_name = "DURATION")]
    pub poll_interval: Option<String>,
    /// Commit for the check run [default: the pull request's head, else GITHUB_SHA]
    #[arg(long, env = "CURRENTS_CHECK_SHA", value_name = "SHA")]
    pub sha: Option<String>,
    /// Prefix that makes spec paths repository-relative, e.g. `e2e/`
    #[arg(long, env = "CURRENTS_PATH_PREFIX", value_name = "PATH")]
    pub path_prefix: Option<String>,
    /// Exit 1 when tests failed [default: false]
    #[arg(long, env = "CURRENTS_FAIL_ON_TEST_FAILURES", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub fail_on_test_failures: Option<String>,
    /// Cancel the Currents run on SIGINT/SIGTERM [default: true]
    #[arg(long, env = "CURRENTS_CANCEL_ON_ABORT", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub cancel_on_abort: Option<String>,
    /// Instance fetches in flight at once [default: 8]
    #[arg(long, env = "CURRENTS_FETCH_CONCURRENCY", value_name = "N")]
    pub fetch_concurrency: Option<String>,
    /// Read DIR/run.json and DIR/instances/<instanceId>.json instead of the API
    #[arg(long, value_name = "DIR")]
    pub from_dir: Option<PathBuf>,
    #[arg(long = "github-sha", env = "GITHUB_SHA", hide = true)]
    pub github_sha: Option<String>,
    #[arg(long = "github-event-name", env = "GITHUB_EVENT_NAME", hide = true)]
    pub event_name: Option<String>,
    #[arg(long = "github-event-path", env = "GITHUB_EVENT_PATH", hide = true)]
    pub event_path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub currents: CurrentsArgs,
    #[command(flatten)]
    pub select: RunSelectArgs,
    #[command(flatten)]
    pub run: GithubRunArgs,
}

/// A usage or configuration error (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

fn bad(message: impl Into<String>) -> ConfigError {
    ConfigError(message.into())
}

/// `Some(trimmed)` unless empty.
fn set(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn parse_bool(name: &str, value: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match set(value).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(bad(format!("{name} must be true or false, not {other:?}"))),
    }
}

fn parse_duration(
    name: &str,
    value: Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match set(value) {
        None => Ok(default),
        Some(v) => humantime::parse_duration(&v).map_err(|e| {
            bad(format!(
                "{name} must be a duration such as 10m or 30s, not {v:?} ({e})"
            ))
        }),
    }
}

fn parse_url(name: &str, value: Option<String>, default: &str) -> Result<Url, ConfigError> {
    let raw = set(value).unwrap_or_else(|| default.to_owned());
    let url = Url::parse(&raw)
        .map_err(|e| bad(format!("{name} must be an http(s) URL, not {raw:?} ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!("{name} must be an http(s) URL, not {raw:?}")));
    }
    Ok(url)
}

fn secret(value: Option<String>) -> Option<SecretString> {
    set(value).map(SecretString::from)
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
        }
    }
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
}

/// Which run `report` reads.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant, reason = "built once per process")]
pub enum ReportInput {
    /// From the Currents API, waiting for it to complete.
    Api {
        currents: CurrentsConfig,
        target: RunTarget,
        timing: WaitTiming,
    },
    /// From saved responses in a directory (`--from-dir`).
    Dir(PathBuf),
}

/// Where `report` publishes.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant, reason = "built once per process")]
pub enum Publish {
    /// Print the check's title, summary and annotation count; write nothing.
    DryRun,
    /// Create a check run (when a token is given) and write the job summary and outputs.
    Github {
        /// `None` when no token is set: the job summary and workflow-command annotations only.
        client: Option<GithubConfig>,
        repository: Repository,
        sha: ShaSources,
    },
}

/// What the check run's head SHA is chosen from (see `github::event::head_sha`).
#[derive(Debug, Clone, Default)]
pub struct ShaSources {
    pub explicit: Option<String>,
    pub event_name: Option<String>,
    pub event_path: Option<PathBuf>,
    pub github_sha: Option<String>,
}

/// The validated configuration of `report`.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    pub source: ReportInput,
    pub publish: Publish,
    pub check_name: String,
    pub path_prefix: String,
    pub fail_on_test_failures: bool,
    /// Whether to cancel the Currents run on SIGINT/SIGTERM (`--cancel-on-abort`).
    pub cancel_on_abort: bool,
    /// What to cancel before the run id is known: this GitHub run, or `--run-id`.
    pub cancel_target: Option<CancelTarget>,
    pub fetch_concurrency: usize,
    pub runtime: Runtime,
}

impl ReportArgs {
    pub fn into_config(self) -> Result<ReportConfig, ConfigError> {
        let dry_run = parse_bool(
            "--dry-run (CURRENTS_DRY_RUN)",
            self.currents.dry_run.clone(),
            false,
        )?;
        let github_run = github_run(&self.run)?;
        let repository = set(self.run.github_repository.clone());
        let cancel_on_abort = parse_bool(
            "--cancel-on-abort (CURRENTS_CANCEL_ON_ABORT)",
            self.cancel_on_abort.clone(),
            true,
        )?;

        let source = match self.from_dir.clone() {
            Some(dir) => ReportInput::Dir(dir),
            None => {
                let currents = self.currents.config()?;
                let target = match set(self.select.run_id.clone()) {
                    Some(id) => RunTarget::Id(RunId::new(id)),
                    None => {
                        let project_id = set(self.currents.project_id.clone()).ok_or_else(|| {
                            bad("the Currents project id is missing: set the project-id input or CURRENTS_PROJECT_ID (or give run-id)")
                        })?;
                        let ci_build_id = match set(self.select.ci_build_id.clone())
                            .and_then(CiBuildId::new)
                        {
                            Some(id) => id,
                            None => match (&repository, github_run) {
                                (Some(repo), Some((id, attempt))) => {
                                    github_ci_build_id(repo, id, attempt)
                                }
                                _ => {
                                    return Err(bad(
                                        "cannot derive the ciBuildId outside GitHub Actions: set --ci-build-id (CURRENTS_CI_BUILD_ID) or --run-id (CURRENTS_RUN_ID)",
                                    ));
                                }
                            },
                        };
                        RunTarget::CiBuild {
                            project_id: ProjectId::new(project_id),
                            ci_build_id,
                        }
                    }
                };
                ReportInput::Api {
                    currents,
                    target,
                    timing: WaitTiming {
                        timeout: parse_duration(
                            "--wait-timeout (CURRENTS_WAIT_TIMEOUT)",
                            self.wait_timeout.clone(),
                            DEFAULT_WAIT_TIMEOUT,
                        )?,
                        poll_interval: parse_duration(
                            "--poll-interval (CURRENTS_POLL_INTERVAL)",
                            self.poll_interval.clone(),
                            DEFAULT_POLL_INTERVAL,
                        )?,
                    },
                }
            }
        };

        let publish = if dry_run {
            Publish::DryRun
        } else {
            let repository = repository.as_deref().ok_or_else(|| {
                bad("GITHUB_REPOSITORY is not set: run inside GitHub Actions, or pass --dry-run to print the report")
            })?;
            let repository = Repository::parse(repository).ok_or_else(|| {
                bad(format!(
                    "GITHUB_REPOSITORY must look like owner/name, not {repository:?}"
                ))
            })?;
            let client = match secret(self.github_token.clone()) {
                Some(token) => Some(GithubConfig {
                    api_url: parse_url(
                        "GITHUB_API_URL",
                        self.github_api_url.clone(),
                        DEFAULT_GITHUB_API_URL,
                    )?,
                    token,
                    retry: RetryPolicy::ACTION,
                }),
                None => None,
            };
            Publish::Github {
                client,
                repository,
                sha: ShaSources {
                    explicit: set(self.sha.clone()),
                    event_name: set(self.event_name.clone()),
                    event_path: self
                        .event_path
                        .clone()
                        .filter(|p| !p.as_os_str().is_empty()),
                    github_sha: set(self.github_sha.clone()),
                },
            }
        };

        let fetch_concurrency = match set(self.fetch_concurrency.clone()) {
            None => DEFAULT_FETCH_CONCURRENCY,
            Some(n) => n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| {
                    bad(format!(
                        "--fetch-concurrency must be a number from 1 to 64, not {n:?}"
                    ))
                })?,
        };

        Ok(ReportConfig {
            source,
            publish,
            check_name: set(self.check_name.clone())
                .unwrap_or_else(|| DEFAULT_CHECK_NAME.to_owned()),
            path_prefix: set(self.path_prefix.clone()).unwrap_or_default(),
            fail_on_test_failures: parse_bool(
                "--fail-on-test-failures (CURRENTS_FAIL_ON_TEST_FAILURES)",
                self.fail_on_test_failures.clone(),
                false,
            )?,
            cancel_on_abort,
            cancel_target: cancel_target(&self.currents, &self.select, github_run),
            fetch_concurrency,
            runtime: if dry_run {
                Runtime::default()
            } else {
                self.run.runtime()
            },
        })
    }
}

/// What a cancel targets: the run id when given, else this GitHub run and attempt. The
/// ciBuildId scopes the cancel only when it was given explicitly together with a project id,
/// as Currents' own action does: a guessed ciBuildId that does not match turns the cancel
/// into a 404.
fn cancel_target(
    args: &CurrentsArgs,
    select: &RunSelectArgs,
    github_run: Option<(GithubRunId, RunAttempt)>,
) -> Option<CancelTarget> {
    if let Some(id) = set(select.run_id.clone()) {
        return Some(CancelTarget::Run(RunId::new(id)));
    }
    let (run_id, attempt) = github_run?;
    let project_id = set(args.project_id.clone());
    let ci_build_id = project_id.as_ref().and(set(select.ci_build_id.clone()));
    Some(CancelTarget::GithubRun(CancelByGithubRequest {
        github_run_id: run_id.to_string(),
        github_run_attempt: attempt.to_string(),
        project_id,
        ci_build_id,
    }))
}

/// The validated configuration of `cancel`.
#[derive(Debug, Clone)]
pub struct CancelConfig {
    pub currents: CurrentsConfig,
    pub target: CancelTarget,
    pub dry_run: bool,
    pub runtime: Runtime,
}

impl CancelArgs {
    pub fn into_config(self) -> Result<CancelConfig, ConfigError> {
        let currents = self.currents.config()?;
        let target = cancel_target(&self.currents, &self.select, github_run(&self.run)?).ok_or_else(|| {
            bad("nothing to cancel: GITHUB_RUN_ID is not set; run inside GitHub Actions or pass --run-id (CURRENTS_RUN_ID)")
        })?;
        Ok(CancelConfig {
            currents,
            target,
            dry_run: parse_bool(
                "--dry-run (CURRENTS_DRY_RUN)",
                self.currents.dry_run.clone(),
                false,
            )?,
            runtime: self.run.runtime(),
        })
    }
}

/// Whether a secret is set to something, without exposing it.
pub fn is_set(secret: &SecretString) -> bool {
    !secret.expose_secret().is_empty()
}

/// Defaults of the relay.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://currents-bridge.db";
/// GitHub's workflow payloads are a few KiB; 5 MiB leaves room for any event a hook may be
/// subscribed to without letting a client make the relay buffer GitHub's 25 MB maximum.
pub const DEFAULT_MAX_BODY: usize = 5 * 1024 * 1024;
/// How often the worker looks for due jobs when nothing wakes it (a new delivery does).
pub const DEFAULT_RELAY_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// A claim's lease: a cancel call takes at most 30 s (the client's timeout), plus a margin.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(90);

#[derive(Debug, Args)]
pub struct RelayArgs {
    #[command(flatten)]
    pub currents: CurrentsArgs,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "RELAY_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Webhook secrets, comma-separated, newest first (rotation). Required. Never logged.
    #[arg(
        long,
        env = "GITHUB_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRETS"
    )]
    pub webhook_secret: Option<String>,
    /// sqlite://path (one relay) or postgres://… (several) [default: sqlite://currents-bridge.db]
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Bearer token of the /admin routes; they are disabled when unset. Never logged.
    #[arg(
        long,
        env = "RELAY_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<String>,
    /// Largest accepted body, e.g. 5MiB or 1048576 [default: 5MiB]
    #[arg(long, env = "RELAY_MAX_BODY", value_name = "SIZE")]
    pub max_body: Option<String>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "RELAY_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// How often the worker polls for due jobs [default: 1s]
    #[arg(long, env = "RELAY_POLL_INTERVAL", value_name = "DURATION")]
    pub poll_interval: Option<String>,
    /// How long a worker's claim on a job lasts [default: 90s]
    #[arg(long, env = "RELAY_LEASE", value_name = "DURATION")]
    pub lease: Option<String>,
    /// First wait of the retry schedule; later waits scale with it [default: 20s; 10s for 404s]
    #[arg(long, env = "RELAY_RETRY_BASE", value_name = "DURATION")]
    pub retry_base: Option<String>,
}

/// Parses `5MiB`, `512KiB`, `1MB`, `1048576`.
fn parse_size(name: &str, value: Option<String>, default: usize) -> Result<usize, ConfigError> {
    let Some(raw) = set(value) else {
        return Ok(default);
    };
    let lower = raw.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let factor = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1_024,
        "m" | "mb" => 1_000_000,
        "mib" => 1_048_576,
        _ => 0,
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            bad(format!(
                "{name} must be a size such as 5MiB or 1048576, not {raw:?}"
            ))
        })
}

impl RelayArgs {
    /// Whether logs should be JSON lines.
    pub fn json_logs(&self) -> bool {
        set(self.log_format.clone()).is_some_and(|f| f.eq_ignore_ascii_case("json"))
    }

    pub fn into_config(self) -> Result<crate::relay::RelayConfig, ConfigError> {
        use crate::relay::{RetrySchedule, WebhookSecrets, WorkerConfig};
        let secrets = WebhookSecrets::new(
            set(self.webhook_secret.clone())
                .unwrap_or_default()
                .split(',')
                .map(|s| SecretString::from(s.trim().to_owned()))
                .collect(),
        )
        .ok_or_else(|| bad("the relay needs a webhook secret: set --webhook-secret or GITHUB_WEBHOOK_SECRET (the secret of the GitHub webhook)"))?;
        match set(self.log_format.clone())
            .map(|f| f.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("text" | "json") => {}
            Some(other) => {
                return Err(bad(format!(
                    "--log-format must be text or json, not {other:?}"
                )));
            }
        }
        let dry_run = parse_bool(
            "--dry-run (CURRENTS_DRY_RUN)",
            self.currents.dry_run.clone(),
            false,
        )?;
        let currents = match (self.currents.config(), dry_run) {
            (Ok(config), _) => Some(config),
            (Err(_), true) => None,
            (Err(e), false) => return Err(e),
        };
        let poll_interval = parse_duration(
            "--poll-interval (RELAY_POLL_INTERVAL)",
            self.poll_interval.clone(),
            DEFAULT_RELAY_POLL_INTERVAL,
        )?;
        let lease = parse_duration("--lease (RELAY_LEASE)", self.lease.clone(), DEFAULT_LEASE)?;
        if lease < poll_interval * 2 {
            return Err(bad(
                "--lease (RELAY_LEASE) must be at least twice --poll-interval",
            ));
        }
        let schedule = match set(self.retry_base.clone()) {
            None => RetrySchedule::default(),
            Some(_) => RetrySchedule::with_base(parse_duration(
                "--retry-base (RELAY_RETRY_BASE)",
                self.retry_base.clone(),
                Duration::ZERO,
            )?),
        };
        let database_url =
            set(self.database_url.clone()).unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| database_url.starts_with(p))
        {
            return Err(bad("DATABASE_URL must start with sqlite:// or postgres://"));
        }
        Ok(crate::relay::RelayConfig {
            listen: set(self.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            secrets,
            database_url: SecretString::from(database_url),
            admin_token: secret(self.admin_token.clone()),
            max_body: parse_size(
                "--max-body (RELAY_MAX_BODY)",
                self.max_body.clone(),
                DEFAULT_MAX_BODY,
            )?,
            currents,
            worker: WorkerConfig {
                owner: format!("relay-{}-{:08x}", std::process::id(), fastrand::u32(..)),
                poll_interval,
                lease,
                schedule,
                project_id: set(self.currents.project_id.clone()),
                dry_run,
            },
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(args: &[&str]) -> Result<ReportConfig, ConfigError> {
        let mut argv = vec!["currents-bridge", "report"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Report(args) => args.into_config(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("x", None, 7).unwrap(), 7);
        assert_eq!(
            parse_size("x", Some("5MiB".into()), 0).unwrap(),
            5 * 1024 * 1024
        );
        assert_eq!(
            parse_size("x", Some("512 KiB".into()), 0).unwrap(),
            512 * 1024
        );
        assert_eq!(parse_size("x", Some("1000".into()), 0).unwrap(), 1000);
        assert!(parse_size("x", Some("lots".into()), 0).is_err());
        assert!(parse_size("x", Some("0".into()), 0).is_err());
    }

    #[test]
    fn booleans_and_durations() {
        assert!(parse_bool("x", Some("".into()), true).unwrap());
        assert!(!parse_bool("x", Some("FALSE".into()), true).unwrap());
        assert!(parse_bool("x", Some("maybe".into()), true).is_err());
        assert_eq!(
            parse_duration("x", Some("90s".into()), Duration::ZERO).unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            parse_duration("x", Some(" ".into()), Duration::from_secs(1)).unwrap(),
            Duration::from_secs(1)
        );
        assert!(parse_duration("x", Some("soon".into()), Duration::ZERO).is_err());
    }

    #[test]
    fn from_dir_dry_run_needs_no_credentials() {
        let config = report(&["--from-dir", "x", "--dry-run"]).unwrap();
        assert!(matches!(config.source, ReportInput::Dir(_)));
        assert!(matches!(config.publish, Publish::DryRun));
    }

    #[test]
    fn explicit_values_become_typed_config() {
        let config = report(&[
            "--api-key",
            "k",
            "--project-id",
            "P",
            "--ci-build-id",
            "b-1",
            "--dry-run",
            "--wait-timeout",
            "2m",
            "--path-prefix",
            "e2e/",
            "--fail-on-test-failures",
        ])
        .unwrap();
        let ReportInput::Api { target, timing, .. } = config.source else {
            panic!()
        };
        assert_eq!(
            target,
            RunTarget::CiBuild {
                project_id: ProjectId::new("P"),
                ci_build_id: CiBuildId::new("b-1").unwrap()
            }
        );
        assert_eq!(timing.timeout, Duration::from_secs(120));
        assert!(config.fail_on_test_failures);
        assert_eq!(config.path_prefix, "e2e/");
    }

    #[test]
    fn missing_key_or_project_are_usage_errors() {
        let err = report(&["--project-id", "P", "--dry-run"]).unwrap_err();
        assert!(err.to_string().contains("API key is missing"), "{err}");
        let err = report(&["--api-key", "k", "--dry-run"]).unwrap_err();
        assert!(err.to_string().contains("project id is missing"), "{err}");
    }

    #[test]
    fn errors_never_contain_the_key() {
        let err = report(&[
            "--api-key",
            "sekrit-key-123",
            "--api-url",
            "ftp://x",
            "--run-id",
            "r",
            "--dry-run",
        ])
        .unwrap_err();
        assert!(!err.to_string().contains("sekrit-key-123"));
    }

    #[test]
    fn cancel_target_sends_ci_build_id_only_with_a_project() {
        let args = |project: Option<&str>| CurrentsArgs {
            api_url: None,
            api_key: Some("k".into()),
            project_id: project.map(Into::into),
            dry_run: None,
        };
        let select = RunSelectArgs {
            ci_build_id: Some("b-1".into()),
            run_id: None,
        };
        let run = Some((GithubRunId::new(45166321), RunAttempt::new(2)));
        let Some(CancelTarget::GithubRun(without)) = cancel_target(&args(None), &select, run)
        else {
            panic!()
        };
        assert_eq!((without.project_id, without.ci_build_id), (None, None));
        let Some(CancelTarget::GithubRun(with)) = cancel_target(&args(Some("P")), &select, run)
        else {
            panic!()
        };
        assert_eq!(
            (with.project_id.as_deref(), with.ci_build_id.as_deref()),
            (Some("P"), Some("b-1"))
        );
        assert_eq!(with.github_run_attempt, "2");
    }
}
