//! `currents-bridge report`: find the run, wait for it, fetch the failing specs' details,
//! build the report and publish it; cancel the run if the workflow is cancelled meanwhile.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;

use super::cancel::{describe, report_outcome};
use super::signal::Interrupt;
use crate::cli::{Publish, ReportConfig, RunSource, RunTarget};
use crate::currents::models::{CompletionState, Run, RunStatus, from_envelope_or_bare};
use crate::currents::{
    CancelTarget, CurrentsClient, CurrentsConfig, CurrentsError, Instance, InstanceId, RunId,
};
use crate::exit::{CommandError, Exit};
use crate::github::runtime::{self, Runtime};
use crate::github::{CheckRunOutput, GithubClient, GithubError, NewCheckRun, Repository, event};
use crate::report::{self, Annotation, Report};

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
    check: Option<(GithubClient, Repository, u64)>,
}

type SharedProgress = Arc<Mutex<Progress>>;

fn update(progress: &SharedProgress, f: impl FnOnce(&mut Progress)) {
    f(&mut progress.lock().unwrap_or_else(PoisonError::into_inner));
}

/// Runs `report`. On SIGINT or SIGTERM while it works, cancels the Currents run (unless
/// `--cancel-on-abort=false`), completes a created check run as cancelled and returns
/// [`Exit::Interrupted`].
pub async fn report(config: ReportConfig) -> Result<Exit, CommandError> {
    let interrupt = Interrupt::install()
        .map_err(|e| CommandError::Input(format!("cannot install signal handlers: {e}")))?;
    let progress = SharedProgress::default();
    tokio::select! {
        result = run(&config, &progress) => result,
        () = interrupt.received() => {
            if tokio::time::timeout(ABORT_BUDGET, abort(&config, &progress)).await.is_err() {
                println!("{}", runtime::warning("Stopping before the abort finished: the runner kills the step soon after."));
            }
            Ok(Exit::Interrupted)
        }
    }
}

