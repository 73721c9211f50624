//! The Currents REST API: typed, lenient models and a client for the calls currents-bridge
//! makes (find a run, get a run, get an instance, cancel).

mod client;
mod error;
pub mod models;

pub use client::{CancelOutcome, CancelTarget, CurrentsClient, CurrentsConfig};
pub use error::CurrentsError;
pub use models::{Instance, InstanceId, ProjectId, Run, RunId};

/// The Currents dashboard. Its run and test pages need a login but, unlike the signed media
/// URLs of the API, never expire, so they are the lasting links in a report.
pub const DASHBOARD_URL: &str = "https://app.currents.dev";

/// The dashboard page of a run.
pub fn run_url(run_id: &RunId) -> String {
    format!("{DASHBOARD_URL}/run/{run_id}")
}
