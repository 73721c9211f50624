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

mod job;
mod model;
mod postgres;
mod queries;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use sqlx::AssertSqlSafe;

pub(crate) use queries::Queries;
use queries::sql;

pub use job::{CheckEvent, CheckPayload, Claimed, ClickPayload, Job, JobSpec, NewJob};
pub use model::{
    CheckRecord, DeliveryId, HookId, JobId, JobKind, JobOutcome, JobState, MAX_ID_BYTES,
    NewDelivery, Pruned, QueueStats, Recorded, Requeue,
};
pub use postgres::Postgres;
pub use sqlite::Sqlite;

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DATABASE_URL must start with sqlite:// or postgres://")]
    UnsupportedUrl,
    #[error("cannot open the database")]
    Connect(#[source] sqlx::Error),
    #[error("cannot open the SQLite file {path}")]
    OpenFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another process holds the SQLite database {0}: SQLite is for one relay process; stop the other one, or point every replica at one Postgres database"
    )]
    Locked(String),
    #[error("cannot migrate the database")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("database error")]
    Query(#[from] sqlx::Error),
    /// A grouped SQLite commit failed; every delivery in it gets this error.
    #[error("database error in a grouped commit")]
    Batch(#[source] Arc<sqlx::Error>),
    #[error("the database is closed")]
    Closed,
    /// A row this query just wrote or found is gone (deleted by hand, or pruned meanwhile).
    #[error("a row vanished while it was being used")]
    Vanished,
}

impl StoreError {
    /// Whether the configuration is at fault (a bad URL, a locked file), not the database.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::UnsupportedUrl
                | Self::Connect(_)
                | Self::OpenFile { .. }
                | Self::Locked(_)
                | Self::Migrate(_)
        )
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

/// Records one delivery and its job inside the caller's transaction `$tx`: the same queries on
/// both databases. A macro rather than a function, because sqlx's executor traits differ per
/// database.
macro_rules! record_one {
    ($tx:expr, $queries:expr, $delivery:expr, $job:expr) => {
        async {
            let queries: &$crate::store::Queries = $queries;
            let delivery: &$crate::store::NewDelivery<'_> = $delivery;
            let job: Option<&$crate::store::NewJob> = $job;
            let columns = job.map($crate::store::NewJob::columns);
            if let Some(digest) = delivery.body_digest {
                // A signed body GitHub sent once, replayed under a new delivery id.
                let replayed: i64 =
                    sqlx::query_scalar($crate::store::sql_of(&queries.replayed_body))
                        .bind(digest)
                        .bind(delivery.delivery_id.as_str())
                        .fetch_one(&mut *$tx)
                        .await?;
                if replayed > 0 {
                    return Ok::<_, sqlx::Error>($crate::store::Recorded::Duplicate);
                }
            }
            let inserted: Option<i64> =
                sqlx::query_scalar($crate::store::sql_of(&queries.insert_delivery))
                    .bind(delivery.hook_id.as_str())
                    .bind(delivery.delivery_id.as_str())
                    .bind(delivery.event)
                    .bind(delivery.action)
                    .bind(job.map(|j| j.repository.as_str()))
                    .bind(columns.as_ref().map(|c| c.1))
                    .bind(columns.as_ref().map(|c| c.2))
                    .bind(delivery.body)
                    .bind(delivery.body_digest)
                    .fetch_optional(&mut *$tx)
                    .await?;
            if inserted.is_none() {
                return Ok::<_, sqlx::Error>($crate::store::Recorded::Duplicate);
            }
            let Some(job) = job else {
                return Ok($crate::store::Recorded::Delivery);
            };
            let key = job.dedupe_key();
            let (payload, run_id, run_attempt) = columns.unwrap_or_default();
            let created: Option<$crate::store::JobId> =
                sqlx::query_scalar($crate::store::sql_of(&queries.insert_job))
                    .bind(&key)
                    .bind(&job.repository)
                    .bind(run_id)
                    .bind(run_attempt)
                    .bind(delivery.delivery_id.as_str())
                    .bind(job.kind().as_str())
                    .bind(payload)
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

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
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

// After the macros above, so that they are in scope there.
mod checks;
mod clicks;
mod jobs;
mod sweeps;

pub use clicks::{Button, Click, ClickClaim, ClickState, ClickedCheck, Offers, QuarantineTest};
pub use jobs::PRUNE_BATCH;

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
            Err(StoreError::UnsupportedUrl)
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
