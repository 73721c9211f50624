//! Buttons on App mode's checks: what a completed check offered them, every click acted on
//! or refused, and the Currents projects whose key may not write Actions. Each button acts
//! once per check: a double click, a redelivery or a replica race finds the first click's row
//! (a unique index over the clicks acting or done).

use serde::{Deserialize, Serialize};

use super::model::JobId;
use super::{Backend, Store, StoreError, sql};
use crate::currents::{ProjectId, RunId};
use crate::github::CheckRunId;

/// A button of an App mode check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Button {
    /// Re-run the failed jobs of the workflow run that recorded the Currents run.
    RerunFailed,
    /// Quarantine the `flaky` failures in Currents.
    Quarantine,
    /// Disable the quarantine this relay made.
    Unquarantine,
}

impl Button {
    pub const ALL: [Self; 3] = [Self::RerunFailed, Self::Quarantine, Self::Unquarantine];

    /// GitHub's `identifier` (at most 20 characters), and the stored spelling.
    pub const fn identifier(self) -> &'static str {
        match self {
            Self::RerunFailed => "rerun-failed",
            Self::Quarantine => "quarantine",
            Self::Unquarantine => "unquarantine",
        }
    }

    pub fn parse(identifier: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.identifier() == identifier)
    }
}

/// Where a click stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClickState {
    /// A job is performing it.
    Acting,
    Done,
    /// The sender may not (too little access on the repository).
    Refused,
    /// GitHub or Currents refused it, or it gave up.
    Failed,
}

impl ClickState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Acting => "acting",
            Self::Done => "done",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Acting, Self::Done, Self::Refused, Self::Failed]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// A click, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Click {
    pub id: i64,
    pub button: Button,
    pub sender: String,
    pub job_id: JobId,
    pub state: ClickState,
    /// What it did (the rule's id, the new attempt) or why it was refused or failed.
    pub detail: Option<String>,
    /// Epoch milliseconds.
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct ClickRow {
    id: i64,
    button: String,
    sender: String,
    job_id: JobId,
    state: String,
    detail: Option<String>,
    updated_at: i64,
}

impl ClickRow {
    fn decode(self) -> Option<Click> {
        Some(Click {
            id: self.id,
            button: Button::parse(&self.button)?,
            sender: self.sender,
            job_id: self.job_id,
            state: ClickState::parse(&self.state)?,
            detail: self.detail,
            updated_at: self.updated_at,
        })
    }
}

/// A test the quarantine button would quarantine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineTest {
    /// The framework's id, which the rule matches (`testId eq`).
    pub test_id: String,
    pub spec: String,
    pub title: String,
}

/// What a completed check offered its buttons, recorded with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offers {
    pub project: ProjectId,
    /// The run did not pass: a re-run may help.
    pub failed: bool,
    /// The App may re-run workflows on the repository (`actions: write`).
    pub may_rerun: bool,
    /// The failures with verdict `flaky`, on a Playwright run (Actions apply to those only).
    pub flaky: Vec<QuarantineTest>,
    /// The pull request whose comment shows the check.
    pub pull: Option<u64>,
}

/// The check record a click names.
#[derive(Debug, Clone)]
pub struct ClickedCheck {
    pub currents_run_id: RunId,
    pub repository: String,
    pub head_sha: String,
    /// `None` for a check completed before buttons existed, or not completed yet.
    pub offers: Option<Offers>,
}

/// What claiming a click found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClickClaim {
    /// This job performs it (a new claim, or this job's own from an earlier attempt).
    Mine(Click),
    /// Another job's click of the same button is acting or done.
    Taken(Click),
}

const CLICK_COLUMNS: &str = "id, button, sender, job_id, state, detail, updated_at";

