//! The SQLite backend: one file, one relay process.
//!
//! One writer connection, so SQLite sees a single writer, and a task that groups deliveries into
//! shared commits; a separate pool of read connections (WAL lets readers run beside the writer)
//! serves `/metrics`, `/readyz` and the admin listing, so reads never queue behind ingest. The
//! file is locked for this process: a second relay on it refuses to start.

use std::fs::File;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::{mpsc, oneshot};

use super::job::NewJob;
use super::model::{DeliveryId, HookId, NewDelivery, Recorded};
use super::{Queries, StoreError, record_one};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// How long a SQLite write waits for the lock before failing: well over any single write, well
/// under GitHub's 10 s answer deadline.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The most deliveries one SQLite transaction commits. Under load, requests that arrive while
/// a commit runs share the next one ("group commit"): one commit's pages and fsync serve them
/// all, where one commit each made the log grow tens of MB/s and its checkpoints stall the
/// route (p99 15-22 ms at 5k requests/s; 7-9 ms with grouping, at 9.5k). Each request is still
/// answered only after its own data is committed.
const MAX_BATCH: usize = 256;

/// Read connections: `/metrics`, `/readyz` and the admin API each need at most one at a time.
const READ_CONNECTIONS: u32 = 2;

/// The current time in epoch milliseconds, by SQLite's clock.
pub(super) const NOW: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/// The SQLite store's handles.
#[derive(Debug, Clone)]
pub struct Sqlite {
    pub(super) pool: SqlitePool,
    pub(super) read: SqlitePool,
    writes: mpsc::Sender<WriteRequest>,
    /// Held for the process's life: the lock that keeps a second relay off the file.
    _lock: Option<Arc<File>>,
}

/// A delivery waiting for the writer.
#[derive(Debug)]
struct WriteRequest {
    delivery: OwnedDelivery,
    job: Option<NewJob>,
    reply: oneshot::Sender<Result<Recorded, StoreError>>,
}

#[derive(Debug)]
struct OwnedDelivery {
    hook_id: HookId,
    delivery_id: DeliveryId,
    event: String,
    action: Option<String>,
    body: Option<Vec<u8>>,
    body_digest: Option<String>,
}

impl OwnedDelivery {
    fn as_new(&self) -> NewDelivery<'_> {
        NewDelivery {
            hook_id: &self.hook_id,
            delivery_id: &self.delivery_id,
            event: &self.event,
            action: self.action.as_deref(),
            body: self.body.as_deref(),
            body_digest: self.body_digest.as_deref(),
        }
    }
}

pub(super) async fn connect(url: &str, queries: Arc<Queries>) -> Result<Sqlite, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(StoreError::Connect)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT);
    let filename = options.get_filename().to_owned();
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .map_err(StoreError::Connect)?;
    let lock = if filename.as_os_str().is_empty() || filename.as_os_str() == ":memory:" {
        None
    } else {
        let file = File::options()
            .read(true)
            .write(true)
            .open(&filename)
            .map_err(|source| StoreError::OpenFile {
                path: filename.display().to_string(),
                source,
            })?;
        // An advisory lock beside SQLite's own (flock and SQLite's fcntl locks do not meet):
        // two relays on one file would each believe they are the only writer.
        if file.try_lock().is_err() {
            pool.close().await;
            return Err(StoreError::Locked(filename.display().to_string()));
        }
        Some(Arc::new(file))
    };
    MIGRATIONS.run(&pool).await.map_err(StoreError::Migrate)?;
    if lock.is_some() {
        // This process holds the file alone, so a job still marked running was claimed by a
        // relay that died: take it back now rather than when its lease runs out.
        let orphans = sqlx::query(
            "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_until = NULL WHERE state = 'running'",
        )
        .execute(&pool)
        .await?
        .rows_affected();
        if orphans > 0 {
            tracing::info!(orphans, "resuming the jobs a stopped relay held");
        }
        sqlx::query("UPDATE check_runs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL")
            .execute(&pool)
            .await?;
        sqlx::query("UPDATE sweeps SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL")
            .execute(&pool)
            .await?;
    }
    let read = SqlitePoolOptions::new()
        .max_connections(READ_CONNECTIONS)
        .connect_with(options.read_only(true))
        .await
        .map_err(StoreError::Connect)?;
    let (writes, queue) = mpsc::channel(MAX_BATCH * 4);
    tokio::spawn(write_deliveries(pool.clone(), queue, queries));
    Ok(Sqlite {
        pool,
        read,
        writes,
        _lock: lock,
    })
}

impl Sqlite {
    /// Hands the delivery to the writer and waits until its batch is committed.
    pub(super) async fn record(
        &self,
        delivery: &NewDelivery<'_>,
        job: Option<&NewJob>,
    ) -> Result<Recorded, StoreError> {
        let (reply, answer) = oneshot::channel();
        let request = WriteRequest {
            delivery: OwnedDelivery {
                hook_id: delivery.hook_id.clone(),
                delivery_id: delivery.delivery_id.clone(),
                event: delivery.event.to_owned(),
                action: delivery.action.map(str::to_owned),
                body: delivery.body.map(<[u8]>::to_vec),
                body_digest: delivery.body_digest.map(str::to_owned),
            },
            job: job.cloned(),
            reply,
        };
        self.writes
            .send(request)
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub(super) async fn close(&self) {
        self.read.close().await;
        self.pool.close().await;
    }
}

/// The writer: takes whatever deliveries are waiting, commits them in one transaction, then
/// answers each. A batch that queues a job commits with `synchronous = FULL`, so an
/// acknowledged cancel survives a power loss, not only a crash; batches of deliveries that
/// queue nothing (most of them) keep the faster `NORMAL`.
async fn write_deliveries(
    pool: SqlitePool,
    mut queue: mpsc::Receiver<WriteRequest>,
    queries: Arc<Queries>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        match write_batch(&pool, &batch, &queries).await {
            Ok(results) => {
                for (request, result) in batch.into_iter().zip(results) {
                    let _ = request.reply.send(Ok(result));
                }
            }
            Err(error) => {
                let error = Arc::new(error);
                for request in batch {
                    let _ = request
                        .reply
                        .send(Err(StoreError::Batch(Arc::clone(&error))));
                }
            }
        }
    }
}

async fn write_batch(
    pool: &SqlitePool,
    batch: &[WriteRequest],
    queries: &Queries,
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
                queries,
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
