//! The `cancel` command and abort handling in `report`, run as a real binary against the fake
//! Currents (and GitHub) servers.

use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};

async fn currents_answering(replies: impl IntoIterator<Item = Reply>) -> FakeCurrents {
    FakeCurrents::start(CurrentsState {
        cancel: Script::of(replies),
        ..Default::default()
    })
    .await
}

fn cancel_bodies(currents: &FakeCurrents) -> Vec<Value> {
    currents
        .requests_to("/v1/runs/cancel-ci/github")
        .iter()
        .map(Recorded::json)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelled_sends_string_ids_and_the_project() {
    let currents = currents_answering([Reply::ok(fixture("cancel-ci-github-200.json"))]).await;
    let out = Workflow::new(&currents, None).run(&["cancel"]).await;

    assert_eq!(out.code, Some(0), "{out:#?}");
    out.assert_no_secrets();
    let requests = currents.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "PUT");
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {CURRENTS_KEY}"))
    );
    assert_eq!(
        String::from_utf8(requests[0].body.clone()).unwrap(),
        r#"{"githubRunId":"9876543210","githubRunAttempt":"1","projectId":"Xk9Pq2"}"#
    );
    assert_eq!(out.output("cancelled").as_deref(), Some("true"));
    assert_eq!(out.output("outcome").as_deref(), Some("cancelled"));
    assert!(
        out.stdout
            .contains("Cancelled the Currents run of GitHub run 9876543210 attempt 1."),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ci_build_id_is_sent_only_when_given_with_a_project() {
    let currents =
        currents_answering([Reply::ok(fixture("cancel-ci-github-200-minimal.json"))]).await;
    let mut workflow = Workflow::new(&currents, None);
    workflow.set("CURRENTS_CI_BUILD_ID", "custom-build-7");
    assert_eq!(workflow.run(&["cancel"]).await.code, Some(0));
    workflow.unset("CURRENTS_PROJECT_ID");
    assert_eq!(workflow.run(&["cancel"]).await.code, Some(0));
    workflow.unset("CURRENTS_CI_BUILD_ID");
    assert_eq!(workflow.run(&["cancel"]).await.code, Some(0));

    assert_eq!(
        cancel_bodies(&currents),
        [
            json!({"githubRunId": "9876543210", "githubRunAttempt": "1", "projectId": "Xk9Pq2", "ciBuildId": "custom-build-7"}),
            json!({"githubRunId": "9876543210", "githubRunAttempt": "1"}),
            json!({"githubRunId": "9876543210", "githubRunAttempt": "1"}),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn already_cancelled_is_success() {
    for fixture_name in [
        "cancel-422-run-is-cancelled.json",
        "cancel-422-run-already-cancelled.json",
    ] {
        let currents = currents_answering([Reply {
            status: 422,
            body: fixture(fixture_name),
            headers: vec![],
        }])
        .await;
        let out = Workflow::new(&currents, None).run(&["cancel"]).await;
        assert_eq!(out.code, Some(0), "{fixture_name}: {out:#?}");
        out.assert_no_secrets();
        assert_eq!(out.output("cancelled").as_deref(), Some("false"));
        assert_eq!(out.output("outcome").as_deref(), Some("already-cancelled"));
        assert_eq!(currents.requests().len(), 1, "422 is not retried");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_recorded_warns_and_succeeds() {
    let currents = currents_answering([Reply {
        status: 404,
        body: fixture("cancel-ci-github-404.json"),
        headers: vec![],
    }])
    .await;
    let out = Workflow::new(&currents, None).run(&["cancel"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    out.assert_no_secrets();
    assert!(out.stdout.contains("::warning::Currents has no run recorded for GitHub run 9876543210 attempt 1 (yet): nothing to cancel."));
    assert_eq!(out.output("outcome").as_deref(), Some("not-found"));
    assert_eq!(out.output("cancelled").as_deref(), Some("false"));
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_keys_exit_4_with_the_read_write_hint() {
    for (status, body) in [
        (401, fixture("error-401-invalid-api-key.json")),
        (403, fixture("error-403-forbidden.json")),
    ] {
        let currents = currents_answering([Reply {
            status,
            body,
            headers: vec![],
        }])
        .await;
        let out = Workflow::new(&currents, None).run(&["cancel"]).await;
        assert_eq!(out.code, Some(4), "{status}: {out:#?}");
        out.assert_no_secrets();
        assert!(
            out.stderr.contains(&format!("HTTP {status}")),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("Read & Write API key"),
            "{}",
            out.stderr
        );
        assert_eq!(currents.requests().len(), 1, "{status} is not retried");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried() {
    let currents = currents_answering([
        Reply::status(503),
        Reply::status(503),
        Reply::ok(fixture("cancel-ci-github-200.json")),
    ])
    .await;
    let out = Workflow::new(&currents, None).run(&["cancel"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    out.assert_no_secrets();
    let bodies = cancel_bodies(&currents);
    assert_eq!(bodies.len(), 3, "503, 503, then 200");
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "the same request each time"
    );
    assert_eq!(out.output("outcome").as_deref(), Some("cancelled"));
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_that_persist_exit_4() {
    let currents = currents_answering([Reply::status(502).with_header("retry-after", "0")]).await;
    let out = Workflow::new(&currents, None).run(&["cancel"]).await;
    assert_eq!(out.code, Some(4), "{out:#?}");
    out.assert_no_secrets();
    assert_eq!(currents.requests().len(), 5, "the first try and 4 retries");
    assert!(
        out.stderr.contains("HTTP 502 (scripted 502) after retries"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_id_cancels_that_run() {
    let currents = currents_answering([Reply::ok(fixture("cancel-200.json"))]).await;
    let mut workflow = Workflow::new(&currents, None);
    workflow.set("CURRENTS_RUN_ID", "a1b2c3d4e5f60718");
    let out = workflow.run(&["cancel"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    out.assert_no_secrets();
    let requests = currents.requests();
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("PUT", "/v1/runs/a1b2c3d4e5f60718/cancel")
    );
    assert!(requests[0].body.is_empty());
    assert_eq!(out.output("outcome").as_deref(), Some("cancelled"));
}

/// Starts `report` against a run that stays IN_PROGRESS and waits for its first poll.
async fn report_waiting(
    currents: &FakeCurrents,
    github: &FakeGithub,
) -> (Workflow, tokio::process::Child) {
    let workflow = Workflow::new(currents, Some(github));
    let child = workflow.command(&["report"]).spawn().unwrap();
    wait_for("the first poll", Duration::from_secs(20), || {
        !currents.requests_to("/v1/runs/find").is_empty()
    })
    .await;
    (workflow, child)
}

fn in_progress_currents() -> CurrentsState {
    CurrentsState {
        find: Script::of([Reply::ok(fixture("run-playwright-in-progress.json"))]),
        cancel: Script::of([Reply::ok(fixture("cancel-200.json"))]),
        ..Default::default()
    }
}

fn signal(child: &tokio::process::Child, signal: i32) {
    let pid = child.id().expect("still running").to_string();
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(&pid)
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_while_waiting_cancels_the_run_and_exits_130() {
    let currents = FakeCurrents::start(in_progress_currents()).await;
    let github = FakeGithub::start(GithubState::default()).await;
    let (workflow, child) = report_waiting(&currents, &github).await;

    signal(&child, 2);
    // Done before the runner's SIGTERM, 7.5 s after SIGINT (the abort's budget is 6 s).
    let output = tokio::time::timeout(Duration::from_secs(7), child.wait_with_output())
        .await
        .expect("exited within 7 s of the signal")
        .unwrap();
    let out = workflow.outcome(output);

    assert_eq!(out.code, Some(130), "{out:#?}");
    out.assert_no_secrets();
    // The run id was known from the first poll, so the cancel names that run.
    let cancels = currents.requests_to("/v1/runs/a1b2c3d4e5f60718/cancel");
    assert_eq!(cancels.len(), 1, "{:?}", currents.requests());
    assert!(
        out.stdout
            .contains("Cancelled Currents run a1b2c3d4e5f60718"),
        "{}",
        out.stdout
    );
    // No check run existed yet, so there was none to complete.
    assert!(github.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_before_the_run_exists_cancels_by_github_run() {
    let mut state = in_progress_currents();
    state.find = Script::of([Reply::status(404)]);
    let currents = FakeCurrents::start(state).await;
    let github = FakeGithub::start(GithubState::default()).await;
    let (workflow, child) = report_waiting(&currents, &github).await;
    signal(&child, 15);
    let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("exited")
        .unwrap();
    let out = workflow.outcome(output);
    assert_eq!(out.code, Some(130), "{out:#?}");
    assert_eq!(
        cancel_bodies(&currents),
        [json!({"githubRunId": "9876543210", "githubRunAttempt": "1", "projectId": "Xk9Pq2"})]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_on_abort_false_only_exits() {
    let currents = FakeCurrents::start(in_progress_currents()).await;
    let github = FakeGithub::start(GithubState::default()).await;
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.set("CURRENTS_CANCEL_ON_ABORT", "false");
    let child = workflow.command(&["report"]).spawn().unwrap();
    wait_for("the first poll", Duration::from_secs(20), || {
        !currents.requests_to("/v1/runs/find").is_empty()
    })
    .await;
    signal(&child, 2);
    let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("exited")
        .unwrap();
    assert_eq!(output.status.code(), Some(130));
    assert!(
        currents.requests().iter().all(|r| r.method == "GET"),
        "no cancel was sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_exits_at_once() {
    let currents = FakeCurrents::start(in_progress_currents()).await;
    let github = FakeGithub::start(GithubState::default()).await;
    let (workflow, child) = report_waiting(&currents, &github).await;
    // Make the cancel hang, so that only the second signal can end the process early.
    currents.state.lock().unwrap().latency = Duration::from_secs(30);
    signal(&child, 2);
    // The abort has begun once its cancel reaches Currents (which then hangs).
    wait_for("the abort's cancel", Duration::from_secs(10), || {
        currents.requests().iter().any(|r| r.method == "PUT")
    })
    .await;
    signal(&child, 2);
    let output = tokio::time::timeout(Duration::from_secs(2), child.wait_with_output())
        .await
        .expect("exited within 2 s of the second signal")
        .unwrap();
    let out = workflow.outcome(output);
    assert_eq!(out.code, Some(130), "{out:#?}");
    assert!(out.stderr.contains("second signal"));
}
