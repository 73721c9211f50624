//! When a failed cancel is tried again, and when the queue gives up: the queue's own schedule,
//! kept in the database (`next_run_at`), separate from the in-process [`crate::retry`] policy
//! of the Actions steps.

use std::time::Duration;

use crate::currents::{CancelOutcome, CurrentsError};
use crate::store::{Claimed, JobOutcome};

/// Exponential backoff with equal jitter: half of each step fixed, half random.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first step; each further step doubles it.
    pub base: Duration,
    /// The longest step.
    pub cap: Duration,
}

impl Backoff {
    /// The wait before attempt `attempt + 1`, after `attempt` (1-based) failed.
    pub fn after(&self, attempt: u32) -> Duration {
        let step = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.cap);
        let half = step / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// The queue's schedule.
#[derive(Debug, Clone)]
pub struct RetrySchedule {
    /// After 408/425/429/5xx or no answer.
    pub transient: Backoff,
    /// How long after a job was queued transient failures are still retried. Outages of
    /// Currents or of the network in between can last hours; GitHub's own redelivery window is
    /// three days.
    pub window: Duration,
    /// The longest `Retry-After` honoured.
    pub max_retry_after: Duration,
    /// Attempts a 401 or 403 gets before the job goes dead: a proxy or gateway can answer so
    /// during an incident, while a wrong key answers so every time.
    pub auth_attempts: i64,
    /// After a 404: the run may not be recorded yet.
    pub not_found: Backoff,
    /// How long after the event a 404 is retried before the job ends as not found.
    pub not_found_window: Duration,
}

/// Transient failures are retried for a day by default.
pub const DEFAULT_RETRY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

impl Default for RetrySchedule {
    fn default() -> Self {
        Self {
            // 20 s doubling to a 10 min cap: a short blip costs seconds, a long outage one
            // attempt every 5-10 minutes.
            transient: Backoff {
                base: Duration::from_secs(20),
                cap: Duration::from_secs(600),
            },
            window: DEFAULT_RETRY_WINDOW,
            max_retry_after: Duration::from_secs(600),
            auth_attempts: 3,
            // A run appears when its first results upload, usually within a minute or two.
            not_found: Backoff {
                base: Duration::from_secs(10),
                cap: Duration::from_secs(120),
            },
            not_found_window: Duration::from_secs(15 * 60),
        }
    }
}

impl RetrySchedule {
    /// The same shape, every wait scaled to start at `base` (for tests and impatient operators).
    pub fn with_base(base: Duration) -> Self {
        let scale = |_: Backoff| Backoff {
            base,
            cap: base * 30,
        };
        let default = Self::default();
        Self {
            transient: scale(default.transient),
            not_found: scale(default.not_found),
            ..default
        }
    }
}

/// What to do with a job after a cancel attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Finish {
        outcome: JobOutcome,
        error: Option<String>,
    },
    Retry {
        after: Duration,
        error: String,
    },
}

impl Decision {
    /// The metrics and log label: the outcome's, or `retry`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Finish { outcome, .. } => outcome.label(),
            Self::Retry { .. } => "retry",
        }
    }
}

