//! One attempt at a run's check run, under the lease on its record: create it, show the
//! progress, or complete it with the report, its annotations and the conclusion, then the
//! comment; or, for a run Currents no longer has, complete it as `neutral`.

use std::time::SystemTime;

use super::lease::RecordLease;
use super::{CheckContext, Placement, SyncError, Synced};
use crate::ci_build_id::{CiBuildId, parse_github_ci_build_id, previous_attempt};
use crate::currents::{MAX_HISTORY_LOOKUPS, Run, Wanted, gather};
use crate::github::app::AppError;
use crate::github::{
    ANNOTATIONS_PER_REQUEST, CheckConclusion, CheckRunId, CheckRunOutput, CheckRunUpdate,
    CheckStatus, CommentMode, GithubClient, NewCheckRun, PullRequest, Repository, Sticky,
    sticky_comment,
};
use crate::log_safe::Chain;
use crate::report;
use crate::report::{Fetched, MediaRef, Publication, Shape};
use crate::store::{CheckPayload, Claimed, JobOutcome};

/// The check run a job brings up to date, and the client that may write it.
struct Target<'a> {
    github: &'a GithubClient,
    repo: &'a Repository,
    id: CheckRunId,
}

/// Brings the check run of `run` up to date with what Currents says now.
pub(super) async fn sync(
    ctx: &CheckContext<'_>,
    payload: &CheckPayload,
    placement: &Placement,
    run: &Run,
    lease: &mut RecordLease<'_>,
) -> Result<Synced, SyncError> {
    if lease.record.completed {
        return Ok(Synced::Done(JobOutcome::CheckCompleted));
    }
    let repo = &placement.repo;
    let github = match ctx.app.client_for(repo).await {
        Ok(github) => github,
        Err(AppError::NotInstalled(_)) => return Ok(Synced::Done(JobOutcome::NotInstalled)),
        Err(e) => return Err(e.into()),
    };
    let progress = report::in_progress_output(run);
    let id = match lease
        .record
        .check_run_id
        .and_then(|id| u64::try_from(id).ok())
    {
        Some(id) => CheckRunId::new(id),
        None => {
            lease.hold().await?;
            let id = create_in_progress(ctx, &github, placement, payload, &progress).await?;
            lease.record.check_run_id = i64::try_from(id.get()).ok();
            lease.save().await?;
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
            actions: None,
        };
        lease.hold().await?;
        github.update_check_run(repo, id, &update).await?;
        lease.save().await?;
        return Ok(still_running(payload));
    }
    complete(ctx, placement, &target, run, lease).await?;
    Ok(Synced::Done(JobOutcome::CheckCompleted))
}

/// The run is over: the same [`Publication`] as the `report` step's (compared with the latest
/// run of the pull request's base branch), its annotations, the conclusion, then the comment.
async fn complete(
    ctx: &CheckContext<'_>,
    placement: &Placement,
    target: &Target<'_>,
    run: &Run,
    lease: &mut RecordLease<'_>,
) -> Result<(), SyncError> {
    let (pull, fetched) = fetch(ctx, target, placement, run).await;
    let fetched = fetched?;
    let pull = pull?;
    let relay = ctx
        .settings
        .media
        .as_ref()
        .map(|(signer, public_url)| move |media: &MediaRef| signer.url(public_url, media));
    let previous_check = previous_check(ctx, target.repo, &fetched).await;
    let shape = Shape {
        flaky_threshold: ctx.settings.triage.flaky_threshold,
        previous_check: previous_check.as_deref(),
        path_prefix: "",
        media: relay
            .as_ref()
            .map(|f| f as &(dyn Fn(&MediaRef) -> String + Sync)),
    };
    let publication = Publication::new(&fetched, &shape);
    let output = &publication.output;
    send_annotations(target, output, &publication.annotations, lease).await?;
    let buttons = super::offers::offer(ctx, &publication, run, placement, pull.as_ref()).await?;
    // The conclusion is a call of its own, after the last batch is recorded: a retry of it
    // sends no annotation again.
    let update = CheckRunUpdate {
        conclusion: Some(publication.conclusion()),
        status: Some(CheckStatus::Completed),
        output: Some(output_of(output, &[])),
        actions: Some(&buttons),
    };
    lease.hold().await?;
    let completed = target
        .github
        .update_check_run(target.repo, target.id, &update)
        .await?;
    lease.record.completed = true;
    lease.save().await?;
    tracing::info!(
        check_run = target.id.get(),
        conclusion = publication.report.conclusion.as_str(),
        annotations = publication.annotations.len(),
        "check run completed"
    );
    if let Some(pull) = pull {
        comment(
            ctx,
            target,
            pull.number,
            &publication,
            completed.html_url.as_deref(),
        )
        .await;
    }
    Ok(())
}

