//! The relay's durable inbox and job queue, on SQLite (the default: one file, one process) or
//! Postgres (several relay replicas), chosen by the database URL's scheme. Both share one schema
//! (`migrations/`) and one set of queries, built once per backend ([`Queries`]); only the clock
//! expression and claiming differ (Postgres skips rows another replica has locked).
//!
//! Every time the queue compares or stores (claims, leases, schedules, retention) is the
//! database's clock, never a host's, so replicas with skewed clocks cannot take each other's
//! jobs early. Reads for `/metrics`, `/readyz` and the admin API go to a separate pool.
//!
//! Only this module talks to the database.

mod model;
mod postgres;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use sqlx::AssertSqlSafe;

pub use model::{
    CheckRecord, Claimed, DeliveryId, HookId, Job, JobId, JobKind, JobOutcome, JobState,
    MAX_ID_BYTES, NewCheckJob, NewDelivery, NewJob, Pruned, QueueStats, Recorded, Requeue,
};
pub use postgres::Postgres;
pub use sqlite::Sqlite;

/// Rows one retention statement deletes: small enough that ingest never waits long behind it.
const PRUNE_BATCH: i64 = 500;

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database: {0}")]
    Connect(String),
    #[error(
        "another process holds the SQLite database {0}: SQLite is for one relay process; stop the other one, or point every replica at one Postgres database"
    )]
    Locked(String),
    #[error("cannot migrate the database: {0}")]
    Migrate(String),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    /// A grouped SQLite commit failed; every delivery in it gets this error.
    #[error("database error: {0}")]
    Batch(String),
    #[error("the database is closed")]
    Closed,
}

impl StoreError {
    /// Whether the configuration is at fault (a bad URL, a locked file), not the database.
    pub fn is_configuration(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::Locked(_) | Self::Migrate(_))
    }
}

/// The relay's database.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    queries: Arc<Queries>,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(Sqlite),
    Postgres(Postgres),
}

// The job columns every query returns.
const JOB_COLUMNS: &str = "id, kind, dedupe_key, payload, repository, run_id, run_attempt, delivery_id, state, outcome, attempts, \
     next_run_at, lease_owner, lease_until, last_error, created_at, updated_at";

/// The queries, with the backend's clock expression (`{now}`) and claim lock filled in. They
/// join only constants, never input (which is always bound), hence `AssertSqlSafe`.
#[derive(Debug)]
pub(crate) struct Queries {
    insert_delivery: Arc<str>,
    insert_job: Arc<str>,
    requeue_dead_by_key: Arc<str>,
    job_by_key: Arc<str>,
    claim: Arc<str>,
    finish: Arc<str>,
    reschedule: Arc<str>,
    release: Arc<str>,
    jobs: Arc<str>,
    job: Arc<str>,
    retry: Arc<str>,
    retry_dead: Arc<str>,
    counts: Arc<str>,
    oldest_pending: Arc<str>,
    prune_deliveries: Arc<str>,
    prune_jobs: Arc<str>,
    prune_check_runs: Arc<str>,
    check_insert: Arc<str>,
    check_lock: Arc<str>,
    check_save: Arc<str>,
    check_unlock: Arc<str>,
    sweep_insert: Arc<str>,
    sweep_lock: Arc<str>,
    sweep_done: Arc<str>,
    has_delivery: Arc<str>,
}

