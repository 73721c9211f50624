//! `report`'s flags and its validated configuration.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::cancel::cancel_target;
use super::values::{ConfigError, bad, parse_bool, parse_duration, parse_url, secret, set};
use super::{CurrentsArgs, GithubRunArgs, RunSelectArgs, github_run};
use crate::ci_build_id::{CiBuildId, github_ci_build_id};
use crate::currents::{CancelTarget, CurrentsConfig, ProjectId, RunId, RunTarget, WaitTiming};
use crate::github::runtime::Runtime;
use crate::github::{CheckRunId, GithubConfig, Repository};
use crate::retry::RetryPolicy;

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

#[derive(Args)]
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
    /// Exit 1 when tests failed: true, false, or new (only failures that do not fail on the
    /// base branch) [default: false]
    #[arg(long, env = "CURRENTS_FAIL_ON_TEST_FAILURES", num_args = 0..=1, default_missing_value = "true", value_name = "WHEN")]
    pub fail_on_test_failures: Option<String>,
    /// The sticky pull request comment: off, always, or failures (post when something failed,
    /// and keep updating it once it exists) [default: failures]
    #[arg(long, env = "CURRENTS_COMMENT", value_name = "WHEN")]
    pub comment: Option<String>,
    /// The pull request to comment on [default: from the event, else the commit's open pull request]
    #[arg(long, env = "CURRENTS_PR_NUMBER", value_name = "N")]
    pub pr_number: Option<String>,
    /// A relay (`relay --media-secret`) whose /media links do not expire, e.g. https://relay.example.com
    #[arg(long, env = "CURRENTS_RELAY_URL", value_name = "URL")]
    pub relay_url: Option<String>,
    /// The secret the relay signs media links with (`--media-secret`). Never logged.
    #[arg(
        long,
        env = "CURRENTS_MEDIA_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub media_secret: Option<String>,
    /// Compare failures with the latest completed run of this branch; `off` to skip
    /// [default: a pull request's base branch]
    #[arg(long, env = "CURRENTS_COMPARE_BRANCH", value_name = "BRANCH")]
    pub compare_branch: Option<String>,
    /// Cancel the Currents run on SIGINT/SIGTERM [default: true]
    #[arg(long, env = "CURRENTS_CANCEL_ON_ABORT", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub cancel_on_abort: Option<String>,
    /// Where the report goes: named (a check run of its own), job (the job's own check run),
    /// or both (the report in the job's check, the conclusion in the named one) [default: both]
    #[arg(long, env = "CURRENTS_CHECK_MODE", value_name = "MODE")]
    pub check_mode: Option<String>,
    /// The job's own check run id (`${{ job.check_run_id }}`; github.com and GHEC, not GHES)
    #[arg(long, env = "CURRENTS_JOB_CHECK_RUN_ID", value_name = "ID")]
    pub job_check_run_id: Option<String>,
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

/// When `report` exits 1 for test failures (`--fail-on-test-failures`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Never,
    /// Any failed test.
    Any,
    /// A failure that does not fail on the base branch too (any failure without a base run).
    New,
}

pub use crate::github::CommentMode;

/// What `report` compares with (`--compare-branch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompareWith {
    Off,
    /// The base branch of the pull request the event names, if any.
    PullRequestBase,
    Branch(String),
}

/// Where `report` puts the check (`--check-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckMode {
    /// A check run of its own, named `--check-name`: where GitHub puts it is up to GitHub.
    Named,
    /// The report in the job's own check run (title, summary, text, annotations). Its status
    /// and conclusion stay the job's: the step's exit code decides them.
    Job,
    /// The report in the job's check, and a named check with the conclusion (for branch
    /// protection) that links to it.
    Both,
}

/// The validated configuration of `report`.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    pub source: ReportInput,
    pub publish: Publish,
    pub check_name: String,
    pub check_mode: CheckMode,
    /// The job's own check run, when the runner gave its id.
    pub job_check_run_id: Option<CheckRunId>,
    pub path_prefix: String,
    pub fail_on_test_failures: FailOn,
    pub compare: CompareWith,
    pub comment: CommentMode,
    /// Lasting media links through a relay: its URL and the shared secret.
    pub media_relay: Option<(url::Url, crate::media::MediaSigner)>,
    /// `--pr-number`: overrides the pull request found from the event or the commit.
    pub pr_number: Option<u64>,
    /// `GITHUB_EVENT_NAME` and `GITHUB_EVENT_PATH`, for the pull request's base branch.
    pub event_name: Option<String>,
    pub event_path: Option<PathBuf>,
    /// Whether to cancel the Currents run on SIGINT/SIGTERM (`--cancel-on-abort`).
    pub cancel_on_abort: bool,
    /// What to cancel before the run id is known: this GitHub run, or `--run-id`.
    pub cancel_target: Option<CancelTarget>,
    pub fetch_concurrency: usize,
    pub runtime: Runtime,
}

