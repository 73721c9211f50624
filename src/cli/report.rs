//! `report`'s flags and its validated configuration.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::cancel::cancel_target;
use super::shared::{CheckArgs, GithubApiArgs, MediaArgs, TriageArgs};
use super::values::{ConfigError, bad, parse_bool, parse_duration, parse_url, secret, set};
use super::{CurrentsArgs, GithubRunArgs, RunSelectArgs, github_run};
use crate::ci_build_id::{CiBuildId, GithubRunId, RunAttempt, github_ci_build_id};
use crate::currents::{CancelTarget, CurrentsConfig, ProjectId, RunId, RunTarget, WaitTiming};
use crate::github::runtime::Runtime;
use crate::github::{CheckRunId, CommentMode, GithubConfig, Repository};
use crate::report::{FailOn, TriageSettings};
use crate::retry::RetryPolicy;

/// How long `report` waits for the run by default: long enough for the slowest shards of a
/// typical suite to upload after the reporting job starts.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How often `report` polls by default: a run's state changes per spec, every few seconds.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub currents: CurrentsArgs,
    #[command(flatten)]
    pub select: RunSelectArgs,
    #[command(flatten)]
    pub run: GithubRunArgs,
    #[command(flatten)]
    pub github_api: GithubApiArgs,
    /// Token that may write check runs (`permissions: checks: write`). Never logged.
    #[arg(
        long,
        env = "GITHUB_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub github_token: Option<String>,
    #[command(flatten)]
    pub check: CheckArgs,
    #[command(flatten)]
    pub media: MediaArgs,
    #[command(flatten)]
    pub triage: TriageArgs,
    /// On a re-run, the previous attempt's run, whose failures that pass now are listed
    /// [default: the ciBuildId template with GITHUB_RUN_ATTEMPT - 1]
    #[arg(long, env = "CURRENTS_PREVIOUS_CI_BUILD_ID", value_name = "ID")]
    pub previous_ci_build_id: Option<String>,
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
    /// Exit 1 when the run did not pass: true, false, or new (only when a failure does not fail
    /// on the base branch too) [default: false]
    #[arg(long, env = "CURRENTS_FAIL_ON_TEST_FAILURES", num_args = 0..=1, default_missing_value = "true", value_name = "WHEN")]
    pub fail_on_test_failures: Option<String>,
    /// The pull request to comment on [default: from the event, else the commit's open pull request]
    #[arg(long, env = "CURRENTS_PR_NUMBER", value_name = "N")]
    pub pr_number: Option<String>,
    /// A relay (`relay --media-secret`) whose /media links do not expire, e.g. https://relay.example.com
    #[arg(long, env = "CURRENTS_RELAY_URL", value_name = "URL")]
    pub relay_url: Option<String>,
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

/// What the check run's head SHA is chosen from, beside the event
/// ([`crate::github::event::Event::head_sha`]).
#[derive(Debug, Clone, Default)]
pub struct ShaSources {
    pub explicit: Option<String>,
    pub github_sha: Option<String>,
}

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
    /// `GITHUB_EVENT_NAME` and `GITHUB_EVENT_PATH`: the event, read once by the command.
    pub event_name: Option<String>,
    pub event_path: Option<PathBuf>,
    /// Whether to cancel the Currents run on SIGINT/SIGTERM (`--cancel-on-abort`).
    pub cancel_on_abort: bool,
    /// What to cancel before the run id is known: this GitHub run, or `--run-id`.
    pub cancel_target: Option<CancelTarget>,
    pub fetch_concurrency: usize,
    pub triage: TriageSettings,
    /// On a re-run, the previous attempt's ciBuildId.
    pub previous_ci_build_id: Option<CiBuildId>,
    pub runtime: Runtime,
}

