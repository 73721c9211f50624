//! What the store keeps: typed ids, job states and outcomes, and the rows.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::job::Job;

/// The longest delivery or hook id stored. GitHub's are a UUID (36 bytes) and a decimal number;
/// anything far longer is not GitHub, and storing it would let a client grow the database.
pub const MAX_ID_BYTES: usize = 128;

crate::ids::id_type!(
    /// A job's row id.
    #[derive(sqlx::Type)]
    #[sqlx(transparent)]
    JobId(i64)
);

crate::ids::id_type!(
    /// `X-GitHub-Delivery`: the delivery's GUID, kept on a redelivery.
    #[derive(sqlx::Type)]
    #[sqlx(transparent)]
    DeliveryId(String),
    max = MAX_ID_BYTES,
    empty = false
);
crate::ids::id_type!(
    /// `X-GitHub-Hook-ID`: which hook sent the delivery; empty when absent.
    #[derive(sqlx::Type)]
    #[sqlx(transparent)]
    HookId(String),
    max = MAX_ID_BYTES,
    empty = true
);

/// The state of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for `next_run_at`.
    Pending,
    /// Claimed by a worker until `lease_until`.
    Running,
    /// Finished: whatever its outcome says (a cancel made, a check completed, …).
    Done,
    /// Given up: a configuration problem or an outage longer than the retry window;
    /// `POST /admin/jobs/{id}/retry`, or a new delivery for the same run, requeues it.
    Dead,
    /// Logged instead of done (`--dry-run`).
    Dry,
}

impl JobState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
            Self::Dry => "dry",
        }
    }
}

impl FromStr for JobState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "done" => Self::Done,
            "dead" => Self::Dead,
            "dry" => Self::Dry,
            other => return Err(format!("unknown job state {other:?}")),
        })
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stores a type with `as_str` and `FromStr` as text on both databases.
macro_rules! text_column {
    ($name:ty) => {
        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            String: sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(<String as sqlx::Decode<DB>>::decode(value)?.parse()?)
            }
        }
    };
}

text_column!(JobState);

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Cancel the Currents run of a cancelled workflow run (GitHub's webhooks).
    Cancel,
    /// Bring a Currents run's check run up to date (Currents' webhooks, App mode).
    Check,
    /// Act on a click of a button of one of the App's checks.
    Click,
}

impl JobKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Check => "check",
            Self::Click => "click",
        }
    }
}

impl FromStr for JobKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cancel" => Ok(Self::Cancel),
            "check" => Ok(Self::Check),
            "click" => Ok(Self::Click),
            other => Err(format!("unknown job kind {other:?}")),
        }
    }
}

text_column!(JobKind);

/// How a job ended. One spelling ([`JobOutcome::label`]) for the database, the admin API,
/// the metrics and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// Currents cancelled the run (200).
    Cancelled,
    /// It was cancelled before (422).
    AlreadyCancelled,
    /// No run was recorded for the workflow run within the not-found window (404).
    NotFound,
    /// `--dry-run`: logged, not sent.
    DryRun,
    /// Transient failures outlasted the retry window.
    GaveUp,
    /// Currents refused the cancel (401, 403 after retries, other 4xx), or no key is set.
    Rejected,
    /// A check job made or updated an in-progress check run.
    CheckInProgress,
    /// A check job completed the run's check run (or found it completed).
    CheckCompleted,
    /// The GitHub App is not installed on the run's repository.
    NotInstalled,
    /// The run's Currents project may not report on its repository (`--currents-projects`).
    NotAllowed,
    /// The run's repository is on another host than `--github-server-url`.
    OtherHost,
    /// The job's row cannot be read by this version (a payload edited by hand).
    Unreadable,
    /// A button did what it says (or another click of it already had).
    ClickDone,
    /// The one who clicked may not (too little access on the repository).
    ClickRefused,
    /// GitHub or Currents refused what the button asked.
    ClickFailed,
    /// A click on a check this relay did not make: nothing was done.
    NotOurs,
}

