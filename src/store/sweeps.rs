//! Periodic sweeps (the catch-up, the reconcile pass), one replica at a time by lease, and
//! what the catch-up remembers of GitHub's deliveries.

use std::time::Duration;

use super::{Backend, Store, StoreError, millis, sql};

impl Store {
    /// Takes the lease on sweep `name` for `owner`: `None` while another replica sweeps, else
    /// where the last complete sweep left off (`None` before the first) and the database's now,
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

    /// Ends `owner`'s sweep `name`, recording where the next one starts (`swept_at`).
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

    /// Notes that GitHub is asked to redeliver `guid`: `false` when it was asked before, so
    /// that a delivery the relay refuses is not asked for again every sweep.
    pub async fn ask_redelivery(&self, guid: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let new: Option<String> = sqlx::query_scalar(sql(&self.queries.ask_redelivery))
                .bind(guid)
                .fetch_optional(pool)
                .await?;
            Ok(new.is_some())
        })
    }
}
