//! Webhook deliveries as GitHub sends them: examples, and signed with the relay's secret.

use std::path::Path;

use serde_json::{Value, json};

/// The webhook secret the relay tests configure.
pub const WEBHOOK_SECRET: &str = "relay-test-secret-do-not-leak";

/// A webhook example of `tests/data/webhooks/` (from @octokit/webhooks-examples).
pub fn webhook_example(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/webhooks")
        .join(name);
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// The workflow_job example, completed and cancelled, for `repo` run `run_id` attempt `attempt`.
pub fn cancelled_job(repo: &str, run_id: u64, attempt: u64) -> Value {
    let mut event = webhook_example("workflow_job.completed.json");
    event["workflow_job"]["conclusion"] = json!("cancelled");
    event["workflow_job"]["run_id"] = json!(run_id);
    event["workflow_job"]["run_attempt"] = json!(attempt);
    event["repository"]["full_name"] = json!(repo);
    event
}

/// The workflow_run example, completed and cancelled.
pub fn cancelled_run() -> Value {
    let mut event = webhook_example("workflow_run.completed.json");
    event["workflow_run"]["conclusion"] = json!("cancelled");
    event
}

/// A delivery as GitHub sends it: JSON, signed with `secret`.
pub fn delivery(
    event: &str,
    delivery_id: &str,
    body: &[u8],
    secret: &str,
) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::post("/webhooks/github")
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/abc123")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery_id)
        .header("x-github-hook-id", "123456")
        .header(
            "x-hub-signature-256",
            currents_bridge::relay::verify::sign(secret, body),
        )
        .body(axum::body::Body::from(body.to_vec()))
        .unwrap()
}

/// POSTs `body` to a running relay's webhook `url` as GitHub would: JSON, signed with
/// [`WEBHOOK_SECRET`].
pub async fn post_delivery(
    client: &reqwest::Client,
    url: &str,
    event: &str,
    delivery_id: &str,
    body: String,
) -> reqwest::Response {
    let signature = currents_bridge::relay::verify::sign(WEBHOOK_SECRET, body.as_bytes());
    client
        .post(url)
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery_id)
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .expect("the relay answers")
}
