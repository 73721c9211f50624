//! The Currents side: typed, lenient models; a client for the calls currents-bridge makes
//! (find a run, get a run, get an instance, cancel); the [`RunSource`] trait over the API and a
//! directory of saved responses; and, written once against it, waiting for a run to complete
//! and fetching its failing specs' instances. The report step and the relay both use these.

mod client;
mod error;
pub mod models;
mod source;
mod wait;

pub use client::{
    CancelOutcome, CancelTarget, CurrentsClient, CurrentsConfig, DeleteOutcome, GithubRunCancel,
    ListedRun, NewWebhook, RunPage, Webhook,
};
pub use error::CurrentsError;
pub use models::{Instance, InstanceId, ProjectId, Run, RunId};
pub use source::{DirSource, RunSource, SourceError};
pub use wait::{
    FailedInstances, RunTarget, WaitError, WaitEvent, WaitTiming, base_run, fetch_failed_instances,
    wait_for_completion,
};

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
