//! What the report needs, from the API (waiting for the run, its failing instances and the
//! base branch's run, the last two at once) or from a `--from-dir` directory.

use std::time::{Duration, SystemTime};

use super::{SharedProgress, Source, update};
use crate::cli::{CompareWith, ReportConfig};
use crate::currents::{
    CurrentsClient, FailedInstances, ProjectId, Run, RunTarget, SourceError, WaitError, WaitEvent,
    WaitTiming, base_run, fetch_failed_instances, wait_for_completion,
};
use crate::exit::InputError;
use crate::github::event::Event;
use crate::github::runtime;
use crate::http;
use crate::log_safe::Chain;
use crate::report::{Base, Fetched};

/// The run, its failing instances and, when asked for, the base branch's.
pub(super) async fn fetch(
    config: &ReportConfig,
    source: &Source<'_>,
    event: &Event,
    progress: &SharedProgress,
) -> anyhow::Result<Fetched> {
    let concurrency = config.fetch_concurrency;
    match source {
        Source::Dir(dir) => {
            let run = dir.run().map_err(input_error)?;
            let details = fetch_failed_instances(dir, &run, concurrency)
                .await
                .map_err(input_error)?;
            Ok(Fetched {
                run,
                details,
                base: None,
                fetched_at: SystemTime::now(),
            })
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
                fetch_failed_instances(client, &run, concurrency),
                compare_with(config, client, target, &run, event),
            );
            let details = details.map_err(input_error)?;
            warn_unavailable(&details);
            Ok(Fetched {
                run,
                details,
                base,
                fetched_at: SystemTime::now(),
            })
        }
    }
}

/// The branch to compare with and its latest completed run, when a comparison is asked for
/// (`--compare-branch`, or a pull request's base by default). A failed lookup is a warning:
/// the report goes on without the comparison.
async fn compare_with(
    config: &ReportConfig,
    client: &CurrentsClient,
    target: &RunTarget,
    run: &Run,
    event: &Event,
) -> Option<Base> {
    let branch = match &config.compare {
        CompareWith::Off => return None,
        CompareWith::Branch(branch) => branch.clone(),
        CompareWith::PullRequestBase => event.pull_request_base()?,
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
        Ok(found) => Some(Base { branch, found }),
        Err(e) => {
            println!(
                "{}",
                runtime::warning(&format!(
                    "Cannot read the latest run of {branch} to compare with ({}); the report goes on without the comparison.",
                    Chain(&e)
                ))
            );
            None
        }
    }
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
