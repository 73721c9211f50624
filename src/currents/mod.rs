//! The Currents side: typed, lenient models; a client for the calls currents-bridge makes
//! (runs, instances, cancels, webhooks; test history and Actions in `analytics.rs`); the
//! [`RunSource`] trait over the API and a directory of saved responses; and, written once
//! against it, waiting for a run to complete and fetching its failing specs' instances, with
//! their tests' history beside them. The report step and the relay both use these.

mod analytics;
mod client;
mod error;
mod fetch;
mod gather;
mod history;
pub mod models;
mod source;
mod wait;

pub use analytics::{HISTORY_PAGE, Window};
pub use client::{
    CancelOutcome, CancelTarget, CurrentsClient, CurrentsConfig, DeleteOutcome, GithubRunCancel,
    ListedRun, NewWebhook, RunPage, Webhook,
};
pub use error::CurrentsError;
pub use fetch::{
    FailedInstances, HistoryLookup, base_run, fetch_failed_instances, fetch_with_history,
};
pub use gather::{Gathered, Wanted, gather};
pub use history::{History, HistoryPlan, MAX_HISTORY_LOOKUPS, TestHistory, TestKey};
pub use models::{Instance, InstanceId, ProjectId, Run, RunId};
pub use source::{DirSource, RunSource, SourceError};
pub use wait::{RunTarget, WaitError, WaitEvent, WaitTiming, wait_for_completion};

/// Instance fetches in flight at once by default (`--fetch-concurrency`): a 100-spec failure
/// fetches in 13 rounds, without a burst that a rate limiter would notice.
pub const FETCH_CONCURRENCY: usize = 8;

/// The Currents dashboard. Its run and test pages need a login but, unlike the signed media
/// URLs of the API, never expire, so they are the lasting links in a report.
pub const DASHBOARD_URL: &str = "https://app.currents.dev";

/// The dashboard page of a run.
pub fn run_url(run_id: &RunId) -> String {
    dashboard_url(&["run", run_id.as_str()])
}

/// A dashboard page: the segments percent-encoded, so that no id can change the path.
pub fn dashboard_url(segments: &[&str]) -> String {
    let base = url::Url::parse(DASHBOARD_URL).expect("the dashboard URL is valid");
    crate::http::endpoint(&base, segments).to_string()
}
