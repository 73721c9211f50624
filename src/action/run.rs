//! `currents-bridge run get|cancel|delete RUN_ID`.

use std::time::SystemTime;

use crate::cli::{RunCommand, RunConfig};
use crate::currents::{CurrentsClient, DeleteOutcome, fetch_failed_instances};
use crate::exit::Exit;
use crate::github::runtime;
use crate::http::Http;
use crate::report::{Fetched, Publication, Shape};

/// Runs one `run` subcommand.
pub async fn run(config: RunConfig) -> anyhow::Result<Exit> {
    let http = Http::new()?;
    let client = CurrentsClient::new(config.currents.clone(), &http);
    // Inside Actions, nothing Currents sent may run as a workflow command.
    let show = |text: &str| println!("{}", config.runtime.show(text));
    match config.command {
        RunCommand::Get {
            run_id,
            json,
            fetch_concurrency,
        } => {
            let (run, body) = client.get_run_as_sent(&run_id).await?;
            if json {
                show(String::from_utf8_lossy(&body).trim_end());
                return Ok(Exit::Success);
            }
            let details = fetch_failed_instances(&client, &run, fetch_concurrency).await?;
            let fetched = Fetched::alone(run, details, SystemTime::now());
            let publication = Publication::new(&fetched, &Shape::default());
            show(
                publication
                    .job_summary(None, runtime::MAX_JOB_SUMMARY_BYTES)
                    .trim_end(),
            );
            Ok(Exit::Success)
        }
        RunCommand::Cancel(cancel) => super::cancel(*cancel).await,
        RunCommand::Delete { run_id } => {
            match client.delete_run(&run_id).await? {
                DeleteOutcome::Deleted => println!("Deleted Currents run {run_id}."),
                DeleteOutcome::AlreadyGone => {
                    println!("Currents run {run_id} is already gone: nothing to delete.");
                }
            }
            Ok(Exit::Success)
        }
    }
}
