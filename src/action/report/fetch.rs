//! What the report needs, from the API (waiting for the run, then at once its failing
//! instances with their history, the base branch's run, the Actions and the previous attempt:
//! [`gather`]) or from a `--from-dir` directory.

use std::time::{Duration, SystemTime};

use super::{SharedProgress, Source, update};
use crate::cli::{CompareWith, ReportConfig};
use crate::currents::{
    CurrentsClient, FailedInstances, MAX_HISTORY_LOOKUPS, ProjectId, Run, RunTarget, SourceError,
    WaitError, WaitEvent, WaitTiming, Wanted, fetch_failed_instances, gather, wait_for_completion,
};
use crate::exit::InputError;
use crate::github::event::Event;
use crate::github::runtime;
use crate::http;
use crate::report::Fetched;

/// The run and what the report reads beside it.
pub(super) async fn fetch(
    config: &ReportConfig,
    source: &Source<'_>,
    event: &Event,
    progress: &SharedProgress,
) -> anyhow::Result<Fetched> {
    match source {
        Source::Dir(dir) => {
            let run = dir.run().map_err(input_error)?;
            let details = fetch_failed_instances(dir, &run, config.fetch_concurrency)
                .await
                .map_err(input_error)?;
            Ok(Fetched::alone(run, details, SystemTime::now()))
        }
        Source::Api {
            client,
            target,
            timing,
            ..
        } => {
            let run = wait_logged(client, target, *timing, progress).await?;
            let (wanted, base_branch) = wanted(config, target, &run, event);
            let base_branch = std::future::ready(base_branch);
            let gathered = gather(client, &run, &wanted, base_branch, SystemTime::now())
                .await
                .map_err(input_error)?;
            warn_unavailable(&gathered.details);
            for missing in &gathered.missing {
                println!("{}", runtime::warning(missing));
            }
            Ok(Fetched {
                run,
                gathered,
                fetched_at: SystemTime::now(),
            })
        }
    }
}

/// What to read beside the run, in the run's project: triage as configured, and on a re-run
/// the previous attempt; and the branch to compare with (`--compare-branch`, or a pull
/// request's base by default).
fn wanted(
    config: &ReportConfig,
    target: &RunTarget,
    run: &Run,
    event: &Event,
) -> (Wanted, Option<String>) {
    let base_branch = match &config.compare {
        CompareWith::Off => None,
        CompareWith::Branch(branch) => Some(branch.clone()),
        CompareWith::PullRequestBase => event.pull_request_base(),
    };
    let project: Option<ProjectId> = match (&run.project_id, target) {
        (Some(project), _) => Some(project.clone()),
        (None, RunTarget::CiBuild { project_id, .. }) => Some(project_id.clone()),
        (None, RunTarget::Id(_)) => {
            println!(
                "{}",
                runtime::notice(
                    "Currents did not say which project the run is in: no comparison with the base branch, no triage."
                )
            );
            None
        }
    };
    let wanted = Wanted {
        concurrency: config.fetch_concurrency,
        project,
        triage_days: config.triage.history_days,
        max_lookups: MAX_HISTORY_LOOKUPS,
        previous: config.previous_ci_build_id.clone(),
    };
    (wanted, base_branch)
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
) -> anyhow::Result<Run> {
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
