//! Check jobs (App mode): bring a Currents run's check run up to date with what Currents says
//! now. Every event converges on the same state (the run is read afresh each time), so
//! retries, redeliveries and out-of-order events are harmless:
//!
//! - the run in progress: an `in_progress` check run exists, its title the progress;
//! - the run over (complete, cancelled or timed out): its report, rendered by `report/` as the
//!   `report` step renders it, with its annotations sent in batches, then the conclusion.
//!
//! One job per Currents run works at a time (a lease on its check record), and the record
//! keeps the check run's id and how many annotations GitHub accepted, so a retry neither makes
//! a second check run nor sends an annotation twice. A batch whose answer an attempt never
//! heard (the relay died, the connection dropped) is settled by GitHub's own count of the check
//! run's annotations before anything more is sent.

use std::time::{Duration, SystemTime};

use super::currents_hook::CheckPayload;
use super::schedule::{Decision, RetrySchedule};
use crate::currents::{
    CurrentsClient, Run, RunTarget, SourceError, WaitError, WaitEvent, WaitTiming,
    fetch_failed_instances, wait_for_completion,
};
use crate::github::app::{AppError, GithubApp};
use crate::github::{
    ANNOTATIONS_PER_REQUEST, CheckRunId, CheckRunOutput, CheckRunUpdate, CheckStatus, CommentMode,
    GithubClient, GithubError, NewCheckRun, Repository,
};
use crate::report;
use crate::store::{CheckRecord, Claimed, JobOutcome, Store, StoreError};

/// How soon a job retries when another job holds its run's check record.
const BUSY_RETRY: Duration = Duration::from_secs(2);
/// The longest a finished group's job waits before it looks again while other groups still
/// run (it backs off from the retry schedule's first step up to this).
const IN_PROGRESS_RECHECK: Duration = Duration::from_secs(30);
/// Instances fetched at once, as the `report` step's default.
const FETCH_CONCURRENCY: usize = 8;

/// What check jobs need.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// The check run's name (`--check-name`).
    pub check_name: String,
    /// The pull request comment (`--comment`), as the `report` step posts it.
    pub comment: CommentMode,
    /// Media links through this relay (`--media-secret` with `--public-url`).
    pub media: Option<(crate::media::MediaSigner, url::Url)>,
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
enum SyncError {
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
pub(super) async fn process(ctx: &CheckContext<'_>, claimed: &Claimed) -> Decision {
    let job = &claimed.job;
    let Some(payload) = job
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str::<CheckPayload>(p).ok())
    else {
        return finish(
            JobOutcome::Rejected,
            Some("the job's payload is unreadable"),
        );
    };
    let Some(repo) = Repository::parse(&payload.repository) else {
        return finish(
            JobOutcome::Rejected,
            Some("the job's repository is unreadable"),
        );
    };
    // Unique per job: two jobs of one worker must not share the record's lease.
    let lock_owner = format!("{}#{}", ctx.owner, job.id);
    let record = match lock(ctx, &payload, &lock_owner).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            return Decision::Retry {
                after: BUSY_RETRY,
                error: "another job is updating this run's check".into(),
            };
        }
        Err(e) => return retry(ctx, claimed, &e.to_string()),
    };
    let mut result = sync(ctx, &payload, &repo, record, &lock_owner).await;
    if matches!(&result, Err(e) if e.is_unauthorized()) {
        // A revoked or early-expired installation token: get a new one and try once more.
        ctx.app.forget_token(&repo);
        // The record is read again: the first try may have saved progress.
        if let Ok(Some(record)) = lock(ctx, &payload, &lock_owner).await {
            result = sync(ctx, &payload, &repo, record, &lock_owner).await;
        }
    }
    if let Err(e) = ctx
        .store
        .unlock_check(payload.run_id.as_str(), &lock_owner)
        .await
    {
        tracing::warn!(error = %e, "cannot release the check record; its lease expires by itself");
    }
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
        Err(e) if e.is_transient() => retry(ctx, claimed, &e.to_string()),
        Err(e) => finish(JobOutcome::Rejected, Some(&e.to_string())),
    }
}

