//! `currents-bridge report`: find the run, wait for it, fetch the failing specs' details,
//! build the report and publish it; cancel the run if the workflow is cancelled meanwhile.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::cancel::{describe, report_outcome};
use super::signal::Interrupt;
use crate::cli::{CheckMode, CommentMode, CompareWith, FailOn, Publish, ReportConfig, ReportInput};
use crate::currents::{
    CancelTarget, CurrentsClient, DirSource, FailedInstances, ProjectId, Run, RunId, RunTarget,
    SourceError, WaitError, WaitEvent, WaitTiming, base_run, fetch_failed_instances,
    wait_for_completion,
};
use anyhow::Context;

use crate::exit::{Exit, InputError};
use crate::github::runtime::{self, Runtime};
use crate::github::{
    CheckConclusion, CheckRunId, CheckRunOutput, CheckStatus, GithubClient, GithubError,
    NewCheckRun, Repository, event,
};
use crate::http::{self, Http};
use crate::report::{self, Annotation, Report};
use crate::retry::RetryPolicy;

/// All abort work (cancel the run, complete the check) must end before the runner's SIGTERM,
/// which follows SIGINT after 7.5 s; 6 s leaves room to exit.
const ABORT_BUDGET: Duration = Duration::from_secs(6);

/// Workflow-command annotations shown in the fallback: the runner shows 10 errors per step and
/// drops the rest silently, so we send 10 and say how many more there are.
const FALLBACK_ANNOTATIONS: usize = 10;

/// What the abort handler needs to know about the work so far.
#[derive(Default)]
struct Progress {
    run_id: Option<RunId>,
    check: Option<(GithubClient, Repository, CheckRunId)>,
}

type SharedProgress = Arc<Mutex<Progress>>;

fn update(progress: &SharedProgress, f: impl FnOnce(&mut Progress)) {
    f(&mut progress.lock().unwrap_or_else(PoisonError::into_inner));
}

/// Where this `report` reads the run from: the API (with the one client the abort path reuses)
/// or a directory.
enum Source<'a> {
    Api {
        client: CurrentsClient,
        retry: &'a RetryPolicy,
        target: &'a RunTarget,
        timing: WaitTiming,
    },
    Dir(DirSource),
}

/// Runs `report`. On SIGINT or SIGTERM while it works, cancels the Currents run (unless
/// `--cancel-on-abort=false`), completes a created check run as cancelled and returns
/// [`Exit::Interrupted`].
pub async fn report(config: ReportConfig) -> anyhow::Result<Exit> {
    let interrupt = Interrupt::install().context("cannot install signal handlers")?;
    let http = Http::new()?;
    let source = match &config.source {
        ReportInput::Api {
            currents,
            target,
            timing,
        } => Source::Api {
            client: CurrentsClient::new(currents.clone(), &http),
            retry: &currents.retry,
            target,
            timing: *timing,
        },
        ReportInput::Dir(dir) => Source::Dir(DirSource::new(dir)),
    };
    let progress = SharedProgress::default();
    tokio::select! {
        result = run(&config, &source, &http, &progress) => result,
        () = interrupt.received() => {
            if tokio::time::timeout(ABORT_BUDGET, abort(&config, &source, &progress)).await.is_err() {
                println!("{}", runtime::warning("Stopping before the abort finished: the runner kills the step soon after."));
            }
            Ok(Exit::Interrupted)
        }
    }
}

async fn abort(config: &ReportConfig, source: &Source<'_>, progress: &SharedProgress) {
    let (run_id, check) = {
        let mut p = progress.lock().unwrap_or_else(PoisonError::into_inner);
        (p.run_id.clone(), p.check.take())
    };
    let cancel = async {
        let Source::Api { client, retry, .. } = source else {
            return;
        };
        if !config.cancel_on_abort {
            return;
        }
        // The run id, once known, names exactly this run.
        match run_id
            .map(CancelTarget::Run)
            .or_else(|| config.cancel_target.clone())
        {
            // The live client: its connection is open already, which matters within 6 s.
            Some(target) => {
                let client = client.with_retry(retry.within(ABORT_BUDGET / 2));
                let what = describe(&target);
                match client.cancel(&target).await {
                    Ok(outcome) => report_outcome(&outcome, &what),
                    Err(e) => println!(
                        "{}",
                        runtime::warning(&format!("Could not cancel {what}: {e}"))
                    ),
                }
            }
            None => println!(
                "{}",
                runtime::warning(
                    "Cannot cancel the Currents run: neither its run id nor GITHUB_RUN_ID is known."
                )
            ),
        }
    };
    let complete = async {
        if let Some((client, repo, id)) = check {
            match client
                .complete_check_run(&repo, id, CheckConclusion::Cancelled)
                .await
            {
                Ok(_) => println!("Marked check run {id} cancelled."),
                Err(e) => println!(
                    "{}",
                    runtime::warning(&format!("Could not mark the check run cancelled: {e}"))
                ),
            }
        }
    };
    tokio::join!(cancel, complete);
}

