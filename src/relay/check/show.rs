//! After a click: the check says what its buttons did (a block atop its summary, rewritten
//! whole from the store's clicks), shows the buttons left, and the pull request comment gains
//! the same block.

use std::time::{Duration, SystemTime};

use super::CheckContext;
use super::click::ClickError;
use super::offers;
use crate::github::{
    CheckRunId, CheckRunOutput, CheckRunUpdate, CommentMode, GithubClient, MAX_CHECK_OUTPUT_BYTES,
    MAX_COMMENT_CHARS, Repository, amend_sticky, marker,
};
use crate::log_safe::Chain;
use crate::report::{Taken, TakenWhat, taken_block, with_taken};
use crate::store::{Button, Click, ClickState, ClickedCheck};

/// A check a click was for, and how to write to it.
pub(super) struct Shown<'a> {
    pub ctx: &'a CheckContext<'a>,
    pub github: &'a GithubClient,
    pub repo: &'a Repository,
    pub check: CheckRunId,
    pub record: &'a ClickedCheck,
}

impl Shown<'_> {
    /// Brings the check and the comment up to date with the clicks.
    pub async fn show(&self) -> Result<(), ClickError> {
        let ctx = self.ctx;
        let Some(offers) = &self.record.offers else {
            return Ok(());
        };
        let clicks = ctx.store.clicks(self.check).await?;
        let refused = ctx.store.actions_refused(&offers.project).await?;
        let buttons = offers::shown(offers, &clicks, refused);
        let days = ctx.settings.quarantine_for.as_secs().div_ceil(86_400);
        let taken: Vec<Taken> = clicks
            .iter()
            .filter_map(|c| taken(c, offers.flaky.len(), days))
            .collect();
        let block = taken_block(&taken);
        let now = self.github.get_check_run(self.repo, self.check).await?;
        let output = now.output.unwrap_or_default();
        let title = output.title.unwrap_or_default();
        let summary = with_taken(
            output.summary.as_deref().unwrap_or_default(),
            &block,
            false,
            MAX_CHECK_OUTPUT_BYTES,
        );
        let update = CheckRunUpdate {
            conclusion: None,
            status: None,
            output: Some(CheckRunOutput {
                title: &title,
                summary: &summary,
                text: output.text.as_deref(),
                annotations: &[],
            }),
            actions: Some(&buttons),
        };
        self.github
            .update_check_run(self.repo, self.check, &update)
            .await?;
        if let (Some(pull), false) = (offers.pull, ctx.settings.comment == CommentMode::Off) {
            self.comment(pull, offers.project.as_str(), &block).await;
        }
        Ok(())
    }

    /// The comment gains the block too; a failure is a warning (the check says it all).
    async fn comment(&self, pull: u64, project: &str, block: &str) {
        let marker = marker(&self.ctx.settings.check_name, project);
        let amended = async {
            let author = self.ctx.app.bot_login().await?;
            amend_sticky(self.github, self.repo, pull, &marker, &author, |body| {
                with_taken(body, block, true, MAX_COMMENT_CHARS - 1)
            })
            .await?;
            Ok::<_, ClickError>(())
        };
        if let Err(e) = amended.await {
            tracing::warn!(error = %Chain(&e), "cannot show the click in the pull request comment");
        }
    }
}

/// How a button's label reads in a refusal.
const fn label(button: Button) -> &'static str {
    offers::button(button).label
}

/// What a click did, as the block says it; nothing while it acts.
fn taken(click: &Click, tests: usize, days: u64) -> Option<Taken> {
    let detail = click.detail.clone().unwrap_or_default();
    let what = match (click.state, click.button) {
        (ClickState::Acting, _) => return None,
        (ClickState::Done, Button::Quarantine) => TakenWhat::Quarantined {
            tests,
            days,
            rule: detail,
        },
        (ClickState::Done, Button::Unquarantine) => TakenWhat::Unquarantined { rule: detail },
        (ClickState::Done, Button::RerunFailed) => TakenWhat::Rerun { attempt: detail },
        (ClickState::Refused, button) => TakenWhat::Refused {
            button: label(button),
            why: detail,
        },
        (ClickState::Failed, button) => TakenWhat::Failed {
            button: label(button),
            why: detail,
        },
    };
    Some(Taken {
        what,
        by: click.sender.clone(),
        at: SystemTime::UNIX_EPOCH + Duration::from_millis(click.updated_at.unsigned_abs()),
    })
}