/// The commit's open pull request, and what the report reads beside the run, at once: its
/// instances are fetched while GitHub is asked for the pull request, whose base branch the
/// comparison and the history then use (as the `report` step compares a pull request's run).
async fn fetch(
    ctx: &CheckContext<'_>,
    target: &Target<'_>,
    placement: &Placement,
    run: &Run,
) -> (
    Result<Option<PullRequest>, SyncError>,
    Result<Fetched, SyncError>,
) {
    let (found, branch) = tokio::sync::oneshot::channel();
    let pull = async {
        let pull = pull_of(target, placement).await;
        let base = pull.as_ref().ok().cloned().flatten().and_then(|p| p.base);
        let _ = found.send(base);
        pull
    };
    let wanted = Wanted {
        concurrency: ctx.settings.fetch_concurrency,
        project: Some(placement.project.clone()),
        triage_days: ctx.settings.triage.history_days,
        max_lookups: MAX_HISTORY_LOOKUPS,
        previous: previous_of(run, &placement.repo),
    };
    let branch = async { branch.await.ok().flatten() };
    let (pull, gathered) = tokio::join!(
        pull,
        gather(ctx.currents, run, &wanted, branch, SystemTime::now())
    );
    let fetched = gathered.map_err(SyncError::from).map(|gathered| {
        for missing in &gathered.missing {
            tracing::warn!(run = %run.run_id, "{}", crate::log_safe::LogSafe(missing));
        }
        Fetched {
            run: run.clone(),
            gathered,
            fetched_at: SystemTime::now(),
        }
    });
    (pull, fetched)
}

/// The commit's open pull request. A failure is logged and the check goes on without the
/// comparison or the comment; only a refused token (401) is the attempt's error, so that it is
/// replaced and the attempt tried again.
async fn pull_of(
    target: &Target<'_>,
    placement: &Placement,
) -> Result<Option<PullRequest>, SyncError> {
    match target
        .github
        .pulls_of_commit(target.repo, &placement.head_sha)
        .await
    {
        Ok(pulls) => Ok(pulls.into_iter().next()),
        Err(error) if error.status() == Some(401) => Err(error.into()),
        Err(error) => {
            tracing::warn!(error = %Chain(&error), "cannot find the commit's pull request; no comparison and no comment");
            Ok(None)
        }
    }
}

/// On a re-run, the previous attempt's check run, when this relay made it: the new check
/// links back to it.
async fn previous_check(
    ctx: &CheckContext<'_>,
    repo: &Repository,
    fetched: &Fetched,
) -> Option<String> {
    let (previous, _) = fetched.gathered.previous.as_ref()?;
    match ctx.store.check_run_of(&previous.run_id).await {
        Ok(id) => id.map(|id| format!("{}/{repo}/runs/{id}", ctx.settings.server.url())),
        Err(e) => {
            tracing::warn!(error = %Chain(&e), "cannot find the previous attempt's check");
            None
        }
    }
}

/// The previous attempt's ciBuildId, when the run's follows the template and is a re-run.
fn previous_of(run: &Run, repo: &Repository) -> Option<CiBuildId> {
    let ci_build_id = run.meta.ci_build_id.clone().and_then(CiBuildId::new)?;
    let (run_id, attempt) = parse_github_ci_build_id(&ci_build_id, &repo.to_string())?;
    previous_attempt(&repo.to_string(), run_id, attempt)
}

/// Sends, in batches, the annotations GitHub does not hold yet. Annotations append, so each
/// batch is recorded as pending before it goes out and as sent once GitHub takes it: a retry
/// resumes after the last batch taken, and first asks GitHub about one it never heard back on.
async fn send_annotations(
    target: &Target<'_>,
    output: &report::CheckOutput,
    annotations: &[report::Annotation],
    lease: &mut RecordLease<'_>,
) -> Result<(), SyncError> {
    if lease.record.annotations_pending > lease.record.annotations_sent {
        settle_batch_in_doubt(target, lease).await?;
        lease.save().await?;
    }
    let sent = usize::try_from(lease.record.annotations_sent)
        .unwrap_or(0)
        .min(annotations.len());
    for batch in annotations[sent..].chunks(ANNOTATIONS_PER_REQUEST) {
        lease.record.annotations_pending =
            lease.record.annotations_sent + i64::try_from(batch.len()).unwrap_or(0);
        // Saved under the fence: an attempt that lost the record stops here, before the call.
        lease.save().await?;
        let update = CheckRunUpdate::of_output(output_of(output, batch));
        target
            .github
            .update_check_run(target.repo, target.id, &update)
            .await?;
        lease.record.annotations_sent = lease.record.annotations_pending;
        lease.save().await?;
    }
    Ok(())
}