impl Queries {
    fn new(now: &str, claim_lock: &str) -> Self {
        let q = |text: &str| -> Arc<str> {
            text.replace("{now}", now)
                .replace("{lock}", claim_lock)
                .replace("{cols}", JOB_COLUMNS)
                .into()
        };
        Self {
            insert_delivery: q(
                "INSERT INTO deliveries (hook_id, delivery_id, event, action, repository, run_id, run_attempt, body, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {now}) \
                 ON CONFLICT (hook_id, delivery_id) DO NOTHING RETURNING id",
            ),
            insert_job: q(
                "INSERT INTO jobs (dedupe_key, repository, run_id, run_attempt, delivery_id, kind, payload, state, attempts, next_run_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, {now}, {now}, {now}) \
                 ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            ),
            requeue_dead_by_key: q(
                "UPDATE jobs SET state = 'pending', attempts = 0, next_run_at = {now}, outcome = NULL, \
                 delivery_id = $2, updated_at = {now} WHERE dedupe_key = $1 AND state = 'dead' RETURNING id",
            ),
            job_by_key: q("SELECT id, state FROM jobs WHERE dedupe_key = $1"),
            claim: q(
                "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = {now} + $2, attempts = attempts + 1, updated_at = {now} \
                 WHERE id IN (SELECT id FROM jobs \
                   WHERE (state = 'pending' AND next_run_at <= {now}) OR (state = 'running' AND lease_until < {now}) \
                   ORDER BY next_run_at LIMIT $3{lock}) \
                 RETURNING {cols}, {now} AS claimed_at",
            ),
            finish: q(
                "UPDATE jobs SET state = $1, outcome = $2, last_error = $3, lease_owner = NULL, lease_until = NULL, updated_at = {now} \
                 WHERE id = $4 AND lease_owner = $5 AND state = 'running'",
            ),
            reschedule: q(
                "UPDATE jobs SET state = 'pending', next_run_at = {now} + $1, last_error = $2, lease_owner = NULL, lease_until = NULL, updated_at = {now} \
                 WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
            ),
            release: q(
                "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_until = NULL, \
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = {now} \
                 WHERE lease_owner = $1 AND state = 'running'",
            ),
            jobs: q(
                "SELECT {cols} FROM jobs WHERE ($1 IS NULL OR state = $1) ORDER BY id DESC LIMIT $2",
            ),
            job: q("SELECT {cols} FROM jobs WHERE id = $1"),
            retry: q(
                "UPDATE jobs SET state = 'pending', attempts = 0, next_run_at = {now}, outcome = NULL, updated_at = {now} \
                 WHERE id = $1 AND state = 'dead'",
            ),
            retry_dead: q(
                "UPDATE jobs SET state = 'pending', attempts = 0, next_run_at = {now}, outcome = NULL, updated_at = {now} \
                 WHERE state = 'dead'",
            ),
            counts: q(
                "SELECT state, COUNT(*) FROM jobs WHERE state IN ('pending', 'running', 'dead') GROUP BY state",
            ),
            oldest_pending: q("SELECT MIN(created_at), {now} FROM jobs WHERE state = 'pending'"),
            prune_deliveries: q("DELETE FROM deliveries WHERE id IN \
                 (SELECT id FROM deliveries WHERE received_at < {now} - $1 ORDER BY id LIMIT $2)"),
            prune_jobs: q("DELETE FROM jobs WHERE id IN \
                 (SELECT id FROM jobs WHERE state IN ('done', 'dry') AND updated_at < {now} - $1 ORDER BY id LIMIT $2)"),
            prune_check_runs: q("DELETE FROM check_runs WHERE currents_run_id IN \
                 (SELECT currents_run_id FROM check_runs WHERE updated_at < {now} - $1 ORDER BY updated_at LIMIT $2)"),
            check_insert: q(
                "INSERT INTO check_runs (currents_run_id, repository, head_sha, annotations_sent, updated_at) \
                 VALUES ($1, $2, $3, 0, {now}) ON CONFLICT (currents_run_id) DO NOTHING",
            ),
            check_lock: q(
                "UPDATE check_runs SET lease_owner = $2, lease_until = {now} + $3, updated_at = {now} \
                 WHERE currents_run_id = $1 AND (lease_owner IS NULL OR lease_until < {now} OR lease_owner = $2) \
                 RETURNING check_run_id, annotations_sent, annotations_pending, completed_at",
            ),
            check_save: q(
                "UPDATE check_runs SET check_run_id = $3, annotations_sent = $4, annotations_pending = $6, \
                 completed_at = CASE WHEN $5 THEN {now} ELSE completed_at END, updated_at = {now} \
                 WHERE currents_run_id = $1 AND lease_owner = $2",
            ),
            check_unlock: q(
                "UPDATE check_runs SET lease_owner = NULL, lease_until = NULL, updated_at = {now} \
                 WHERE currents_run_id = $1 AND lease_owner = $2",
            ),
            sweep_insert: q("INSERT INTO sweeps (name) VALUES ($1) ON CONFLICT (name) DO NOTHING"),
            sweep_lock: q(
                "UPDATE sweeps SET lease_owner = $2, lease_until = {now} + $3 \
                 WHERE name = $1 AND (lease_owner IS NULL OR lease_until < {now} OR lease_owner = $2) \
                 RETURNING swept_at, {now}",
            ),
            sweep_done: q(
                "UPDATE sweeps SET swept_at = $3, lease_owner = NULL, lease_until = NULL \
                 WHERE name = $1 AND lease_owner = $2",
            ),
            has_delivery: q("SELECT COUNT(*) FROM deliveries WHERE delivery_id = $1"),
        }
    }
}

fn sql(text: &Arc<str>) -> AssertSqlSafe<Arc<str>> {
    AssertSqlSafe(Arc::clone(text))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Records one delivery and its job inside the caller's transaction `$tx`: the same queries on
/// both databases. A macro rather than a function, because sqlx's executor traits differ per
/// database.
macro_rules! record_one {
    ($tx:expr, $queries:expr, $delivery:expr, $job:expr) => {
        async {
            let queries: &$crate::store::Queries = $queries;
            let delivery: &$crate::store::NewDelivery<'_> = $delivery;
            let job: Option<&$crate::store::NewJob> = $job;
            let inserted: Option<i64> =
                sqlx::query_scalar($crate::store::sql_of(&queries.insert_delivery))
                    .bind(delivery.hook_id.as_str())
                    .bind(delivery.delivery_id.as_str())
                    .bind(delivery.event)
                    .bind(delivery.action)
                    .bind(job.map(|j| j.repository.as_str()))
                    .bind(job.map(|j| j.run_id))
                    .bind(job.map(|j| j.run_attempt))
                    .bind(delivery.body)
                    .fetch_optional(&mut *$tx)
                    .await?;
            if inserted.is_none() {
                return Ok::<_, sqlx::Error>($crate::store::Recorded::Duplicate);
            }
            let Some(job) = job else {
                return Ok($crate::store::Recorded::Delivery);
            };
            let key = job.dedupe_key();
            let created: Option<$crate::store::JobId> =
                sqlx::query_scalar($crate::store::sql_of(&queries.insert_job))
                    .bind(&key)
                    .bind(&job.repository)
                    .bind(job.run_id)
                    .bind(job.run_attempt)
                    .bind(delivery.delivery_id.as_str())
                    .bind(job.kind().as_str())
                    .bind(job.check.as_ref().map(|c| c.payload.as_str()))
                    .fetch_optional(&mut *$tx)
                    .await?;
            if let Some(id) = created {
                return Ok($crate::store::Recorded::Job {
                    id,
                    created: true,
                    requeued: false,
                });
            }
            // Fresh news of a cancelled run brings a dead job back (the operator may have
            // fixed the key since); a finished one stays finished.
            let requeued: Option<$crate::store::JobId> =
                sqlx::query_scalar($crate::store::sql_of(&queries.requeue_dead_by_key))
                    .bind(&key)
                    .bind(delivery.delivery_id.as_str())
                    .fetch_optional(&mut *$tx)
                    .await?;
            if let Some(id) = requeued {
                return Ok($crate::store::Recorded::Job {
                    id,
                    created: false,
                    requeued: true,
                });
            }
            let (id, state): ($crate::store::JobId, $crate::store::JobState) =
                sqlx::query_as($crate::store::sql_of(&queries.job_by_key))
                    .bind(&key)
                    .fetch_one(&mut *$tx)
                    .await?;
            Ok(match state {
                $crate::store::JobState::Done | $crate::store::JobState::Dry => {
                    $crate::store::Recorded::Finished { id }
                }
                _ => $crate::store::Recorded::Job {
                    id,
                    created: false,
                    requeued: false,
                },
            })
        }
        .await
    };
}
pub(crate) use record_one;

/// For [`record_one!`], which expands in the backends' modules.
pub(crate) fn sql_of(text: &Arc<str>) -> AssertSqlSafe<Arc<str>> {
    sql(text)
}

/// Runs `$body` with `$pool` bound to the store's write pool (or, with `read`, its read pool).
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            Backend::Sqlite(sqlite) => {
                let $pool = &sqlite.pool;
                $body
            }
            Backend::Postgres(postgres) => {
                let $pool = &postgres.pool;
                $body
            }
        }
    };
    (read $store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            Backend::Sqlite(sqlite) => {
                let $pool = &sqlite.read;
                $body
            }
            Backend::Postgres(postgres) => {
                let $pool = &postgres.read;
                $body
            }
        }
    };
}