/// 200 and 422 are done; 404 is retried until `not_found_window` after the event, then done as
/// not found; 401 and 403 are retried `auth_attempts` times, other refusals are dead at once (a
/// configuration problem); transient failures are retried with backoff, honouring
/// `Retry-After`, until `window` after the event. Every age is the database's clock's.
pub fn decide(
    result: &Result<CancelOutcome, CurrentsError>,
    claimed: &Claimed,
    schedule: &RetrySchedule,
) -> Decision {
    let job = &claimed.job;
    let attempt = u32::try_from(job.attempts.max(1)).unwrap_or(u32::MAX);
    let age = Duration::from_millis(claimed.age_ms().unsigned_abs());
    let left = |window: Duration| window.saturating_sub(age);
    match result {
        Ok(CancelOutcome::Cancelled { .. }) => Decision::Finish {
            outcome: JobOutcome::Cancelled,
            error: None,
        },
        Ok(CancelOutcome::AlreadyCancelled) => Decision::Finish {
            outcome: JobOutcome::AlreadyCancelled,
            error: None,
        },
        Ok(CancelOutcome::NotFound) => {
            let left = left(schedule.not_found_window);
            if left.is_zero() {
                return Decision::Finish {
                    outcome: JobOutcome::NotFound,
                    error: None,
                };
            }
            Decision::Retry {
                after: schedule.not_found.after(attempt).min(left),
                error: "no Currents run is recorded for this workflow run yet (HTTP 404)".into(),
            }
        }
        Err(error) if error.is_transient() => {
            let left = left(schedule.window);
            if left.is_zero() {
                return Decision::Finish {
                    outcome: JobOutcome::GaveUp,
                    error: Some(crate::log_safe::Chain(error).to_string()),
                };
            }
            let retry_after = match error {
                CurrentsError::Status {
                    retry_after: Some(after),
                    ..
                } => Some((*after).min(schedule.max_retry_after)),
                _ => None,
            };
            Decision::Retry {
                after: retry_after
                    .unwrap_or_else(|| schedule.transient.after(attempt))
                    .min(left),
                error: crate::log_safe::Chain(error).to_string(),
            }
        }
        Err(error)
            if matches!(error.status(), Some(401 | 403))
                && job.attempts < schedule.auth_attempts =>
        {
            Decision::Retry {
                after: schedule.transient.after(attempt),
                error: crate::log_safe::Chain(error).to_string(),
            }
        }
        Err(error) => Decision::Finish {
            outcome: JobOutcome::Rejected,
            error: Some(crate::log_safe::Chain(error).to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeliveryId, Job, JobId, JobState};

    fn claimed(attempts: i64, age_ms: i64) -> Claimed {
        Claimed {
            job: Job {
                id: JobId::new(1),
                spec: crate::store::JobSpec::Cancel {
                    run_id: crate::ci_build_id::GithubRunId::new(1),
                    run_attempt: crate::ci_build_id::RunAttempt::new(1),
                },
                dedupe_key: "a/b#1#1".into(),
                repository: "a/b".into(),
                delivery_id: DeliveryId::parse("d").unwrap(),
                state: JobState::Running,
                outcome: None,
                attempts,
                next_run_at: 0,
                lease_owner: Some("w".into()),
                lease_until: Some(0),
                lease_generation: 1,
                last_error: None,
                created_at: 1_000_000,
                updated_at: 0,
            },
            claimed_at: 1_000_000 + age_ms,
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

    fn auth(code: u16) -> CurrentsError {
        match code {
            401 => CurrentsError::Unauthorized {
                call: "c".into(),
                detail: String::new(),
                hint: "",
            },
            _ => CurrentsError::Forbidden {
                call: "c".into(),
                detail: String::new(),
                hint: "",
            },
        }
    }

    #[test]
    fn outcomes_end_or_retry_the_job() {
        let s = RetrySchedule::default();
        let done = decide(
            &Ok(CancelOutcome::Cancelled { run_id: None }),
            &claimed(1, 0),
            &s,
        );
        assert_eq!(done.label(), "cancelled");
        let already = decide(&Ok(CancelOutcome::AlreadyCancelled), &claimed(1, 0), &s);
        assert_eq!(already.label(), "already-cancelled");
        let rejected = decide(&Err(status(400, None)), &claimed(1, 0), &s);
        assert!(matches!(
            rejected,
            Decision::Finish {
                outcome: JobOutcome::Rejected,
                ..
            }
        ));
    }

    #[test]
    fn transient_failures_retry_through_the_window_then_give_up() {
        let s = RetrySchedule::default();
        // Twelve attempts used to be the end; now only the window is.
        let hour = 60 * 60 * 1000;
        let retry = decide(&Err(status(503, None)), &claimed(40, 5 * hour), &s);
        let Decision::Retry { after, .. } = retry else {
            panic!("{retry:?}")
        };
        assert!(after <= s.transient.cap, "{after:?}");
        let late = decide(&Err(status(503, None)), &claimed(200, 24 * hour + 1), &s);
        assert!(matches!(
            late,
            Decision::Finish {
                outcome: JobOutcome::GaveUp,
                ..
            }
        ));
        // Retry-After is honoured, capped, and never past the window's end.
        let after = decide(
            &Err(status(429, Some(Duration::from_secs(7)))),
            &claimed(1, 0),
            &s,
        );
        assert_eq!(
            after,
            Decision::Retry {
                after: Duration::from_secs(7),
                error: status(429, None).to_string()
            }
        );
        let near_end = decide(
            &Err(status(503, Some(Duration::from_secs(600)))),
            &claimed(9, 24 * hour - 1_000),
            &s,
        );
        let Decision::Retry { after, .. } = near_end else {
            panic!()
        };
        assert!(after <= Duration::from_secs(1), "{after:?}");
    }

    #[test]
    fn auth_refusals_are_retried_a_few_times_then_dead() {
        let s = RetrySchedule::default();
        for code in [401, 403] {
            for attempt in 1..s.auth_attempts {
                assert_eq!(
                    decide(&Err(auth(code)), &claimed(attempt, 0), &s).label(),
                    "retry"
                );
            }
            assert_eq!(
                decide(&Err(auth(code)), &claimed(s.auth_attempts, 0), &s).label(),
                "rejected"
            );
        }
    }

    #[test]
    fn not_found_retries_within_its_window() {
        let s = RetrySchedule::default();
        let early = decide(&Ok(CancelOutcome::NotFound), &claimed(1, 60_000), &s);
        assert_eq!(early.label(), "retry");
        let late = decide(
            &Ok(CancelOutcome::NotFound),
            &claimed(5, 15 * 60 * 1000 + 1),
            &s,
        );
        assert_eq!(late.label(), "not-found");
    }

    #[test]
    fn backoff_doubles_to_its_cap_with_jitter() {
        let b = Backoff {
            base: Duration::from_secs(20),
            cap: Duration::from_secs(600),
        };
        for _ in 0..100 {
            let first = b.after(1);
            assert!(first >= Duration::from_secs(10) && first <= Duration::from_secs(20));
            let late = b.after(30);
            assert!(late >= Duration::from_secs(300) && late <= Duration::from_secs(600));
        }
    }
}