/// An earlier attempt sent a batch and stopped before it heard GitHub's answer: GitHub's count
/// of the check run's annotations says whether the batch was taken.
async fn settle_batch_in_doubt(
    target: &Target<'_>,
    lease: &mut RecordLease<'_>,
) -> Result<(), SyncError> {
    let check = target.github.get_check_run(target.repo, target.id).await?;
    let on_github = check.output.map_or(0, |o| {
        i64::try_from(o.annotations_count).unwrap_or(i64::MAX)
    });
    let record = &mut lease.record;
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

/// Currents no longer has the run (deleted, or past its retention): a check left open for it
/// is completed as `neutral`, saying so, so that no required check waits forever.
pub(super) async fn gone(
    ctx: &CheckContext<'_>,
    payload: &CheckPayload,
    claimed: &Claimed,
) -> Result<Synced, SyncError> {
    let owner = format!("{}#{}", ctx.owner, claimed.job.id);
    let Some(mut lease) = super::lock(ctx, &payload.run_id, None, &owner).await? else {
        if ctx.store.has_check(&payload.run_id).await? {
            return Err(SyncError::LostLease);
        }
        return Ok(Synced::Done(JobOutcome::NotFound));
    };
    let result = complete_gone(ctx, payload, &mut lease).await;
    lease.release().await;
    result
}

async fn complete_gone(
    ctx: &CheckContext<'_>,
    payload: &CheckPayload,
    lease: &mut RecordLease<'_>,
) -> Result<Synced, SyncError> {
    let (Some(id), Some(repo)) = (
        lease
            .record
            .check_run_id
            .and_then(|id| u64::try_from(id).ok()),
        Repository::parse(&lease.record.repository),
    ) else {
        return Ok(Synced::Done(JobOutcome::NotFound));
    };
    if lease.record.completed {
        return Ok(Synced::Done(JobOutcome::CheckCompleted));
    }
    let github = match ctx.app.client_for(&repo).await {
        Ok(github) => github,
        Err(AppError::NotInstalled(_)) => return Ok(Synced::Done(JobOutcome::NotInstalled)),
        Err(e) => return Err(e.into()),
    };
    let output = report::gone_output(&payload.run_id);
    let update = CheckRunUpdate {
        conclusion: Some(CheckConclusion::Neutral),
        status: Some(CheckStatus::Completed),
        output: Some(output_of(&output, &[])),
        actions: None,
    };
    lease.hold().await?;
    github
        .update_check_run(&repo, CheckRunId::new(id), &update)
        .await?;
    lease.record.completed = true;
    lease.save().await?;
    tracing::info!(
        check_run = id,
        "Currents no longer has the run; its check run is completed as neutral"
    );
    Ok(Synced::Done(JobOutcome::CheckCompleted))
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

/// The same sticky comment as the `report` step's, on the commit's open pull request, written
/// by the App's bot. The check is complete by now, so a refusal is logged, never retried.
async fn comment(
    ctx: &CheckContext<'_>,
    target: &Target<'_>,
    number: u64,
    publication: &Publication,
    check_url: Option<&str>,
) {
    let mode = ctx.settings.comment;
    if mode == CommentMode::Off {
        return;
    }
    let (marker, body) = publication.comment(&ctx.settings.check_name, check_url);
    let sticky = Sticky {
        marker: &marker,
        body: &body,
        mode,
        failed: publication.report.failed(),
    };
    let author = async { ctx.app.bot_login().await.map_err(AppError::into_github) };
    match sticky_comment(target.github, target.repo, number, &sticky, author).await {
        Ok(Some(comment)) => {
            tracing::info!(
                pull_request = number,
                comment = comment.id,
                "pull request comment updated"
            );
        }
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(error = %Chain(&error), "cannot post the pull request comment")
        }
    }
}

/// `RUN_START` and the reconcile pass are done once the check shows the run
/// ([`crate::store::CheckEvent::looks_once`]); a finished group's event keeps looking until the
/// whole run is over.
fn still_running(payload: &CheckPayload) -> Synced {
    if payload.event.looks_once() {
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
    placement: &Placement,
    payload: &CheckPayload,
    progress: &report::CheckOutput,
) -> Result<CheckRunId, SyncError> {
    let name = &ctx.settings.check_name;
    let repo = &placement.repo;
    let run_id = &payload.run_id;
    if let Some(existing) = github
        .find_check_run(repo, &placement.head_sha, name, run_id.as_str())
        .await?
    {
        return Ok(existing.id);
    }
    let run_url = crate::currents::run_url(run_id);
    let created = github
        .create_check_run(
            repo,
            &NewCheckRun {
                name,
                head_sha: &placement.head_sha,
                status: CheckStatus::InProgress,
                conclusion: None,
                external_id: Some(run_id.as_str()),
                details_url: Some(&run_url),
                output: output_of(progress, &[]),
            },
        )
        .await?;
    tracing::info!(check_run = created.id.get(), "check run created");
    Ok(created.id)
}
