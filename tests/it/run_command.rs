//! `currents-bridge run get|cancel|delete RUN_ID`, against the fake Currents.

use serde_json::{Value, json};

use crate::support::*;

const RUN: &str = "a1b2c3d4e5f60718";

async fn run_command(state: CurrentsState, args: &[&str]) -> (Outcome, FakeCurrents) {
    let currents = FakeCurrents::start(state).await;
    let workflow = Workflow::new(&currents, None);
    let mut argv = vec!["run"];
    argv.extend_from_slice(args);
    let out = workflow.run(&argv).await;
    out.assert_no_secrets();
    (out, currents)
}

#[tokio::test(flavor = "multi_thread")]
async fn get_prints_the_report_or_the_json_as_sent() {
    let (run, instances) = example_run();
    let (out, _) = run_command(serving(run.clone(), &instances), &["get", RUN]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(out.stdout.contains("Failed tests"), "{}", out.stdout);
    assert!(
        out.stdout.contains("::stop-commands::"),
        "fenced inside Actions (GITHUB_ACTIONS is set by the workflow)"
    );
    let (out, currents) =
        run_command(serving(run.clone(), &instances), &["get", RUN, "--json"]).await;
    assert_eq!(out.code, Some(0));
    let lines: Vec<&str> = out.stdout.lines().collect();
    let printed: Value = serde_json::from_str(&lines[1..lines.len() - 1].join("\n")).unwrap();
    assert_eq!(printed, run, "the JSON as Currents sent it");
    assert!(
        currents.requests_to("/v1/instances").is_empty(),
        "--json fetches the run only"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_cancels_that_run() {
    let state = CurrentsState {
        cancel: Script::of([Reply::ok(fixture("cancel-200.json"))]),
        ..Default::default()
    };
    let (out, currents) = run_command(state, &["cancel", RUN]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(
        currents
            .requests_to(&format!("/v1/runs/{RUN}/cancel"))
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_needs_yes_and_maps_its_answers() {
    let (out, currents) = run_command(CurrentsState::default(), &["delete", RUN]).await;
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("without --yes"), "{}", out.stderr);
    assert!(currents.requests().is_empty(), "nothing was sent");

    let deleted = CurrentsState {
        delete: Script::of([Reply::ok(
            json!({"status": "OK", "data": {"runId": RUN, "actor": "API Request"}}),
        )]),
        ..Default::default()
    };
    let (out, currents) = run_command(deleted, &["delete", RUN, "--yes"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(out.stdout.contains(&format!("Deleted Currents run {RUN}")));
    let sent = currents.requests();
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path.as_str()),
        ("DELETE", "/v1/runs/a1b2c3d4e5f60718")
    );

    let gone = CurrentsState {
        delete: Script::of([Reply::status(404)]),
        ..Default::default()
    };
    let (out, _) = run_command(gone, &["delete", RUN, "--yes"]).await;
    assert_eq!(out.code, Some(0));
    assert!(out.stdout.contains("already gone"), "{}", out.stdout);

    let refused = CurrentsState {
        delete: Script::of([Reply::status(403)]),
        ..Default::default()
    };
    let (out, _) = run_command(refused, &["delete", RUN, "--yes"]).await;
    assert_eq!(out.code, Some(4));
    assert!(out.stderr.contains("Read & Write"), "{}", out.stderr);
}