async fn abort(config: &ReportConfig, progress: &SharedProgress) {
    let (run_id, check) = {
        let mut p = progress.lock().unwrap_or_else(PoisonError::into_inner);
        (p.run_id.clone(), p.check.take())
    };
    let cancel = async {
        let RunSource::Api { currents, .. } = &config.source else {
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
            Some(target) => cancel_within_budget(currents, &target).await,
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
            match client.complete_check_run(&repo, id, "cancelled").await {
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

async fn cancel_within_budget(currents: &CurrentsConfig, target: &CancelTarget) {
    let config = CurrentsConfig {
        retry: currents.retry.within(ABORT_BUDGET / 2),
        ..currents.clone()
    };
    let what = describe(target);
    match CurrentsClient::new(config) {
        Ok(client) => match client.cancel(target).await {
            Ok(outcome) => report_outcome(&outcome, &what),
            Err(e) => println!(
                "{}",
                runtime::warning(&format!("Could not cancel {what}: {e}"))
            ),
        },
        Err(e) => println!(
            "{}",
            runtime::warning(&format!("Could not cancel {what}: {e}"))
        ),
    }
}

async fn run(config: &ReportConfig, progress: &SharedProgress) -> Result<Exit, CommandError> {
    let (run, details) = match &config.source {
        RunSource::Dir(dir) => load_dir(dir)?,
        RunSource::Api {
            currents,
            target,
            wait_timeout,
            poll_interval,
        } => {
            let client = CurrentsClient::new(currents.clone())
                .map_err(|e| CommandError::Input(format!("cannot set up HTTP: {e}")))?;
            let run =
                wait_for_run(&client, target, *wait_timeout, *poll_interval, progress).await?;
            let details = fetch_details(&client, &run, config.fetch_concurrency).await;
            (run, details)
        }
    };
    let report = report::build(
        &run,
        &details.instances,
        &details.unavailable,
        SystemTime::now(),
    );
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
                    let github = GithubClient::new(github.clone())
                        .map_err(|e| CommandError::Input(format!("cannot set up HTTP: {e}")))?;
                    let check = NewCheckRun {
                        name: &config.check_name,
                        head_sha: &head_sha,
                        status: "completed",
                        conclusion: report.conclusion.as_str(),
                        external_id: Some(&report.run_id),
                        details_url: Some(&report.run_url),
                        output: CheckRunOutput {
                            title: &output.title,
                            summary: &output.summary,
                            text: output.text.as_deref(),
                            annotations: &annotations,
                        },
                    };
                    let result = publish_tracked(&github, repository, check, progress).await;
                    match result {
                        Ok(check) => {
                            println!(
                                "Published check run {} ({}).",
                                check.id,
                                check.html_url.as_deref().unwrap_or("no URL")
                            );
                            Ok(Some(check))
                        }
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
            write_runtime(&config.runtime, &report, check.as_ref())?;
            published?;
        }
    }

    let failed = report.totals.failed > 0 || report.conclusion == report::Conclusion::Failure;
    Ok(if config.fail_on_test_failures && failed {
        Exit::TestsFailed
    } else {
        Exit::Success
    })
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

fn head_sha(sources: &crate::cli::ShaSources) -> Result<String, CommandError> {
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
        .ok_or_else(|| CommandError::Input("cannot tell which commit the check belongs to: GITHUB_SHA is not set; pass --sha (CURRENTS_CHECK_SHA)".into()))
}

fn write_runtime(
    runtime: &Runtime,
    report: &Report,
    check: Option<&crate::github::CheckRun>,
) -> Result<(), CommandError> {
    let check_url = check.and_then(|c| c.html_url.clone());
    runtime
        .append_summary(&report::job_summary(report, check_url.as_deref()))
        .map_err(|e| CommandError::Input(format!("cannot write GITHUB_STEP_SUMMARY: {e}")))?;
    let t = &report.totals;
    runtime
        .set_outputs(&[
            ("run-id", report.run_id.clone()),
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
        ])
        .map_err(|e| CommandError::Input(format!("cannot write GITHUB_OUTPUT: {e}")))
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
    println!("Dry run: the check run that would be posted.");
    println!("Name: {}", config.check_name);
    println!("Conclusion: {}", report.conclusion.as_str());
    println!("Title: {}", output.title);
    println!("Annotations: {}", annotations.len());
    println!("----- summary ({} bytes) -----", output.summary.len());
    println!("{}", output.summary);
    if let Some(text) = &output.text {
        println!("----- text ({} bytes) -----", text.len());
        println!("{text}");
    }
}

/// Whether Currents still receives results for the run.
fn in_progress(run: &Run) -> bool {
    match run.completion_state {
        CompletionState::InProgress => true,
        CompletionState::Other(_) => matches!(
            run.status,
            RunStatus::Running | RunStatus::Failing | RunStatus::Other(_)
        ),
        _ => false,
    }
}

/// `specs complete 2/3`, from the groups' counters, else from the specs.
fn spec_progress(run: &Run) -> (u64, u64) {
    let counted: Vec<_> = run
        .groups
        .iter()
        .filter_map(|g| g.instances.as_ref())
        .collect();
    if counted.is_empty() {
        let done = run
            .specs
            .iter()
            .filter(|s| s.completed_at.is_some())
            .count() as u64;
        (done, run.specs.len() as u64)
    } else {
        (
            counted.iter().map(|i| i.complete).sum(),
            counted.iter().map(|i| i.overall).sum(),
        )
    }
}

/// Polls until the run exists and is no longer in progress, logging each poll in a group.
async fn wait_for_run(
    client: &CurrentsClient,
    target: &RunTarget,
    wait_timeout: Duration,
    poll_interval: Duration,
    progress: &SharedProgress,
) -> Result<Run, CommandError> {
    let started = Instant::now();
    let what = match target {
        RunTarget::Id(id) => format!("Currents run {id}"),
        RunTarget::CiBuild {
            project_id,
            ci_build_id,
        } => format!("the Currents run with ciBuildId {ci_build_id} in project {project_id}"),
    };
    println!("{}", runtime::group(&format!("Waiting for {what}")));
    let result = poll(
        client,
        target,
        &what,
        started,
        wait_timeout,
        poll_interval,
        progress,
    )
    .await;
    println!("{}", runtime::END_GROUP);
    result
}

async fn poll(
    client: &CurrentsClient,
    target: &RunTarget,
    what: &str,
    started: Instant,
    wait_timeout: Duration,
    poll_interval: Duration,
    progress: &SharedProgress,
) -> Result<Run, CommandError> {
    let mut last_seen: Option<String> = None;
    loop {
        let found = match target {
            RunTarget::Id(id) => match client.get_run(id).await {
                Ok(run) => Some(run),
                Err(CurrentsError::NotFound { .. }) => {
                    return Err(CommandError::RunUnavailable(format!(
                        "Currents has no run {id}: check run-id (CURRENTS_RUN_ID)"
                    )));
                }
                Err(e) => return Err(e.into()),
            },
            RunTarget::CiBuild {
                project_id,
                ci_build_id,
            } => client.find_run(project_id, ci_build_id).await?,
        };
        let elapsed = humantime::format_duration(Duration::from_secs(started.elapsed().as_secs()));
        match found {
            Some(run) if !in_progress(&run) => {
                println!(
                    "Run {} is {} ({}) after {elapsed}.",
                    run.run_id, run.completion_state, run.status
                );
                return Ok(run);
            }
            Some(run) => {
                update(progress, |p| p.run_id = Some(run.run_id.clone()));
                let (done, all) = spec_progress(&run);
                let line = format!(
                    "Run {} is {} ({}): specs complete {done}/{all}",
                    run.run_id, run.completion_state, run.status
                );
                println!("[{elapsed}] {line}");
                last_seen = Some(line);
            }
            None => println!("[{elapsed}] No run recorded yet for {what}."),
        }
        if started.elapsed() + poll_interval > wait_timeout {
            let wait = humantime::format_duration(wait_timeout);
            return Err(CommandError::RunUnavailable(match last_seen {
                Some(line) => format!(
                    "{line}, and it did not complete within {wait}: raise wait-timeout (CURRENTS_WAIT_TIMEOUT), or run report in a job that needs all test jobs"
                ),
                None => format!(
                    "no run appeared for {what} within {wait}: check that the tests record to Currents with this ciBuildId (set ci-build-id), or raise wait-timeout"
                ),
            }));
        }
        tokio::time::sleep(poll_interval).await;
    }
}

/// The instances behind the failures, and why any could not be had.
#[derive(Default)]
struct Details {
    instances: HashMap<InstanceId, Instance>,
    unavailable: HashMap<InstanceId, String>,
}

/// Fetches the instance of every spec with failures or flaky tests, `concurrency` at a time.
/// A failed fetch degrades the report (the spec is listed without test detail) instead of
/// failing it.
async fn fetch_details(client: &CurrentsClient, run: &Run, concurrency: usize) -> Details {
    let mut ids: Vec<&InstanceId> = run
        .specs
        .iter()
        .filter(|s| s.needs_details())
        .map(|s| &s.instance_id)
        .collect();
    ids.sort();
    ids.dedup();
    let results: Vec<_> = futures_util::stream::iter(ids)
        .map(|id| async move { (id.clone(), client.get_instance(id).await) })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut details = Details::default();
    for (id, result) in results {
        match result {
            Ok(instance) => {
                details.instances.insert(id, instance);
            }
            Err(e) => {
                details
                    .unavailable
                    .insert(id, format!("its details could not be fetched ({e})"));
            }
        }
    }
    if !details.unavailable.is_empty() {
        println!(
            "{}",
            runtime::warning(&format!(
                "{} spec detail(s) could not be fetched; they are listed without test detail.",
                details.unavailable.len()
            ))
        );
    }
    details
}

/// `--from-dir`: `DIR/run.json` and `DIR/instances/<instanceId>.json`, enveloped or bare.
fn load_dir(dir: &Path) -> Result<(Run, Details), CommandError> {
    let read = |path: &Path| {
        std::fs::read(path)
            .map_err(|e| CommandError::Input(format!("cannot read {}: {e}", path.display())))
    };
    let run_path = dir.join("run.json");
    let run: Run = from_envelope_or_bare(&read(&run_path)?).map_err(|e| {
        CommandError::Input(format!("{} is not a Currents run: {e}", run_path.display()))
    })?;
    let mut details = Details::default();
    for spec in run.specs.iter().filter(|s| s.needs_details()) {
        let path = dir
            .join("instances")
            .join(format!("{}.json", spec.instance_id));
        if !path.exists() {
            details.unavailable.insert(
                spec.instance_id.clone(),
                format!("{} is missing", path.display()),
            );
            continue;
        }
        let instance: Instance = from_envelope_or_bare(&read(&path)?).map_err(|e| {
            CommandError::Input(format!(
                "{} is not a Currents instance: {e}",
                path.display()
            ))
        })?;
        details.instances.insert(spec.instance_id.clone(), instance);
    }
    Ok((run, details))
}