async fn run(
    config: &ReportConfig,
    source: &Source<'_>,
    http: &Http,
    progress: &SharedProgress,
) -> anyhow::Result<Exit> {
    let (run, details, base) = match source {
        Source::Dir(dir) => {
            let run = dir.run().map_err(input_error)?;
            let details = fetch_failed_instances(dir, &run, config.fetch_concurrency)
                .await
                .map_err(input_error)?;
            (run, details, None)
        }
        Source::Api {
            client,
            target,
            timing,
            ..
        } => {
            let run = wait_logged(client, target, *timing, progress).await?;
            // The base branch's run is fetched while this run's instances are.
            let (details, base) = tokio::join!(
                fetch_failed_instances(client, &run, config.fetch_concurrency),
                compare_with(config, client, target, &run),
            );
            let details = details.map_err(input_error)?;
            warn_unavailable(&details);
            (run, details, base)
        }
    };
    let mut report = report::build(
        &run,
        &details.instances,
        &details.unavailable,
        SystemTime::now(),
    );
    if let Some((branch, base)) = base {
        let base = base.map(|(run, details)| {
            report::build(
                &run,
                &details.instances,
                &details.unavailable,
                SystemTime::now(),
            )
        });
        if base.is_none() {
            println!(
                "{}",
                runtime::notice(&format!(
                    "No completed Currents run of {branch} to compare with: failures are not marked new."
                ))
            );
        }
        report::compare(&mut report, base.as_ref(), &branch);
    }
    if let Some((relay, signer)) = &config.media_relay {
        report::relay_media(&mut report, |media| signer.url(relay, media));
    }
    let output = report::check_output(&report);
    let annotations = report::annotations(&report, &config.path_prefix);

    match &config.publish {
        Publish::DryRun => print_dry_run(config, &report, &output, &annotations),
        Publish::Github {
            client,
            repository,
            sha,
        } => {
            let head_sha = head_sha(sha)?;
            let published = match client {
                Some(github) => {
                    let github = GithubClient::new(github.clone(), http);
                    let result = publish_checks(
                        config,
                        &github,
                        repository,
                        &head_sha,
                        &report,
                        &output,
                        &annotations,
                        progress,
                    )
                    .await;
                    match result {
                        Ok(check) => Ok(Some(check)),
                        Err(GithubError::NoPermission { .. }) => {
                            let error = result.err().map(|e| e.to_string()).unwrap_or_default();
                            println!(
                                "{}",
                                runtime::warning(&format!(
                                    "{error}. Falling back to the job summary and log annotations."
                                ))
                            );
                            fallback_annotations(&annotations);
                            Ok(None)
                        }
                        Err(other) => Err(other),
                    }
                }
                None => {
                    println!(
                        "{}",
                        runtime::warning(
                            "No GitHub token (github-token input / GITHUB_TOKEN): skipping the check run; the report is in the job summary."
                        )
                    );
                    fallback_annotations(&annotations);
                    Ok(None)
                }
            };
            // Nothing is lost when GitHub refuses the check: the summary and outputs are
            // written either way, then the error decides the exit code.
            let check = published.as_ref().ok().cloned().flatten();
            let comment = match client {
                Some(github) => {
                    let github = GithubClient::new(github.clone(), http);
                    post_comment(
                        config,
                        &github,
                        repository,
                        &head_sha,
                        &report,
                        check.as_ref().and_then(|c| c.html_url.as_deref()),
                    )
                    .await
                }
                None => None,
            };
            write_runtime(&config.runtime, &report, check.as_ref(), comment.as_ref())?;
            published?;
        }
    }

    let failed = report.totals.failed > 0 || report.conclusion == report::Conclusion::Failure;
    let fails_step = match config.fail_on_test_failures {
        FailOn::Never => false,
        FailOn::Any => failed,
        // Without a base run every failure counts as new.
        FailOn::New => match report.new_failures() {
            Some(new) => new > 0,
            None => failed,
        },
    };
    Ok(if fails_step {
        Exit::TestsFailed
    } else {
        Exit::Success
    })
}