/// The lease on the run's check record (re-taken by its holder, which also re-reads it).
async fn lock(
    ctx: &CheckContext<'_>,
    payload: &CheckPayload,
    owner: &str,
) -> Result<Option<CheckRecord>, StoreError> {
    ctx.store
        .lock_check(
            payload.run_id.as_str(),
            &payload.repository,
            &payload.head_sha,
            owner,
            ctx.lease,
        )
        .await
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

/// Brings the check run of `payload`'s Currents run up to date with what Currents says now,
/// under the job's lease on the run's check record (`lock_owner`).
async fn sync(
    ctx: &CheckContext<'_>,
    payload: &CheckPayload,
    repo: &Repository,
    mut record: CheckRecord,
    lock_owner: &str,
) -> Result<Synced, SyncError> {
    if record.completed_at.is_some() {
        return Ok(Synced::Done(JobOutcome::CheckCompleted));
    }
    let github = match ctx.app.client_for(repo).await {
        Ok(github) => github,
        Err(AppError::NotInstalled(_)) => return Ok(Synced::Done(JobOutcome::NotInstalled)),
        Err(e) => return Err(e.into()),
    };
    let run = look_at_run(ctx.currents, payload).await?;
    let run_url = crate::currents::run_url(&run.run_id);
    let save = Saver {
        store: ctx.store,
        run: payload.run_id.as_str(),
        owner: lock_owner,
    };
    let progress = report::in_progress_output(&run);
    let id = match record.check_run_id.and_then(|id| u64::try_from(id).ok()) {
        Some(id) => CheckRunId::new(id),
        None => {
            let id = create_in_progress(ctx, &github, repo, payload, &run_url, &progress).await?;
            record.check_run_id = i64::try_from(id.get()).ok();
            save.save(&record).await?;
            if run.is_in_progress() {
                return Ok(still_running(payload));
            }
            id
        }
    };
    let target = Target {
        github: &github,
        repo,
        id,
    };
    if run.is_in_progress() {
        let update = CheckRunUpdate {
            conclusion: None,
            status: Some(CheckStatus::InProgress),
            output: Some(output_of(&progress, &[])),
        };
        github.update_check_run(repo, id, &update).await?;
        return Ok(still_running(payload));
    }
    complete(ctx, payload, &target, &run, &mut record, &save).await?;
    Ok(Synced::Done(JobOutcome::CheckCompleted))
}

/// The check run a job brings up to date, and the client that may write it.
struct Target<'a> {
    github: &'a GithubClient,
    repo: &'a Repository,
    id: CheckRunId,
}

/// The run is over: its report, its annotations, the conclusion, then the comment.
async fn complete(
    ctx: &CheckContext<'_>,
    payload: &CheckPayload,
    target: &Target<'_>,
    run: &Run,
    record: &mut CheckRecord,
    save: &Saver<'_>,
) -> Result<(), SyncError> {
    let details = fetch_failed_instances(ctx.currents, run, FETCH_CONCURRENCY).await?;
    let mut report = report::build(
        run,
        &details.instances,
        &details.unavailable,
        SystemTime::now(),
    );
    if let Some((signer, public_url)) = &ctx.settings.media {
        report::relay_media(&mut report, |media| signer.url(public_url, media));
    }
    let output = report::check_output(&report);
    let annotations = report::annotations(&report, "");
    send_annotations(target, &output, &annotations, record, save).await?;
    // The conclusion is a call of its own, after the last batch is recorded: a retry of it
    // sends no annotation again.
    let update = CheckRunUpdate {
        conclusion: Some(report.conclusion.into()),
        status: Some(CheckStatus::Completed),
        output: Some(output_of(&output, &[])),
    };
    let completed = target
        .github
        .update_check_run(target.repo, target.id, &update)
        .await?;
    record.completed_at = Some(0);
    save.save(record).await?;
    tracing::info!(
        check_run = target.id.get(),
        conclusion = report.conclusion.as_str(),
        annotations = annotations.len(),
        "check run completed"
    );
    comment(
        ctx,
        target.github,
        target.repo,
        payload,
        &report,
        completed.html_url.as_deref(),
    )
    .await;
    Ok(())
}

/// Sends, in batches, the annotations GitHub does not hold yet. Annotations append, so each
/// batch is recorded as pending before it goes out and as sent once GitHub takes it: a retry
/// resumes after the last batch taken, and first asks GitHub about one it never heard back on.
async fn send_annotations(
    target: &Target<'_>,
    output: &report::CheckOutput,
    annotations: &[report::Annotation],
    record: &mut CheckRecord,
    save: &Saver<'_>,
) -> Result<(), SyncError> {
    if record.annotations_pending > record.annotations_sent {
        settle_batch_in_doubt(target, record).await?;
        save.save(record).await?;
    }
    let sent = usize::try_from(record.annotations_sent)
        .unwrap_or(0)
        .min(annotations.len());
    for batch in annotations[sent..].chunks(ANNOTATIONS_PER_REQUEST) {
        record.annotations_pending =
            record.annotations_sent + i64::try_from(batch.len()).unwrap_or(0);
        save.save(record).await?;
        let update = CheckRunUpdate {
            conclusion: None,
            status: None,
            output: Some(output_of(output, batch)),
        };
        target
            .github
            .update_check_run(target.repo, target.id, &update)
            .await?;
        record.annotations_sent = record.annotations_pending;
        save.save(record).await?;
    }
    Ok(())
}

/// An earlier attempt sent a batch and stopped before it heard GitHub's answer: GitHub's count
/// of the check run's annotations says whether the batch was taken.
async fn settle_batch_in_doubt(
    target: &Target<'_>,
    record: &mut CheckRecord,
) -> Result<(), SyncError> {
    let check = target.github.get_check_run(target.repo, target.id).await?;
    let on_github = check.output.map_or(0, |o| {
        i64::try_from(o.annotations_count).unwrap_or(i64::MAX)
    });
    let taken = on_github >= record.annotations_pending;
    tracing::info!(
        check_run = target.id.get(),
        on_github,
        taken,
        "an interrupted attempt's batch of annotations"
    );
    if taken {
        record.annotations_sent = record.annotations_pending;
    } else {
        record.annotations_pending = record.annotations_sent;
    }
    Ok(())
}

