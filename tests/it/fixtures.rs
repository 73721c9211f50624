//! Every Currents fixture (a copy of the shared fixtures, plus the two examples of the seed
//! Runs API page) parses into the model it represents.

use std::path::Path;

use currents_bridge::currents::models::{
    Action, ApiError, CancelByGithubRequest, CancelResponse, CompletionState, Envelope,
    ExplorerPage, Instance, Matcher, Project, ResultsPage, Run, RunStatus, RunWebhook,
    SignatureAnswer, TestState,
};
use serde::de::DeserializeOwned;

fn read(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/currents")
            .join(name),
    )
    .unwrap()
}

fn data<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_slice::<Envelope<T>>(&read(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .data
}

fn bare<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_slice::<T>(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_fixture_parses_as_what_it_represents() {
    let mut names: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/currents"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    names.sort();
    assert!(
        names.len() >= 33,
        "all fixtures and both seed examples are here: {names:?}"
    );
    for name in &names {
        match name.as_str() {
            n if n.starts_with("run-") || n.starts_with("seed-run-") => drop(data::<Run>(n)),
            n if n.starts_with("instance-") => drop(data::<Instance>(n)),
            "runs-list-page.json" => assert_eq!(data::<Vec<Run>>(name).len(), 2),
            "projects-list.json" => assert!(!data::<Vec<Project>>(name).is_empty()),
            "project-get.json" => assert_eq!(data::<Project>(name).project_id.as_str(), "Xk9Pq2"),
            n if n.ends_with("-request.json") && n.starts_with("cancel-ci") => {
                drop(bare::<CancelByGithubRequest>(n))
            }
            "director-cancel-request.json" => assert!(
                serde_json::from_slice::<serde_json::Value>(&read(name)).unwrap()["recordKey"]
                    .is_string()
            ),
            n if (n.starts_with("cancel-") || n.starts_with("director-cancel-"))
                && n.contains("-200") =>
            {
                drop(data::<CancelResponse>(n))
            }
            "tests-list-page.json" => assert_eq!(data::<ExplorerPage>(name).list.len(), 2),
            "test-results-page.json" => assert!(bare::<ResultsPage>(name).has_more),
            "signature-test-200.json" => assert_eq!(
                data::<SignatureAnswer>(name).signature.as_str(),
                "0f3b6c1e9a7d4e2b8c5a1d6f3e9b7c20"
            ),
            "signature-test-request.json" => {
                let request = bare::<serde_json::Value>(name);
                assert!(request["testTitle"].is_array() && request["specFilePath"].is_string());
            }
            "actions-list.json" => assert_eq!(data::<Vec<Action>>(name).len(), 2),
            "action-create-201.json" | "action-disable-200.json" => {
                assert!(!data::<Action>(name).name.is_empty())
            }
            "action-create-request.json" => {
                let request = bare::<serde_json::Value>(name);
                let matcher: Matcher = serde_json::from_value(request["matcher"].clone()).unwrap();
                assert_eq!(matcher.cond.len(), 2);
            }
            // The matcher alone: a rule by spec and title path instead of the test id.
            "action-create-request-by-title.json" => {
                assert_eq!(bare::<Matcher>(name).cond[1].kind, "titlePath")
            }
            "action-delete-200.json" => {
                assert_eq!(bare::<serde_json::Value>(name)["data"]["archived"], true)
            }
            // Shapes only an AI-written summary or no source describes: read as opaque JSON.
            n if n == "errors-list-page.json" || n.ends_with("-unconfirmed.json") => {
                assert_eq!(bare::<serde_json::Value>(n)["status"], "OK", "{n}")
            }
            n if n.starts_with("error-")
                || n.contains("-422-")
                || n.contains("-404")
                || n.contains("-403-") =>
            {
                let error = bare::<ApiError>(n);
                assert!(
                    error.error.is_some_and(|e| !e.is_empty()),
                    "{n} has an error message"
                );
            }
            n if n.starts_with("webhook-") => {
                assert!(bare::<RunWebhook>(n).event.starts_with("RUN_"))
            }
            other => panic!("{other}: no model is known for this fixture; add it here"),
        }
    }
}

#[test]
fn runs_read_their_states_and_counts() {
    let failed: Run = data("run-playwright-failed.json");
    assert_eq!(
        (failed.completion_state, failed.status),
        (CompletionState::Complete, RunStatus::Failed)
    );
    assert_eq!(failed.specs.len(), 3);
    assert_eq!(failed.groups[0].tests.flaky, 1);

    let running: Run = data("run-playwright-in-progress.json");
    assert_eq!(running.completion_state, CompletionState::InProgress);
    assert_eq!(running.status, RunStatus::Failing);

    let cancelled: Run = data("run-playwright-cancelled.json");
    assert_eq!(cancelled.completion_state, CompletionState::Canceled);
    assert!(cancelled.cancellation.and_then(|c| c.canceled_at).is_some());

    let cypress: Run = data("run-cypress-failed.json");
    assert_eq!(
        cypress.specs[0].results.as_ref().unwrap().screenshots.len(),
        2
    );
    assert!(
        cypress.specs[0]
            .results
            .as_ref()
            .unwrap()
            .video_url
            .is_some()
    );
}

#[test]
fn seed_examples_parse() {
    let cypress: Run = data("seed-run-cypress.json");
    assert_eq!(cypress.run_id.as_str(), "0a91f41ed60abfab9ea509e866ba9d6d");
    assert!(cypress.timeout.unwrap().is_timeout);
    assert_eq!(cypress.groups[0].tests.overall, 264);
    let playwright: Run = data("seed-run-playwright.json");
    assert_eq!(playwright.specs[0].instance_id.as_str(), "IzzYS81rn8unznmX");
    assert_eq!(playwright.meta.framework.map(|f| f.kind), None);
}

#[test]
fn instances_carry_tests_attempts_and_artifacts() {
    let pw: Instance = data("instance-playwright-failed.json");
    let results = pw.results.unwrap();
    assert_eq!(results.tests.iter().filter(|t| t.is_failed()).count(), 2);
    assert_eq!(results.playwright_traces.len(), 3);
    assert_eq!(results.attachments.len(), 1);
    assert!(
        results.tests[0].attempts[0]
            .error
            .as_ref()
            .unwrap()
            .code_frame
            .as_ref()
            .unwrap()
            .frame
            .as_ref()
            .unwrap()
            .contains('\u{1b}')
    );

    let cy: Instance = data("instance-cypress-failed.json");
    let results = cy.results.unwrap();
    assert!(results.video_url.is_some());
    assert_eq!(results.tests[2].final_state(), Some(&TestState::Pending));
    assert_eq!(results.tests[0].attempts[1].video_timestamp, Some(26674.0));
}

#[test]
fn cancel_bodies_read_both_shapes() {
    let full: CancelResponse = data("cancel-200.json");
    assert!(full.run_id.is_some() && full.actor.is_some());
    let minimal: CancelResponse = data("cancel-ci-github-200-minimal.json");
    assert!(minimal.run_id.is_none());
    let no_run: CancelResponse = data("director-cancel-200-no-run.json");
    assert!(no_run.run_id.is_none());
    let request: CancelByGithubRequest = bare("cancel-ci-github-request.json");
    assert_eq!(
        serde_json::to_value(&request).unwrap()["githubRunAttempt"],
        "1"
    );
}