impl JobOutcome {
    pub const fn label(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::AlreadyCancelled => "already-cancelled",
            Self::NotFound => "not-found",
            Self::DryRun => "dry-run",
            Self::GaveUp => "gave-up",
            Self::Rejected => "rejected",
            Self::CheckInProgress => "check-in-progress",
            Self::CheckCompleted => "check-completed",
            Self::NotInstalled => "not-installed",
            Self::NotAllowed => "not-allowed",
            Self::OtherHost => "other-host",
            Self::Unreadable => "unreadable",
            Self::ClickDone => "click-done",
            Self::ClickRefused => "click-refused",
            Self::ClickFailed => "click-failed",
            Self::NotOurs => "not-ours",
        }
    }

    /// Every outcome, for reading labels back.
    pub const ALL: [Self; 16] = [
        Self::Cancelled,
        Self::AlreadyCancelled,
        Self::NotFound,
        Self::DryRun,
        Self::GaveUp,
        Self::Rejected,
        Self::CheckInProgress,
        Self::CheckCompleted,
        Self::NotInstalled,
        Self::NotAllowed,
        Self::OtherHost,
        Self::Unreadable,
        Self::ClickDone,
        Self::ClickRefused,
        Self::ClickFailed,
        Self::NotOurs,
    ];

    /// The outcome of a label; `None` for text this version never wrote.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.label() == label)
    }

    /// The state a job with this outcome ends in.
    pub const fn state(self) -> JobState {
        match self {
            Self::Cancelled
            | Self::AlreadyCancelled
            | Self::NotFound
            | Self::CheckInProgress
            | Self::CheckCompleted
            | Self::NotInstalled
            | Self::NotAllowed
            | Self::OtherHost
            | Self::ClickDone
            | Self::ClickRefused
            | Self::ClickFailed
            | Self::NotOurs => JobState::Done,
            Self::DryRun => JobState::Dry,
            Self::GaveUp | Self::Rejected | Self::Unreadable => JobState::Dead,
        }
    }
}

impl Serialize for JobOutcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.label())
    }
}

/// A verified delivery to record.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    pub hook_id: &'a HookId,
    pub delivery_id: &'a DeliveryId,
    pub event: &'a str,
    pub action: Option<&'a str>,
    /// The raw body, kept when the delivery queues a cancel.
    pub body: Option<&'a [u8]>,
    /// The SHA-256 (hex) of the signed body: a body already stored under another delivery id
    /// is a replay, and is stored no more.
    pub body_digest: Option<&'a str>,
}

/// What the store remembers of a Currents run's check run, read under its lease.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CheckRecord {
    /// Where the check run is: from the Currents API's run, when the record was made.
    pub repository: String,
    pub head_sha: String,
    pub check_run_id: Option<i64>,
    /// Annotations GitHub has accepted for the check run.
    pub annotations_sent: i64,
    /// Annotations sent or being sent: recorded before each batch goes out, so a count above
    /// `annotations_sent` says an attempt stopped before it learnt whether GitHub took the
    /// batch (and the next attempt asks GitHub).
    pub annotations_pending: i64,
    /// The check run is completed: nothing more is sent to it.
    pub completed: bool,
    /// The fence of the lease this record was read under: every write names it, and a newer
    /// lease on the record (another attempt's) refuses them.
    pub fence: i64,
}

/// What [`super::Store::record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// This (hook, delivery) was recorded before: nothing was written.
    Duplicate,
    /// The delivery was recorded; it asked for no cancel.
    Delivery,
    /// The delivery was recorded, and its job is queued: new, already waiting or running,
    /// or (`requeued`) dead until this delivery brought it back.
    Job {
        id: JobId,
        created: bool,
        requeued: bool,
    },
    /// The delivery was recorded; its job already finished (`done` or `dry`).
    Finished { id: JobId },
}

/// Counts for `/metrics` and `/readyz`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub pending: i64,
    pub running: i64,
    pub dead: i64,
    /// Age of the oldest pending job, in milliseconds.
    pub oldest_pending_ms: i64,
}

/// What a requeue found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requeue {
    Requeued(Job),
    NotDead(Job),
    NotFound,
}

/// What one retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: u64,
    pub jobs: u64,
    pub check_runs: u64,
}