/// The branch to compare with and its latest completed run (`None` if it has none), when a
/// comparison is asked for (`--compare-branch`, or a pull request's base by default). A failed
/// lookup is a warning: the report goes on without the comparison.
async fn compare_with(
    config: &ReportConfig,
    client: &CurrentsClient,
    target: &RunTarget,
    run: &Run,
) -> Option<(String, Option<(Run, FailedInstances)>)> {
    let branch = match &config.compare {
        CompareWith::Off => return None,
        CompareWith::Branch(branch) => branch.clone(),
        CompareWith::PullRequestBase => {
            let event = config
                .event_path
                .as_deref()
                .and_then(|path| std::fs::read(path).ok())
                .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
            event::pull_request_base(config.event_name.as_deref(), event.as_ref())?
        }
    };
    let project: ProjectId = match (&run.project_id, target) {
        (Some(project), _) => project.clone(),
        (None, RunTarget::CiBuild { project_id, .. }) => project_id.clone(),
        (None, RunTarget::Id(_)) => {
            println!(
                "{}",
                runtime::notice(
                    "Currents did not say which project the run is in: no comparison with the base branch."
                )
            );
            return None;
        }
    };
    match base_run(
        client,
        &project,
        &branch,
        &run.run_id,
        config.fetch_concurrency,
    )
    .await
    {
        Ok(base) => Some((branch, base)),
        Err(e) => {
            println!(
                "{}",
                runtime::warning(&format!(
                    "Cannot read the latest run of {branch} to compare with ({e}); the report goes on without the comparison."
                ))
            );
            None
        }
    }
}

/// Publishes the report where `--check-mode` says: its own named check run, the job's check
/// run, or both (the report in the job's, the conclusion in the named one, linking to it).
/// Returns the check the outputs name: the named one, or the job's in `job` mode.
#[allow(
    clippy::too_many_arguments,
    reason = "the pieces of one publish, named"
)]
async fn publish_checks(
    config: &ReportConfig,
    github: &GithubClient,
    repository: &Repository,
    head_sha: &str,
    report: &Report,
    output: &report::CheckOutput,
    annotations: &[Annotation],
    progress: &SharedProgress,
) -> Result<crate::github::CheckRun, GithubError> {
    let full = CheckRunOutput {
        title: &output.title,
        summary: &output.summary,
        text: output.text.as_deref(),
        annotations,
    };
    fn named<'a>(
        config: &'a ReportConfig,
        head_sha: &'a str,
        report: &'a Report,
        output: CheckRunOutput<'a>,
    ) -> NewCheckRun<'a> {
        NewCheckRun {
            name: &config.check_name,
            head_sha,
            status: CheckStatus::Completed,
            conclusion: Some(report.conclusion.into()),
            external_id: Some(report.run_id.as_str()),
            details_url: Some(&report.run_url),
            output,
        }
    }
    let job_check = match (config.check_mode, config.job_check_run_id) {
        (CheckMode::Named, _) => None,
        (mode, Some(id)) => Some((mode, id)),
        (_, None) => {
            println!(
                "{}",
                runtime::notice(&format!(
                    "No job check run id (job.check_run_id exists on github.com and GHEC, not on GHES or outside Actions): posting the report as its own check run, {:?}.",
                    config.check_name
                ))
            );
            None
        }
    };
    let Some((mode, job_id)) = job_check else {
        let created = publish_tracked(
            github,
            repository,
            named(config, head_sha, report, full),
            progress,
        )
        .await?;
        println!(
            "Published check run {} ({}).",
            created.id,
            created.html_url.as_deref().unwrap_or("no URL")
        );
        return Ok(created);
    };
    let job = github.write_check_output(repository, job_id, full).await?;
    let job_url = job.html_url.clone().unwrap_or_default();
    println!(
        "Wrote the report into the job's check run {job_id} ({}). Its status is the job's: the step's exit code decides it{}.",
        if job_url.is_empty() {
            "no URL"
        } else {
            &job_url
        },
        if config.fail_on_test_failures != FailOn::Never {
            ""
        } else {
            " (set fail-on-test-failures to fail the job when tests fail)"
        }
    );
    if mode == CheckMode::Job {
        return Ok(job);
    }
    let pointer = report::pointer_summary(report, &job_url);
    let created = publish_tracked(
        github,
        repository,
        named(
            config,
            head_sha,
            report,
            CheckRunOutput {
                title: &output.title,
                summary: &pointer,
                text: None,
                annotations: &[],
            },
        ),
        progress,
    )
    .await?;
    println!(
        "Published check run {} ({}) with the conclusion.",
        created.id,
        created.html_url.as_deref().unwrap_or("no URL")
    );
    Ok(created)
}

