//! Waiting for a run to complete, written once against [`RunSource`]. Progress reaches the
//! caller through a callback, so this module knows nothing of where it is shown (the Actions
//! log, the relay's log).

use std::time::{Duration, Instant};

use super::models::{ProjectId, Run, RunId};
use super::source::{RunSource, SourceError};
use crate::ci_build_id::CiBuildId;

/// Which run to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunTarget {
    /// A run id: it exists, or the id is wrong.
    Id(RunId),
    /// The run recorded with this ciBuildId, which may not exist yet.
    CiBuild {
        project_id: ProjectId,
        ci_build_id: CiBuildId,
    },
}

impl RunTarget {
    /// `Currents run abc`, or `the Currents run with ciBuildId … in project …`.
    pub fn describe(&self) -> String {
        match self {
            Self::Id(id) => format!("Currents run {id}"),
            Self::CiBuild {
                project_id,
                ci_build_id,
            } => format!("the Currents run with ciBuildId {ci_build_id} in project {project_id}"),
        }
    }
}

/// How long to wait, and how often to look.
#[derive(Debug, Clone, Copy)]
pub struct WaitTiming {
    pub timeout: Duration,
    pub poll_interval: Duration,
}

impl WaitTiming {
    /// One look, no waiting: for a caller that waits elsewhere (the relay's check jobs look
    /// again from its durable queue). An unfinished run ends the wait as
    /// [`WaitError::NotComplete`], after [`WaitEvent::InProgress`] has shown it.
    pub const ONCE: Self = Self {
        timeout: Duration::ZERO,
        poll_interval: Duration::ZERO,
    };
}

/// What happened at one look, for the caller to show or act on.
#[derive(Debug)]
pub enum WaitEvent<'a> {
    /// No run is recorded for the ciBuildId yet.
    NotRecordedYet { elapsed: Duration },
    /// The run exists and still receives results.
    InProgress { run: &'a Run, elapsed: Duration },
    /// The run is complete (or cancelled, or timed out): the wait is over.
    Completed { run: &'a Run, elapsed: Duration },
}

/// Why the wait ended without a completed run.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("Currents has no run {0}: check run-id (CURRENTS_RUN_ID)")]
    UnknownRun(RunId),
    #[error(
        "{last_seen}, and it did not complete within {wait}: raise wait-timeout (CURRENTS_WAIT_TIMEOUT), or run report in a job that needs all test jobs"
    )]
    NotComplete { last_seen: String, wait: String },
    #[error(
        "no run appeared for {what} within {wait}: check that the tests record to Currents with this ciBuildId (set ci-build-id), or raise wait-timeout"
    )]
    NeverAppeared { what: String, wait: String },
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Looks every `poll_interval` until the run exists and is no longer in progress, or until
/// `timeout`. A 404 for a ciBuildId means "not yet"; for a run id, a wrong id.
pub async fn wait_for_completion<S: RunSource>(
    source: &S,
    target: &RunTarget,
    timing: WaitTiming,
    mut on_event: impl FnMut(WaitEvent<'_>),
) -> Result<Run, WaitError> {
    let started = Instant::now();
    let mut last_seen: Option<String> = None;
    loop {
        let found = match target {
            RunTarget::Id(id) => match source.get_run(id).await {
                Ok(run) => Some(run),
                Err(SourceError::Api(e)) if e.status() == Some(404) => {
                    return Err(WaitError::UnknownRun(id.clone()));
                }
                Err(e) => return Err(e.into()),
            },
            RunTarget::CiBuild {
                project_id,
                ci_build_id,
            } => source.find_run(project_id, ci_build_id).await?,
        };
        let elapsed = started.elapsed();
        match found {
            Some(run) if !run.is_in_progress() => {
                on_event(WaitEvent::Completed { run: &run, elapsed });
                return Ok(run);
            }
            Some(run) => {
                on_event(WaitEvent::InProgress { run: &run, elapsed });
                last_seen = Some(run.progress_line());
            }
            None => on_event(WaitEvent::NotRecordedYet { elapsed }),
        }
        if started.elapsed() + timing.poll_interval >= timing.timeout {
            let wait = humantime::format_duration(timing.timeout).to_string();
            return Err(match last_seen {
                Some(last_seen) => WaitError::NotComplete { last_seen, wait },
                None => WaitError::NeverAppeared {
                    what: target.describe(),
                    wait,
                },
            });
        }
        tokio::time::sleep(timing.poll_interval).await;
    }
}
