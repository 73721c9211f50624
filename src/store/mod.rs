//! The relay's durable inbox and job queue, on SQLite (the default: one file, one process) or
//! Postgres (several relay replicas), chosen by the database URL's scheme. Both share one schema
//! (`migrations/`) and one set of queries; only claiming differs (Postgres skips rows another
//! replica has locked).
//!
//! Only this module talks to the database.

use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::{mpsc, oneshot};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How long a SQLite write waits for the lock before failing: well over any single write, well
/// under GitHub's 10 s answer deadline.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The most deliveries one SQLite transaction commits. Under load, requests that arrive while
/// a commit runs share the next one ("group commit"): one commit's pages and fsync serve them
/// all, where one commit each made the log grow tens of MB/s and its checkpoints stall the
/// route (p99 15-22 ms at 5k requests/s; 7-9 ms with grouping, at 9.5k). Each request is still
/// answered only after its own data is committed.
const SQLITE_MAX_BATCH: usize = 256;

/// Postgres connections per replica: the webhook route and the worker each need a few, and many
/// replicas must stay under the server's default `max_connections` of 100.
const POSTGRES_MAX_CONNECTIONS: u32 = 8;

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database: {0}")]
    Connect(String),
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

/// The state of a cancel job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for `next_run_at`.
    Pending,
    /// Claimed by a worker until `lease_until`.
    Running,
    /// Finished: cancelled, already cancelled, or no run found.
    Done,
    /// Given up: a configuration problem or too many failures; `POST /admin/jobs/{id}/retry`.
    Dead,
    /// Logged instead of cancelled (`--dry-run`).
    Dry,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
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

/// A cancel job, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub dedupe_key: String,
    pub repository: String,
    pub run_id: i64,
    pub run_attempt: i64,
    pub delivery_id: String,
    pub state: String,
    pub outcome: Option<String>,
    pub attempts: i64,
    pub next_run_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A verified delivery to record.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    /// `X-GitHub-Hook-ID`; empty when absent.
    pub hook_id: &'a str,
    pub delivery_id: &'a str,
    pub event: &'a str,
    pub action: Option<&'a str>,
    /// The raw body, kept when the delivery queues a cancel.
    pub body: Option<&'a [u8]>,
    pub received_at: i64,
}

/// The workflow run a cancel job is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub repository: String,
    pub run_id: i64,
    pub run_attempt: i64,
}

impl NewJob {
    /// One job per workflow run attempt; repository names are case-insensitive on GitHub.
    pub fn dedupe_key(&self) -> String {
        format!(
            "{}#{}#{}",
            self.repository.to_ascii_lowercase(),
            self.run_id,
            self.run_attempt
        )
    }
}

/// What [`Store::record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// This (hook, delivery) was recorded before: nothing was written.
    Duplicate,
    /// The delivery was recorded; it asked for no cancel.
    Delivery,
    /// The delivery was recorded and its cancel job queued (`created`) or found queued already.
    Job { id: i64, created: bool },
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

/// What `retry` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requeue {
    Requeued(Job),
    NotDead(Job),
    NotFound,
}

/// The relay's database.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(Sqlite),
    Postgres(PgPool),
}

/// The SQLite backend: one connection, so that SQLite sees a single writer (WAL lets an
/// operator's `sqlite3` read alongside it), and a writer task that groups deliveries into
/// shared commits.
#[derive(Debug, Clone)]
pub struct Sqlite {
    pool: SqlitePool,
    writes: mpsc::Sender<WriteRequest>,
}

/// A delivery waiting for the SQLite writer.
#[derive(Debug)]
struct WriteRequest {
    delivery: OwnedDelivery,
    job: Option<NewJob>,
    reply: oneshot::Sender<Result<Recorded, StoreError>>,
}

#[derive(Debug)]
struct OwnedDelivery {
    hook_id: String,
    delivery_id: String,
    event: String,
    action: Option<String>,
    body: Option<Vec<u8>>,
    received_at: i64,
}

impl From<&NewDelivery<'_>> for OwnedDelivery {
    fn from(d: &NewDelivery<'_>) -> Self {
        Self {
            hook_id: d.hook_id.to_owned(),
            delivery_id: d.delivery_id.to_owned(),
            event: d.event.to_owned(),
            action: d.action.map(str::to_owned),
            body: d.body.map(<[u8]>::to_vec),
            received_at: d.received_at,
        }
    }
}

impl OwnedDelivery {
    fn as_new(&self) -> NewDelivery<'_> {
        NewDelivery {
            hook_id: &self.hook_id,
            delivery_id: &self.delivery_id,
            event: &self.event,
            action: self.action.as_deref(),
            body: self.body.as_deref(),
            received_at: self.received_at,
        }
    }
}