impl ReportArgs {
    pub fn into_config(self) -> Result<ReportConfig, ConfigError> {
        let dry_run = self.currents.dry_run()?;
        let github_run = github_run(&self.run)?;
        Ok(ReportConfig {
            source: self.source(github_run)?,
            publish: if dry_run {
                Publish::DryRun
            } else {
                self.publish()?
            },
            check_name: self.check.check_name(),
            check_mode: self.check_mode()?,
            job_check_run_id: self.job_check_run_id()?,
            path_prefix: set(self.path_prefix.clone()).unwrap_or_default(),
            fail_on_test_failures: self.fail_on()?,
            compare: self.compare()?,
            comment: self.check.comment()?,
            media_relay: self.media_relay()?,
            pr_number: self.pr_number()?,
            event_name: set(self.event_name.clone()),
            event_path: self
                .event_path
                .clone()
                .filter(|p| !p.as_os_str().is_empty()),
            cancel_on_abort: parse_bool(
                "--cancel-on-abort (CURRENTS_CANCEL_ON_ABORT)",
                self.cancel_on_abort.clone(),
                true,
            )?,
            cancel_target: cancel_target(&self.currents, &self.select, github_run),
            fetch_concurrency: self.currents.fetch_concurrency()?,
            triage: self.triage.settings()?,
            previous_ci_build_id: self.previous_ci_build_id(github_run),
            runtime: if dry_run {
                self.run.runtime().without_files()
            } else {
                self.run.runtime()
            },
        })
    }

    /// The API (with the run's id or ciBuildId, and how long to wait) or `--from-dir`.
    fn source(
        &self,
        github_run: Option<(GithubRunId, RunAttempt)>,
    ) -> Result<ReportInput, ConfigError> {
        if let Some(dir) = self.from_dir.clone() {
            return Ok(ReportInput::Dir(dir));
        }
        let currents = self.currents.config()?;
        let target = match set(self.select.run_id.clone()) {
            Some(id) => RunTarget::Id(RunId::new(id)),
            None => {
                let project_id = set(self.currents.project_id.clone()).ok_or_else(|| {
                    bad("the Currents project id is missing: set the project-id input or CURRENTS_PROJECT_ID (or give run-id)")
                })?;
                RunTarget::CiBuild {
                    project_id: ProjectId::new(project_id),
                    ci_build_id: self.ci_build_id(github_run)?,
                }
            }
        };
        let timing = WaitTiming {
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
        };
        Ok(ReportInput::Api {
            currents,
            target,
            timing,
        })
    }

    /// `--ci-build-id`, else the documented template from the runner's variables.
    fn ci_build_id(
        &self,
        github_run: Option<(GithubRunId, RunAttempt)>,
    ) -> Result<CiBuildId, ConfigError> {
        if let Some(id) = set(self.select.ci_build_id.clone()).and_then(CiBuildId::new) {
            return Ok(id);
        }
        match (set(self.run.github_repository.clone()), github_run) {
            (Some(repo), Some((id, attempt))) => Ok(github_ci_build_id(&repo, id, attempt)),
            _ => Err(bad(
                "cannot derive the ciBuildId outside GitHub Actions: set --ci-build-id (CURRENTS_CI_BUILD_ID) or --run-id (CURRENTS_RUN_ID)",
            )),
        }
    }

    /// `--previous-ci-build-id`, else, on a re-run, the template with the attempt before.
    fn previous_ci_build_id(
        &self,
        github_run: Option<(GithubRunId, RunAttempt)>,
    ) -> Option<CiBuildId> {
        if let Some(id) = set(self.previous_ci_build_id.clone()).and_then(CiBuildId::new) {
            return Some(id);
        }
        let repo = set(self.run.github_repository.clone())?;
        let (run_id, attempt) = github_run?;
        crate::ci_build_id::previous_attempt(&repo, run_id, attempt)
    }

