//! App mode's trust (issue "Trust"), end to end with the real binary: a webhook is a doorbell
//! (the check goes where the Currents API says, and only where --currents-projects allows),
//! remotes of every shape on the configured server, no check left open when webhooks are lost
//! or the run is gone, one attempt at a time under a slow GitHub, and only our own comment is
//! ours.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::app_mode::*;
use crate::support::relay_process::*;
use crate::support::*;

/// The example run's replies, with its remote set to `remote` in every one.
fn with_remote(state: &mut CurrentsState, remote: &str) {
    for reply in &mut state.runs.get_mut(RUN_ID).unwrap().0 {
        reply.body["data"]["meta"]["commit"]["remoteOrigin"] = json!(remote);
    }
}

/// How `relay`'s jobs ended: their outcomes, once none is pending or running.
async fn outcomes(relay: &RelayProcess) -> Vec<String> {
    wait_until("the jobs to end", Duration::from_secs(30), || async {
        let jobs = relay.admin_jobs("").await;
        !jobs.is_empty()
            && jobs
                .iter()
                .all(|j| j["state"] != "pending" && j["state"] != "running")
    })
    .await;
    relay
        .admin_jobs("")
        .await
        .iter()
        .map(|j| j["outcome"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_remote_and_sha_write_where_the_api_says() {
    let dir = tempfile::tempdir().unwrap();
    let currents = FakeCurrents::start(example_currents(0)).await;
    let mut state = GithubState::installed_on(&[REPO, "victim/other"]);
    let forged_sha = "f".repeat(40);
    state.pulls.insert(SHA.into(), vec![42]);
    state.pulls.insert(forged_sha.clone(), vec![99]);
    let github = FakeGithub::start(state).await;
    let relay = start_app_relay(
        &dir.path().join("relay.db"),
        &currents,
        &github,
        &[(
            "CURRENTS_PROJECTS",
            "Xk9Pq2=acme/webapp,Other1=victim/other",
        )],
    )
    .await;
    // The recorder set COMMIT_INFO_*: the webhook names another repository and commit.
    let mut forged = currents_event("RUN_FINISH", None, "victim/other");
    forged["commit"]["sha"] = json!(forged_sha);
    let (status, _) = post_currents(&relay, &forged).await;
    assert_eq!(status, 202);
    github.wait_for_first_check("completed").await;
    wait_for("the comment", Duration::from_secs(20), || {
        !github.state.lock().unwrap().comments.is_empty()
    })
    .await;
    let checks = github.checks();
    assert_eq!(checks.len(), 1);
    assert_eq!(
        (checks[0].repo.as_str(), checks[0].head_sha.as_str()),
        (REPO, SHA)
    );
    let comments = github.state.lock().unwrap().comments.clone();
    assert_eq!(comments.iter().map(|c| c.1).collect::<Vec<_>>(), vec![42]);
    let touched: Vec<String> = github
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .filter(|p| p.contains("victim") || p.contains(&forged_sha))
        .collect();
    assert!(
        touched.is_empty(),
        "the forged repository was called: {touched:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_not_listed_gets_no_check_and_no_github_call() {
    let dir = tempfile::tempdir().unwrap();
    let currents = FakeCurrents::start(example_currents(0)).await;
    let github = FakeGithub::start(GithubState::installed_on(&[REPO])).await;
    // The run is in project Xk9Pq2; only another project may report on acme/webapp.
    let relay = start_app_relay(
        &dir.path().join("relay.db"),
        &currents,
        &github,
        &[("CURRENTS_PROJECTS", "Other1=acme/webapp")],
    )
    .await;
    let (status, _) = post_currents(&relay, &currents_event("RUN_FINISH", None, REPO)).await;
    assert_eq!(status, 202, "the bell names an allowed repository");
    assert_eq!(outcomes(&relay).await, vec!["not-allowed"]);
    assert!(
        github
            .requests()
            .iter()
            .all(|r| r.path == "/app/installations"),
        "no GitHub call at all but the startup's look at the installations' permissions"
    );
    assert!(
        relay
            .metrics()
            .await
            .contains(r#"currents_bridge_checks_total{outcome="not-allowed"} 1"#)
    );
    let log = relay.log_text();
    assert!(
        log.contains("Xk9Pq2")
            && log.contains("acme/webapp")
            && log.contains("--currents-projects"),
        "the log names the project and the repository:\n{log}"
    );
    // A repository no project may report on is refused at the door.
    let (status, text) =
        post_currents(&relay, &currents_event("RUN_START", None, "victim/other")).await;
    assert_eq!((status, text.as_str()), (200, "repository not allowed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_over_443_and_ghe_com_remotes_are_the_servers_and_others_are_warned_once() {
    let dir = tempfile::tempdir().unwrap();
    // GitHub's SSH over port 443, against the github.com default.
    let mut state = example_currents(0);
    with_remote(&mut state, "ssh://git@ssh.github.com:443/Acme/WebApp.git");
    let currents = FakeCurrents::start(state).await;
    let github = FakeGithub::start(GithubState::installed_on(&[REPO])).await;
    let relay = start_app_relay(&dir.path().join("a.db"), &currents, &github, &[]).await;
    post_currents(&relay, &currents_event("RUN_FINISH", None, REPO)).await;
    github.wait_for_first_check("completed").await;
    drop(relay);

    // GitHub Enterprise Cloud with data residency: remotes on acme.ghe.com.
    let mut state = example_currents(0);
    with_remote(&mut state, "https://ACME.ghe.com/acme/webapp");
    let currents = FakeCurrents::start(state).await;
    let github = FakeGithub::start(GithubState::installed_on(&[REPO])).await;
    let relay = start_app_relay(
        &dir.path().join("b.db"),
        &currents,
        &github,
        &[("GITHUB_SERVER_URL", "https://acme.ghe.com")],
    )
    .await;
    post_currents(&relay, &currents_event("RUN_FINISH", None, REPO)).await;
    github.wait_for_first_check("completed").await;
    drop(relay);

    // A run on github.com, against that server: other-host, warned about once.
    let currents = FakeCurrents::start(example_currents(0)).await;
    let github = FakeGithub::start(GithubState::installed_on(&[REPO])).await;
    let relay = start_app_relay(
        &dir.path().join("c.db"),
        &currents,
        &github,
        &[("GITHUB_SERVER_URL", "https://acme.ghe.com")],
    )
    .await;
    post_currents(&relay, &currents_event("RUN_START", None, REPO)).await;
    post_currents(&relay, &currents_event("RUN_FINISH", None, REPO)).await;
    assert_eq!(outcomes(&relay).await, vec!["other-host", "other-host"]);
    assert!(
        github
            .requests()
            .iter()
            .all(|r| r.path == "/app/installations"),
        "no GitHub call but the startup's"
    );
    let log = relay.log_text();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("another host")).collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains("acme.ghe.com") && warnings[0].contains("github.com"),
        "{}",
        warnings[0]
    );
    assert!(
        relay
            .metrics()
            .await
            .contains(r#"currents_bridge_checks_total{outcome="other-host"} 2"#)
    );
}

/// A page of `GET /projects/{id}/runs` holding `runs`.
fn runs_page(runs: &[Value], has_more: bool) -> Reply {
    let data: Vec<Value> = runs
        .iter()
        .enumerate()
        .map(|(n, run)| {
            let mut item = run["data"].clone();
            item.as_object_mut().unwrap().remove("specs");
            item["cursor"] = json!(format!("cursor-{n}-{}", item["runId"].as_str().unwrap()));
            item
        })
        .collect();
    Reply::ok(json!({"status": "OK", "has_more": has_more, "data": data}))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_finish_never_received_is_completed_by_the_reconcile_pass_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    // In progress for as long as the first relay runs.
    let currents = FakeCurrents::start(example_currents(1_000)).await;
    currents.state.lock().unwrap().runs_list = Script::of([runs_page(&[], false)]);
    let github = FakeGithub::start(GithubState::installed_on(&[REPO])).await;
    let reconcile = [("RELAY_RECONCILE_INTERVAL", "2s")];
    let mut relay = start_app_relay(&db, &currents, &github, &reconcile).await;
    send_and_wait(&relay, &github, "RUN_START").await;
    assert_eq!(github.checks()[0].status, "in_progress");
    // RUN_START's job has ended (a relay stopped before that resumes the job, which would
    // then complete the check itself).
    let looked = r#"currents_bridge_checks_total{outcome="check-in-progress"} 1"#;
    wait_until(
        "RUN_START's job to end",
        Duration::from_secs(20),
        || async { relay.metrics().await.contains(looked) },
    )
    .await;
    // The relay goes down; the run finishes meanwhile, and its RUN_FINISH is lost.
    relay.child.start_kill().unwrap();
    relay.child.wait().await.unwrap();
    let (run, _) = example_run();
    currents
        .state
        .lock()
        .unwrap()
        .runs
        .insert(RUN_ID.into(), Script::of([Reply::ok(run)]));
    let relay = start_app_relay(&db, &currents, &github, &reconcile).await;
    github.wait_for_first_check("completed").await;
    let checks = github.checks();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].conclusion.as_deref(), Some("failure"));
    assert_eq!(checks[0].annotations.len(), expected_report().1);
    let figures = relay.metrics().await;
    let open = r#"currents_bridge_reconciled_checks_total{outcome="open"} 1"#;
    assert!(figures.contains(open), "{figures}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_every_webhook_was_lost_still_gets_its_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = example_currents(0);
    let (run, _) = example_run();
    // Newest first, over two pages: a run of a repository no project may report on, a run
    // still in progress (no check yet), then ours, finished.
    let mut elsewhere = run.clone();
    elsewhere["data"]["runId"] = json!("e1e1e1e1e1e1e1e1");
    elsewhere["data"]["meta"]["commit"]["remoteOrigin"] = json!("https://github.com/victim/other");
    let mut running = run.clone();
    running["data"]["runId"] = json!("b2b2b2b2b2b2b2b2");
    running["data"]["completionState"] = json!("IN_PROGRESS");
    state.runs_list = Script::of([
        runs_page(&[elsewhere, running], true),
        runs_page(&[run], false),
    ]);
    let currents = FakeCurrents::start(state).await;
    let github = FakeGithub::start(GithubState::installed_on(&[REPO, "victim/other"])).await;
    let relay = start_app_relay(
        &dir.path().join("relay.db"),
        &currents,
        &github,
        &[("RELAY_RECONCILE_INTERVAL", "1h")],
    )
    .await;
    // No webhook at all: the pass at start finds the run.
    github.wait_for_first_check("completed").await;
    let checks = github.checks();
    assert_eq!(checks.len(), 1, "only the allowed, finished run");
    assert_eq!(checks[0].external_id.as_deref(), Some(RUN_ID));
    let lists = currents.requests_to("/v1/projects/Xk9Pq2/runs");
    assert_eq!(lists.len(), 2, "two pages");
    assert!(lists[0].query.contains("date_start="), "{}", lists[0].query);
    assert!(
        lists[1]
            .query
            .contains("starting_after=cursor-1-b2b2b2b2b2b2b2b2"),
        "{}",
        lists[1].query
    );
    assert!(
        relay
            .metrics()
            .await
            .contains(r#"currents_bridge_reconciled_checks_total{outcome="unseen"} 1"#)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_currents_no_longer_has_closes_its_check_as_neutral() {
    let dir = tempfile::tempdir().unwrap();
    let currents = FakeCurrents::start(example_currents(1_000)).await;
    currents.state.lock().unwrap().runs_list = Script::of([runs_page(&[], false)]);
    let github = FakeGithub::start(GithubState::installed_on(&[REPO])).await;
    let relay = start_app_relay(
        &dir.path().join("relay.db"),
        &currents,
        &github,
        &[("RELAY_RECONCILE_INTERVAL", "1s")],
    )
    .await;
    send_and_wait(&relay, &github, "RUN_START").await;
    // The run is deleted from Currents.
    currents
        .state
        .lock()
        .unwrap()
        .runs
        .insert(RUN_ID.into(), Script::of([Reply::status(404)]));
    github.wait_for_first_check("completed").await;
    let check = &github.checks()[0];
    assert_eq!(check.conclusion.as_deref(), Some("neutral"));
    assert_eq!(
        check.title.as_deref(),
        Some("The Currents run no longer exists")
    );
    drop(relay);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_github_gets_one_attempt_at_a_time_and_every_annotation_once() {
    let dir = tempfile::tempdir().unwrap();
    // 120 failed tests: three batches of annotations, each taking GitHub 28 s (under the
    // client's 30 s timeout), so the job outlasts the shortest lease the relay accepts.
    let (run, instances) = synthetic_run(120, 120, 1, "slow");
    let run_id = run["data"]["runId"].as_str().unwrap().to_owned();
    let currents = FakeCurrents::start(serving(run, &instances)).await;
    let mut state = GithubState::installed_on(&[REPO]);
    state.annotation_latency = Duration::from_secs(28);
    let github = FakeGithub::start(state).await;
    let relay = start_app_relay(
        &dir.path().join("relay.db"),
        &currents,
        &github,
        &[("RELAY_LEASE", "45s")],
    )
    .await;
    let mut finish = currents_event("RUN_FINISH", None, REPO);
    finish["runUrl"] = json!(format!("https://app.currents.dev/run/{run_id}"));
    assert_eq!(post_currents(&relay, &finish).await.0, 202);
    wait_for("the check to complete", Duration::from_secs(240), || {
        github
            .checks()
            .first()
            .is_some_and(|c| c.status == "completed")
    })
    .await;
    let check = github.checks()[0].clone();
    assert_eq!(
        check.annotations.len(),
        120,
        "one annotation per failed test"
    );
    let titles: std::collections::HashSet<&str> = check
        .annotations
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 120, "none twice");
    assert_eq!(
        check.statuses.iter().filter(|s| *s == "completed").count(),
        1,
        "one conclusion: {:?}",
        check.statuses
    );
    assert_eq!(
        github.state.lock().unwrap().most_patches_at_once,
        1,
        "never two PATCHes of the check in flight at once"
    );
    assert_eq!(outcomes(&relay).await, vec!["check-completed"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_marker_comment_by_another_user_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let currents = FakeCurrents::start(example_currents(0)).await;
    let mut state = GithubState::installed_on(&[REPO]);
    state.pulls.insert(SHA.into(), vec![42]);
    let marker = currents_bridge::github::marker("Currents", "Xk9Pq2");
    let forged = format!("{marker}\nI wrote the marker; edit me");
    state.comments.push((7, 42, forged.clone()));
    state.authors.insert(7, "mallory".into());
    let github = FakeGithub::start(state).await;
    let relay = start_app_relay(&dir.path().join("relay.db"), &currents, &github, &[]).await;
    send_and_wait(&relay, &github, "RUN_FINISH").await;
    wait_for("our comment", Duration::from_secs(20), || {
        github.state.lock().unwrap().comments.len() == 2
    })
    .await;
    let comments = github.state.lock().unwrap().comments.clone();
    assert_eq!(
        comments[0],
        (7, 42, forged),
        "mallory's comment is untouched"
    );
    assert!(comments[1].2.starts_with(&marker));
    assert!(
        github
            .requests()
            .iter()
            .all(|r| !r.path.ends_with("/issues/comments/7")),
        "never edited or deleted"
    );
    assert!(github.rejected().is_empty(), "{:?}", github.rejected());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catch_up_asks_for_a_delivery_once_even_when_the_relay_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let currents = FakeCurrents::start(CurrentsState::default()).await;
    let mut state = GithubState::installed_on(&[REPO]);
    state.deliveries = vec![FakeDelivery {
        id: 9,
        guid: "guid-9".into(),
        event: "workflow_job".into(),
        action: "completed".into(),
        status_code: 502,
        delivered_at: std::time::SystemTime::now(),
        // The relay answers 400 to this one, so it is never stored.
        body: "{not json".into(),
    }];
    let github = FakeGithub::start(state).await;
    let _relay = start_app_relay(
        &dir.path().join("relay.db"),
        &currents,
        &github,
        &[("RELAY_CATCHUP_INTERVAL", "1s")],
    )
    .await;
    wait_for("three sweeps", Duration::from_secs(30), || {
        github
            .requests()
            .iter()
            .filter(|r| r.path == "/app/hook/deliveries")
            .count()
            >= 3
    })
    .await;
    assert_eq!(github.state.lock().unwrap().redelivered, vec![9]);
}