/// Records one delivery and its job inside the caller's transaction `$tx`, the same text for
/// SQLite and Postgres. A macro rather than a function, because sqlx's executor traits differ
/// per database.
macro_rules! record_one {
    ($tx:expr, $delivery:expr, $job:expr) => {
        async {
            let delivery: &NewDelivery<'_> = $delivery;
            let job: Option<&NewJob> = $job;
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO deliveries (hook_id, delivery_id, event, action, repository, run_id, run_attempt, body, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (hook_id, delivery_id) DO NOTHING RETURNING id",
            )
            .bind(delivery.hook_id)
            .bind(delivery.delivery_id)
            .bind(delivery.event)
            .bind(delivery.action)
            .bind(job.map(|j| j.repository.as_str()))
            .bind(job.map(|j| j.run_id))
            .bind(job.map(|j| j.run_attempt))
            .bind(delivery.body)
            .bind(delivery.received_at)
            .fetch_optional(&mut *$tx)
            .await?;
            if inserted.is_none() {
                return Ok::<_, sqlx::Error>(Recorded::Duplicate);
            }
            let Some(job) = job else {
                return Ok(Recorded::Delivery);
            };
            let key = job.dedupe_key();
            let created: Option<i64> = sqlx::query_scalar(
                "INSERT INTO jobs (dedupe_key, repository, run_id, run_attempt, delivery_id, state, attempts, next_run_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6) \
                 ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            )
            .bind(&key)
            .bind(&job.repository)
            .bind(job.run_id)
            .bind(job.run_attempt)
            .bind(delivery.delivery_id)
            .bind(delivery.received_at)
            .fetch_optional(&mut *$tx)
            .await?;
            Ok(match created {
                Some(id) => Recorded::Job { id, created: true },
                None => {
                    let id: i64 = sqlx::query_scalar("SELECT id FROM jobs WHERE dedupe_key = $1")
                        .bind(&key)
                        .fetch_one(&mut *$tx)
                        .await?;
                    Recorded::Job { id, created: false }
                }
            })
        }
        .await
    };
}

/// Runs `$body` with `$pool` bound to whichever pool the store has; the queries are the same
/// text for both databases (`$1` placeholders work on both).
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite(sqlite) => {
                let $pool = &sqlite.pool;
                $body
            }
            Store::Postgres($pool) => $body,
        }
    };
}

// Queries assembled with `format!` join only the constants below and fixed fragments, never
// input (which is always bound), hence `AssertSqlSafe`.
const JOB_COLUMNS: &str = "id, dedupe_key, repository, run_id, run_attempt, delivery_id, state, outcome, attempts, \
     next_run_at, lease_owner, lease_until, last_error, created_at, updated_at";

