//! Check jobs (App mode): bring a Currents run's check run up to date with what Currents says
//! now. A webhook only rings the bell: the job reads the run from the Currents API and takes
//! its project, commit and remote from there, and posts only where `--currents-projects` and
//! `--github-server-url` allow ([`place`]). Every event converges on the same state (the run
//! is read afresh each time), so retries, redeliveries and out-of-order events are harmless:
//!
//! - the run in progress: an `in_progress` check run exists, its title the progress;
//! - the run over (complete, cancelled or timed out): its report, rendered by `report/` as the
//!   `report` step renders it, with its annotations sent in batches, then the conclusion;
//! - the run gone from Currents: its check completed as `neutral`, saying so.
//!
//! One attempt per Currents run works at a time: a fenced lease on its check record
//! ([`lease::RecordLease`]), renewed before every GitHub call. The record keeps the check
//! run's id and how many annotations GitHub accepted, so a retry neither makes a second check
//! run nor sends an annotation twice. A batch whose answer an attempt never heard (the relay
//! died, the connection dropped) is settled by GitHub's own count of the check run's
//! annotations before anything more is sent.
//!
//! A completed check offers buttons ([`offers`]); a click on one is a job of its own
//! ([`click`]), which acts ([`actions`]) and shows what it did ([`show`]).

mod actions;
mod click;
mod lease;
mod offers;
mod place;
mod show;
mod sync;

pub(crate) use click::process as process_click;

use std::sync::Arc;
use std::time::Duration;

use super::allow::ProjectRepos;
use super::schedule::{Decision, RetrySchedule};
use crate::currents::{
    CurrentsClient, Run, RunId, RunTarget, SourceError, WaitError, WaitEvent, WaitTiming,
    wait_for_completion,
};
use crate::github::app::{AppError, GithubApp};
use crate::github::{CommentMode, GithubError, GithubServer};
use crate::store::{CheckPayload, Claimed, JobOutcome, Store, StoreError};
use lease::RecordLease;
pub(crate) use place::{Placement, WarnedRuns, place};

/// How soon a job retries when another job holds its run's check record.
const BUSY_RETRY: Duration = Duration::from_secs(2);
/// The longest a finished group's job waits before it looks again while other groups still
/// run (it backs off from the retry schedule's first step up to this).
const IN_PROGRESS_RECHECK: Duration = Duration::from_secs(30);

/// What check jobs need.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// The check run's name (`--check-name`).
    pub check_name: String,
    /// The pull request comment (`--comment`), as the `report` step posts it.
    pub comment: CommentMode,
    /// Media links through this relay (`--media-secret` with `--public-url`).
    pub media: Option<(crate::media::MediaSigner, url::Url)>,
    /// Which repositories each Currents project may report on (`--currents-projects`).
    pub allow: ProjectRepos,
    /// The GitHub server that remotes must be on (`--github-server-url`).
    pub server: GithubServer,
    /// Instances fetched at once (`--fetch-concurrency`, as the `report` step's).
    pub fetch_concurrency: usize,
    /// Triage, as the `report` step's.
    pub triage: crate::report::TriageSettings,
    /// How long a quarantine from the check's button lasts (`--quarantine-for`).
    pub quarantine_for: Duration,
    /// Runs refused already, so that each is warned about once.
    pub(crate) warned: Arc<WarnedRuns>,
}

/// The pieces a check job works with.
pub(super) struct CheckContext<'a> {
    pub store: &'a Store,
    pub app: &'a GithubApp,
    pub currents: &'a CurrentsClient,
    pub settings: &'a CheckSettings,
    pub owner: &'a str,
    pub lease: Duration,
    pub schedule: &'a RetrySchedule,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum SyncError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Github(#[from] GithubError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Wait(WaitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("lost the lease on the run's check record")]
    LostLease,
}

impl SyncError {
    fn is_transient(&self) -> bool {
        match self {
            Self::App(e) => e.is_transient(),
            Self::Github(e) => e.is_transient(),
            Self::Source(SourceError::Api(e)) => e.is_transient(),
            Self::Source(_) | Self::Wait(_) => false,
            Self::Store(_) | Self::LostLease => true,
        }
    }

    fn is_unauthorized(&self) -> bool {
        match self {
            Self::Github(e) | Self::App(AppError::Github(e)) => e.status() == Some(401),
            _ => false,
        }
    }
}

/// What one sync did.
enum Synced {
    Done(JobOutcome),
    /// The run is still in progress; its check shows the progress. Look again later.
    StillRunning,
}

