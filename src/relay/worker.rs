//! The relay's worker: claims due cancel jobs with a lease, calls Currents, and records the
//! outcome. Retries live in the queue (`next_run_at`), not in memory, so a restart loses none.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::metrics::Metrics;
use crate::ci_build_id::{GithubRunId, RunAttempt, github_ci_build_id};
use crate::currents::{
    CancelOutcome, CancelTarget, CurrentsClient, CurrentsError, GithubRunCancel, ProjectId,
};
use crate::retry::RetryPolicy;
use crate::store::{Job, JobState, Store, now_ms};

/// Jobs one worker runs at once: cancels are small, and Currents should not see bursts.
const CONCURRENCY: usize = 4;

/// When failed cancels are tried again.
#[derive(Debug, Clone)]
pub struct RetrySchedule {
    /// After 408/425/429/5xx or no answer. The default spaces 12 attempts over about an hour.
    pub transient: RetryPolicy,
    /// Attempts before a job goes dead.
    pub max_attempts: i64,
    /// After a 404: the run may not be recorded yet.
    pub not_found: RetryPolicy,
    /// How long after the event a 404 is retried before the job ends as not found.
    pub not_found_window: Duration,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self {
            // 20 s doubling to a 10 min cap: 20+40+80+160+320+600×6 s ≈ 70 min before jitter,
            // about 53 min with it; 12 attempts "over about an hour".
            transient: RetryPolicy {
                max_retries: 11,
                base_delay: Duration::from_secs(20),
                max_delay: Duration::from_secs(600),
                max_retry_after: Duration::from_secs(600),
            },
            max_attempts: 12,
            // A run appears when its first results upload, usually within a minute or two.
            not_found: RetryPolicy {
                max_retries: u32::MAX,
                base_delay: Duration::from_secs(10),
                max_delay: Duration::from_secs(120),
                max_retry_after: Duration::from_secs(120),
            },
            not_found_window: Duration::from_secs(15 * 60),
        }
    }
}

impl RetrySchedule {
    /// The same shape, every wait scaled to start at `base` (for tests and impatient operators).
    pub fn with_base(base: Duration) -> Self {
        let default = Self::default();
        let scale = |p: RetryPolicy| RetryPolicy {
            base_delay: base,
            max_delay: base * 30,
            max_retry_after: p.max_retry_after,
            ..p
        };
        Self {
            transient: scale(default.transient),
            not_found: scale(default.not_found),
            ..default
        }
    }
}

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This worker's lease owner name, unique per process.
    pub owner: String,
    /// How often to look for due jobs when nothing wakes the worker.
    pub poll_interval: Duration,
    /// How long a claim lasts: longer than one Currents call (30 s) plus a margin, so a slow
    /// cancel is never claimed twice; short enough that a crashed worker's jobs resume soon.
    pub lease: Duration,
    pub schedule: RetrySchedule,
    /// Scopes every cancel to this Currents project (`CURRENTS_PROJECT_ID`).
    pub project_id: Option<String>,
    /// Log what would be cancelled and mark the job `dry`.
    pub dry_run: bool,
}

/// When the worker last looked for work, for `/readyz`.
#[derive(Debug, Clone, Default)]
pub struct Heartbeat(Arc<AtomicI64>);

impl Heartbeat {
    pub fn beat(&self) {
        self.0.store(now_ms(), Ordering::Relaxed);
    }

    /// Milliseconds since the last beat; `None` before the first.
    pub fn age_ms(&self) -> Option<i64> {
        let last = self.0.load(Ordering::Relaxed);
        (last > 0).then(|| now_ms() - last)
    }
}

/// What to do with a job after a cancel attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Finish {
        state: JobState,
        outcome: &'static str,
        error: Option<String>,
    },
    Retry {
        after: Duration,
        error: String,
    },
}

