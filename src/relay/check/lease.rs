//! The lease an attempt holds on a run's check record. Every write to the record and every
//! GitHub call of the attempt goes through it: [`RecordLease::hold`] renews the lease (and
//! fails once another attempt took the record), so an attempt that lost the record stops
//! before its next call, and [`RecordLease::save`] writes only under the fence it took.

use std::time::Duration;

use super::SyncError;
use crate::currents::RunId;
use crate::store::{CheckRecord, Store};

pub(super) struct RecordLease<'a> {
    store: &'a Store,
    run: &'a RunId,
    owner: &'a str,
    lease: Duration,
    /// What the store holds, as this attempt last wrote it.
    pub record: CheckRecord,
}

impl<'a> RecordLease<'a> {
    pub fn new(
        store: &'a Store,
        run: &'a RunId,
        owner: &'a str,
        lease: Duration,
        record: CheckRecord,
    ) -> Self {
        Self {
            store,
            run,
            owner,
            lease,
            record,
        }
    }

    /// Renews the lease before a call that changes something on GitHub.
    pub async fn hold(&self) -> Result<(), SyncError> {
        match self
            .store
            .renew_check(self.run, self.owner, &self.record, self.lease)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(SyncError::LostLease),
            Err(e) => Err(SyncError::Store(e)),
        }
    }

    /// Records what GitHub has accepted.
    pub async fn save(&self) -> Result<(), SyncError> {
        match self
            .store
            .save_check(self.run, self.owner, &self.record)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(SyncError::LostLease),
            Err(e) => Err(SyncError::Store(e)),
        }
    }

    /// Gives the record up (a newer lease on it is left alone).
    pub async fn release(self) {
        if let Err(e) = self
            .store
            .unlock_check(self.run, self.owner, &self.record)
            .await
        {
            tracing::warn!(error = %crate::log_safe::Chain(&e), "cannot release the check record; its lease expires by itself");
        }
    }
}
