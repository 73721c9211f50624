//! The reconcile pass (App mode): Currents documents no retry for its webhooks, so a relay
//! that was down or unreachable when a run finished would never hear of it. Every
//! `--reconcile-interval`, one replica (a lease in the store) looks at Currents for what the
//! webhooks did not say:
//!
//! - every check still open that no job looked at for an interval gets a check job, which
//!   completes it if the run is over (or gone from Currents);
//! - every finished run of a listed project that has no check record yet gets one too, back to
//!   where the last pass left off (at most three days), so a run whose every webhook was lost
//!   still gets its check.
//!
//! So a check is complete at most one interval after Currents finished its run, outages
//! included.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::allow::ProjectRepos;
use super::metrics::Metrics;
use crate::currents::{CurrentsClient, CurrentsError, ProjectId, Run, RunId};
use crate::github::repository_of;
use crate::store::{CheckEvent, CheckPayload, NewJob, Store, StoreError};

/// The sweep's name in the store.
const SWEEP: &str = "reconcile";
/// The furthest back a pass lists runs.
pub const LOOK_BACK: Duration = Duration::from_secs(3 * 24 * 60 * 60);
/// One pass's lease: longer than a pass over thousands of runs takes.
const LEASE: Duration = Duration::from_secs(10 * 60);
/// Open checks queued by one pass at most; the rest wait for the next.
const OPEN_PER_PASS: i64 = 500;
/// List pages read per project and pass at most (50 runs each).
const MAX_PAGES: usize = 100;

/// What a pass needs.
#[derive(Debug, Clone)]
pub struct Reconciler {
    pub store: Store,
    pub currents: CurrentsClient,
    pub projects: ProjectRepos,
    /// This replica's lease owner name.
    pub owner: String,
    pub interval: Duration,
    pub metrics: Arc<Metrics>,
    /// Wakes the worker when a job is queued.
    pub wake: Arc<Notify>,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Open checks given a check job.
    pub open: usize,
    /// Finished runs without a check given one.
    pub unseen: usize,
    /// Another replica held the pass.
    pub skipped: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Currents(#[from] CurrentsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Reconciler {
    /// One pass.
    pub async fn pass(&self) -> Result<Reconciled, ReconcileError> {
        let Some((last, now_ms)) = self.store.lock_sweep(SWEEP, &self.owner, LEASE).await? else {
            return Ok(Reconciled {
                skipped: true,
                ..Reconciled::default()
            });
        };
        let oldest = now_ms - millis(LOOK_BACK);
        let floor = last.map_or(oldest, |last| last.max(oldest));
        let result = self.reconcile(floor, now_ms).await;
        // Only a complete pass moves the floor: a failed one is repeated from the same place.
        let next = match &result {
            Ok((_, next)) => *next,
            Err(_) => last.unwrap_or(floor),
        };
        self.store.finish_sweep(SWEEP, &self.owner, next).await?;
        let reconciled = result?.0;
        if reconciled.open + reconciled.unseen > 0 {
            self.wake.notify_one();
        }
        Ok(reconciled)
    }

    /// Queues the check jobs; returns what it did and where the next pass starts.
    async fn reconcile(
        &self,
        floor_ms: i64,
        now_ms: i64,
    ) -> Result<(Reconciled, i64), ReconcileError> {
        let mut done = Reconciled::default();
        for run in self.store.open_checks(self.interval, OPEN_PER_PASS).await? {
            if self.queue(&run, None).await? {
                done.open += 1;
                self.metrics.reconciled("open");
            }
        }
        let mut next = now_ms;
        for project in self.projects.projects() {
            let (unseen, oldest_running) = self.unseen_runs(&project, floor_ms).await?;
            for (run, repository) in unseen {
                if self.queue(&run, Some(&repository)).await? {
                    done.unseen += 1;
                    self.metrics.reconciled("unseen");
                }
            }
            // A run still in progress is looked for again next time, however old it is then.
            if let Some(created) = oldest_running {
                next = next.min(created);
            }
        }
        Ok((done, next.max(floor_ms)))
    }

    /// The finished runs of `project` created since `floor_ms` that may report and have no
    /// check record, and when the oldest run still in progress was created.
    async fn unseen_runs(
        &self,
        project: &ProjectId,
        floor_ms: i64,
    ) -> Result<(Vec<(RunId, String)>, Option<i64>), ReconcileError> {
        let since = UNIX_EPOCH + Duration::from_millis(floor_ms.max(0).unsigned_abs());
        let mut unseen = Vec::new();
        let mut oldest_running: Option<i64> = None;
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .currents
                .runs_since(project, since, cursor.as_deref())
                .await?;
            for listed in &page.data {
                let run = &listed.run;
                let Some(repository) = self.reportable(project, run) else {
                    continue;
                };
                if run.is_in_progress() {
                    let created = created_ms(run).unwrap_or(floor_ms);
                    oldest_running = Some(oldest_running.map_or(created, |o| o.min(created)));
                } else if !self.store.has_check(&run.run_id).await? {
                    unseen.push((run.run_id.clone(), repository));
                }
            }
            cursor = page.data.last().and_then(|r| r.cursor.clone());
            if !page.has_more || cursor.is_none() {
                break;
            }
        }
        Ok((unseen, oldest_running))
    }

    /// The repository of a listed run, when its project may report there (the check job
    /// decides again from the run itself).
    fn reportable(&self, project: &ProjectId, run: &Run) -> Option<String> {
        let remote = run.meta.commit.as_ref()?.remote_origin.as_deref()?;
        let (_, repo) = repository_of(remote)?;
        (run.project_id.as_ref().is_none_or(|p| p == project)
            && self.projects.allows(project, &repo))
        .then(|| repo.to_string())
    }

    /// Queues a reconcile check job for `run`; `false` when one is already waiting.
    async fn queue(&self, run: &RunId, repository: Option<&str>) -> Result<bool, StoreError> {
        let payload = CheckPayload {
            event: CheckEvent::Reconcile,
            run_id: run.clone(),
            group_id: None,
        };
        let job = NewJob::check(repository.unwrap_or_default(), payload);
        Ok(self.store.queue(&job, SWEEP).await?.is_some())
    }
}

/// When `run` was created, in epoch milliseconds.
fn created_ms(run: &Run) -> Option<i64> {
    let created = run.created_at.as_deref()?;
    let at = humantime::parse_rfc3339_weak(created.trim_end_matches('Z')).ok()?;
    i64::try_from(at.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Passes at start, then every interval, until `shutdown`.
pub async fn run(reconciler: Reconciler, shutdown: CancellationToken) {
    loop {
        match reconciler.pass().await {
            Ok(done) if done.skipped => {
                tracing::debug!("another replica is reconciling");
            }
            Ok(done) => tracing::info!(
                open = done.open,
                unseen = done.unseen,
                "reconciled the checks with Currents"
            ),
            Err(error) => {
                tracing::warn!(error = %crate::log_safe::Chain(&error), "cannot reconcile the checks with Currents; trying again later");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(reconciler.interval) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_times_parse() {
        let run: Run = serde_json::from_value(serde_json::json!({
            "runId": "r", "createdAt": "2026-08-20T14:02:11.512Z"
        }))
        .unwrap();
        assert_eq!(created_ms(&run), Some(1_787_234_531_512));
    }
}