async fn publish_tracked(
    github: &GithubClient,
    repository: &Repository,
    check: NewCheckRun<'_>,
    progress: &SharedProgress,
) -> Result<crate::github::CheckRun, GithubError> {
    let created = github.publish_check_run(repository, check).await?;
    update(progress, |p| {
        p.check = Some((github.clone(), repository.clone(), created.id))
    });
    Ok(created)
}

fn head_sha(sources: &crate::cli::ShaSources) -> Result<String, InputError> {
    let event = sources
        .event_path
        .as_deref()
        .and_then(|path| match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes).ok(),
            Err(e) => {
                println!(
                    "{}",
                    runtime::warning(&format!(
                        "Cannot read GITHUB_EVENT_PATH ({}): {e}",
                        path.display()
                    ))
                );
                None
            }
        });
    event::head_sha(sources.explicit.as_deref(), sources.event_name.as_deref(), event.as_ref(), sources.github_sha.as_deref())
        .ok_or_else(|| InputError("cannot tell which commit the check belongs to: GITHUB_SHA is not set; pass --sha (CURRENTS_CHECK_SHA)".into()))
}

/// The pull request to comment on: `--pr-number`, the event's, else the open pull request
/// whose head is the commit.
async fn pull_request_number(
    config: &ReportConfig,
    github: &GithubClient,
    repository: &Repository,
    head_sha: &str,
) -> Option<u64> {
    if let Some(number) = config.pr_number {
        return Some(number);
    }
    let event = config
        .event_path
        .as_deref()
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    if let Some(number) = event::pull_request_number(config.event_name.as_deref(), event.as_ref()) {
        return Some(number);
    }
    match github.pulls_of_commit(repository, head_sha).await {
        Ok(numbers) => numbers.first().copied(),
        Err(e) => {
            println!(
                "{}",
                runtime::warning(&format!(
                    "Cannot find the pull request of commit {head_sha} ({e}); no comment."
                ))
            );
            None
        }
    }
}

/// Posts or updates the sticky comment (`--comment`); a refusal is a warning, never the
/// step's failure.
async fn post_comment(
    config: &ReportConfig,
    github: &GithubClient,
    repository: &Repository,
    head_sha: &str,
    report: &Report,
    check_url: Option<&str>,
) -> Option<crate::github::IssueComment> {
    if config.comment == CommentMode::Off {
        return None;
    }
    let number = pull_request_number(config, github, repository, head_sha).await?;
    let project = report.project_id.as_ref().map_or("", ProjectId::as_str);
    let marker = crate::github::marker(&config.check_name, project);
    let body = report::pr_comment(report, &marker, check_url);
    let sticky = crate::github::Sticky {
        marker: &marker,
        body: &body,
        mode: config.comment,
        failed: report.failed(),
    };
    match crate::github::sticky_comment(
        github,
        repository,
        number,
        &sticky,
        github.comment_author(),
    )
    .await
    {
        Ok(Some(comment)) => {
            println!(
                "Updated the pull request comment {} ({}).",
                comment.id,
                comment.html_url.as_deref().unwrap_or("no URL")
            );
            Some(comment)
        }
        Ok(None) => None,
        Err(e) if matches!(e.status(), Some(403 | 404)) => {
            println!(
                "{}",
                runtime::warning(&format!(
                    "GitHub refused the pull request comment (HTTP {}): add `permissions: pull-requests: write` to the job, or set comment: off.",
                    e.status().unwrap_or_default()
                ))
            );
            None
        }
        Err(e) => {
            println!(
                "{}",
                runtime::warning(&format!("Cannot post the pull request comment: {e}"))
            );
            None
        }
    }
}

fn write_runtime(
    runtime: &Runtime,
    report: &Report,
    check: Option<&crate::github::CheckRun>,
    comment: Option<&crate::github::IssueComment>,
) -> anyhow::Result<()> {
    let check_url = check.and_then(|c| c.html_url.clone());
    runtime
        .append_summary(&report::job_summary(
            report,
            check_url.as_deref(),
            runtime.summary_room(),
        ))
        .context("cannot write GITHUB_STEP_SUMMARY")?;
    let t = &report.totals;
    runtime
        .set_outputs(&[
            ("run-id", report.run_id.to_string()),
            ("run-url", report.run_url.clone()),
            ("status", report.status.as_str().to_owned()),
            ("completion-state", report.completion.as_str().to_owned()),
            ("tests", t.tests.to_string()),
            ("passed", t.passed.to_string()),
            ("failed", t.failed.to_string()),
            ("flaky", t.flaky.to_string()),
            ("skipped", t.skipped.to_string()),
            ("pending", t.pending.to_string()),
            (
                "check-run-id",
                check.map(|c| c.id.to_string()).unwrap_or_default(),
            ),
            ("check-run-url", check_url.unwrap_or_default()),
            (
                "comment-id",
                comment.map(|c| c.id.to_string()).unwrap_or_default(),
            ),
            (
                "comment-url",
                comment.and_then(|c| c.html_url.clone()).unwrap_or_default(),
            ),
            (
                "new-failures",
                report
                    .new_failures()
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
            ),
        ])
        .context("cannot write GITHUB_OUTPUT")
}