impl Decision {
    /// The metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Finish {
                outcome: "cancelled",
                ..
            } => "cancelled",
            Self::Finish {
                outcome: "already-cancelled",
                ..
            } => "already_cancelled",
            Self::Finish {
                outcome: "not-found",
                ..
            } => "not_found",
            Self::Finish {
                state: JobState::Dead,
                ..
            } => "dead",
            Self::Finish { .. } => "done",
            Self::Retry { .. } => "retry",
        }
    }
}

/// 200 and 422 are done; 404 is retried until `not_found_window` after the event, then done as
/// not found; 401, 403 and other refusals are dead at once (a configuration problem); transient
/// failures are retried with backoff, honouring `Retry-After`, until `max_attempts`.
pub fn decide(
    result: &Result<CancelOutcome, CurrentsError>,
    job: &Job,
    now: i64,
    schedule: &RetrySchedule,
) -> Decision {
    let attempt = u32::try_from(job.attempts.max(1)).unwrap_or(u32::MAX);
    match result {
        Ok(CancelOutcome::Cancelled { .. }) => Decision::Finish {
            state: JobState::Done,
            outcome: "cancelled",
            error: None,
        },
        Ok(CancelOutcome::AlreadyCancelled) => Decision::Finish {
            state: JobState::Done,
            outcome: "already-cancelled",
            error: None,
        },
        Ok(CancelOutcome::NotFound) => {
            let window = i64::try_from(schedule.not_found_window.as_millis()).unwrap_or(i64::MAX);
            let left = window - (now - job.created_at);
            if left <= 0 {
                return Decision::Finish {
                    state: JobState::Done,
                    outcome: "not-found",
                    error: None,
                };
            }
            let after = schedule
                .not_found
                .backoff(attempt)
                .min(Duration::from_millis(left.unsigned_abs()));
            Decision::Retry {
                after,
                error: "no Currents run is recorded for this workflow run yet (HTTP 404)".into(),
            }
        }
        Err(error) if error.is_transient() => {
            if job.attempts >= schedule.max_attempts {
                return Decision::Finish {
                    state: JobState::Dead,
                    outcome: "gave-up",
                    error: Some(error.to_string()),
                };
            }
            let retry_after = match error {
                CurrentsError::Status {
                    retry_after: Some(after),
                    ..
                } => Some((*after).min(schedule.transient.max_retry_after)),
                _ => None,
            };
            Decision::Retry {
                after: retry_after.unwrap_or_else(|| schedule.transient.backoff(attempt)),
                error: error.to_string(),
            }
        }
        Err(error) => Decision::Finish {
            state: JobState::Dead,
            outcome: "rejected",
            error: Some(error.to_string()),
        },
    }
}

/// Runs until `shutdown`, then lets in-flight cancels finish and releases its leases.
pub async fn run(
    store: Store,
    client: Option<CurrentsClient>,
    config: WorkerConfig,
    metrics: Arc<Metrics>,
    heartbeat: Heartbeat,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    tracing::info!(owner = %config.owner, dry_run = config.dry_run, "worker started");
    while !shutdown.is_cancelled() {
        heartbeat.beat();
        match store
            .claim(
                &config.owner,
                now_ms(),
                config.lease,
                CONCURRENCY as i64 * 4,
            )
            .await
        {
            Ok(jobs) if !jobs.is_empty() => {
                futures_util::stream::iter(jobs)
                    .for_each_concurrent(CONCURRENCY, |job| {
                        process(&store, client.as_ref(), &config, &metrics, &heartbeat, job)
                    })
                    .await;
                continue;
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "cannot claim jobs"),
        }
        tokio::select! {
            () = tokio::time::sleep(config.poll_interval) => {}
            () = wake.notified() => {}
            () = shutdown.cancelled() => {}
        }
    }
    match store.release(&config.owner, now_ms()).await {
        Ok(released) => tracing::info!(released, "worker stopped"),
        Err(error) => tracing::error!(%error, "worker stopped; leases expire by themselves"),
    }
}