/// `--comment` (`CURRENTS_COMMENT`), for `report` and the relay.
pub(super) fn comment_mode(value: Option<String>) -> Result<CommentMode, ConfigError> {
    match set(value).map(|m| m.to_ascii_lowercase()).as_deref() {
        None | Some("failures") => Ok(CommentMode::Failures),
        Some("always") => Ok(CommentMode::Always),
        Some("off" | "false") => Ok(CommentMode::Off),
        Some(other) => Err(bad(format!(
            "--comment (CURRENTS_COMMENT) must be off, always or failures, not {other:?}"
        ))),
    }
}

/// `--fetch-concurrency`: instance fetches in flight at once.
pub(super) fn fetch_concurrency(value: Option<String>) -> Result<usize, ConfigError> {
    match set(value) {
        None => Ok(DEFAULT_FETCH_CONCURRENCY),
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=64).contains(n))
            .ok_or_else(|| {
                bad(format!(
                    "--fetch-concurrency must be a number from 1 to 64, not {n:?}"
                ))
            }),
    }
}

impl ReportArgs {
    pub fn into_config(self) -> Result<ReportConfig, ConfigError> {
        let dry_run = self.currents.dry_run()?;
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

        let fetch_concurrency = fetch_concurrency(self.fetch_concurrency.clone())?;

        Ok(ReportConfig {
            source,
            publish,
            check_name: set(self.check_name.clone())
                .unwrap_or_else(|| DEFAULT_CHECK_NAME.to_owned()),
            check_mode: match set(self.check_mode.clone())
                .map(|m| m.to_ascii_lowercase())
                .as_deref()
            {
                None | Some("both") => CheckMode::Both,
                Some("named") => CheckMode::Named,
                Some("job") => CheckMode::Job,
                Some(other) => {
                    return Err(bad(format!(
                        "--check-mode (CURRENTS_CHECK_MODE) must be named, job or both, not {other:?}"
                    )));
                }
            },
            job_check_run_id: match set(self.job_check_run_id.clone()) {
                None => None,
                Some(raw) => Some(CheckRunId::new(
                    raw.parse::<u64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                        bad(format!(
                            "--job-check-run-id (CURRENTS_JOB_CHECK_RUN_ID) must be a check run id, not {raw:?}"
                        ))
                    })?,
                )),
            },
            path_prefix: set(self.path_prefix.clone()).unwrap_or_default(),
            fail_on_test_failures: match set(self.fail_on_test_failures.clone()) {
                Some(v) if v.eq_ignore_ascii_case("new") => FailOn::New,
                raw => match parse_bool("", raw.clone(), false) {
                    Ok(true) => FailOn::Any,
                    Ok(false) => FailOn::Never,
                    Err(_) => {
                        return Err(bad(format!(
                            "--fail-on-test-failures (CURRENTS_FAIL_ON_TEST_FAILURES) must be true, false or new, not {:?}",
                            raw.unwrap_or_default()
                        )));
                    }
                },
            },
            compare: match set(self.compare_branch.clone()) {
                None => CompareWith::PullRequestBase,
                Some(v) if v.eq_ignore_ascii_case("off") => CompareWith::Off,
                Some(branch) if branch.len() > 255 || branch.chars().any(char::is_control) => {
                    return Err(bad(
                        "--compare-branch (CURRENTS_COMPARE_BRANCH) must be a branch name",
                    ));
                }
                Some(branch) => CompareWith::Branch(branch),
            },
            comment: comment_mode(self.comment.clone())?,
            media_relay: match (
                set(self.relay_url.clone()),
                super::values::media_secret(self.media_secret.clone())?,
            ) {
                (None, None) => None,
                (Some(url), Some(secret)) => Some((
                    parse_url("--relay-url (CURRENTS_RELAY_URL)", Some(url), "")?,
                    crate::media::MediaSigner::new(secret),
                )),
                _ => {
                    return Err(bad(
                        "set both --relay-url (CURRENTS_RELAY_URL) and --media-secret (CURRENTS_MEDIA_SECRET) for lasting media links, or neither",
                    ));
                }
            },
            pr_number: match set(self.pr_number.clone()) {
                None => None,
                Some(raw) => Some(raw.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    bad(format!(
                        "--pr-number (CURRENTS_PR_NUMBER) must be a pull request number, not {raw:?}"
                    ))
                })?),
            },
            event_name: set(self.event_name.clone()),
            event_path: self.event_path.clone().filter(|p| !p.as_os_str().is_empty()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn report(args: &[&str]) -> Result<ReportConfig, ConfigError> {
        let mut argv = vec!["currents-bridge", "report"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Report(args) => args.into_config(),
            _ => unreachable!(),
        }
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
        assert_eq!(config.fail_on_test_failures, FailOn::Any);
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
}
