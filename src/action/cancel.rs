//! `currents-bridge cancel`: cancel this workflow run's Currents run.

use crate::cli::CancelConfig;
use crate::currents::{CancelOutcome, CancelTarget, CurrentsClient};
use crate::github::runtime;
use crate::http::Http;

use anyhow::Context;

use crate::exit::Exit;

/// Cancels the run and writes the `cancelled` and `outcome` outputs. Already cancelled and
/// nothing recorded are successes: every parallel job may run this step.
pub async fn cancel(config: CancelConfig) -> anyhow::Result<Exit> {
    let what = describe(&config.target);
    if config.dry_run {
        println!("Dry run: would cancel {what}.");
        return Ok(Exit::Success);
    }
    let http = Http::new()?;
    let client = CurrentsClient::new(config.currents, &http);
    let outcome = client.cancel(&config.target).await?;
    report_outcome(&outcome, &what);
    config
        .runtime
        .set_outputs(&[
            (
                "cancelled",
                matches!(outcome, CancelOutcome::Cancelled { .. }).to_string(),
            ),
            ("outcome", outcome.as_str().to_owned()),
        ])
        .context("cannot write GITHUB_OUTPUT")?;
    Ok(Exit::Success)
}

/// Logs how a cancel ended, as a workflow command where a reader should notice.
pub(crate) fn report_outcome(outcome: &CancelOutcome, what: &str) {
    match outcome {
        CancelOutcome::Cancelled {
            run_id: Some(run_id),
        } => println!(
            "Cancelled Currents run {} ({what}).",
            crate::http::one_line(run_id.as_str(), 100)
        ),
        CancelOutcome::Cancelled { run_id: None } => println!("Cancelled {what}."),
        CancelOutcome::AlreadyCancelled => println!("{what} was already cancelled."),
        CancelOutcome::NotFound => println!("{}", runtime::warning(&not_found(what))),
    }
}

/// What a 404 means: `the Currents run of GitHub run 1 attempt 2` has no run recorded (yet);
/// `Currents run abc` does not exist.
fn not_found(what: &str) -> String {
    match what.strip_prefix("the Currents run of ") {
        Some(github_run) => {
            format!("Currents has no run recorded for {github_run} (yet): nothing to cancel.")
        }
        None => format!("{what} does not exist: nothing to cancel."),
    }
}

/// `the Currents run of GitHub run 123 attempt 1` or `Currents run abc`.
pub(crate) fn describe(target: &CancelTarget) -> String {
    match target {
        CancelTarget::Run(id) => format!("Currents run {id}"),
        CancelTarget::GithubRun(cancel) => format!(
            "the Currents run of GitHub run {} attempt {}",
            cancel.run_id, cancel.attempt
        ),
    }
}