async fn process(
    store: &Store,
    client: Option<&CurrentsClient>,
    config: &WorkerConfig,
    metrics: &Metrics,
    heartbeat: &Heartbeat,
    job: Job,
) {
    let ci_build_id = match (u64::try_from(job.run_id), u32::try_from(job.run_attempt)) {
        (Ok(id), Ok(attempt)) => github_ci_build_id(
            &job.repository,
            GithubRunId::new(id),
            RunAttempt::new(attempt),
        )
        .to_string(),
        _ => String::new(),
    };
    let span = tracing::info_span!(
        "cancel",
        job = job.id,
        delivery = %job.delivery_id,
        repository = %job.repository,
        run_id = job.run_id,
        run_attempt = job.run_attempt,
        ci_build_id = %ci_build_id,
        attempt = job.attempts,
    );
    async {
        heartbeat.beat();
        let (client, false) = (client, config.dry_run) else {
            tracing::info!("dry run: would cancel the Currents run of this workflow run");
            finish(store, config, metrics, &job, JobState::Dry, "dry-run", None).await;
            return;
        };
        let Some(client) = client else {
            finish(store, config, metrics, &job, JobState::Dead, "rejected", Some("no Currents API key is configured")).await;
            return;
        };
        let (Ok(run_id), Ok(attempt)) = (u64::try_from(job.run_id), u32::try_from(job.run_attempt)) else {
            finish(store, config, metrics, &job, JobState::Dead, "rejected", Some("the job's run id or attempt is out of range")).await;
            return;
        };
        let target = CancelTarget::GithubRun(GithubRunCancel {
            run_id: GithubRunId::new(run_id),
            attempt: RunAttempt::new(attempt),
            project_id: config.project_id.clone().map(ProjectId::new),
            ci_build_id: None,
        });
        let result = client.cancel(&target).await;
        match decide(&result, &job, now_ms(), &config.schedule) {
            Decision::Finish { state, outcome, error } => finish(store, config, metrics, &job, state, outcome, error.as_deref()).await,
            decision @ Decision::Retry { .. } => {
                let Decision::Retry { after, error } = &decision else { unreachable!() };
                tracing::warn!(error = %error, retry_in_ms = after.as_millis() as u64, "cancel will be retried");
                let at = now_ms() + i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 2);
                match store.reschedule(job.id, &config.owner, at, error, now_ms()).await {
                    Ok(true) => metrics.cancel(decision.label()),
                    Ok(false) => tracing::warn!("lost the lease before rescheduling; another worker has the job"),
                    Err(e) => tracing::error!(error = %e, "cannot reschedule; the lease will expire and the job resume"),
                }
            }
        }
    }
    .instrument(span)
    .await;
}

