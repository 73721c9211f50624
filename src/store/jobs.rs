//! The job queue: claims under fenced leases, their renewal, outcomes, retries, the admin's
//! requeues, the queue's figures and retention.

use std::time::Duration;

use super::job::{Claimed, ClaimedRow, Job, JobRow};
use super::model::{JobId, JobOutcome, JobState, Pruned, QueueStats, Requeue};
use super::{Backend, Store, StoreError, millis, sql};

/// Rows one retention statement deletes: small enough that ingest never waits long behind it.
pub const PRUNE_BATCH: i64 = 500;

/// What names a claimed job in the writes of the worker that claimed it.
fn held(claimed: &Claimed) -> (JobId, &str, i64) {
    (
        claimed.job.id,
        claimed.job.lease_owner.as_deref().unwrap_or_default(),
        claimed.job.lease_generation,
    )
}

impl Store {
    /// Claims up to `limit` due jobs for `owner` for `lease`: pending jobs whose time has come,
    /// and running jobs whose lease expired (their worker died), but never `owner`'s own. Each
    /// claim raises the job's lease generation, which fences out any earlier holder.
    pub async fn claim(
        &self,
        owner: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        with_pool!(self, pool => {
            let rows = sqlx::query_as::<_, ClaimedRow>(sql(&self.queries.claim))
                .bind(owner)
                .bind(millis(lease))
                .bind(limit)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(Claimed::from).collect())
        })
    }

    /// Extends the lease of a job its worker is still working on. `false` when the lease was
    /// lost (another worker claimed the job): the worker must stop.
    pub async fn renew(&self, claimed: &Claimed, lease: Duration) -> Result<bool, StoreError> {
        let (id, owner, generation) = held(claimed);
        with_pool!(self, pool => {
            let done = sqlx::query(sql(&self.queries.renew))
                .bind(millis(lease))
                .bind(id)
                .bind(owner)
                .bind(generation)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Ends a claimed job with `outcome`. `false` when the lease was lost meanwhile (another
    /// worker reclaimed it).
    pub async fn finish(
        &self,
        claimed: &Claimed,
        outcome: JobOutcome,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let (id, owner, generation) = held(claimed);
        with_pool!(self, pool => {
            let done = sqlx::query(sql(&self.queries.finish))
                .bind(outcome.state().as_str())
                .bind(outcome.label())
                .bind(error)
                .bind(id)
                .bind(owner)
                .bind(generation)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Puts a claimed job back in the queue, due `after` from now.
    pub async fn reschedule(
        &self,
        claimed: &Claimed,
        after: Duration,
        error: &str,
    ) -> Result<bool, StoreError> {
        let (id, owner, generation) = held(claimed);
        with_pool!(self, pool => {
            let done = sqlx::query(sql(&self.queries.reschedule))
                .bind(millis(after))
                .bind(error)
                .bind(id)
                .bind(owner)
                .bind(generation)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Returns every job `owner` still holds to the queue (graceful shutdown), without counting
    /// the claim as an attempt.
    pub async fn release(&self, owner: &str) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(sql(&self.queries.release))
                .bind(owner)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// Jobs in `state` (all when `None`), newest first. Reads from the read pool.
    pub async fn jobs(&self, state: Option<JobState>, limit: i64) -> Result<Vec<Job>, StoreError> {
        with_pool!(read self, pool => {
            let rows = sqlx::query_as::<_, JobRow>(sql(&self.queries.jobs))
                .bind(state.map(JobState::as_str))
                .bind(limit)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(Job::from).collect())
        })
    }

    /// One job, from the write pool (it is read right after a write).
    pub async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query_as::<_, JobRow>(sql(&self.queries.job))
                .bind(id)
                .fetch_optional(pool)
                .await?;
            Ok(row.map(Job::from))
        })
    }

    /// Requeues a dead job now, with its attempts reset.
    pub async fn retry(&self, id: JobId) -> Result<Requeue, StoreError> {
        let updated = with_pool!(self, pool => {
            sqlx::query(sql(&self.queries.retry))
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(match (updated, self.job(id).await?) {
            (1, Some(job)) => Requeue::Requeued(job),
            (_, Some(job)) => Requeue::NotDead(job),
            (_, None) => Requeue::NotFound,
        })
    }

    /// Requeues every dead job now; returns how many.
    pub async fn retry_dead(&self) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            Ok(sqlx::query(sql(&self.queries.retry_dead))
                .execute(pool)
                .await?
                .rows_affected())
        })
    }

    /// Queue depth and the age of the oldest pending job, from the read pool and indexes.
    pub async fn stats(&self) -> Result<QueueStats, StoreError> {
        with_pool!(read self, pool => {
            let counts: Vec<(String, i64)> = sqlx::query_as(sql(&self.queries.counts))
                .fetch_all(pool)
                .await?;
            let (oldest, now): (Option<i64>, i64) = sqlx::query_as(sql(&self.queries.oldest_pending))
                .fetch_one(pool)
                .await?;
            let count = |state: JobState| {
                counts.iter().find(|(s, _)| s == state.as_str()).map_or(0, |(_, n)| *n)
            };
            Ok(QueueStats {
                pending: count(JobState::Pending),
                running: count(JobState::Running),
                dead: count(JobState::Dead),
                oldest_pending_ms: oldest.map_or(0, |t| (now - t).max(0)),
            })
        })
    }

    /// Deletes deliveries received, finished jobs and check records last updated, and
    /// redelivery requests made more than `retention` ago, one small batch at a time. Dead,
    /// pending and running jobs are kept.
    pub async fn prune(&self, retention: Duration) -> Result<Pruned, StoreError> {
        let mut pruned = Pruned::default();
        let mut redelivery_requests = 0;
        for (query, count) in [
            (&self.queries.prune_deliveries, &mut pruned.deliveries),
            (&self.queries.prune_jobs, &mut pruned.jobs),
            (&self.queries.prune_check_runs, &mut pruned.check_runs),
            (
                &self.queries.prune_redelivery_requests,
                &mut redelivery_requests,
            ),
        ] {
            loop {
                let deleted = with_pool!(self, pool => {
                    sqlx::query(sql(query))
                        .bind(millis(retention))
                        .bind(PRUNE_BATCH)
                        .execute(pool)
                        .await?
                        .rows_affected()
                });
                *count += deleted;
                if deleted < PRUNE_BATCH.unsigned_abs() {
                    break;
                }
                // Let waiting writes in between batches.
                tokio::task::yield_now().await;
            }
        }
        Ok(pruned)
    }
}
