//! A click on a button of one of the App's checks (`check_run.requested_action`), as a job.
//!
//! The delivery only names a check run, a button and a login. The job acts only on a check
//! run that GitHub says this App made and that the store has a record of, only for someone
//! GitHub says may write to the repository, and each button only once per check (the store's
//! claim); then it says what happened on the check and in the comment ([`super::show`]).

use super::actions::{self, Refusal};
use super::{CheckContext, finish, retry};
use crate::github::app::AppError;
use crate::github::{CheckRunId, GithubClient, GithubError, Repository};
use crate::log_safe::Chain;
use crate::relay::schedule::Decision;
use crate::store::{
    Button, Claimed, ClickClaim, ClickPayload, ClickState, ClickedCheck, JobOutcome, StoreError,
};

/// Why a click's job stopped before it ended.
#[derive(Debug, thiserror::Error)]
pub(super) enum ClickError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Github(#[from] GithubError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A call that may work later (an outage, a rate limit).
    #[error("{0}")]
    Transient(String),
}

impl ClickError {
    fn is_transient(&self) -> bool {
        match self {
            Self::App(e) => e.is_transient(),
            Self::Github(e) => e.is_transient() || e.status() == Some(401),
            Self::Store(_) | Self::Transient(_) => true,
        }
    }
}

/// Runs one click job and says how it ends.
pub(crate) async fn process(
    ctx: &CheckContext<'_>,
    claimed: &Claimed,
    click: &ClickPayload,
) -> Decision {
    match act(ctx, claimed, click).await {
        Ok(outcome) => finish(outcome, None),
        Err(e) if e.is_transient() => {
            if matches!(&e, ClickError::Github(g) if g.status() == Some(401))
                && let Ok(repo) = repo_of(claimed)
            {
                ctx.app.forget_token(&repo);
            }
            let why = Chain(&e).to_string();
            let decision = retry(ctx, claimed, &why);
            if matches!(decision, Decision::Finish { .. }) {
                give_up(ctx, claimed, click, &why).await;
            }
            decision
        }
        Err(e) => finish(JobOutcome::Rejected, Some(&Chain(&e).to_string())),
    }
}

fn repo_of(claimed: &Claimed) -> Result<Repository, ClickError> {
    Repository::parse(&claimed.job.repository)
        .ok_or_else(|| ClickError::Transient("the delivery named no repository".into()))
}

/// The check a click is for, when this App made it: GitHub says so (the check run's App),
/// and the store has its record, for the same repository.
async fn ours(
    ctx: &CheckContext<'_>,
    claimed: &Claimed,
    check: CheckRunId,
) -> Result<Option<(Repository, GithubClient, ClickedCheck)>, ClickError> {
    let Some(record) = ctx.store.clicked_check(check).await? else {
        return Ok(None);
    };
    if !record
        .repository
        .eq_ignore_ascii_case(&claimed.job.repository)
    {
        return Ok(None);
    }
    let Some(repo) = Repository::parse(&record.repository) else {
        return Ok(None);
    };
    let github = ctx.app.client_for(&repo).await?;
    let run = github.get_check_run(&repo, check).await?;
    let app = ctx.app.app_id().get();
    if run.app.as_ref().is_none_or(|a| a.id != app) || record.offers.is_none() {
        return Ok(None);
    }
    Ok(Some((repo, github, record)))
}

async fn act(
    ctx: &CheckContext<'_>,
    claimed: &Claimed,
    click: &ClickPayload,
) -> Result<JobOutcome, ClickError> {
    let check = click.check_run_id;
    let (repo, github, record) = match ours(ctx, claimed, check).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            tracing::warn!(
                check_run = check.get(),
                "a click on a check this relay did not make; nothing done"
            );
            return Ok(JobOutcome::NotOurs);
        }
        Err(ClickError::App(AppError::NotInstalled(_))) => return Ok(JobOutcome::NotInstalled),
        Err(e) => return Err(e),
    };
    let shown = super::show::Shown {
        ctx,
        github: &github,
        repo: &repo,
        check,
        record: &record,
    };
    let role = github.role_of(&repo, &click.sender).await?;
    if !role.may_write() {
        let why = format!(
            "pressing it needs write, maintain or admin access to the repository; the account has {}",
            role.0
        );
        ctx.store
            .refuse_click(check, click.button, &click.sender, claimed.job.id, &why)
            .await?;
        shown.show().await?;
        return Ok(JobOutcome::ClickRefused);
    }
    let mine = match ctx
        .store
        .claim_click(check, click.button, &click.sender, claimed.job.id)
        .await?
    {
        // Another click of it acts or acted: one re-run, one rule.
        ClickClaim::Taken(_) => {
            shown.show().await?;
            return Ok(JobOutcome::ClickDone);
        }
        ClickClaim::Mine(mine) if mine.state == ClickState::Done => {
            shown.show().await?;
            return Ok(JobOutcome::ClickDone);
        }
        ClickClaim::Mine(mine) => mine,
    };
    let done = match click.button {
        Button::RerunFailed => actions::rerun(ctx, &github, &repo, &record).await,
        Button::Quarantine => actions::quarantine(ctx, &repo, check, &record, &click.sender).await,
        Button::Unquarantine => actions::unquarantine(ctx, check).await,
    };
    let outcome = match done {
        Ok(detail) => {
            ctx.store
                .end_click(mine.id, ClickState::Done, Some(&detail))
                .await?;
            JobOutcome::ClickDone
        }
        Err(Refusal::Final(why)) => {
            ctx.store
                .end_click(mine.id, ClickState::Failed, Some(&why))
                .await?;
            JobOutcome::ClickFailed
        }
        Err(Refusal::Later(why)) => return Err(ClickError::Transient(why)),
    };
    shown.show().await?;
    Ok(outcome)
}

/// The retries ran out: the click failed, and the check says so.
async fn give_up(ctx: &CheckContext<'_>, claimed: &Claimed, click: &ClickPayload, why: &str) {
    let failed = async {
        if let ClickClaim::Mine(mine) = ctx
            .store
            .claim_click(
                click.check_run_id,
                click.button,
                &click.sender,
                claimed.job.id,
            )
            .await?
        {
            let why = format!("gave up after retries: {why}");
            ctx.store
                .end_click(mine.id, ClickState::Failed, Some(&why))
                .await?;
        }
        if let Some((repo, github, record)) = ours(ctx, claimed, click.check_run_id).await? {
            let shown = super::show::Shown {
                ctx,
                github: &github,
                repo: &repo,
                check: click.check_run_id,
                record: &record,
            };
            shown.show().await?;
        }
        Ok::<_, ClickError>(())
    };
    if let Err(e) = failed.await {
        tracing::warn!(error = %Chain(&e), "cannot record the click as failed");
    }
}