    /// The repository, the token's client (when a token is set) and the commit's sources.
    fn publish(&self) -> Result<Publish, ConfigError> {
        let repository = set(self.run.github_repository.clone()).ok_or_else(|| {
            bad("GITHUB_REPOSITORY is not set: run inside GitHub Actions, or pass --dry-run to print the report")
        })?;
        let repository = Repository::parse(&repository).ok_or_else(|| {
            bad(format!(
                "GITHUB_REPOSITORY must look like owner/name, not {repository:?}"
            ))
        })?;
        let client = match secret(self.github_token.clone()) {
            Some(token) => Some(GithubConfig {
                api_url: self.github_api.api_url()?,
                token,
                retry: RetryPolicy::ACTION,
            }),
            None => None,
        };
        Ok(Publish::Github {
            client,
            repository,
            sha: ShaSources {
                explicit: set(self.sha.clone()),
                github_sha: set(self.github_sha.clone()),
            },
        })
    }

    fn check_mode(&self) -> Result<CheckMode, ConfigError> {
        match set(self.check_mode.clone())
            .map(|m| m.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("both") => Ok(CheckMode::Both),
            Some("named") => Ok(CheckMode::Named),
            Some("job") => Ok(CheckMode::Job),
            Some(other) => Err(bad(format!(
                "--check-mode (CURRENTS_CHECK_MODE) must be named, job or both, not {other:?}"
            ))),
        }
    }

    fn job_check_run_id(&self) -> Result<Option<CheckRunId>, ConfigError> {
        let Some(raw) = set(self.job_check_run_id.clone()) else {
            return Ok(None);
        };
        raw.parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .map(|id| Some(CheckRunId::new(id)))
            .ok_or_else(|| {
                bad(format!(
                    "--job-check-run-id (CURRENTS_JOB_CHECK_RUN_ID) must be a check run id, not {raw:?}"
                ))
            })
    }

    fn fail_on(&self) -> Result<FailOn, ConfigError> {
        match set(self.fail_on_test_failures.clone()) {
            Some(v) if v.eq_ignore_ascii_case("new") => Ok(FailOn::New),
            raw => match parse_bool("", raw.clone(), false) {
                Ok(true) => Ok(FailOn::Any),
                Ok(false) => Ok(FailOn::Never),
                Err(_) => Err(bad(format!(
                    "--fail-on-test-failures (CURRENTS_FAIL_ON_TEST_FAILURES) must be true, false or new, not {:?}",
                    raw.unwrap_or_default()
                ))),
            },
        }
    }

    fn compare(&self) -> Result<CompareWith, ConfigError> {
        match set(self.compare_branch.clone()) {
            None => Ok(CompareWith::PullRequestBase),
            Some(v) if v.eq_ignore_ascii_case("off") => Ok(CompareWith::Off),
            Some(branch) if branch.len() > 255 || branch.chars().any(char::is_control) => Err(bad(
                "--compare-branch (CURRENTS_COMPARE_BRANCH) must be a branch name",
            )),
            Some(branch) => Ok(CompareWith::Branch(branch)),
        }
    }

    /// `--relay-url` with `--media-secret`, both or neither.
    fn media_relay(&self) -> Result<Option<(url::Url, crate::media::MediaSigner)>, ConfigError> {
        match (set(self.relay_url.clone()), self.media.secret()?) {
            (None, None) => Ok(None),
            (Some(url), Some(secret)) => Ok(Some((
                parse_url("--relay-url (CURRENTS_RELAY_URL)", Some(url), "")?,
                crate::media::MediaSigner::new(secret),
            ))),
            _ => Err(bad(
                "set both --relay-url (CURRENTS_RELAY_URL) and --media-secret (CURRENTS_MEDIA_SECRET) for lasting media links, or neither",
            )),
        }
    }

    fn pr_number(&self) -> Result<Option<u64>, ConfigError> {
        let Some(raw) = set(self.pr_number.clone()) else {
            return Ok(None);
        };
        raw.parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| {
                bad(format!(
                    "--pr-number (CURRENTS_PR_NUMBER) must be a pull request number, not {raw:?}"
                ))
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