impl Store {
    /// Opens (creating a SQLite file if absent) and migrates the database at `url`:
    /// `sqlite://path` or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(POSTGRES_MAX_CONNECTIONS)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(|e| StoreError::Connect(e.to_string()))?;
            Self::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Connect(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT);
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .map_err(|e| StoreError::Connect(e.to_string()))?;
            let (writes, queue) = mpsc::channel(SQLITE_MAX_BATCH * 4);
            tokio::spawn(write_sqlite(pool.clone(), queue));
            Self::Sqlite(Sqlite { pool, writes })
        } else {
            return Err(StoreError::Connect(
                "DATABASE_URL must start with sqlite:// or postgres://".into(),
            ));
        };
        match &store {
            Self::Sqlite(sqlite) => SQLITE_MIGRATIONS.run(&sqlite.pool).await,
            Self::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        }
        .map_err(|e| StoreError::Migrate(e.to_string()))?;
        Ok(store)
    }

    /// The backend's name, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Records a verified delivery and, when it asks for one, its cancel job, in one
    /// transaction: either both are stored or neither is. Returns once they are committed.
    pub async fn record(
        &self,
        delivery: &NewDelivery<'_>,
        job: Option<&NewJob>,
    ) -> Result<Recorded, StoreError> {
        match self {
            Self::Sqlite(sqlite) => {
                let (reply, answer) = oneshot::channel();
                let request = WriteRequest {
                    delivery: OwnedDelivery::from(delivery),
                    job: job.cloned(),
                    reply,
                };
                sqlite
                    .writes
                    .send(request)
                    .await
                    .map_err(|_| StoreError::Closed)?;
                answer.await.map_err(|_| StoreError::Closed)?
            }
            Self::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let recorded = record_one!(&mut *tx, delivery, job)?;
                tx.commit().await?;
                Ok(recorded)
            }
        }
    }

    /// Claims up to `limit` due jobs for `owner` until `now + lease`: pending jobs whose time
    /// has come, and running jobs whose lease expired (their worker died).
    pub async fn claim(
        &self,
        owner: &str,
        now: i64,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<Job>, StoreError> {
        let lease_until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let due = "SELECT id FROM jobs \
                   WHERE (state = 'pending' AND next_run_at <= $3) OR (state = 'running' AND lease_until < $3) \
                   ORDER BY next_run_at LIMIT $4";
        // SQLite has one writer, so the UPDATE is atomic; Postgres skips rows that another
        // replica's claim has locked, so two replicas never claim the same job.
        let lock = match self {
            Self::Sqlite(_) => "",
            Self::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE id IN ({due}{lock}) RETURNING {JOB_COLUMNS}"
        );
        with_pool!(self, pool => {
            Ok(sqlx::query_as::<_, Job>(AssertSqlSafe(sql))
                .bind(owner)
                .bind(lease_until)
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await?)
        })
    }

    /// Ends a job `owner` holds: `Done`, `Dead` or `Dry`, with its outcome. `false` when the
    /// lease was lost meanwhile (another worker reclaimed it).
    pub async fn finish(
        &self,
        id: i64,
        owner: &str,
        state: JobState,
        outcome: &str,
        error: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(
                "UPDATE jobs SET state = $1, outcome = $2, last_error = $3, lease_owner = NULL, lease_until = NULL, updated_at = $4 \
                 WHERE id = $5 AND lease_owner = $6 AND state = 'running'",
            )
            .bind(state.as_str())
            .bind(outcome)
            .bind(error)
            .bind(now)
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Puts a job `owner` holds back in the queue until `next_run_at`.
    pub async fn reschedule(
        &self,
        id: i64,
        owner: &str,
        next_run_at: i64,
        error: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(
                "UPDATE jobs SET state = 'pending', next_run_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL, updated_at = $3 \
                 WHERE id = $4 AND lease_owner = $5 AND state = 'running'",
            )
            .bind(next_run_at)
            .bind(error)
            .bind(now)
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Returns every job `owner` still holds to the queue (graceful shutdown), without counting
    /// the claim as an attempt.
    pub async fn release(&self, owner: &str, now: i64) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(
                "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_until = NULL, \
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = $1 \
                 WHERE lease_owner = $2 AND state = 'running'",
            )
            .bind(now)
            .bind(owner)
            .execute(pool)
            .await?;
            Ok(done.rows_affected())
        })
    }

    /// Jobs in `state` (all when `None`), newest first.
    pub async fn jobs(&self, state: Option<JobState>, limit: i64) -> Result<Vec<Job>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1 IS NULL OR state = $1) ORDER BY id DESC LIMIT $2"
        );
        with_pool!(self, pool => {
            Ok(sqlx::query_as::<_, Job>(AssertSqlSafe(sql))
                .bind(state.map(JobState::as_str))
                .bind(limit)
                .fetch_all(pool)
                .await?)
        })
    }

    /// One job.
    pub async fn job(&self, id: i64) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        with_pool!(self, pool => Ok(sqlx::query_as::<_, Job>(AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?))
    }

    /// Requeues a dead job now, with its attempts reset.
    pub async fn retry(&self, id: i64, now: i64) -> Result<Requeue, StoreError> {
        let updated = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE jobs SET state = 'pending', attempts = 0, next_run_at = $1, outcome = NULL, updated_at = $1 \
                 WHERE id = $2 AND state = 'dead'",
            )
            .bind(now)
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

    /// Queue depth and the age of the oldest pending job.
    pub async fn stats(&self, now: i64) -> Result<QueueStats, StoreError> {
        with_pool!(self, pool => {
            let (pending, running, dead, oldest): (i64, i64, i64, Option<i64>) = sqlx::query_as(
                "SELECT \
                   COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0), \
                   COALESCE(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0), \
                   COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0), \
                   MIN(CASE WHEN state = 'pending' THEN created_at END) \
                 FROM jobs",
            )
            .fetch_one(pool)
            .await?;
            Ok(QueueStats { pending, running, dead, oldest_pending_ms: oldest.map_or(0, |t| (now - t).max(0)) })
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }

    /// Closes the pool, flushing SQLite's WAL.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }
}

/// The SQLite writer: takes whatever deliveries are waiting, commits them in one transaction,
/// then answers each. A batch that queues a cancel job commits with `synchronous = FULL`, so an
/// acknowledged cancel survives a power loss, not only a crash; batches of deliveries that
/// queue nothing (most of them) keep the faster `NORMAL`.
async fn write_sqlite(pool: SqlitePool, mut queue: mpsc::Receiver<WriteRequest>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < SQLITE_MAX_BATCH {
            match queue.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        match write_batch(&pool, &batch).await {
            Ok(results) => {
                for (request, result) in batch.into_iter().zip(results) {
                    let _ = request.reply.send(Ok(result));
                }
            }
            Err(error) => {
                let message = error.to_string();
                for request in batch {
                    let _ = request.reply.send(Err(StoreError::Batch(message.clone())));
                }
            }
        }
    }
}

async fn write_batch(
    pool: &SqlitePool,
    batch: &[WriteRequest],
) -> Result<Vec<Recorded>, sqlx::Error> {
    let durable = batch.iter().any(|r| r.job.is_some());
    let mut conn = pool.acquire().await?;
    if durable {
        sqlx::query("PRAGMA synchronous = FULL")
            .execute(&mut *conn)
            .await?;
    }
    let result = async {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let mut results = Vec::with_capacity(batch.len());
        for request in batch {
            results.push(record_one!(
                &mut *tx,
                &request.delivery.as_new(),
                request.job.as_ref()
            )?);
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(results)
    }
    .await;
    if durable {
        sqlx::query("PRAGMA synchronous = NORMAL")
            .execute(&mut *conn)
            .await?;
    }
    result
}

/// Milliseconds since the Unix epoch: the store's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
