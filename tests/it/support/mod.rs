//! What the integration tests share, by job: the fakes (`currents`, `github`, over `fake`),
//! the binary as a workflow runs it (`process`, `action`) and as a service (`relay_process`,
//! `app_mode`), webhook deliveries (`signing`) and waits (`waits`).

use std::time::Duration;

pub mod action;
pub mod app_mode;
pub mod currents;
pub mod currents_history;
pub mod fake;
pub mod github;
pub mod process;
pub mod relay_process;
pub mod signing;
pub mod waits;

pub use currents::*;
pub use currents_history::*;
pub use fake::{Recorded, Reply, Script};
pub use github::*;
pub use process::*;
pub use signing::*;
pub use waits::*;

/// A cancel job's workflow run id and attempt.
pub fn cancel_of(job: &currents_bridge::store::Job) -> (u64, u32) {
    match &job.spec {
        currents_bridge::store::JobSpec::Cancel {
            run_id,
            run_attempt,
        } => (run_id.get(), run_attempt.get()),
        other => panic!("not a cancel job: {other:?}"),
    }
}

/// The HTTP layer, as the binary builds it.
pub fn http() -> currents_bridge::http::Http {
    currents_bridge::http::Http::new().unwrap()
}

/// The titles of the annotations a check-run request sends.
pub fn annotation_titles(request: &serde_json::Value) -> Vec<&str> {
    request["output"]["annotations"]
        .as_array()
        .map(|a| a.iter().filter_map(|a| a["title"].as_str()).collect())
        .unwrap_or_default()
}

/// A GitHub client for the API at `url` that tries each call once.
pub fn github_client(url: &str) -> currents_bridge::github::GithubClient {
    currents_bridge::github::GithubClient::new(
        currents_bridge::github::GithubConfig {
            api_url: url.parse().unwrap(),
            token: secrecy::SecretString::from(GITHUB_TOKEN),
            retry: currents_bridge::retry::RetryPolicy {
                max_retries: 0,
                ..currents_bridge::retry::RetryPolicy::ACTION
            },
        },
        &http(),
    )
}

/// A relay state on a fresh SQLite database (kept while the directory lives), with the test
/// webhook secret: for tests that drive the router directly.
pub async fn sqlite_state() -> (currents_bridge::relay::AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = currents_bridge::store::Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("relay.db").display()
    ))
    .await
    .unwrap();
    let secrets = currents_bridge::relay::WebhookSecrets::new(vec![secrecy::SecretString::from(
        WEBHOOK_SECRET,
    )])
    .unwrap();
    (
        currents_bridge::relay::AppState::new(
            store,
            secrets,
            None,
            64 * 1024,
            Duration::from_secs(5),
        ),
        dir,
    )
}
