//! Catch-up of missed GitHub deliveries (App mode). GitHub never redelivers a failed webhook by
//! itself, but keeps every delivery for three days and redelivers one on request. At start and
//! every `--catchup-interval`, one replica (a lease in the store) pages through the App's
//! deliveries back to the last sweep and asks again, once, for every `workflow_job` /
//! `workflow_run` delivery that no attempt delivered and the store never recorded.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use crate::github::app::{AppError, GithubApp, HookDelivery};
use crate::store::{Store, StoreError};

/// The sweep's name in the store.
const SWEEP: &str = "github-deliveries";
/// How long GitHub keeps deliveries (github.com; GHES keeps 7 days, and 3 is still right).
pub const REDELIVERY_WINDOW: Duration = Duration::from_secs(3 * 24 * 60 * 60);
/// Looked at again from before the last sweep started, for deliveries GitHub was still
/// attempting then.
const OVERLAP: Duration = Duration::from_secs(10 * 60);
/// One sweep's lease: longer than a sweep of thousands of deliveries takes.
const LEASE: Duration = Duration::from_secs(10 * 60);

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Deliveries listed within the window.
    pub listed: usize,
    /// Redeliveries asked for.
    pub redelivered: usize,
    /// Another replica held the sweep.
    pub skipped: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One sweep, as `owner`.
pub async fn sweep(
    store: &Store,
    app: &GithubApp,
    owner: &str,
    metrics: &Metrics,
) -> Result<Swept, SweepError> {
    let Some((last, now_ms)) = store.lock_sweep(SWEEP, owner, LEASE).await? else {
        return Ok(Swept {
            skipped: true,
            ..Swept::default()
        });
    };
    let window_start = now_ms - millis(REDELIVERY_WINDOW);
    let floor = last.map_or(window_start, |last| {
        (last - millis(OVERLAP)).max(window_start)
    });
    let result = collect_and_redeliver(store, app, floor, metrics).await;
    match &result {
        // Only a complete sweep moves the floor: a failed one is repeated from the same place.
        Ok(_) => store.finish_sweep(SWEEP, owner, now_ms).await?,
        Err(_) => store.finish_sweep(SWEEP, owner, last.unwrap_or(0)).await?,
    }
    result
}

async fn collect_and_redeliver(
    store: &Store,
    app: &GithubApp,
    floor_ms: i64,
    metrics: &Metrics,
) -> Result<Swept, SweepError> {
    let mut swept = Swept::default();
    let mut delivered: HashSet<String> = HashSet::new();
    // Newest attempt first, as GitHub lists them.
    let mut failed: Vec<HookDelivery> = Vec::new();
    let mut page: Option<String> = None;
    loop {
        let (deliveries, next) = app.deliveries(page.as_deref()).await?;
        let mut reached_floor = deliveries.is_empty();
        for delivery in deliveries {
            let at = delivery.delivered().map_or(i64::MAX, |t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            });
            if at < floor_ms {
                reached_floor = true;
                continue;
            }
            swept.listed += 1;
            if !wanted(&delivery) {
                continue;
            }
            if (200..300).contains(&delivery.status_code) {
                delivered.insert(delivery.guid.clone());
            } else {
                failed.push(delivery);
            }
        }
        match next {
            Some(next) if !reached_floor => page = Some(next),
            _ => break,
        }
    }
    let mut asked: HashSet<String> = HashSet::new();
    for delivery in failed {
        if delivered.contains(&delivery.guid) || asked.contains(&delivery.guid) {
            continue;
        }
        asked.insert(delivery.guid.clone());
        // Stored already, or asked for by an earlier sweep (the relay may have refused what
        // came back): GitHub is asked once per delivery.
        if store.has_delivery(&delivery.guid).await?
            || !store.ask_redelivery(&delivery.guid).await?
        {
            continue;
        }
        match app.redeliver(delivery.id).await {
            Ok(()) => {
                swept.redelivered += 1;
                metrics.redelivery("requested");
                tracing::info!(delivery = delivery.id, guid = %crate::log_safe::LogSafe(&delivery.guid), event = %crate::log_safe::LogSafe(&delivery.event), "asked GitHub to redeliver a missed delivery");
            }
            Err(error) => {
                metrics.redelivery("failed");
                tracing::warn!(delivery = delivery.id, error = %crate::log_safe::Chain(&error), "cannot ask for a redelivery; the next sweep tries again");
            }
        }
    }
    Ok(swept)
}

/// The deliveries whose loss could lose a cancel.
fn wanted(delivery: &HookDelivery) -> bool {
    matches!(delivery.event.as_str(), "workflow_job" | "workflow_run")
        && delivery.action.as_deref().is_none_or(|a| a == "completed")
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Sweeps at start, then every `interval`, until `shutdown`.
pub async fn run(
    store: Store,
    app: GithubApp,
    owner: String,
    interval: Duration,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    loop {
        match sweep(&store, &app, &owner, &metrics).await {
            Ok(swept) if swept.skipped => {
                tracing::debug!("another replica is sweeping GitHub's deliveries");
            }
            Ok(swept) => tracing::info!(
                listed = swept.listed,
                redelivered = swept.redelivered,
                "swept GitHub's deliveries for missed ones"
            ),
            Err(error) => {
                tracing::warn!(error = %crate::log_safe::Chain(&error), "cannot sweep GitHub's deliveries; trying again later");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