/// The check run's output: the report's text and `annotations` (appended by GitHub).
fn output_of<'a>(
    output: &'a report::CheckOutput,
    annotations: &'a [report::Annotation],
) -> CheckRunOutput<'a> {
    CheckRunOutput {
        title: &output.title,
        summary: &output.summary,
        text: output.text.as_deref(),
        annotations,
    }
}

/// The same sticky comment as the `report` step's, on the commit's open pull request. The
/// check is complete by now, so a refusal is logged, never retried.
async fn comment(
    ctx: &CheckContext<'_>,
    github: &GithubClient,
    repo: &Repository,
    payload: &CheckPayload,
    report: &report::Report,
    check_url: Option<&str>,
) {
    let mode = ctx.settings.comment;
    if mode == CommentMode::Off {
        return;
    }
    let number = match github.pulls_of_commit(repo, &payload.head_sha).await {
        Ok(numbers) => match numbers.first() {
            Some(number) => *number,
            None => return,
        },
        Err(error) => {
            tracing::warn!(%error, "cannot find the commit's pull request; no comment");
            return;
        }
    };
    let marker = crate::github::marker(
        &ctx.settings.check_name,
        report.project_id.as_deref().unwrap_or_default(),
    );
    let body = report::pr_comment(report, &marker, check_url);
    let failed = report.totals.failed > 0 || report.conclusion != report::Conclusion::Success;
    match crate::github::sticky_comment(github, repo, number, &marker, &body, mode, failed).await {
        Ok(Some(comment)) => {
            tracing::info!(
                pull_request = number,
                comment = comment.id,
                "pull request comment updated"
            );
        }
        Ok(None) => {}
        Err(error) if matches!(error.status(), Some(403 | 404)) => tracing::warn!(
            %error,
            "the App may not comment: give it the Pull requests (write) permission, or set --comment off"
        ),
        Err(error) => tracing::warn!(%error, "cannot post the pull request comment"),
    }
}

/// The run as Currents has it now: one look of [`wait_for_completion`], whose waiting is the
/// queue's here.
async fn look_at_run(currents: &CurrentsClient, payload: &CheckPayload) -> Result<Run, SyncError> {
    let mut in_progress = None;
    let looked = wait_for_completion(
        currents,
        &RunTarget::Id(payload.run_id.clone()),
        WaitTiming::ONCE,
        |event| {
            if let WaitEvent::InProgress { run, .. } = event {
                in_progress = Some(run.clone());
            }
        },
    )
    .await;
    match (looked, in_progress) {
        (Ok(run), _) | (Err(WaitError::NotComplete { .. }), Some(run)) => Ok(run),
        (Err(WaitError::Source(e)), _) => Err(SyncError::Source(e)),
        (Err(other), _) => Err(SyncError::Wait(other)),
    }
}

/// Records what GitHub accepted, under the job's lease on the run's check record.
struct Saver<'a> {
    store: &'a Store,
    run: &'a str,
    owner: &'a str,
}

impl Saver<'_> {
    async fn save(&self, record: &CheckRecord) -> Result<(), SyncError> {
        match self.store.save_check(self.run, self.owner, record).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SyncError::LostLease),
            Err(e) => Err(SyncError::Store(e)),
        }
    }
}

/// `RUN_START` is done once the check shows the run; a finished group's event keeps looking
/// until the whole run is over.
fn still_running(payload: &CheckPayload) -> Synced {
    if payload.event == "RUN_START" {
        Synced::Done(JobOutcome::CheckInProgress)
    } else {
        Synced::StillRunning
    }
}

/// Finds the check run an interrupted attempt may have made (by `external_id`), or creates an
/// `in_progress` one.
async fn create_in_progress(
    ctx: &CheckContext<'_>,
    github: &GithubClient,
    repo: &Repository,
    payload: &CheckPayload,
    run_url: &str,
    progress: &report::CheckOutput,
) -> Result<CheckRunId, SyncError> {
    let name = &ctx.settings.check_name;
    if let Some(existing) = github
        .find_check_run(repo, &payload.head_sha, name, payload.run_id.as_str())
        .await?
    {
        return Ok(existing.id);
    }
    let created = github
        .create_check_run(
            repo,
            &NewCheckRun {
                name,
                head_sha: &payload.head_sha,
                status: CheckStatus::InProgress,
                conclusion: None,
                external_id: Some(payload.run_id.as_str()),
                details_url: Some(run_url),
                output: output_of(progress, &[]),
            },
        )
        .await?;
    tracing::info!(check_run = created.id.get(), "check run created");
    Ok(created.id)
}
