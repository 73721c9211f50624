//! Queue figures for `/metrics` and `/readyz`, read from the store's read pool at most once a
//! second however many scrapers ask: concurrent requests share one read, and later ones the
//! cached answer. Neither route ever waits on the write path.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::store::{QueueStats, Store};

/// How long figures stay fresh: queue gauges need no finer grain than a scrape interval.
const FRESH_FOR: Duration = Duration::from_secs(1);

/// How long one read may take before the database counts as unavailable.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
pub(super) struct Figures {
    /// The last read: when, and what it found (`None`: the database did not answer).
    last: Mutex<Option<(Instant, Option<QueueStats>)>>,
}

impl Figures {
    /// The current figures, or `None` when the database does not answer.
    pub(super) async fn read(&self, store: &Store) -> Option<QueueStats> {
        let mut last = self.last.lock().await;
        if let Some((at, figures)) = *last
            && at.elapsed() < FRESH_FOR
        {
            return figures;
        }
        let figures = match tokio::time::timeout(READ_TIMEOUT, store.stats()).await {
            Ok(Ok(stats)) => Some(stats),
            Ok(Err(error)) => {
                tracing::error!(error = %crate::log_safe::Chain(&error), "cannot read the queue figures");
                None
            }
            Err(_) => {
                tracing::error!("reading the queue figures timed out");
                None
            }
        };
        *last = Some((Instant::now(), figures));
        figures
    }
}
