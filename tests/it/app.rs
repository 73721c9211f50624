//! App mode, end to end with the real binary: Currents' webhooks become check runs through a
//! fake GitHub that authenticates the App as GitHub does (support/github/), and missed
//! GitHub deliveries are asked for again.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::support::app_mode::*;
use crate::support::*;

fn assert_no_duplicate_annotations(check: &FakeCheck) {
    let mut seen: Vec<String> = check.annotations.iter().map(Value::to_string).collect();
    let all = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), all, "an annotation was sent twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_start_then_finish_make_one_complete_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let currents = FakeCurrents::start(example_currents(1)).await;
    let mut state = GithubState::installed_on(&[REPO]);
    state.pulls.insert(SHA.into(), vec![42]);
    let github = FakeGithub::start(state).await;
    let relay = start_app_relay(&db, &currents, &github, &[]).await;

    let (status, text) = post_currents(&relay, &currents_event("RUN_START", None, REPO)).await;
    assert_eq!((status, text.as_str()), (202, "check queued"));
    github.wait_for_first_check("in_progress").await;
    let check = &github.checks()[0];
    assert_eq!(check.name, "Currents");
    assert_eq!(check.head_sha, SHA);
    assert_eq!(check.repo, REPO);
    assert_eq!(check.external_id.as_deref(), Some(RUN_ID));
    assert_eq!(
        check.details_url.as_deref(),
        Some(format!("https://app.currents.dev/run/{RUN_ID}").as_str())
    );
    assert!(check.title.as_deref().unwrap().starts_with("Running: "));

    let (status, _) = post_currents(&relay, &currents_event("RUN_FINISH", None, REPO)).await;
    assert_eq!(status, 202);
    wait_for("the check to complete", Duration::from_secs(20), || {
        github.checks()[0].status == "completed"
    })
    .await;
    let checks = github.checks();
    assert_eq!(checks.len(), 1, "one check run per Currents run");
    let check = &checks[0];
    let (title, annotations) = expected_report();
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    assert_eq!(check.title.as_deref(), Some(title.as_str()));
    assert!(annotations > 0);
    assert_eq!(check.annotations.len(), annotations);
    assert_no_duplicate_annotations(check);
    assert!(
        check
            .summary
            .as_deref()
            .unwrap()
            .contains("app.currents.dev/run/"),
        "the summary links to the dashboard"
    );
    assert!(github.rejected().is_empty(), "{:?}", github.rejected());
    // The same sticky comment as the report step's, on the commit's pull request, right
    // after the check completes.
    wait_for("the pull request comment", Duration::from_secs(10), || {
        !github.state.lock().unwrap().comments.is_empty()
    })
    .await;
    let comments = github.state.lock().unwrap().comments.clone();
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0].1, 42);
    assert!(comments[0].2.starts_with("<!-- currents-bridge:comment:"));
    assert!(
        comments[0].2.contains(&format!("Currents: {title}")),
        "{}",
        comments[0].2
    );
    // The App authenticated with a JWT and then an installation token, which it reused.
    let token_requests = github
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/access_tokens"))
        .count();
    assert_eq!(token_requests, 1, "the installation token is cached");
    let log = relay.log_text();
    // Nor the App's key, its JWTs (`eyJ…`) or installation tokens.
    for secret in [
        CURRENTS_SECRET,
        CURRENTS_KEY,
        "PRIVATE KEY",
        "ghs_fake",
        "eyJ",
    ] {
        assert!(!log.contains(secret), "the log shows {secret}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multi_group_run_completes_its_check_when_the_last_group_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    // The first group's finish finds the run still in progress; the second finds it complete.
    let currents = FakeCurrents::start(example_currents(1)).await;
    let github = FakeGithub::start(GithubState::installed_on(&[REPO])).await;
    let relay = start_app_relay(&db, &currents, &github, &[]).await;

    let (status, _) = post_currents(
        &relay,
        &currents_event("RUN_FINISH", Some("chromium"), REPO),
    )
    .await;
    assert_eq!(status, 202);
    github.wait_for_first_check("in_progress").await;
    let (status, _) =
        post_currents(&relay, &currents_event("RUN_FINISH", Some("firefox"), REPO)).await;
    assert_eq!(status, 202, "another group's finish is another job");
    wait_for("the check to complete", Duration::from_secs(20), || {
        github.checks()[0].status == "completed"
    })
    .await;
    wait_until("both jobs to end", Duration::from_secs(20), || async {
        let jobs = relay.admin_jobs("").await;
        jobs.len() == 2 && jobs.iter().all(|j| j["state"] == "done")
    })
    .await;
    let checks = github.checks();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].annotations.len(), expected_report().1);
    assert_no_duplicate_annotations(&checks[0]);
    assert_eq!(
        checks[0]
            .statuses
            .iter()
            .filter(|s| *s == "completed")
            .count(),
        1,
        "completed once: {:?}",
        checks[0].statuses
    );
    assert!(github.rejected().is_empty(), "{:?}", github.rejected());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_currents_webhook_twice_is_one_job_and_one_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let currents = FakeCurrents::start(example_currents(0)).await;
    let github = FakeGithub::start(GithubState::installed_on(&[REPO])).await;
    // With a media secret and a public URL, the check's media links go through the relay.
    let relay = start_app_relay(
        &db,
        &currents,
        &github,
        &[
            ("CURRENTS_MEDIA_SECRET", "app-media-secret-0123456789"),
            ("RELAY_PUBLIC_URL", "https://relay.example.com"),
        ],
    )
    .await;
    let finish = currents_event("RUN_FINISH", None, REPO);
    assert_eq!(post_currents(&relay, &finish).await.0, 202);
    let (status, text) = post_currents(&relay, &finish).await;
    assert_eq!((status, text.as_str()), (200, "duplicate delivery"));
    github.wait_for_first_check("completed").await;
    // Sent again after it finished: still a duplicate, nothing new.
    assert_eq!(post_currents(&relay, &finish).await.0, 200);
    assert_eq!(relay.admin_jobs("").await.len(), 1);
    let checks = github.checks();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].annotations.len(), expected_report().1);
    let summary = checks[0].summary.as_deref().unwrap();
    assert!(
        summary.contains("(https://relay.example.com/media/"),
        "{summary}"
    );
    assert!(
        !relay.log_text().contains("app-media-secret"),
        "the media secret was logged"
    );
    assert!(!summary.contains("fs.currents.dev"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repository_without_the_app_ends_not_installed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let mut state = example_currents(0);
    for reply in &mut state.runs.get_mut(RUN_ID).unwrap().0 {
        reply.body["data"]["meta"]["commit"]["remoteOrigin"] =
            json!("https://github.com/acme/elsewhere");
    }
    let currents = FakeCurrents::start(state).await;
    let github = FakeGithub::start(GithubState::installed_on(&[REPO])).await;
    let relay = start_app_relay(
        &db,
        &currents,
        &github,
        &[("CURRENTS_PROJECTS", "Xk9Pq2=acme/*")],
    )
    .await;
    let (status, _) = post_currents(
        &relay,
        &currents_event("RUN_FINISH", None, "acme/elsewhere"),
    )
    .await;
    assert_eq!(status, 202);
    wait_until("the job to end", Duration::from_secs(20), || async {
        relay
            .admin_jobs("")
            .await
            .first()
            .is_some_and(|j| j["state"] == "done")
    })
    .await;
    let job = &relay.admin_jobs("").await[0];
    assert_eq!(job["outcome"], "not-installed");
    assert_eq!(job["attempts"], 1, "not retried");
    assert!(github.checks().is_empty());
    let metrics = relay.metrics().await;
    assert!(
        metrics.contains("currents_bridge_checks_total{outcome=\"not-installed\"} 1"),
        "{metrics}"
    );
}

/// Sends `RUN_FINISH` to an App relay against a GitHub that `slow` slows down, SIGKILLs the
/// relay once `mid_way` holds (before the check is complete), restarts it against a GitHub at
/// full speed, and waits for the check to complete. Requires what every restart must give:
/// one check run, every annotation once.
async fn kill_mid_way_and_restart(
    slow: impl FnOnce(&mut GithubState),
    mid_way: (&str, fn(&FakeGithub) -> bool),
) -> (FakeGithub, FakeCheck) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let currents = FakeCurrents::start(example_currents(0)).await;
    let github = FakeGithub::start(GithubState::installed_on(&[REPO])).await;
    slow(&mut github.state.lock().unwrap());
    let mut relay = start_app_relay(&db, &currents, &github, &[]).await;
    let (status, _) = post_currents(&relay, &currents_event("RUN_FINISH", None, REPO)).await;
    assert_eq!(status, 202);
    let (what, condition) = mid_way;
    wait_for(what, Duration::from_secs(30), || condition(&github)).await;
    relay.child.start_kill().unwrap(); // SIGKILL
    relay.child.wait().await.unwrap();
    assert!(
        github
            .checks()
            .first()
            .is_none_or(|c| c.status != "completed"),
        "killed before it completed"
    );

    {
        let mut state = github.state.lock().unwrap();
        state.latency = Duration::ZERO;
        state.answer_latency = Duration::ZERO;
    }
    let relay = start_app_relay(&db, &currents, &github, &[]).await;
    github.wait_for_first_check("completed").await;
    drop(relay);
    let checks = github.checks();
    assert_eq!(
        checks.len(),
        1,
        "the restart found the check run it had made"
    );
    assert_eq!(checks[0].annotations.len(), expected_report().1);
    assert_no_duplicate_annotations(&checks[0]);
    let check = checks[0].clone();
    (github, check)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_after_the_finish_was_acknowledged_still_completes_the_check() {
    // GitHub is slow, so the job is mid-way when the relay dies.
    kill_mid_way_and_restart(
        |github| github.latency = Duration::from_millis(400),
        ("the job to reach GitHub", |github| {
            github
                .requests()
                .iter()
                .any(|r| r.path.ends_with("/check-runs") || r.path.contains("/check-runs/"))
        }),
    )
    .await;
}

// GitHub took a batch of annotations and the relay died before it heard so: the next attempt
// asks GitHub's count instead of sending the batch again (annotations append).
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_before_githubs_answer_to_a_batch_sends_no_annotation_twice() {
    let (github, check) = kill_mid_way_and_restart(
        |github| github.answer_latency = Duration::from_secs(3),
        ("GitHub to take the batch of annotations", |github| {
            github
                .checks()
                .first()
                .is_some_and(|c| !c.annotations.is_empty())
        }),
    )
    .await;
    let asked = format!("/check-runs/{}", check.id);
    assert!(
        github
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with(&asked)),
        "the restart asked GitHub what it holds"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_missed_while_the_relay_was_down_are_redelivered_and_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let currents = FakeCurrents::start(CurrentsState {
        cancel: Script::of([Reply::ok(fixture("cancel-ci-github-200.json"))]),
        ..Default::default()
    })
    .await;
    let mut state = GithubState::installed_on(&[REPO]);
    state.page_size = 2;
    let now = SystemTime::now();
    let delivery =
        |id: u64, run: u64, status_code: u16, event: &str, action: &str, age_s: u64| FakeDelivery {
            id,
            guid: format!("guid-{id}"),
            event: event.into(),
            action: action.into(),
            status_code,
            delivered_at: now - Duration::from_secs(age_s),
            body: cancelled_job(REPO, run, 1).to_string(),
        };
    // Newest first: three failed cancels (the relay was down), one that was delivered, one
    // `in_progress` event (no cancel), and one older than GitHub's three days.
    state.deliveries = vec![
        delivery(6, 706, 502, "workflow_job", "completed", 60),
        delivery(5, 705, 0, "workflow_job", "in_progress", 70),
        delivery(4, 704, 200, "workflow_job", "completed", 80),
        delivery(3, 703, 502, "workflow_job", "completed", 90),
        delivery(2, 702, 504, "workflow_job", "completed", 100),
        delivery(1, 701, 502, "workflow_job", "completed", 4 * 24 * 3600),
    ];
    let github = FakeGithub::start(state).await;
    let relay = start_app_relay(&db, &currents, &github, &[("RELAY_CATCHUP_INTERVAL", "1h")]).await;

    wait_for("three cancels", Duration::from_secs(30), || {
        currents.requests_to("/v1/runs/cancel-ci/github").len() >= 3
    })
    .await;
    let mut redelivered = github.state.lock().unwrap().redelivered.clone();
    redelivered.sort_unstable();
    assert_eq!(
        redelivered,
        vec![2, 3, 6],
        "only the failed, wanted, recent ones"
    );
    let mut cancelled: Vec<String> = currents
        .requests_to("/v1/runs/cancel-ci/github")
        .iter()
        .map(|r| r.json()["githubRunId"].as_str().unwrap().to_owned())
        .collect();
    cancelled.sort();
    assert_eq!(cancelled, vec!["702", "703", "706"]);
    assert!(github.rejected().is_empty(), "{:?}", github.rejected());
    let metrics = relay.metrics().await;
    assert!(
        metrics.contains("currents_bridge_redeliveries_total{outcome=\"requested\"} 3"),
        "{metrics}"
    );
}

/// Sends a Currents webhook through the router; the status and body.
async fn through_router(
    state: &currents_bridge::relay::AppState,
    secret: Option<&str>,
    timestamp: Option<String>,
    body: &str,
) -> (u16, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut request =
        axum::http::Request::post("/webhooks/currents").header("content-type", "application/json");
    if let Some(secret) = secret {
        request = request.header("x-currents-bridge-secret", secret);
    }
    if let Some(timestamp) = timestamp {
        request = request.header("x-timestamp", timestamp);
    }
    let response = currents_bridge::relay::router(state.clone())
        .oneshot(
            request
                .body(axum::body::Body::from(body.to_owned()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_currents_route_checks_secret_timestamp_and_payload_before_storing() {
    use currents_bridge::relay::{CurrentsHook, ProjectRepos, WebhookSecrets};
    use secrecy::SecretString;
    let (plain, _dir) = sqlite_state().await;
    let store = plain.store.clone();
    let state = plain.clone().with_currents_hook(CurrentsHook {
        // Rotation: the new secret first, the old one still accepted.
        currents_secrets: WebhookSecrets::new(vec![
            SecretString::from(CURRENTS_SECRET),
            SecretString::from("the-old-one"),
        ])
        .unwrap(),
        projects: ProjectRepos::parse(&format!("Xk9Pq2={REPO}")).unwrap(),
    });
    let now = || Some(now_secs().to_string());
    let finish = currents_event("RUN_FINISH", None, REPO).to_string();

    // Without CURRENTS_WEBHOOK_SECRET the route does not exist.
    assert_eq!(
        through_router(&plain, Some(CURRENTS_SECRET), now(), &finish)
            .await
            .0,
        404
    );
    // Secret: missing, wrong, a prefix, then the rotated-out one still works.
    assert_eq!(through_router(&state, None, now(), &finish).await.0, 401);
    assert_eq!(
        through_router(&state, Some("wrong"), now(), &finish)
            .await
            .0,
        401
    );
    assert_eq!(
        through_router(&state, Some(&CURRENTS_SECRET[..10]), now(), &finish)
            .await
            .0,
        401
    );
    // Timestamp: missing, stale, future (seconds and milliseconds), garbage.
    let secret = Some(CURRENTS_SECRET);
    assert_eq!(through_router(&state, secret, None, &finish).await.0, 401);
    for stale in [
        now_secs() - 301,
        now_secs() + 301,
        (now_secs() - 400) * 1000,
    ] {
        assert_eq!(
            through_router(&state, secret, Some(stale.to_string()), &finish)
                .await
                .0,
            401,
            "{stale}"
        );
    }
    assert_eq!(
        through_router(&state, secret, Some("soon".into()), &finish)
            .await
            .0,
        401
    );
    // Nothing was stored by any of those.
    assert!(store.jobs(None, 10).await.unwrap().is_empty());

    // Unparsable, and parsable but unusable.
    assert_eq!(
        through_router(&state, secret, now(), "{not json").await.0,
        400
    );
    let mut no_run = currents_event("RUN_FINISH", None, REPO);
    no_run["runUrl"] = json!("https://app.currents.dev/");
    assert_eq!(
        through_router(&state, secret, now(), &no_run.to_string())
            .await
            .0,
        400
    );
    // Verified, but nothing to do: another event, a repository no project may report on.
    let mut other_event = currents_event("RUN_FINISH", None, REPO);
    other_event["event"] = json!("RUN_PAUSED");
    assert_eq!(
        through_router(&state, secret, now(), &other_event.to_string()).await,
        (200, "nothing to do".into())
    );
    let mut victim = currents_event("RUN_FINISH", None, REPO);
    victim["commit"]["remoteOrigin"] = json!("https://github.com/victim/other.git");
    assert_eq!(
        through_router(&state, secret, now(), &victim.to_string()).await,
        (200, "repository not allowed".into())
    );
    assert!(store.jobs(None, 10).await.unwrap().is_empty());

    // Valid, with the old secret and a millisecond timestamp: stored before the answer.
    let millis = Some((now_secs() * 1000).to_string());
    assert_eq!(
        through_router(&state, Some("the-old-one"), millis, &finish).await,
        (202, "check queued".into())
    );
    let jobs = store.jobs(None, 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].spec.kind(), currents_bridge::store::JobKind::Check);
    assert_eq!(jobs[0].repository, REPO);
    let payload: Value = serde_json::to_value(&jobs[0].spec).unwrap();
    assert_eq!(payload["run_id"], RUN_ID);
    assert_eq!(payload["event"], "RUN_FINISH");
    assert!(
        payload.get("head_sha").is_none(),
        "where to write is the API's to say"
    );
    assert_eq!(
        through_router(&state, secret, now(), &finish).await.0,
        200,
        "duplicate"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_installation_token_is_replaced_within_the_same_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let currents = FakeCurrents::start(example_currents(1)).await;
    let github = FakeGithub::start(GithubState::installed_on(&[REPO])).await;
    let relay = start_app_relay(&db, &currents, &github, &[]).await;
    send_and_wait(&relay, &github, "RUN_START").await;
    // GitHub forgets every token it issued (revoked, or expired early).
    github.state.lock().unwrap().tokens.clear();
    send_and_wait(&relay, &github, "RUN_FINISH").await;
    let token_requests = github
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/access_tokens"))
        .count();
    assert_eq!(token_requests, 2, "one token, then one more after the 401");
    let finish = relay
        .admin_jobs("")
        .await
        .into_iter()
        .find(|j| j["dedupe_key"].as_str().unwrap().contains("RUN_FINISH"))
        .unwrap();
    assert_eq!(finish["attempts"], 1, "no retry from the queue was needed");
    assert_eq!(
        github.rejected(),
        vec!["401: Bad credentials".to_owned()],
        "exactly the one refused call"
    );
}

#[tokio::test]
async fn a_jwt_signed_with_another_key_is_refused_by_github_and_says_so() {
    use currents_bridge::github::app::{AppCredentials, AppError, AppId, GithubApp};
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let github = FakeGithub::start(GithubState::installed_on(&[REPO])).await;
    let other = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let pem = other
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string();
    let app = |pem: String| {
        GithubApp::new(
            &AppCredentials {
                app_id: AppId::new(APP_ID),
                private_key: secrecy::SecretString::from(pem),
            },
            github.url().parse().unwrap(),
            currents_bridge::retry::RetryPolicy {
                max_retries: 0,
                ..currents_bridge::retry::RetryPolicy::ACTION
            },
            &http(),
        )
        .unwrap()
    };
    let repo = currents_bridge::github::Repository::parse(REPO).unwrap();
    let error = app(pem).installation(&repo).await.unwrap_err();
    assert!(
        matches!(&error, AppError::Github(e) if e.status() == Some(401)),
        "{error}"
    );
    assert!(github.rejected()[0].contains("JSON web token could not be decoded"));
    // The right key: the installation, then an App that is not installed on a repository.
    let right = app(app_keys().0.clone());
    assert!(right.installation(&repo).await.is_ok());
    let elsewhere = currents_bridge::github::Repository::parse("acme/elsewhere").unwrap();
    assert!(matches!(
        right.installation(&elsewhere).await,
        Err(AppError::NotInstalled(_))
    ));
}

/// The App manifest asks for what App mode uses, no more: every event it subscribes to is one
/// the relay acts on, and the permissions are those its calls need.
#[test]
fn the_app_manifest_asks_for_what_app_mode_uses() {
    use currents_bridge::relay::events::{Parsed, parse};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/github-app-manifest.json");
    let manifest: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(
        manifest["default_permissions"],
        json!({"checks": "write", "pull_requests": "write", "actions": "write", "metadata": "read"})
    );
    assert!(
        manifest["hook_attributes"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/webhooks/github")
    );
    let events = manifest["default_events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    for event in events {
        let event = event.as_str().unwrap();
        let (payload, click) = match event {
            "workflow_job" => (cancelled_job(REPO, 1, 1), false),
            "workflow_run" => (cancelled_run(), false),
            "check_run" => (
                crate::support::app_mode::click_event(7, "quarantine", "alice"),
                true,
            ),
            other => panic!("the manifest subscribes to {other}, which the relay ignores"),
        };
        let parsed = parse(event, payload.to_string().as_bytes());
        match click {
            false => assert!(matches!(parsed, Ok(Parsed::Cancel { .. })), "{event}"),
            true => assert!(matches!(parsed, Ok(Parsed::Click { .. })), "{event}"),
        }
    }
}

#[tokio::test]
async fn register_currents_webhook_creates_the_hook_with_the_secret_header() {
    let currents = FakeCurrents::start(CurrentsState {
        webhooks: Script::of([Reply {
            status: 201,
            body: json!({"status": "OK", "data": {"hookId": "0b3c2a1e-5d4f-4e6a-9b8c-7d6e5f4a3b2c",
                "projectId": "Xk9Pq2", "url": "https://relay.example.com/webhooks/currents"}}),
            headers: vec![],
        }]),
        project: Script::of([Reply::ok(fixture("project-get.json"))]),
        ..Default::default()
    })
    .await;
    let run = |url: &str| {
        let mut command = tokio::process::Command::new(binary());
        command
            .env_clear()
            .env("CURRENTS_API_URL", currents.url())
            .env("CURRENTS_API_KEY", CURRENTS_KEY)
            .env(
                "CURRENTS_WEBHOOK_SECRET",
                format!("{CURRENTS_SECRET},older"),
            )
            .args([
                "relay",
                "register-currents-webhook",
                "--project-id",
                "Xk9Pq2",
                "--url",
                url,
            ]);
        command.output()
    };
    let out = run("https://relay.example.com/webhooks/currents")
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("0b3c2a1e-5d4f-4e6a-9b8c-7d6e5f4a3b2c"),
        "{stdout}"
    );
    for secret in [CURRENTS_SECRET, CURRENTS_KEY] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} was shown"
        );
    }
    let requests = currents.requests_to("/v1/webhooks");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.query, "projectId=Xk9Pq2");
    let body = request.json();
    assert_eq!(body["url"], "https://relay.example.com/webhooks/currents");
    assert_eq!(
        body["hookEvents"],
        json!(["RUN_START", "RUN_FINISH", "RUN_TIMEOUT", "RUN_CANCELED"])
    );
    // Currents takes the headers as a JSON object in a string; the newest secret goes in it.
    let headers: Value = serde_json::from_str(body["headers"].as_str().unwrap()).unwrap();
    assert_eq!(
        headers,
        json!({"x-currents-bridge-secret": CURRENTS_SECRET})
    );
    assert_eq!(body["label"], "currents-bridge");

    // A plain-http URL would send the secret in the clear: refused before any call.
    let out = run("http://relay.example.com/webhooks/currents")
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be https"));
    assert_eq!(currents.requests_to("/v1/webhooks").len(), 1);

    // A project Currents does not know: said so, and no webhook is made.
    {
        let mut state = currents.state.lock().unwrap();
        state.project = Script::of([Reply {
            status: 404,
            body: json!({"status": "FAILED", "error": "Project not found"}),
            headers: vec![],
        }]);
    }
    let out = run("https://relay.example.com/webhooks/currents")
        .await
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read Currents project Xk9Pq2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(currents.requests_to("/v1/webhooks").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn short_lived_installation_tokens_are_renewed_before_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let currents = FakeCurrents::start(example_currents(1)).await;
    let mut state = GithubState::installed_on(&[REPO]);
    // Shorter than the 5 minutes before expiry at which the relay renews: never reused.
    state.token_lifetime = Duration::from_secs(2);
    let github = FakeGithub::start(state).await;
    let relay = start_app_relay(&db, &currents, &github, &[]).await;
    send_and_wait(&relay, &github, "RUN_START").await;
    // Past the first token's expiry.
    wait_for("the first token to expire", Duration::from_secs(5), || {
        let s = github.state.lock().unwrap();
        s.tokens
            .values()
            .all(|(_, expiry)| *expiry <= SystemTime::now())
    })
    .await;
    send_and_wait(&relay, &github, "RUN_FINISH").await;
    assert!(
        github.rejected().is_empty(),
        "an expired token was used: {:?}",
        github.rejected()
    );
    let token_requests = github
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/access_tokens"))
        .count();
    assert_eq!(token_requests, 2);
}

/// The same start-to-finish flow on PostgreSQL, as several replicas would run it.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL at TEST_DATABASE_URL"]
async fn on_postgres_start_then_finish_make_one_complete_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let url = crate::store::postgres_url().await;
    let currents = FakeCurrents::start(example_currents(1)).await;
    let github = FakeGithub::start(GithubState::installed_on(&[REPO])).await;
    let relay = start_app_relay(&db, &currents, &github, &[("DATABASE_URL", url.as_str())]).await;
    send_and_wait(&relay, &github, "RUN_START").await;
    send_and_wait(&relay, &github, "RUN_FINISH").await;
    let checks = github.checks();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].annotations.len(), expected_report().1);
    assert!(
        relay.log_text().contains("store=\"postgres\""),
        "{}",
        relay.log_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_run_without_a_start_gets_a_cancelled_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let run = fixture("run-playwright-cancelled.json");
    let mut state = serving(run.clone(), &[]);
    state
        .runs
        .insert(RUN_ID.into(), Script::of([Reply::ok(run)]));
    let currents = FakeCurrents::start(state).await;
    let github = FakeGithub::start(GithubState::installed_on(&[REPO])).await;
    let relay = start_app_relay(&db, &currents, &github, &[]).await;
    // RUN_START never arrived (the relay was not registered yet, say).
    let (status, _) = post_currents(&relay, &currents_event("RUN_CANCELED", None, REPO)).await;
    assert_eq!(status, 202);
    github.wait_for_first_check("completed").await;
    let checks = github.checks();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].conclusion.as_deref(), Some("cancelled"));
    assert!(
        checks[0]
            .title
            .as_deref()
            .unwrap()
            .starts_with("Cancelled: ")
    );
    assert!(github.rejected().is_empty(), "{:?}", github.rejected());
}

