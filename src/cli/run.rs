//! `run get|cancel|delete RUN_ID`: the seed page's Runs API from the command line.

use clap::{Args, Subcommand};

use super::values::{ConfigError, bad, set};
use super::{CurrentsArgs, GithubRunArgs};
use crate::currents::{CancelTarget, CurrentsConfig, RunId};
use crate::github::runtime::Runtime;

#[derive(Args)]
pub struct RunArgs {
    #[command(subcommand)]
    pub action: RunAction,
    #[command(flatten)]
    pub currents: CurrentsArgs,
    #[command(flatten)]
    pub run: GithubRunArgs,
}

#[derive(Subcommand)]
pub enum RunAction {
    /// Print a run: as Markdown (the report), or with --json as the JSON Currents sent
    Get {
        /// The Currents run id
        run_id: String,
        /// Print the API's JSON answer as it came
        #[arg(long)]
        json: bool,
    },
    /// Cancel a run (as `cancel --run-id` does)
    Cancel {
        /// The Currents run id
        run_id: String,
    },
    /// Delete a run and its results; needs --yes
    Delete {
        /// The Currents run id
        run_id: String,
        /// Confirm the deletion, which cannot be undone
        #[arg(long)]
        yes: bool,
    },
}

/// What `run` does, validated.
#[derive(Debug, Clone)]
pub enum RunCommand {
    Get {
        run_id: RunId,
        json: bool,
        fetch_concurrency: usize,
    },
    Cancel(Box<super::CancelConfig>),
    Delete {
        run_id: RunId,
    },
}

/// The validated configuration of `run`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub currents: CurrentsConfig,
    pub command: RunCommand,
    /// Inside GitHub Actions, printed Currents text is fenced from the runner.
    pub runtime: Runtime,
}

fn run_id(raw: &str) -> Result<RunId, ConfigError> {
    set(Some(raw.to_owned()))
        .map(RunId::new)
        .ok_or_else(|| bad("RUN_ID is empty"))
}

impl RunArgs {
    pub fn into_config(self) -> Result<RunConfig, ConfigError> {
        let currents = self.currents.config()?;
        let command = match &self.action {
            RunAction::Get { run_id: id, json } => RunCommand::Get {
                run_id: run_id(id)?,
                json: *json,
                fetch_concurrency: self.currents.fetch_concurrency()?,
            },
            RunAction::Cancel { run_id: id } => RunCommand::Cancel(Box::new(super::CancelConfig {
                currents: currents.clone(),
                target: CancelTarget::Run(run_id(id)?),
                dry_run: self.currents.dry_run()?,
                runtime: Runtime::default(),
            })),
            RunAction::Delete { run_id: id, yes } => {
                let run_id = run_id(id)?;
                if !yes {
                    return Err(bad(format!(
                        "refusing to delete Currents run {run_id} without --yes: a deleted run and its results cannot be brought back"
                    )));
                }
                RunCommand::Delete { run_id }
            }
        };
        let _ = &self.run;
        Ok(RunConfig {
            currents,
            command,
            runtime: self.run.runtime().without_files(),
        })
    }
}
