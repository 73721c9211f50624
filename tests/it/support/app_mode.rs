//! App mode's test set-up: the relay as a GitHub App against the fakes, Currents' webhooks for
//! the example run, and what the `report` step would show for it.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::github::*;
use super::relay_process::*;
use super::*;

pub const CURRENTS_SECRET: &str = "currents-hook-secret-do-not-leak";
pub const REPO: &str = "acme/webapp";
pub const SHA: &str = "3f9c2a7e5b1d4c8e9a0f6b2d7c1e8a4b5d6f7a8b";
pub const RUN_ID: &str = "a1b2c3d4e5f60718";
/// The example run's project may report on the example's repository.
pub const PROJECTS: &str = "Xk9Pq2=acme/webapp";

/// The relay in App mode against `github` and `currents`, with `extra` env.
pub async fn start_app_relay(
    db: &Path,
    currents: &FakeCurrents,
    github: &FakeGithub,
    extra: &[(&str, &str)],
) -> RelayProcess {
    let url = github.url();
    let mut env = vec![
        ("GITHUB_APP_ID", "31337"),
        ("GITHUB_APP_PRIVATE_KEY", app_keys().0.as_str()),
        ("GITHUB_API_URL", url.as_str()),
        ("CURRENTS_WEBHOOK_SECRET", CURRENTS_SECRET),
        ("CURRENTS_PROJECTS", PROJECTS),
        // The runs' remotes are on github.com; the fake GitHub's API is on 127.0.0.1.
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("RELAY_CATCHUP_INTERVAL", "0"),
        ("RELAY_RECONCILE_INTERVAL", "0"),
    ];
    env.extend_from_slice(extra);
    let relay = start_relay_with(db, currents, &env).await;
    github.deliver_to(format!("{}/webhooks/github", relay.base));
    relay
}

/// The App installed on [`REPO`], whose commit [`SHA`] is pull request 42's head.
pub fn on_pull_42() -> GithubState {
    let mut state = GithubState::installed_on(&[REPO]);
    state.pulls.insert(SHA.into(), vec![42]);
    state
}

/// A Currents webhook for the example run: `event`, optionally for one group, naming `repo`.
pub fn currents_event(event: &str, group: Option<&str>, repo: &str) -> Value {
    let mut body = fixture(match event {
        "RUN_START" => "webhook-run-start.json",
        "RUN_CANCELED" => "webhook-run-canceled.json",
        _ => "webhook-run-finish.json",
    });
    body["event"] = json!(event);
    body["runUrl"] = json!(format!("https://app.currents.dev/run/{RUN_ID}"));
    body["commit"]["sha"] = json!(SHA);
    body["commit"]["remoteOrigin"] = json!(format!("git@github.com:{repo}.git"));
    match group {
        Some(group) => body["groupId"] = json!(group),
        None => {
            body.as_object_mut().unwrap().remove("groupId");
        }
    }
    body
}

/// GitHub's `check_run.requested_action` delivery (the webhooks example, made ours): `sender`
/// clicked button `identifier` of check run `check_run_id` in [`REPO`], made by our App.
pub fn click_event(check_run_id: u64, identifier: &str, sender: &str) -> Value {
    let mut event = webhook_example("check_run.requested_action.json");
    event["check_run"]["id"] = json!(check_run_id);
    event["check_run"]["app"]["id"] = json!(APP_ID);
    event["requested_action"]["identifier"] = json!(identifier);
    event["sender"]["login"] = json!(sender);
    event["repository"]["full_name"] = json!(REPO);
    event
}

/// Posts `event` for the example run and waits for its check: in progress after `RUN_START`,
/// completed after `RUN_FINISH`.
pub async fn send_and_wait(relay: &RelayProcess, github: &FakeGithub, event: &str) {
    let (status, text) = post_currents(relay, &currents_event(event, None, REPO)).await;
    assert_eq!(status, 202, "{event}: {text}");
    if event == "RUN_START" {
        wait_for("the in-progress check", Duration::from_secs(20), || {
            !github.checks().is_empty()
        })
        .await;
    } else {
        github.wait_for_first_check("completed").await;
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub async fn post_currents(relay: &RelayProcess, body: &Value) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/webhooks/currents", relay.base))
        .header("content-type", "application/json")
        .header("x-currents-bridge-secret", CURRENTS_SECRET)
        .header("x-timestamp", now_secs().to_string())
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The example run, in progress first and complete after `in_progress_looks` reads.
pub fn example_currents(in_progress_looks: usize) -> CurrentsState {
    let (run, instances) = example_run();
    let mut state = serving(run.clone(), &instances);
    let mut in_progress = run.clone();
    in_progress["data"]["completionState"] = json!("IN_PROGRESS");
    in_progress["data"]["status"] = json!("RUNNING");
    let replies = std::iter::repeat_n(Reply::ok(in_progress), in_progress_looks)
        .chain([Reply::ok(run)])
        .collect::<Vec<_>>();
    state.runs.insert(RUN_ID.into(), Script::of(replies));
    state
}

/// What the `report` step would show for the example run: title and annotation count.
pub fn expected_report() -> (String, usize) {
    let (run, instances) = example_run();
    let run: currents_bridge::currents::Run = serde_json::from_value(run["data"].clone()).unwrap();
    let instances = instances
        .into_iter()
        .map(|i| {
            let i: currents_bridge::currents::Instance =
                serde_json::from_value(i["data"].clone()).unwrap();
            (i.instance_id.clone(), i)
        })
        .collect();
    let report =
        currents_bridge::report::build(&run, &instances, &Default::default(), SystemTime::now());
    (
        currents_bridge::report::check_output(&report).title,
        currents_bridge::report::annotations(&report, "").len(),
    )
}