/// The media note names the time the run was read, which differs between two reports.
fn without_media_note(summary: &str) -> String {
    summary
        .lines()
        .filter(|l| !l.starts_with("<sub>"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn app_modes_check_compares_with_the_base_branch_as_the_step_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = example_currents(0);
    with_base_branch(&mut state, false);
    let currents = FakeCurrents::start(state).await;
    let github = FakeGithub::start(on_pull_42()).await;
    let relay = start_app_relay(&dir.path().join("relay.db"), &currents, &github, &[]).await;
    send_and_wait(&relay, &github, "RUN_FINISH").await;
    let check = github.checks()[0].clone();
    let summary = check.summary.clone().unwrap();
    assert_eq!(
        check.title.as_deref(),
        Some("2 failed (1 new), 1 flaky, 9 passed, 1 skipped")
    );
    insta::assert_snapshot!("app_check_with_comparison", without_media_note(&summary));
    assert!(
        check
            .annotations
            .iter()
            .any(|a| a["title"].as_str().unwrap().starts_with("New: "))
    );

    // The report step, for the same run against the same base, posts the same check.
    let step_github = FakeGithub::start(GithubState::default()).await;
    let mut workflow = Workflow::new(&currents, Some(&step_github));
    workflow.set("CURRENTS_CHECK_SHA", SHA);
    workflow.set("CURRENTS_COMPARE_BRANCH", "main");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    let created = step_github
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/check-runs"))
        .unwrap()
        .json();
    assert_eq!(created["output"]["title"].as_str(), check.title.as_deref());
    assert_eq!(
        without_media_note(created["output"]["summary"].as_str().unwrap()),
        without_media_note(&summary),
        "the step and App mode publish through the same pipeline"
    );
    drop(relay);
}