async fn finish(
    store: &Store,
    config: &WorkerConfig,
    metrics: &Metrics,
    job: &Job,
    state: JobState,
    outcome: &'static str,
    error: Option<&str>,
) {
    match store
        .finish(job.id, &config.owner, state, outcome, error, now_ms())
        .await
    {
        Ok(true) => {
            let label = match (state, outcome) {
                (JobState::Dry, _) => "dry_run",
                (_, "cancelled") => "cancelled",
                (_, "already-cancelled") => "already_cancelled",
                (_, "not-found") => "not_found",
                (JobState::Dead, _) => "dead",
                _ => "done",
            };
            metrics.cancel(label);
            match error {
                Some(error) => {
                    tracing::error!(state = state.as_str(), outcome, %error, "cancel job ended")
                }
                None => tracing::info!(state = state.as_str(), outcome, "cancel job ended"),
            }
        }
        Ok(false) => tracing::warn!("lost the lease before finishing; another worker has the job"),
        Err(e) => {
            tracing::error!(error = %e, "cannot record the outcome; the lease will expire and the job resume")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(attempts: i64, created_at: i64) -> Job {
        Job {
            id: 1,
            dedupe_key: "a/b#1#1".into(),
            repository: "a/b".into(),
            run_id: 1,
            run_attempt: 1,
            delivery_id: "d".into(),
            state: "running".into(),
            outcome: None,
            attempts,
            next_run_at: 0,
            lease_owner: Some("w".into()),
            lease_until: Some(0),
            last_error: None,
            created_at,
            updated_at: 0,
        }
    }

    fn status(code: u16, retry_after: Option<Duration>) -> CurrentsError {
        CurrentsError::Status {
            call: "c".into(),
            status: code,
            detail: String::new(),
            retried: "",
            retry_after,
        }
    }

    #[test]
    fn outcomes_end_or_retry_the_job() {
        let s = RetrySchedule::default();
        let now = 1_000_000;
        let d = decide(
            &Ok(CancelOutcome::Cancelled { run_id: None }),
            &job(1, now),
            now,
            &s,
        );
        assert_eq!(
            d,
            Decision::Finish {
                state: JobState::Done,
                outcome: "cancelled",
                error: None
            }
        );
        let d = decide(&Ok(CancelOutcome::AlreadyCancelled), &job(1, now), now, &s);
        assert_eq!(d.label(), "already_cancelled");
        let unauthorized = CurrentsError::Unauthorized {
            call: "c".into(),
            detail: String::new(),
            hint: "",
        };
        assert!(matches!(
            decide(&Err(unauthorized), &job(1, now), now, &s),
            Decision::Finish {
                state: JobState::Dead,
                ..
            }
        ));
        assert!(matches!(
            decide(&Err(status(400, None)), &job(1, now), now, &s),
            Decision::Finish {
                state: JobState::Dead,
                ..
            }
        ));
    }

    #[test]
    fn not_found_is_retried_within_the_window_only() {
        let s = RetrySchedule::default();
        let event = 1_000_000;
        let early = decide(
            &Ok(CancelOutcome::NotFound),
            &job(1, event),
            event + 60_000,
            &s,
        );
        assert!(matches!(early, Decision::Retry { after, .. } if after <= Duration::from_secs(10)));
        let late = decide(
            &Ok(CancelOutcome::NotFound),
            &job(9, event),
            event + 15 * 60_000,
            &s,
        );
        assert_eq!(
            late,
            Decision::Finish {
                state: JobState::Done,
                outcome: "not-found",
                error: None
            }
        );
        // Never scheduled past the window's end.
        let edge = decide(
            &Ok(CancelOutcome::NotFound),
            &job(20, event),
            event + 15 * 60_000 - 1_000,
            &s,
        );
        assert!(matches!(edge, Decision::Retry { after, .. } if after <= Duration::from_secs(1)));
    }

    #[test]
    fn transient_failures_back_off_then_die() {
        let s = RetrySchedule::default();
        let first = decide(&Err(status(503, None)), &job(1, 0), 0, &s);
        assert!(
            matches!(first, Decision::Retry { after, .. } if after >= Duration::from_secs(10) && after <= Duration::from_secs(20))
        );
        let honoured = decide(
            &Err(status(429, Some(Duration::from_secs(42)))),
            &job(3, 0),
            0,
            &s,
        );
        assert!(
            matches!(honoured, Decision::Retry { after, .. } if after == Duration::from_secs(42))
        );
        let last = decide(&Err(status(503, None)), &job(12, 0), 0, &s);
        assert!(matches!(
            last,
            Decision::Finish {
                state: JobState::Dead,
                outcome: "gave-up",
                ..
            }
        ));
        let transport = CurrentsError::Transport {
            call: "c".into(),
            reason: "refused".into(),
        };
        assert!(matches!(
            decide(&Err(transport), &job(2, 0), 0, &s),
            Decision::Retry { .. }
        ));
    }

    #[test]
    fn the_default_schedule_spans_about_an_hour() {
        let s = RetrySchedule::default();
        let mut worst = Duration::ZERO;
        for attempt in 1..12 {
            worst += s
                .transient
                .max_delay
                .min(s.transient.base_delay * 2u32.pow(attempt - 1));
        }
        assert!(
            worst >= Duration::from_secs(50 * 60) && worst <= Duration::from_secs(75 * 60),
            "{worst:?}"
        );
    }
}
