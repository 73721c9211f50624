//! The relay's router, driven with `oneshot` and signed deliveries built from GitHub's own
//! webhook examples, and its worker against the fake Currents.

use std::time::Duration;

use crate::support::*;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use currents_bridge::currents::ProjectId;
use currents_bridge::relay::{self, AppState, RetrySchedule, WebhookSecrets, Worker, WorkerConfig};
use currents_bridge::store::JobOutcome;
use currents_bridge::store::{JobState, Store};
use http_body_util::BodyExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const ADMIN_TOKEN: &str = "admin-token-for-tests";

struct Relay {
    state: AppState,
    _dir: tempfile::TempDir,
}

impl Relay {
    async fn new(secrets: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("relay.db").display());
        let store = Store::connect(&url).await.unwrap();
        let secrets =
            WebhookSecrets::new(secrets.iter().map(|s| SecretString::from(*s)).collect()).unwrap();
        let state = AppState::new(
            store,
            secrets,
            Some(SecretString::from(ADMIN_TOKEN)),
            64 * 1024,
            Duration::from_secs(5),
        );
        Self { state, _dir: dir }
    }

    fn router(&self) -> Router {
        relay::router(self.state.clone())
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = self.router().oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn deliver(&self, event: &str, id: &str, payload: &Value) -> (StatusCode, String) {
        self.send(delivery(
            event,
            id,
            payload.to_string().as_bytes(),
            WEBHOOK_SECRET,
        ))
        .await
    }

    async fn jobs(&self) -> Vec<currents_bridge::store::Job> {
        self.state.store.jobs(None, 1000).await.unwrap()
    }

    async fn metrics(&self) -> String {
        self.send(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .1
    }

    /// Runs a worker against `currents` until `done` holds of the jobs, or 20 s pass.
    async fn work_until(
        &self,
        currents: &FakeCurrents,
        done: impl Fn(&[currents_bridge::store::Job]) -> bool,
    ) {
        let client = currents_client(currents);
        let shutdown = CancellationToken::new();
        let worker = Worker::new(
            self.state.store.clone(),
            Some(client),
            None,
            worker_config("worker-a"),
            self.state.signals(),
        );
        let worker = tokio::spawn(worker.run(shutdown.clone(), Duration::from_secs(5)));
        wait_until(
            "the jobs' expected state",
            Duration::from_secs(20),
            || async { done(&self.jobs().await) },
        )
        .await;
        shutdown.cancel();
        worker.await.unwrap();
    }
}

fn worker_config(owner: &str) -> WorkerConfig {
    WorkerConfig {
        owner: owner.into(),
        poll_interval: Duration::from_millis(20),
        lease: Duration::from_secs(30),
        schedule: RetrySchedule::with_base(Duration::from_millis(50)),
        project_id: Some(ProjectId::new("Xk9Pq2")),
        dry_run: false,
    }
}

fn all_in(state: JobState) -> impl Fn(&[currents_bridge::store::Job]) -> bool {
    move |jobs| !jobs.is_empty() && jobs.iter().all(|j| j.state == state)
}

#[tokio::test]
async fn a_cancelled_workflow_job_is_queued_with_202() {
    let relay = Relay::new(&[WEBHOOK_SECRET]).await;
    let (status, body) = relay
        .deliver(
            "workflow_job",
            "d-1",
            &cancelled_job("Codertocat/Hello-World", 2202229078, 1),
        )
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::ACCEPTED, "cancel queued")
    );
    let jobs = relay.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].repository.as_str(), cancel_of(&jobs[0])),
        ("Codertocat/Hello-World", (2202229078, 1))
    );
    assert_eq!(jobs[0].state, JobState::Pending);
}