/// Runs one check job and says how it ends.
pub(super) async fn process(
    ctx: &CheckContext<'_>,
    claimed: &Claimed,
    payload: &CheckPayload,
) -> Decision {
    let job = &claimed.job;
    let run = match look_at_run(ctx.currents, &payload.run_id).await {
        Ok(Some(run)) => run,
        Ok(None) => return settle(ctx, claimed, sync::gone(ctx, payload, claimed).await),
        Err(e) if e.is_transient() => {
            return retry(ctx, claimed, &crate::log_safe::Chain(&e).to_string());
        }
        Err(e) => {
            return finish(
                JobOutcome::Rejected,
                Some(&crate::log_safe::Chain(&e).to_string()),
            );
        }
    };
    let placement = match place(&run, &ctx.settings.allow, &ctx.settings.server) {
        Ok(placement) => placement,
        Err(refusal) => {
            ctx.settings.warned.log(&payload.run_id, &refusal);
            return finish(refusal.outcome(), None);
        }
    };
    // Unique per job: two jobs of one worker must not share the record's lease.
    let lock_owner = format!("{}#{}", ctx.owner, job.id);
    let Some(mut lease) = (match lock(ctx, &payload.run_id, Some(&placement), &lock_owner).await {
        Ok(lease) => lease,
        Err(e) => return retry(ctx, claimed, &crate::log_safe::Chain(&e).to_string()),
    }) else {
        return busy();
    };
    let mut result = sync::sync(ctx, payload, &placement, &run, &mut lease).await;
    if matches!(&result, Err(e) if e.is_unauthorized()) {
        // A revoked or early-expired installation token: get a new one and try once more.
        ctx.app.forget_token(&placement.repo);
        // The record is read again (under a new fence): the first try may have saved progress.
        if let Ok(Some(mut again)) = lock(ctx, &payload.run_id, Some(&placement), &lock_owner).await
        {
            result = sync::sync(ctx, payload, &placement, &run, &mut again).await;
            again.release().await;
        }
    }
    lease.release().await;
    settle(ctx, claimed, result)
}

/// The job's end, from what its sync did.
fn settle(
    ctx: &CheckContext<'_>,
    claimed: &Claimed,
    result: Result<Synced, SyncError>,
) -> Decision {
    match result {
        Ok(Synced::Done(outcome)) => finish(outcome, None),
        Ok(Synced::StillRunning) => {
            let age = Duration::from_millis(claimed.age_ms().unsigned_abs());
            if age >= ctx.schedule.window {
                return finish(
                    JobOutcome::GaveUp,
                    Some("the Currents run stayed in progress for the whole retry window"),
                );
            }
            let attempt = u32::try_from(claimed.job.attempts.max(1)).unwrap_or(u32::MAX);
            Decision::Retry {
                after: ctx
                    .schedule
                    .transient
                    .after(attempt)
                    .min(IN_PROGRESS_RECHECK),
                error: "the Currents run is still in progress".into(),
            }
        }
        Err(SyncError::LostLease) => busy(),
        Err(e) if e.is_transient() => retry(ctx, claimed, &crate::log_safe::Chain(&e).to_string()),
        Err(e) => finish(
            JobOutcome::Rejected,
            Some(&crate::log_safe::Chain(&e).to_string()),
        ),
    }
}

/// The lease on run `run`'s check record (making the record at `placement` if it is new).
async fn lock<'a>(
    ctx: &CheckContext<'a>,
    run: &'a RunId,
    placement: Option<&Placement>,
    owner: &'a str,
) -> Result<Option<RecordLease<'a>>, StoreError> {
    let new = placement.map(|p| (&p.repo, p.head_sha.as_str()));
    Ok(ctx
        .store
        .lock_check(run, new, owner, ctx.lease)
        .await?
        .map(|record| RecordLease::new(ctx.store, run, owner, ctx.lease, record)))
}

fn busy() -> Decision {
    Decision::Retry {
        after: BUSY_RETRY,
        error: "another job is updating this run's check".into(),
    }
}

fn finish(outcome: JobOutcome, error: Option<&str>) -> Decision {
    Decision::Finish {
        outcome,
        error: error.map(str::to_owned),
    }
}

/// A transient failure: back off within the retry window, then give up.
fn retry(ctx: &CheckContext<'_>, claimed: &Claimed, error: &str) -> Decision {
    let age = Duration::from_millis(claimed.age_ms().unsigned_abs());
    let left = ctx.schedule.window.saturating_sub(age);
    if left.is_zero() {
        return finish(JobOutcome::GaveUp, Some(error));
    }
    let attempt = u32::try_from(claimed.job.attempts.max(1)).unwrap_or(u32::MAX);
    Decision::Retry {
        after: ctx.schedule.transient.after(attempt).min(left),
        error: error.to_owned(),
    }
}

/// The run as Currents has it now (`None` once Currents no longer has it): one look of
/// [`wait_for_completion`], whose waiting is the queue's here.
async fn look_at_run(currents: &CurrentsClient, run: &RunId) -> Result<Option<Run>, SyncError> {
    let mut in_progress = None;
    let looked = wait_for_completion(
        currents,
        &RunTarget::Id(run.clone()),
        WaitTiming::ONCE,
        |event| {
            if let WaitEvent::InProgress { run, .. } = event {
                in_progress = Some(run.clone());
            }
        },
    )
    .await;
    match (looked, in_progress) {
        (Ok(run), _) | (Err(WaitError::NotComplete { .. }), Some(run)) => Ok(Some(run)),
        (Err(WaitError::UnknownRun(_)), _) => Ok(None),
        (Err(WaitError::Source(e)), _) => Err(SyncError::Source(e)),
        (Err(other), _) => Err(SyncError::Wait(other)),
    }
}
