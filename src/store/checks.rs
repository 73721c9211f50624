//! Check records (App mode): one per Currents run, leased to one attempt at a time and fenced,
//! so an attempt that lost its lease can write nothing more; and the reconcile pass's reads.

use std::time::Duration;

use super::job::NewJob;
use super::model::{CheckRecord, JobId};
use super::{Backend, Store, StoreError, millis, sql};
use crate::currents::RunId;
use crate::github::Repository;

impl Store {
    /// Takes the lease on Currents run `run`'s check record for `owner` (creating the record
    /// at `new`, a repository and head commit, if there is none) and returns what it holds;
    /// `None` while another owner's lease is live, or when there is no record and `new` is
    /// `None`. Every lease raises the record's fence, so only the attempt that took it last can
    /// write.
    pub async fn lock_check(
        &self,
        run: &RunId,
        new: Option<(&Repository, &str)>,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<CheckRecord>, StoreError> {
        with_pool!(self, pool => {
            if let Some((repository, head_sha)) = new {
                sqlx::query(sql(&self.queries.check_insert))
                    .bind(run.as_str())
                    .bind(repository.to_string())
                    .bind(head_sha)
                    .execute(pool)
                    .await?;
            }
            Ok(sqlx::query_as::<_, CheckRecord>(sql(&self.queries.check_lock))
                .bind(run.as_str())
                .bind(owner)
                .bind(millis(lease))
                .fetch_optional(pool)
                .await?)
        })
    }

    /// Extends the lease `record` was read under. `false` when it was lost: the attempt stops.
    pub async fn renew_check(
        &self,
        run: &RunId,
        owner: &str,
        record: &CheckRecord,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(sql(&self.queries.check_renew))
                .bind(run.as_str())
                .bind(owner)
                .bind(record.fence)
                .bind(millis(lease))
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Records, under the lease `record` was read under, what GitHub has accepted for run
    /// `run`'s check run. `false` when the lease was lost.
    pub async fn save_check(
        &self,
        run: &RunId,
        owner: &str,
        record: &CheckRecord,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(sql(&self.queries.check_save))
                .bind(run.as_str())
                .bind(owner)
                .bind(record.fence)
                .bind(record.check_run_id)
                .bind(record.annotations_sent)
                .bind(record.annotations_pending)
                .bind(record.completed)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Gives up the lease `record` was read under (a newer lease is left alone).
    pub async fn unlock_check(
        &self,
        run: &RunId,
        owner: &str,
        record: &CheckRecord,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(sql(&self.queries.check_unlock))
                .bind(run.as_str())
                .bind(owner)
                .bind(record.fence)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Whether Currents run `run` has a check record.
    pub async fn has_check(&self, run: &RunId) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let count: i64 = sqlx::query_scalar(sql(&self.queries.check_exists))
                .bind(run.as_str())
                .fetch_one(pool)
                .await?;
            Ok(count > 0)
        })
    }

    /// The GitHub check run of Currents run `run`'s record, once it has one.
    pub async fn check_run_of(&self, run: &RunId) -> Result<Option<u64>, StoreError> {
        with_pool!(self, pool => {
            let id: Option<Option<i64>> = sqlx::query_scalar(sql(&self.queries.check_run_of))
                .bind(run.as_str())
                .fetch_optional(pool)
                .await?;
            Ok(id.flatten().and_then(|id| u64::try_from(id).ok()))
        })
    }

    /// The runs whose check is still open and that no job looked at for `idle` (at most
    /// `limit`, the longest idle first).
    pub async fn open_checks(&self, idle: Duration, limit: i64) -> Result<Vec<RunId>, StoreError> {
        with_pool!(self, pool => {
            let runs: Vec<String> = sqlx::query_scalar(sql(&self.queries.checks_open))
                .bind(millis(idle))
                .bind(limit)
                .fetch_all(pool)
                .await?;
            Ok(runs.into_iter().map(RunId::new).collect())
        })
    }

    /// Queues `job` without a delivery (`origin` names what queued it), or queues its key's
    /// finished job again with this job's payload; `None` when that job is pending or running.
    pub async fn queue(&self, job: &NewJob, origin: &str) -> Result<Option<JobId>, StoreError> {
        let key = job.dedupe_key();
        let (payload, run_id, run_attempt) = job.columns();
        with_pool!(self, pool => {
            let created: Option<JobId> = sqlx::query_scalar(sql(&self.queries.insert_job))
                .bind(&key)
                .bind(&job.repository)
                .bind(run_id)
                .bind(run_attempt)
                .bind(origin)
                .bind(job.kind().as_str())
                .bind(&payload)
                .fetch_optional(pool)
                .await?;
            if created.is_some() {
                return Ok(created);
            }
            Ok(sqlx::query_scalar(sql(&self.queries.requeue_finished_by_key))
                .bind(&key)
                .bind(&payload)
                .fetch_optional(pool)
                .await?)
        })
    }
}
