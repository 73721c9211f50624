//! The Postgres backend: several relay replicas on one database. Claims skip rows another
//! replica has locked, so no job is claimed twice; a small separate pool serves reads.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::StoreError;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Connections per replica for ingest and the worker: many replicas must stay under the
/// server's default `max_connections` of 100.
const MAX_CONNECTIONS: u32 = 8;

/// Connections per replica for `/metrics`, `/readyz` and the admin API.
const READ_CONNECTIONS: u32 = 2;

/// How long to wait for a free connection before failing the call.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The current time in epoch milliseconds, by the database's clock (the same for every
/// replica, whatever their hosts' clocks say).
pub(super) const NOW: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

/// The Postgres store's pools.
#[derive(Debug, Clone)]
pub struct Postgres {
    pub(super) pool: PgPool,
    pub(super) read: PgPool,
}

pub(super) async fn connect(url: &str) -> Result<Postgres, StoreError> {
    let connect = |size: u32| {
        PgPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
    };
    let pool = connect(MAX_CONNECTIONS)
        .await
        .map_err(StoreError::Connect)?;
    MIGRATIONS.run(&pool).await.map_err(StoreError::Migrate)?;
    let read = connect(READ_CONNECTIONS)
        .await
        .map_err(StoreError::Connect)?;
    Ok(Postgres { pool, read })
}
