//! Jobs, typed: what a job does ([`JobSpec`]) and how it ended ([`JobOutcome`]) are decoded
//! from their columns here, once, so nothing outside `store/` reads a job's raw columns or its
//! JSON payload.

use serde::{Deserialize, Serialize};

use super::model::{DeliveryId, JobId, JobKind, JobOutcome, JobState};
use crate::ci_build_id::{GithubRunId, RunAttempt};
use crate::currents::RunId;

/// What rang the bell for a check job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckEvent {
    #[serde(rename = "RUN_START")]
    RunStart,
    #[serde(rename = "RUN_FINISH")]
    RunFinish,
    #[serde(rename = "RUN_TIMEOUT")]
    RunTimeout,
    #[serde(rename = "RUN_CANCELED")]
    RunCanceled,
    /// The reconcile pass: a look at a run whose webhooks may have been lost.
    #[serde(rename = "RECONCILE")]
    Reconcile,
}

impl CheckEvent {
    /// Currents' webhook events that drive a check.
    pub const WEBHOOK: [Self; 4] = [
        Self::RunStart,
        Self::RunFinish,
        Self::RunTimeout,
        Self::RunCanceled,
    ];

    /// The spelling Currents uses (and the reconcile pass's own).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RunStart => "RUN_START",
            Self::RunFinish => "RUN_FINISH",
            Self::RunTimeout => "RUN_TIMEOUT",
            Self::RunCanceled => "RUN_CANCELED",
            Self::Reconcile => "RECONCILE",
        }
    }

    /// Currents' webhook event named `name`.
    pub fn of_webhook(name: &str) -> Option<Self> {
        Self::WEBHOOK.into_iter().find(|e| e.as_str() == name)
    }

    /// Whether one look is all the event asks for: a run still in progress is shown as such
    /// and the job is done (a finished group's event keeps looking until the run is over).
    pub const fn looks_once(self) -> bool {
        matches!(self, Self::RunStart | Self::Reconcile)
    }
}

/// What a check job needs: which run, and what rang the bell. Where to write is the Currents
/// API's to say, never the webhook's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckPayload {
    pub event: CheckEvent,
    pub run_id: RunId,
    #[serde(default)]
    pub group_id: Option<String>,
}

/// What a job does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum JobSpec {
    /// Cancel the Currents run of a cancelled workflow run attempt (GitHub's webhooks).
    Cancel {
        run_id: GithubRunId,
        run_attempt: RunAttempt,
    },
    /// Bring a Currents run's check run up to date (Currents' webhooks, App mode).
    Check(CheckPayload),
    /// A click on a button of one of the App's checks (GitHub's `requested_action`).
    Click(ClickPayload),
    /// A row this version cannot read (edited by hand, or from a newer version): the worker
    /// ends it as `unreadable`.
    Unreadable { reason: String },
}

impl JobSpec {
    pub fn kind(&self) -> JobKind {
        match self {
            Self::Cancel { .. } | Self::Unreadable { .. } => JobKind::Cancel,
            Self::Check(_) => JobKind::Check,
            Self::Click(_) => JobKind::Click,
        }
    }
}

/// A click, as the webhook named it: which button of which check run, and who clicked. The
/// job takes the rest from GitHub and the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClickPayload {
    pub check_run_id: crate::github::CheckRunId,
    pub button: super::Button,
    /// `sender.login`.
    pub sender: String,
}

/// A job, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    pub id: JobId,
    #[serde(flatten)]
    pub spec: JobSpec,
    pub dedupe_key: String,
    /// The repository of the webhook that queued it (for a check job, only what the bell
    /// named: the job takes the real one from the Currents API).
    pub repository: String,
    pub delivery_id: DeliveryId,
    pub state: JobState,
    pub outcome: Option<JobOutcome>,
    pub attempts: i64,
    pub next_run_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    /// Raised by every claim: a worker's writes name the generation it claimed, so a copy
    /// whose lease another worker took over can no longer finish or reschedule the job.
    pub lease_generation: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A job a worker has just claimed, with the database's clock at the claim: the worker
/// measures the job's age against it, never against its own host's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub job: Job,
    pub claimed_at: i64,
}

impl Claimed {
    /// Milliseconds since the job was queued.
    pub fn age_ms(&self) -> i64 {
        (self.claimed_at - self.job.created_at).max(0)
    }
}

/// A job's row, as the database holds it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct JobRow {
    id: JobId,
    kind: JobKind,
    dedupe_key: String,
    payload: Option<String>,
    repository: String,
    run_id: i64,
    run_attempt: i64,
    delivery_id: DeliveryId,
    state: JobState,
    outcome: Option<String>,
    attempts: i64,
    next_run_at: i64,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    lease_generation: i64,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

/// A claimed job's row.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ClaimedRow {
    #[sqlx(flatten)]
    job: JobRow,
    claimed_at: i64,
}

impl From<ClaimedRow> for Claimed {
    fn from(row: ClaimedRow) -> Self {
        Self {
            job: row.job.into(),
            claimed_at: row.claimed_at,
        }
    }
}