impl Store {
    /// Opens (creating a SQLite file if absent) and migrates the database at `url`:
    /// `sqlite://path` or `postgres://…`. A SQLite file another process holds is refused.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let queries = Arc::new(Queries::new(postgres::NOW, " FOR UPDATE SKIP LOCKED"));
            Ok(Self {
                backend: Backend::Postgres(postgres::connect(url).await?),
                queries,
            })
        } else if url.starts_with("sqlite:") {
            // SQLite has one writer, so the claim's UPDATE is atomic without a lock clause.
            let queries = Arc::new(Queries::new(sqlite::NOW, ""));
            Ok(Self {
                backend: Backend::Sqlite(sqlite::connect(url, Arc::clone(&queries)).await?),
                queries,
            })
        } else {
            Err(StoreError::Connect(
                "DATABASE_URL must start with sqlite:// or postgres://".into(),
            ))
        }
    }

    /// The backend's name, for logs.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Records a verified delivery and, when it asks for one, its cancel job, in one
    /// transaction: either both are stored or neither is. Returns once they are committed.
    pub async fn record(
        &self,
        delivery: &NewDelivery<'_>,
        job: Option<&NewJob>,
    ) -> Result<Recorded, StoreError> {
        match &self.backend {
            Backend::Sqlite(sqlite) => sqlite.record(delivery, job).await,
            Backend::Postgres(postgres) => {
                let mut tx = postgres.pool.begin().await?;
                let recorded = record_one!(&mut *tx, &self.queries, delivery, job)?;
                tx.commit().await?;
                Ok(recorded)
            }
        }
    }

    /// Claims up to `limit` due jobs for `owner` for `lease`: pending jobs whose time has come,
    /// and running jobs whose lease expired (their worker died).
    pub async fn claim(
        &self,
        owner: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        with_pool!(self, pool => {
            Ok(sqlx::query_as::<_, Claimed>(sql(&self.queries.claim))
                .bind(owner)
                .bind(millis(lease))
                .bind(limit)
                .fetch_all(pool)
                .await?)
        })
    }

    /// Ends a job `owner` holds with `outcome`. `false` when the lease was lost meanwhile
    /// (another worker reclaimed it).
    pub async fn finish(
        &self,
        id: JobId,
        owner: &str,
        outcome: JobOutcome,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(sql(&self.queries.finish))
                .bind(outcome.state().as_str())
                .bind(outcome.label())
                .bind(error)
                .bind(id)
                .bind(owner)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Puts a job `owner` holds back in the queue, due `after` from now.
    pub async fn reschedule(
        &self,
        id: JobId,
        owner: &str,
        after: Duration,
        error: &str,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(sql(&self.queries.reschedule))
                .bind(millis(after))
                .bind(error)
                .bind(id)
                .bind(owner)
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
            Ok(sqlx::query_as::<_, Job>(sql(&self.queries.jobs))
                .bind(state.map(JobState::as_str))
                .bind(limit)
                .fetch_all(pool)
                .await?)
        })
    }

    /// One job, from the write pool (it is read right after a write).
    pub async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        with_pool!(self, pool => {
            Ok(sqlx::query_as::<_, Job>(sql(&self.queries.job))
                .bind(id)
                .fetch_optional(pool)
                .await?)
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

    /// Deletes deliveries received, and finished jobs last updated, more than `retention` ago,
    /// one small batch at a time. Dead, pending and running jobs are kept.
    pub async fn prune(&self, retention: Duration) -> Result<Pruned, StoreError> {
        let mut pruned = Pruned::default();
        for (query, count) in [
            (&self.queries.prune_deliveries, &mut pruned.deliveries),
            (&self.queries.prune_jobs, &mut pruned.jobs),
            (&self.queries.prune_check_runs, &mut pruned.check_runs),
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

    /// Takes the lease on Currents run `run`'s check record for `owner` (creating the record
    /// for `repository` and `head_sha` if it is new) and returns what it holds; `None` while
    /// another owner's lease is live. One job per run works on its check run at a time.
    pub async fn lock_check(
        &self,
        run: &str,
        repository: &str,
        head_sha: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<CheckRecord>, StoreError> {
        with_pool!(self, pool => {
            sqlx::query(sql(&self.queries.check_insert))
                .bind(run)
                .bind(repository)
                .bind(head_sha)
                .execute(pool)
                .await?;
            Ok(sqlx::query_as::<_, CheckRecord>(sql(&self.queries.check_lock))
                .bind(run)
                .bind(owner)
                .bind(millis(lease))
                .fetch_optional(pool)
                .await?)
        })
    }

    /// Records, under `owner`'s lease, what GitHub has accepted for run `run`'s check run.
    /// `false` when the lease was lost.
    pub async fn save_check(
        &self,
        run: &str,
        owner: &str,
        record: &CheckRecord,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(sql(&self.queries.check_save))
                .bind(run)
                .bind(owner)
                .bind(record.check_run_id)
                .bind(record.annotations_sent)
                .bind(record.completed_at.is_some())
                .bind(record.annotations_pending)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Gives up `owner`'s lease on run `run`'s check record.
    pub async fn unlock_check(&self, run: &str, owner: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(sql(&self.queries.check_unlock))
                .bind(run)
                .bind(owner)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Takes the lease on sweep `name` for `owner`: `None` while another replica sweeps, else
    /// when the last complete sweep started (`None` before the first) and the database's now,
    /// both in epoch milliseconds.
    pub async fn lock_sweep(
        &self,
        name: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<(Option<i64>, i64)>, StoreError> {
        with_pool!(self, pool => {
            sqlx::query(sql(&self.queries.sweep_insert))
                .bind(name)
                .execute(pool)
                .await?;
            Ok(sqlx::query_as::<_, (Option<i64>, i64)>(sql(&self.queries.sweep_lock))
                .bind(name)
                .bind(owner)
                .bind(millis(lease))
                .fetch_optional(pool)
                .await?)
        })
    }

    /// Ends `owner`'s sweep `name`, recording that it covered everything up to `swept_at`.
    pub async fn finish_sweep(
        &self,
        name: &str,
        owner: &str,
        swept_at: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(sql(&self.queries.sweep_done))
                .bind(name)
                .bind(owner)
                .bind(swept_at)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Whether a delivery with this GUID was ever stored, from any hook.
    pub async fn has_delivery(&self, guid: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let count: i64 = sqlx::query_scalar(sql(&self.queries.has_delivery))
                .bind(guid)
                .fetch_one(pool)
                .await?;
            Ok(count > 0)
        })
    }

    /// Whether the database answers, on the read pool.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(read self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }

    /// Closes the pools, flushing SQLite's WAL.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(sqlite) => sqlite.close().await,
            Backend::Postgres(postgres) => {
                postgres.read.close().await;
                postgres.pool.close().await;
            }
        }
    }
}
