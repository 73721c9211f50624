//! Conformance with GitHub's own API description: every GitHub call the binary makes, sent to
//! Stoplight Prism serving `@octokit/openapi`'s `api.github.com.json`. Prism validates each
//! request and answers 422 with the violation, which the binary's error then quotes.
//!
//! Ignored unless asked for (`--include-ignored`), since it needs Prism at `PRISM_GITHUB_URL`;
//! `.ci/run` installs Prism, starts it and sets the variable. Asked for without it, they fail.

use crate::support::*;
use currents_bridge::github::{
    CheckConclusion, CheckRunId, CheckRunOutput, CheckStatus, NewCheckRun, Repository,
};

/// Prism's address. Only ignored tests call it, so a missing Prism fails them, never skips.
fn prism() -> String {
    std::env::var("PRISM_GITHUB_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("PRISM_GITHUB_URL must name a running Prism (.ci/run starts one)")
}

/// The test App, against Prism, trying each call once.
fn app_on(prism: &str) -> currents_bridge::github::app::GithubApp {
    use currents_bridge::github::app::{AppCredentials, AppId, GithubApp};
    GithubApp::new(
        &AppCredentials {
            app_id: AppId::new(31337),
            private_key: secrecy::SecretString::from(crate::support::github::app_keys().0.clone()),
        },
        prism.parse().unwrap(),
        currents_bridge::retry::RetryPolicy {
            max_retries: 0,
            ..currents_bridge::retry::RetryPolicy::ACTION
        },
        &http(),
    )
    .unwrap()
}

/// Runs `report` for `run` against the fake Currents and Prism, and requires a clean publish.
async fn publishes_cleanly(
    prism: &str,
    name: &str,
    run: serde_json::Value,
    instances: &[serde_json::Value],
) {
    let currents = FakeCurrents::start(serving(run, instances)).await;
    let mut workflow = Workflow::new(&currents, None);
    workflow.set("GITHUB_API_URL", prism);
    let out = workflow.run(&["report"]).await;
    let refused = out.code != Some(0)
        || out.stdout.contains("::warning::GitHub")
        || !out.stdout.contains("Published check run");
    assert!(
        !refused,
        "{name}: GitHub's API description refused a request.\nexit: {:?}\nstderr: {}\nstdout: {}",
        out.code, out.stderr, out.stdout
    );
    out.assert_no_secrets();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Prism serving GitHub's API description at PRISM_GITHUB_URL"]
async fn report_requests_conform_to_githubs_api_description() {
    let prism = prism();
    let (run, instances) = example_run();
    publishes_cleanly(&prism, "the example Playwright run", run, &instances).await;
    publishes_cleanly(
        &prism,
        "the Cypress run",
        fixture("run-cypress-failed.json"),
        &[fixture("instance-cypress-failed.json")],
    )
    .await;
    let (run, instances) = synthetic_run(120, 100, 6, "x");
    publishes_cleanly(
        &prism,
        "600 failures (create + 11 updates)",
        run,
        &instances,
    )
    .await;
    let (run, instances) = synthetic_run(8, 8, 2, "🎉 ünïcödé 中文 ✓ «ключ» 👩‍💻");
    publishes_cleanly(&prism, "emoji and non-ASCII titles", run, &instances).await;
}

#[tokio::test]
#[ignore = "needs Prism serving GitHub's API description at PRISM_GITHUB_URL"]
async fn completing_a_check_as_cancelled_conforms() {
    let prism = prism();
    let client = github_client(&prism);
    let repo = Repository::parse("acme/webapp").unwrap();
    let result = client
        .complete_check_run(&repo, CheckRunId::new(4), CheckConclusion::Cancelled)
        .await;
    assert!(
        result.is_ok(),
        "the abort path's update was refused: {}",
        result.err().map(|e| e.to_string()).unwrap_or_default()
    );
}

/// The check itself: a request GitHub would refuse is refused, and the violation is quoted.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Prism serving GitHub's API description at PRISM_GITHUB_URL"]
async fn prism_does_refuse_an_invalid_request() {
    let prism = prism();
    let client = github_client(&prism);
    let repo = Repository::parse("acme/webapp").unwrap();
    // The types allow no invalid status or conclusion any more; a summary over GitHub's
    // 65,535 characters is what the description refuses instead.
    let summary = "x".repeat(70_000);
    let check = NewCheckRun {
        name: "Currents",
        head_sha: "3f9c2a7d1e5b4c6a8f0e2d4c6b8a0f1e3d5c7b9a",
        status: CheckStatus::Completed,
        conclusion: Some(CheckConclusion::Success),
        external_id: None,
        details_url: None,
        output: CheckRunOutput {
            title: "too long",
            summary: &summary,
            text: None,
            annotations: &[],
        },
    };
    let error = client
        .publish_check_run(&repo, check)
        .await
        .expect_err("an over-long summary is invalid");
    let text = error.to_string();
    assert!(
        text.contains("HTTP 422") && text.contains("summary"),
        "{text}"
    );
}

/// App mode's calls: the relay, as a GitHub App, turns a Currents run's start and finish into
/// a check run through Prism (installation lookup and token with a JWT, the check created in
/// progress, its annotations in batches, its completion), and the catch-up's two calls.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Prism serving GitHub's API description at PRISM_GITHUB_URL"]
async fn app_mode_requests_conform_to_githubs_api_description() {
    use serde_json::json;
    let prism = prism();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let (mut run, instances) = synthetic_run(60, 60, 1, "x");
    let run_id = run["data"]["runId"].as_str().unwrap().to_owned();
    let mut state = serving(run.clone(), &instances);
    let mut in_progress = run.clone();
    in_progress["data"]["completionState"] = json!("IN_PROGRESS");
    state.runs.insert(
        run_id.clone(),
        Script::of([Reply::ok(in_progress), Reply::ok(run.take())]),
    );
    let currents = FakeCurrents::start(state).await;
    let relay = crate::support::relay_process::start_relay_with(
        &db,
        &currents,
        &[
            ("GITHUB_APP_ID", "31337"),
            (
                "GITHUB_APP_PRIVATE_KEY",
                crate::support::github::app_keys().0.as_str(),
            ),
            ("GITHUB_API_URL", prism.as_str()),
            ("CURRENTS_WEBHOOK_SECRET", "conformance"),
            ("CURRENTS_PROJECTS", "Xk9Pq2=acme/webapp"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("RELAY_CATCHUP_INTERVAL", "0"),
            ("RELAY_RECONCILE_INTERVAL", "0"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    for event in ["RUN_START", "RUN_FINISH"] {
        let mut body = fixture("webhook-run-finish.json");
        body["event"] = json!(event);
        body["runUrl"] = json!(format!("https://app.currents.dev/run/{run_id}"));
        body["commit"]["remoteOrigin"] = json!("https://127.0.0.1/acme/webapp.git");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let response = client
            .post(format!("{}/webhooks/currents", relay.base))
            .header("content-type", "application/json")
            .header("x-currents-bridge-secret", "conformance")
            .header("x-timestamp", now.to_string())
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        wait_until(
            "the job to end",
            std::time::Duration::from_secs(30),
            || async {
                relay
                    .admin_jobs("")
                    .await
                    .iter()
                    .all(|j| j["state"] != "pending" && j["state"] != "running")
            },
        )
        .await;
    }
    let jobs = relay.admin_jobs("").await;
    let outcomes: Vec<&str> = jobs
        .iter()
        .map(|j| j["outcome"].as_str().unwrap_or(""))
        .collect();
    // The finished check's comment went to Prism's example pull request, accepted too.
    let log = relay.log_text();
    assert!(
        log.contains("pull request comment updated")
            && !log.contains("cannot post the pull request comment")
            && !log.contains("may not comment"),
        "the App's comment calls were refused:\n{log}"
    );
    assert_eq!(
        outcomes,
        vec!["check-completed", "check-in-progress"],
        "GitHub's API description refused a request: {jobs:#?}\nrelay log:\n{}",
        relay.log_text()
    );

    let app = app_on(&prism);
    let (deliveries, _) = app
        .deliveries(None)
        .await
        .expect("the deliveries list conforms");
    assert!(!deliveries.is_empty(), "Prism answers its example");
    app.redeliver(deliveries[0].id)
        .await
        .expect("the redelivery request conforms");
    // How a retry settles a batch of annotations it never heard back on.
    let repo = Repository::parse("acme/webapp").unwrap();
    let github = app
        .client_for(&repo)
        .await
        .expect("an installation token through Prism");
    let check = github
        .get_check_run(&repo, CheckRunId::new(4))
        .await
        .expect("reading one check run conforms");
    assert!(
        check.output.is_some(),
        "GitHub's example counts its annotations"
    );
}

/// The sticky comment's calls (list, create, the commit's pull requests), and the comparison's
/// run list against the fake Currents, through Prism.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Prism serving GitHub's API description at PRISM_GITHUB_URL"]
async fn comment_requests_conform_to_githubs_api_description() {
    let prism = prism();
    let (run, instances) = example_run();
    let currents = FakeCurrents::start(serving(run, &instances)).await;
    for event in ["pull_request", "push"] {
        let mut workflow = Workflow::new(&currents, None);
        workflow.set("GITHUB_API_URL", &prism);
        workflow.set("CURRENTS_COMMENT", "always");
        workflow.set("GITHUB_EVENT_NAME", event);
        let out = workflow.run(&["report"]).await;
        assert_eq!(out.code, Some(0), "{event}: {}", out.stderr);
        assert!(
            !out.stdout.contains("::warning::"),
            "{event}: GitHub's API description refused a request:\n{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("Updated the pull request comment"),
            "{event}: {}",
            out.stdout
        );
    }
}

/// The buttons' GitHub calls through Prism: the installations' permissions, a user's role, the
/// workflow runs and the re-run of failed jobs, and a check run's buttons.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Prism serving GitHub's API description at PRISM_GITHUB_URL"]
async fn button_requests_conform_to_githubs_api_description() {
    use currents_bridge::ci_build_id::GithubRunId;
    use currents_bridge::github::{CheckButton, CheckRunUpdate};
    let prism = prism();
    let app = app_on(&prism);
    let installations = app
        .installations()
        .await
        .expect("listing installations conforms");
    assert!(!installations.is_empty(), "Prism answers its example");
    let repo = Repository::parse("acme/webapp").unwrap();
    app.may_write(&repo, "actions")
        .await
        .expect("an installation token, with its permissions, through Prism");
    let github = app.client_for(&repo).await.unwrap();
    github
        .role_of(&repo, "octocat")
        .await
        .expect("a collaborator's permission conforms");
    let run = github
        .workflow_run(&repo, GithubRunId::new(30433642))
        .await
        .expect("a workflow run conforms");
    github
        .workflow_runs_of_commit(&repo, "3f9c2a7e5b1d4c8e9a0f6b2d7c1e8a4b5d6f7a8b")
        .await
        .expect("a commit's workflow runs conform");
    github
        .rerun_failed_jobs(&repo, run.id)
        .await
        .expect("re-running failed jobs conforms");
    let buttons = [CheckButton {
        label: "Quarantine flaky",
        description: "Quarantine these flaky tests in Currents",
        identifier: "quarantine",
    }];
    let summary = "**From this check**";
    let update = CheckRunUpdate {
        conclusion: None,
        status: None,
        output: Some(CheckRunOutput {
            title: "4 failed (1 new)",
            summary,
            text: None,
            annotations: &[],
        }),
        actions: Some(&buttons),
    };
    github
        .update_check_run(&repo, CheckRunId::new(4), &update)
        .await
        .expect("a check run's buttons conform");
}