#[tokio::test]
async fn a_cancelled_workflow_run_is_queued_with_202() {
    let relay = Relay::new(&[WEBHOOK_SECRET]).await;
    let (status, _) = relay.deliver("workflow_run", "d-2", &cancelled_run()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(cancel_of(&relay.jobs().await[0]).0, 289782451);
}

#[tokio::test]
async fn nothing_to_do_answers_200_and_queues_nothing() {
    let relay = Relay::new(&[WEBHOOK_SECRET]).await;
    for (event, example) in [
        ("ping", "ping.json"),
        ("workflow_job", "workflow_job.completed.json"),
        ("workflow_job", "workflow_job.in_progress.json"),
        ("workflow_run", "workflow_run.completed.json"),
        ("workflow_run", "workflow_run.requested.json"),
        ("push", "ping.json"),
    ] {
        // Each event its own body: the same signed body under another id is a replay.
        let mut body = webhook_example(example);
        body["test_event"] = serde_json::json!(event);
        let (status, _) = relay
            .deliver(event, &format!("{event}-{example}"), &body)
            .await;
        assert_eq!(status, StatusCode::OK, "{event} {example}");
    }
    assert!(relay.jobs().await.is_empty());
    assert!(
        relay
            .metrics()
            .await
            .contains(r#"currents_bridge_webhook_deliveries_total{outcome="ignored"} 6"#)
    );
}

#[tokio::test]
async fn a_duplicate_delivery_answers_200_and_changes_nothing() {
    let relay = Relay::new(&[WEBHOOK_SECRET]).await;
    let event = cancelled_job("acme/webapp", 1, 1);
    assert_eq!(
        relay.deliver("workflow_job", "same", &event).await.0,
        StatusCode::ACCEPTED
    );
    let (status, body) = relay.deliver("workflow_job", "same", &event).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "duplicate delivery")
    );
    assert_eq!(relay.jobs().await.len(), 1);
}