impl From<JobRow> for Job {
    fn from(row: JobRow) -> Self {
        let spec = spec_of(
            row.kind,
            row.payload.as_deref(),
            row.run_id,
            row.run_attempt,
        );
        Self {
            id: row.id,
            spec,
            dedupe_key: row.dedupe_key,
            repository: row.repository,
            delivery_id: row.delivery_id,
            state: row.state,
            // A label an older version wrote reads as none.
            outcome: row.outcome.as_deref().and_then(JobOutcome::from_label),
            attempts: row.attempts,
            next_run_at: row.next_run_at,
            lease_owner: row.lease_owner,
            lease_until: row.lease_until,
            lease_generation: row.lease_generation,
            last_error: row.last_error,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The spec a row's columns hold: a cancel's run and attempt (check jobs keep 0 there), a
/// check's JSON payload.
fn spec_of(kind: JobKind, payload: Option<&str>, run_id: i64, run_attempt: i64) -> JobSpec {
    match kind {
        JobKind::Cancel => match (u64::try_from(run_id), u32::try_from(run_attempt)) {
            (Ok(id), Ok(attempt)) if id > 0 && attempt > 0 => JobSpec::Cancel {
                run_id: GithubRunId::new(id),
                run_attempt: RunAttempt::new(attempt),
            },
            _ => JobSpec::Unreadable {
                reason: "the job's run id or attempt is out of range".into(),
            },
        },
        JobKind::Check => match payload.map(serde_json::from_str::<CheckPayload>) {
            Some(Ok(payload)) => JobSpec::Check(payload),
            _ => JobSpec::Unreadable {
                reason: "the check job's payload is unreadable".into(),
            },
        },
        JobKind::Click => match payload.map(serde_json::from_str::<ClickPayload>) {
            Some(Ok(payload)) => JobSpec::Click(payload),
            _ => JobSpec::Unreadable {
                reason: "the click job's payload is unreadable".into(),
            },
        },
    }
}

/// A job to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The repository of the webhook that queues it.
    pub repository: String,
    pub spec: JobSpec,
}

impl NewJob {
    /// A cancel job for a workflow run attempt.
    pub fn cancel(repository: impl Into<String>, run_id: GithubRunId, attempt: RunAttempt) -> Self {
        Self {
            repository: repository.into(),
            spec: JobSpec::Cancel {
                run_id,
                run_attempt: attempt,
            },
        }
    }

    /// A click job for `repository` (the delivery's; the job checks it against the store).
    pub fn click(repository: impl Into<String>, payload: ClickPayload) -> Self {
        Self {
            repository: repository.into(),
            spec: JobSpec::Click(payload),
        }
    }

    /// A check job; `claimed` is the repository the bell named, for logs and the admin
    /// listing only.
    pub fn check(claimed: impl Into<String>, payload: CheckPayload) -> Self {
        Self {
            repository: claimed.into(),
            spec: JobSpec::Check(payload),
        }
    }

    pub fn kind(&self) -> JobKind {
        self.spec.kind()
    }

    /// One cancel job per workflow run attempt (repository names are case-insensitive on
    /// GitHub); one check job per Currents run, event and group.
    pub fn dedupe_key(&self) -> String {
        match &self.spec {
            JobSpec::Cancel {
                run_id,
                run_attempt,
            } => format!(
                "{}#{run_id}#{run_attempt}",
                self.repository.to_ascii_lowercase()
            ),
            JobSpec::Check(check) => format!(
                "check#{}#{}#{}",
                check.run_id,
                check.event.as_str(),
                check.group_id.as_deref().unwrap_or_default()
            ),
            // One job per button, check and person: a double click is one job.
            JobSpec::Click(click) => format!(
                "click#{}#{}#{}",
                click.check_run_id,
                click.button.identifier(),
                click.sender.to_ascii_lowercase()
            ),
            JobSpec::Unreadable { .. } => String::new(),
        }
    }

    /// The row's columns: the payload (checks) and the run and attempt (cancels; 0 for checks).
    pub(crate) fn columns(&self) -> (Option<String>, i64, i64) {
        match &self.spec {
            JobSpec::Cancel {
                run_id,
                run_attempt,
            } => (
                None,
                i64::try_from(run_id.get()).unwrap_or(i64::MAX),
                i64::from(run_attempt.get()),
            ),
            JobSpec::Check(check) => (serde_json::to_string(check).ok(), 0, 0),
            JobSpec::Click(click) => (serde_json::to_string(click).ok(), 0, 0),
            JobSpec::Unreadable { .. } => (None, 0, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_decode_into_specs_and_unreadable_ones_say_so() {
        let check = r#"{"event":"RUN_FINISH","run_id":"r1","group_id":null}"#;
        assert_eq!(
            spec_of(JobKind::Check, Some(check), 0, 0),
            JobSpec::Check(CheckPayload {
                event: CheckEvent::RunFinish,
                run_id: RunId::new("r1"),
                group_id: None,
            })
        );
        // The payload of 0003's jobs carried the webhook's repository and commit too.
        let old = r#"{"event":"RUN_START","run_id":"r1","repository":"a/b","head_sha":"x"}"#;
        assert!(matches!(
            spec_of(JobKind::Check, Some(old), 0, 0),
            JobSpec::Check(_)
        ));
        assert_eq!(
            spec_of(JobKind::Cancel, None, 42, 2),
            JobSpec::Cancel {
                run_id: GithubRunId::new(42),
                run_attempt: RunAttempt::new(2)
            }
        );
        assert!(matches!(
            spec_of(JobKind::Cancel, None, -1, 1),
            JobSpec::Unreadable { .. }
        ));
        assert!(matches!(
            spec_of(JobKind::Check, Some("{"), 0, 0),
            JobSpec::Unreadable { .. }
        ));
        assert!(matches!(
            spec_of(JobKind::Check, None, 0, 0),
            JobSpec::Unreadable { .. }
        ));
    }

    #[test]
    fn jobs_serialise_flat_with_their_kind() {
        let spec = JobSpec::Cancel {
            run_id: GithubRunId::new(7),
            run_attempt: RunAttempt::new(1),
        };
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            serde_json::json!({"kind": "cancel", "run_id": 7, "run_attempt": 1})
        );
        let key =
            NewJob::cancel("Acme/Webapp", GithubRunId::new(7), RunAttempt::new(1)).dedupe_key();
        assert_eq!(key, "acme/webapp#7#1");
    }
}