/// Without the Checks API: the first failures as `::error` workflow commands, which the
/// runner turns into annotations.
fn fallback_annotations(annotations: &[Annotation]) {
    let failures: Vec<&Annotation> = annotations
        .iter()
        .filter(|a| a.annotation_level == report::AnnotationLevel::Failure)
        .collect();
    for a in failures.iter().take(FALLBACK_ANNOTATIONS) {
        println!(
            "{}",
            runtime::file_error(&a.path, a.start_line, &a.title, &a.message)
        );
    }
    if failures.len() > FALLBACK_ANNOTATIONS {
        println!(
            "{}",
            runtime::notice(&format!(
                "{} more failures are not annotated; see the job summary.",
                failures.len() - FALLBACK_ANNOTATIONS
            ))
        );
    }
}

fn print_dry_run(
    config: &ReportConfig,
    report: &Report,
    output: &report::CheckOutput,
    annotations: &[Annotation],
) {
    // Titles, errors and names come from Currents: nothing of them may run as a command.
    let mut out = String::new();
    out.push_str("Dry run: the check run that would be posted.\n");
    out.push_str(&format!("Name: {}\n", config.check_name));
    out.push_str(&format!("Conclusion: {}\n", report.conclusion.as_str()));
    out.push_str(&format!("Title: {}\n", output.title));
    out.push_str(&format!("Annotations: {}\n", annotations.len()));
    out.push_str(&format!(
        "----- summary ({} bytes) -----\n",
        output.summary.len()
    ));
    out.push_str(&output.summary);
    if let Some(text) = &output.text {
        out.push_str(&format!("\n----- text ({} bytes) -----\n", text.len()));
        out.push_str(text);
    }
    println!("{}", runtime::verbatim(&out));
}

/// A `--from-dir` file that is there but wrong is exit 2, naming it; an API failure keeps its
/// own kind.
fn input_error(error: SourceError) -> anyhow::Error {
    match error {
        SourceError::Api(e) => e.into(),
        other => InputError(other.to_string()).into(),
    }
}

/// Waits for the run, logging each look in a log group and remembering the run id for the
/// abort path. Currents' strings reach the log as one line each, so none can start a workflow
/// command.
async fn wait_logged(
    client: &CurrentsClient,
    target: &RunTarget,
    timing: WaitTiming,
    progress: &SharedProgress,
) -> anyhow::Result<crate::currents::models::Run> {
    let what = target.describe();
    let line = |text: String| http::one_line(&text, 1_000);
    let elapsed = |d: Duration| humantime::format_duration(Duration::from_secs(d.as_secs()));
    println!("{}", runtime::group(&line(format!("Waiting for {what}"))));
    let result = wait_for_completion(client, target, timing, |event| match event {
        WaitEvent::NotRecordedYet { elapsed: e } => {
            println!(
                "[{}] {}",
                elapsed(e),
                line(format!("No run recorded yet for {what}."))
            );
        }
        WaitEvent::InProgress { run, elapsed: e } => {
            update(progress, |p| p.run_id = Some(run.run_id.clone()));
            println!("[{}] {}", elapsed(e), line(run.progress_line()));
        }
        WaitEvent::Completed { run, elapsed: e } => println!(
            "{}",
            line(format!(
                "Run {} is {} ({}) after {}.",
                run.run_id,
                run.completion_state,
                run.status,
                elapsed(e)
            ))
        ),
    })
    .await;
    println!("{}", runtime::END_GROUP);
    result.map_err(|e| match e {
        WaitError::Source(source) => input_error(source),
        unavailable => unavailable.into(),
    })
}

fn warn_unavailable(details: &FailedInstances) {
    if !details.unavailable.is_empty() {
        println!(
            "{}",
            runtime::warning(&format!(
                "{} spec detail(s) could not be fetched; they are listed without test detail.",
                details.unavailable.len()
            ))
        );
    }
}
