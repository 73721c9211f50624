//! `currents-bridge report`: find the run, wait for it, fetch what the report needs, turn it
//! into a [`Publication`] (the one pipeline App mode uses too) and publish it; cancel the run if
//! the workflow is cancelled meanwhile. Glue only: every decision is in `currents/`,
//! `report/` or `github/`.

mod fetch;
mod publish;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;

use super::cancel::{describe, report_outcome};
use super::signal::Interrupt;
use crate::cli::{Publish, ReportConfig, ReportInput};
use crate::currents::{CancelTarget, CurrentsClient, DirSource, RunId, RunTarget, WaitTiming};
use crate::exit::Exit;
use crate::github::event::Event;
use crate::github::runtime;
use crate::github::{CheckConclusion, CheckRunId, GithubClient, Repository};
use crate::http::Http;
use crate::log_safe::Chain;
use crate::report::{MediaRef, Publication, Shape};
use crate::retry::RetryPolicy;

/// All abort work (cancel the run, complete the check) must end before the runner's SIGTERM,
/// which follows SIGINT after 7.5 s; 6 s leaves room to exit.
const ABORT_BUDGET: Duration = Duration::from_secs(6);

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

/// Fetch, build, publish, and say whether the step fails.
async fn run(
    config: &ReportConfig,
    source: &Source<'_>,
    http: &Http,
    progress: &SharedProgress,
) -> anyhow::Result<Exit> {
    // The event file is read once, and asked from then on.
    let (event, unreadable) =
        Event::load(config.event_name.as_deref(), config.event_path.as_deref());
    if let Some(warning) = unreadable {
        println!("{}", runtime::warning(&warning));
    }
    let fetched = fetch::fetch(config, source, &event, progress).await?;
    let relay = config
        .media_relay
        .as_ref()
        .map(|(relay, signer)| move |media: &MediaRef| signer.url(relay, media));
    let shape = Shape {
        flaky_threshold: config.triage.flaky_threshold,
        previous_check: None,
        path_prefix: &config.path_prefix,
        media: relay
            .as_ref()
            .map(|f| f as &(dyn Fn(&MediaRef) -> String + Sync)),
    };
    let publication = Publication::new(&fetched, &shape);
    if let Some(notice) = publication.no_base_notice() {
        println!("{}", runtime::notice(&notice));
    }
    match &config.publish {
        Publish::DryRun => publish::print_dry_run(config, &publication),
        Publish::Github {
            client,
            repository,
            sha,
        } => {
            let target = publish::Target {
                config,
                client: client.as_ref().map(|c| GithubClient::new(c.clone(), http)),
                repository,
                event: &event,
                sha,
            };
            publish::publish(&target, &publication, progress).await?;
        }
    }
    Ok(if publication.fails_step(config.fail_on_test_failures) {
        Exit::TestsFailed
    } else {
        Exit::Success
    })
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
                        runtime::warning(&format!("Could not cancel {what}: {}", Chain(&e)))
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
                    runtime::warning(&format!(
                        "Could not mark the check run cancelled: {}",
                        Chain(&e)
                    ))
                ),
            }
        }
    };
    tokio::join!(cancel, complete);
}