impl Store {
    /// Records what the completed check of Currents run `run` offered its buttons.
    pub async fn save_offers(&self, run: &RunId, offers: &Offers) -> Result<(), StoreError> {
        let json = serde_json::to_string(offers).unwrap_or_default();
        with_pool!(self, pool => {
            sqlx::query(sql(&self.queries.offers_save))
                .bind(run.as_str())
                .bind(json)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// The check record of GitHub check run `check`, if this relay made it.
    pub async fn clicked_check(
        &self,
        check: CheckRunId,
    ) -> Result<Option<ClickedCheck>, StoreError> {
        let id = i64::try_from(check.get()).unwrap_or(i64::MAX);
        let row: Option<(String, String, String, Option<String>)> = with_pool!(self, pool => {
            sqlx::query_as(sql(&self.queries.check_of_click))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(run, repository, head_sha, offers)| ClickedCheck {
            currents_run_id: RunId::new(run),
            repository,
            head_sha,
            offers: offers.and_then(|o| serde_json::from_str(&o).ok()),
        }))
    }

    /// Claims `button` of check `check` for `job`, clicked by `sender`: the first click of a
    /// button is performed, any later one finds it.
    pub async fn claim_click(
        &self,
        check: CheckRunId,
        button: Button,
        sender: &str,
        job: JobId,
    ) -> Result<ClickClaim, StoreError> {
        let id = i64::try_from(check.get()).unwrap_or(i64::MAX);
        with_pool!(self, pool => {
            sqlx::query(sql(&self.queries.click_claim))
                .bind(id)
                .bind(button.identifier())
                .bind(sender)
                .bind(job)
                .execute(pool)
                .await?;
            let held: Option<ClickRow> = sqlx::query_as(sql(&self.queries.click_held))
                .bind(id)
                .bind(button.identifier())
                .fetch_optional(pool)
                .await?;
            let held = held.and_then(ClickRow::decode).ok_or(StoreError::Vanished)?;
            Ok(if held.job_id == job {
                ClickClaim::Mine(held)
            } else {
                ClickClaim::Taken(held)
            })
        })
    }

    /// Ends click `click` as `state`, with what it did or why not.
    pub async fn end_click(
        &self,
        click: i64,
        state: ClickState,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(sql(&self.queries.click_end))
                .bind(click)
                .bind(state.as_str())
                .bind(detail)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Records that `sender` may not press `button` (once per job).
    pub async fn refuse_click(
        &self,
        check: CheckRunId,
        button: Button,
        sender: &str,
        job: JobId,
        why: &str,
    ) -> Result<(), StoreError> {
        let id = i64::try_from(check.get()).unwrap_or(i64::MAX);
        with_pool!(self, pool => {
            sqlx::query(sql(&self.queries.click_refuse))
                .bind(id)
                .bind(button.identifier())
                .bind(sender)
                .bind(job)
                .bind(why)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Every click of check `check`, oldest first.
    pub async fn clicks(&self, check: CheckRunId) -> Result<Vec<Click>, StoreError> {
        let id = i64::try_from(check.get()).unwrap_or(i64::MAX);
        let rows: Vec<ClickRow> = with_pool!(self, pool => {
            sqlx::query_as(sql(&self.queries.clicks))
                .bind(id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().filter_map(ClickRow::decode).collect())
    }

    /// Remembers that Currents refused an Actions write with project `project`'s key.
    pub async fn flag_actions_refused(&self, project: &ProjectId) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(sql(&self.queries.flag_actions_refused))
                .bind(project.as_str())
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Whether Currents refused an Actions write with project `project`'s key.
    pub async fn actions_refused(&self, project: &ProjectId) -> Result<bool, StoreError> {
        let count: i64 = with_pool!(self, pool => {
            sqlx::query_scalar(sql(&self.queries.actions_refused))
                .bind(project.as_str())
                .fetch_one(pool)
                .await?
        });
        Ok(count > 0)
    }
}

/// The click columns, for the query table.
pub(super) const fn click_columns() -> &'static str {
    CLICK_COLUMNS
}