#[tokio::test]
async fn signatures_are_checked_over_the_raw_bytes() {
    let relay = Relay::new(&[WEBHOOK_SECRET]).await;
    let body = cancelled_job("acme/webapp", 1, 1).to_string();
    // Missing.
    let mut request = delivery("workflow_job", "d", body.as_bytes(), WEBHOOK_SECRET);
    request.headers_mut().remove("x-hub-signature-256");
    assert_eq!(
        relay.send(request).await,
        (StatusCode::UNAUTHORIZED, "invalid signature".into())
    );
    // Another secret.
    let request = delivery("workflow_job", "d", body.as_bytes(), "wrong-secret");
    assert_eq!(relay.send(request).await.0, StatusCode::UNAUTHORIZED);
    // Signed bytes that differ from the body, as after a proxy re-serialised the JSON.
    let mut request = delivery("workflow_job", "d", body.as_bytes(), WEBHOOK_SECRET);
    *request.body_mut() =
        Body::from(serde_json::to_string_pretty(&cancelled_job("acme/webapp", 1, 1)).unwrap());
    assert_eq!(relay.send(request).await.0, StatusCode::UNAUTHORIZED);
    assert!(relay.jobs().await.is_empty());
    assert!(
        relay
            .metrics()
            .await
            .contains(r#"outcome="unauthorized"} 3"#)
    );
}

#[tokio::test]
async fn githubs_test_vector_is_accepted() {
    let relay = Relay::new(&["It's a Secret to Everybody"]).await;
    let mut request = delivery("ping", "vector", b"Hello, World!", "other");
    request.headers_mut().insert(
        "x-hub-signature-256",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
            .parse()
            .unwrap(),
    );
    // The signature passes; the body is not JSON, so it is refused as unparsable, not unsigned.
    assert_eq!(
        relay.send(request).await,
        (StatusCode::BAD_REQUEST, "unparsable payload".into())
    );
}

#[tokio::test]
async fn a_rotated_secret_verifies_old_and_new_deliveries() {
    let relay = Relay::new(&["new-secret", WEBHOOK_SECRET]).await;
    let body = cancelled_job("acme/webapp", 1, 1).to_string();
    assert_eq!(
        relay
            .send(delivery(
                "workflow_job",
                "old",
                body.as_bytes(),
                WEBHOOK_SECRET
            ))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let body = cancelled_job("acme/webapp", 2, 1).to_string();
    assert_eq!(
        relay
            .send(delivery(
                "workflow_job",
                "new",
                body.as_bytes(),
                "new-secret"
            ))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(relay.jobs().await.len(), 2);
}

#[tokio::test]
async fn a_form_encoded_delivery_is_verified_over_the_form_body() {
    let relay = Relay::new(&[WEBHOOK_SECRET]).await;
    let json = cancelled_job("acme/webapp", 77, 2).to_string();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &json)
        .finish();
    let mut request = delivery("workflow_job", "form-1", form.as_bytes(), WEBHOOK_SECRET);
    request.headers_mut().insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    assert_eq!(relay.send(request).await.0, StatusCode::ACCEPTED);
    assert_eq!(cancel_of(&relay.jobs().await[0]).0, 77);
    // A form without the payload field.
    let mut request = delivery("workflow_job", "form-2", b"other=1", WEBHOOK_SECRET);
    request.headers_mut().insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    assert_eq!(
        relay.send(request).await,
        (StatusCode::BAD_REQUEST, "missing payload field".into())
    );
}

#[tokio::test]
async fn bad_requests_get_400_with_a_fixed_reason() {
    let relay = Relay::new(&[WEBHOOK_SECRET]).await;
    let body = cancelled_job("acme/webapp", 1, 1).to_string();
    for header in ["x-github-event", "x-github-delivery"] {
        let mut request = delivery("workflow_job", "d", body.as_bytes(), WEBHOOK_SECRET);
        request.headers_mut().remove(header);
        let (status, reason) = relay.send(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{header}");
        assert!(reason.to_ascii_lowercase().contains(header), "{reason}");
    }
    let evil = br#"{"action":"completed","workflow_job":"<script>alert(1)</script>"}"#;
    let (status, reason) = relay
        .send(delivery("workflow_job", "d", evil, WEBHOOK_SECRET))
        .await;
    assert_eq!(
        (status, reason.as_str()),
        (StatusCode::BAD_REQUEST, "unparsable payload"),
        "the input is never echoed"
    );
    assert!(relay.jobs().await.is_empty());
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let relay = Relay::new(&[WEBHOOK_SECRET]).await;
    let mut event = cancelled_job("acme/webapp", 1, 1);
    event["padding"] = json!("x".repeat(70 * 1024));
    let (status, _) = relay.deliver("workflow_job", "big", &event).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(relay.jobs().await.is_empty());
}

#[tokio::test]
async fn other_content_types_get_415() {
    let relay = Relay::new(&[WEBHOOK_SECRET]).await;
    let body = cancelled_job("acme/webapp", 1, 1).to_string();
    for content_type in [Some("text/plain"), Some("application/xml"), None] {
        let mut request = delivery("workflow_job", "d", body.as_bytes(), WEBHOOK_SECRET);
        match content_type {
            Some(value) => request
                .headers_mut()
                .insert("content-type", value.parse().unwrap()),
            None => request.headers_mut().remove("content-type"),
        };
        assert_eq!(
            relay.send(request).await.0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
    }
    let mut request = delivery("workflow_job", "d", body.as_bytes(), WEBHOOK_SECRET);
    request.headers_mut().insert(
        "content-type",
        "application/json; charset=utf-8".parse().unwrap(),
    );
    assert_eq!(
        relay.send(request).await.0,
        StatusCode::ACCEPTED,
        "parameters are allowed"
    );
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let relay = Relay::new(&[WEBHOOK_SECRET]).await;
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    assert_eq!(
        relay.send(get("/healthz")).await,
        (StatusCode::OK, "ok".into())
    );
    // No worker has run yet.
    assert_eq!(
        relay.send(get("/readyz")).await,
        (StatusCode::SERVICE_UNAVAILABLE, "worker not running".into())
    );
    relay.state.heartbeat.beat();
    assert_eq!(
        relay.send(get("/readyz")).await,
        (StatusCode::OK, "ready".into())
    );
    relay.state.store.close().await;
    assert_eq!(
        relay.send(get("/readyz")).await.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "the store does not answer"
    );

    let relay = Relay::new(&[WEBHOOK_SECRET]).await;
    relay
        .deliver("workflow_job", "m", &cancelled_job("acme/webapp", 1, 1))
        .await;
    let metrics = relay.metrics().await;
    for line in [
        r#"currents_bridge_webhook_deliveries_total{outcome="queued"} 1"#,
        "currents_bridge_queue_pending_jobs 1",
        "currents_bridge_queue_oldest_pending_age_seconds",
        "currents_bridge_cancel_retries_total 0",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn admin_routes_need_the_token() {
    let relay = Relay::new(&[WEBHOOK_SECRET]).await;
    let list = |token: Option<&str>| {
        let mut request = Request::get("/admin/jobs?state=pending");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.body(Body::empty()).unwrap()
    };
    assert_eq!(relay.send(list(None)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        relay.send(list(Some("wrong"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    relay
        .deliver("workflow_job", "a", &cancelled_job("acme/webapp", 5, 1))
        .await;
    let (status, body) = relay.send(list(Some(ADMIN_TOKEN))).await;
    assert_eq!(status, StatusCode::OK);
    let jobs: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["run_id"], 5);
    let bad = Request::get("/admin/jobs?state=exploded")
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(relay.send(bad).await.0, StatusCode::BAD_REQUEST);
    // A pending job cannot be retried; an unknown one is not found.
    let retry = |id: i64| {
        Request::post(format!("/admin/jobs/{id}/retry"))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        relay.send(retry(jobs[0]["id"].as_i64().unwrap())).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(relay.send(retry(999)).await.0, StatusCode::NOT_FOUND);

    // Disabled without a token.
    let mut disabled = relay.state.clone();
    disabled.admin_token = None;
    let response = relay::router(disabled)
        .oneshot(list(Some(ADMIN_TOKEN)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn five_cancelled_jobs_of_one_run_make_one_cancel_call() {
    let relay = Relay::new(&[WEBHOOK_SECRET]).await;
    for job in 0..5 {
        let mut event = cancelled_job("acme/webapp", 9876543210, 1);
        event["workflow_job"]["id"] = json!(1000 + job);
        let (status, _) = relay
            .deliver("workflow_job", &format!("job-{job}"), &event)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "a cancel job exists for it");
    }
    assert_eq!(relay.jobs().await.len(), 1);
    let currents = FakeCurrents::start(CurrentsState {
        cancel: Script::of([Reply::ok(fixture("cancel-ci-github-200.json"))]),
        ..Default::default()
    })
    .await;
    relay.work_until(&currents, all_in(JobState::Done)).await;
    let calls = currents.requests_to("/v1/runs/cancel-ci/github");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        String::from_utf8(calls[0].body.clone()).unwrap(),
        r#"{"githubRunId":"9876543210","githubRunAttempt":"1","projectId":"Xk9Pq2"}"#
    );
    assert_eq!(
        calls[0].header("authorization"),
        Some(format!("Bearer {CURRENTS_KEY}"))
    );
    assert_eq!(
        relay.jobs().await[0].outcome.map(JobOutcome::label),
        Some("cancelled")
    );
}

async fn one_job_against(replies: Vec<Reply>) -> (Relay, FakeCurrents) {
    let relay = Relay::new(&[WEBHOOK_SECRET]).await;
    relay
        .deliver("workflow_job", "w", &cancelled_job("acme/webapp", 42, 3))
        .await;
    let currents = FakeCurrents::start(CurrentsState {
        cancel: Script::of(replies),
        ..Default::default()
    })
    .await;
    (relay, currents)
}

#[tokio::test]
async fn worker_outcome_422_is_done() {
    let (relay, currents) = one_job_against(vec![Reply {
        status: 422,
        body: fixture("cancel-422-run-is-cancelled.json"),
        headers: vec![],
    }])
    .await;
    relay.work_until(&currents, all_in(JobState::Done)).await;
    assert_eq!(
        relay.jobs().await[0].outcome.map(JobOutcome::label),
        Some("already-cancelled")
    );
    assert_eq!(currents.requests().len(), 1);
}

#[tokio::test]
async fn worker_outcome_404_then_200_retries_then_cancels() {
    let (relay, currents) = one_job_against(vec![
        Reply {
            status: 404,
            body: fixture("cancel-ci-github-404.json"),
            headers: vec![],
        },
        Reply::ok(fixture("cancel-ci-github-200.json")),
    ])
    .await;
    relay.work_until(&currents, all_in(JobState::Done)).await;
    let job = &relay.jobs().await[0];
    assert_eq!(job.outcome.map(JobOutcome::label), Some("cancelled"));
    assert_eq!(job.attempts, 2);
    assert_eq!(currents.requests().len(), 2);
    assert!(
        relay
            .metrics()
            .await
            .contains("currents_bridge_cancel_retries_total 1")
    );
}

#[tokio::test]
async fn worker_outcome_401_is_retried_a_few_times_then_dead_and_visible() {
    let (relay, currents) = one_job_against(vec![Reply {
        status: 401,
        body: fixture("error-401-invalid-api-key.json"),
        headers: vec![],
    }])
    .await;
    relay.work_until(&currents, all_in(JobState::Dead)).await;
    // A proxy may answer 401 during an incident; a wrong key answers so every time.
    assert_eq!(
        currents.requests().len(),
        RetrySchedule::default().auth_attempts as usize,
        "retried, then given up"
    );
    let job = &relay.jobs().await[0];
    assert!(job.last_error.as_deref().unwrap().contains("HTTP 401"));
    assert!(!job.last_error.as_deref().unwrap().contains(CURRENTS_KEY));
    let list = Request::get("/admin/jobs?state=dead")
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let (_, body) = relay.send(list).await;
    assert_eq!(serde_json::from_str::<Vec<Value>>(&body).unwrap().len(), 1);
    assert!(
        relay
            .metrics()
            .await
            .contains(r#"currents_bridge_cancels_total{outcome="rejected"} 1"#)
    );
    assert!(
        relay
            .metrics()
            .await
            .contains("currents_bridge_queue_dead_jobs 1")
    );

    // Fixed the key: an admin requeues it, and it goes through.
    currents.state.lock().unwrap().cancel = Script::of([Reply::ok(fixture("cancel-200.json"))]);
    let retry = Request::post(format!("/admin/jobs/{}/retry", job.id))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(relay.send(retry).await.0, StatusCode::OK);
    relay.work_until(&currents, all_in(JobState::Done)).await;
    assert_eq!(
        currents.requests().len(),
        RetrySchedule::default().auth_attempts as usize + 1
    );
}

#[tokio::test]
async fn worker_outcome_429_honours_retry_after() {
    let (relay, currents) = one_job_against(vec![
        Reply::status(429).with_header("retry-after", "1"),
        Reply::ok(fixture("cancel-200.json")),
    ])
    .await;
    relay.work_until(&currents, all_in(JobState::Done)).await;
    let requests = currents.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "waited {waited:?}, though Retry-After said 1 s"
    );
}

#[tokio::test]
async fn dry_run_marks_jobs_dry_without_calling_currents() {
    let relay = Relay::new(&[WEBHOOK_SECRET]).await;
    relay
        .deliver("workflow_job", "dry", &cancelled_job("acme/webapp", 8, 1))
        .await;
    let shutdown = CancellationToken::new();
    let worker = Worker::new(
        relay.state.store.clone(),
        None,
        None,
        WorkerConfig {
            dry_run: true,
            ..worker_config("dry")
        },
        relay.state.signals(),
    );
    let worker = tokio::spawn(worker.run(shutdown.clone(), Duration::from_secs(5)));
    wait_until("the job to be dry", Duration::from_secs(10), || async {
        relay.jobs().await[0].state == JobState::Dry
    })
    .await;
    shutdown.cancel();
    worker.await.unwrap();
    assert_eq!(
        relay.jobs().await[0].outcome.map(JobOutcome::label),
        Some("dry-run")
    );
}
