//! Triage end to end: the real binary against a fake Currents that serves the base branch's
//! history and the project's Actions with the documented shapes and paging. Four failures, one
//! of each verdict; the gate; the re-run attempt; every degraded path; the lookup budget.

use serde_json::{Value, json};

use crate::support::*;

fn four_verdicts() -> CurrentsState {
    four_verdicts_of("5a5a5a5a5a5a5a5a")
}

/// A workflow on pull request 7 into `main`.
fn on_pull_request(currents: &FakeCurrents, github: &FakeGithub) -> Workflow {
    let workflow = Workflow::new(currents, Some(github));
    workflow.on_pull_request_into_main();
    workflow
}

async fn started(state: CurrentsState) -> (FakeCurrents, FakeGithub) {
    (
        FakeCurrents::start(state).await,
        FakeGithub::start(GithubState::default()).await,
    )
}

fn check_create(github: &FakeGithub) -> Value {
    github
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/check-runs"))
        .expect("a check run was created")
        .json()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_gets_one_verdict_shown_everywhere() {
    let (currents, github) = started(four_verdicts()).await;
    let mut workflow = on_pull_request(&currents, &github);
    workflow.set("CURRENTS_COMMENT", "always");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(!out.stdout.contains("::warning::"), "{}", out.stdout);
    assert!(github.rejected().is_empty(), "{:?}", github.rejected());

    for (name, value) in [
        ("new-failures", "1"),
        ("known-failures", "1"),
        ("flaky-failures", "1"),
        ("quarantined-failures", "1"),
    ] {
        assert_eq!(out.output(name).as_deref(), Some(value), "{name}");
    }
    let verdicts: Vec<Value> = serde_json::from_str(&out.output("verdicts").unwrap()).unwrap();
    let by_verdict: Vec<(&str, &str)> = verdicts
        .iter()
        .map(|v| (v["verdict"].as_str().unwrap(), v["title"].as_str().unwrap()))
        .collect();
    assert_eq!(
        by_verdict,
        [
            ("new", "feature 3 x › case 0 «x» handles input"),
            ("known", "feature 1 x › case 0 «x» handles input"),
            ("flaky", "feature 2 x › case 0 «x» handles input"),
            ("quarantined", "feature 0 x › case 0 «x» handles input"),
        ]
    );
    assert_eq!(verdicts[1]["failing_since"]["runs"], 2);
    assert_eq!(verdicts[2]["flakiness"]["runs"], 41);
    assert_eq!(verdicts[3]["rule"]["name"], "Quarantine feature 0");

    let create = check_create(&github);
    assert_eq!(create["output"]["title"], "4 failed (1 new), 24 passed");
    let titles = annotation_titles(&create);
    assert_eq!(
        titles
            .iter()
            .map(|t| t.split(':').next().unwrap())
            .collect::<Vec<_>>(),
        ["New", "Known", "Flaky", "Quarantined"]
    );
    insta::assert_snapshot!(
        "triage_check_summary",
        create["output"]["summary"].as_str().unwrap()
    );
    insta::assert_snapshot!("triage_annotation_messages", annotation_messages(&create));
    insta::assert_snapshot!("triage_job_summary", out.summary);
    let comments = github.state.lock().unwrap().comments.clone();
    insta::assert_snapshot!("triage_comment", comments[0].2);
}

fn annotation_messages(create: &Value) -> String {
    create["output"]["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}\n{}\n",
                a["title"].as_str().unwrap(),
                a["message"].as_str().unwrap()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gate_fails_only_for_what_the_change_broke() {
    let (currents, github) = started(four_verdicts()).await;
    let mut workflow = on_pull_request(&currents, &github);
    workflow.set("CURRENTS_FAIL_ON_TEST_FAILURES", "new");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(1), "one new failure: {out:#?}");

    // The new one fails on main too now: known, flaky and quarantined failures pass the gate.
    let mut state = four_verdicts();
    let (spec, title) = (
        "tests/area3/feature-3.spec.ts",
        ["feature 3 x", "case 0 «x» handles input"],
    );
    let sig = signature_of("Xk9Pq2", spec, &title);
    state.history.results.insert(
        sig.clone(),
        vec![past_result(
            &sig,
            "failed",
            "main",
            "2026-08-20T10:00:00.000Z",
            "bbbb",
        )],
    );
    let (currents, github) = started(state).await;
    let mut workflow = on_pull_request(&currents, &github);
    workflow.set("CURRENTS_FAIL_ON_TEST_FAILURES", "new");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0), "nothing new: {out:#?}");
    assert_eq!(out.output("new-failures").as_deref(), Some("0"));
    assert_eq!(out.output("known-failures").as_deref(), Some("2"));
    // `true` still fails on any failure.
    workflow.set("CURRENTS_FAIL_ON_TEST_FAILURES", "true");
    assert_eq!(workflow.run(&["report"]).await.code, Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn history_is_read_once_per_report_and_once_per_failed_test() {
    let (currents, github) = started(four_verdicts()).await;
    let out = on_pull_request(&currents, &github).run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    let explorer = currents.requests_to("/v1/tests/Xk9Pq2");
    assert_eq!(explorer.len(), 1, "one Explorer page holds the four");
    let query: Vec<(String, String)> = url::form_urlencoded::parse(explorer[0].query.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("branches[]"), Some("main"));
    assert_eq!(
        get("spec"),
        Some("tests/area"),
        "filtered to the failing specs"
    );
    assert_eq!(get("limit"), Some("50"));
    assert!(get("date_start").is_some_and(|d| d.ends_with('Z')));
    assert_eq!(
        currents.requests_to("/v1/test-results/").len(),
        4,
        "one per failed test"
    );
    assert!(
        currents.requests_to("/v1/signature/").is_empty(),
        "the Explorer gave every signature"
    );
    assert_eq!(currents.requests_to("/v1/actions").len(), 1);
    let actions = &currents.requests_to("/v1/actions")[0];
    assert_eq!(actions.query, "projectId=Xk9Pq2&status=active");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_the_explorer_does_not_list_gets_its_signature_asked_for() {
    let mut state = four_verdicts();
    // Over 50 rows: two pages, and the known test's row is gone.
    let rows = state.history.explorer.get_mut("main").unwrap();
    rows.remove(1);
    for n in 0..60 {
        rows.push(explorer_row(
            &format!("tests/area0/other-{n}.spec.ts"),
            &["other"],
            10,
            0,
            0,
        ));
    }
    let (currents, github) = started(state).await;
    let out = on_pull_request(&currents, &github).run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(
        currents.requests_to("/v1/tests/Xk9Pq2").len(),
        2,
        "both pages"
    );
    let asked = currents.requests_to("/v1/signature/test");
    assert_eq!(asked.len(), 1, "only for the test the Explorer missed");
    assert_eq!(
        asked[0].json()["specFilePath"],
        "tests/area1/feature-1.spec.ts"
    );
    assert_eq!(
        out.output("known-failures").as_deref(),
        Some("1"),
        "still known"
    );
}

/// Runs the report with one Currents route refused; what it says and what is left.
async fn refused(route: &'static str, status: u16) -> (Outcome, FakeCurrents) {
    let mut state = four_verdicts();
    state.history.refuse.insert(route, Reply::status(status));
    let (currents, github) = started(state).await;
    let out = on_pull_request(&currents, &github).run(&["report"]).await;
    assert_eq!(out.code, Some(0), "degraded, never failed: {out:#?}");
    assert!(github.rejected().is_empty(), "{:?}", github.rejected());
    out.assert_no_secrets();
    (out, currents)
}

fn warnings(out: &Outcome) -> Vec<&str> {
    out.stdout
        .lines()
        .filter(|l| l.starts_with("::warning::"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_missing_part_is_one_warning_and_the_report_goes_out() {
    let (out, currents) = refused("tests", 403).await;
    assert_eq!(
        warnings(&out),
        [
            "::warning::Triage could not read the test history on main (Currents GET /tests/{projectId} answered HTTP 403 (scripted 403): the API key lacks permission; check that the key belongs to the organization that owns the project); those verdicts come from the base run only."
        ]
    );
    assert!(
        currents.requests_to("/v1/test-results/").is_empty(),
        "nothing more asked"
    );
    assert_eq!(
        out.output("quarantined-failures").as_deref(),
        Some("1"),
        "the rule still applies"
    );
    assert_eq!(
        out.output("new-failures").as_deref(),
        Some("3"),
        "no base run: the rest are new"
    );

    let (out, currents) = refused("test-results", 500).await;
    let lines = warnings(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("::warning::Triage could not read the history of 4 failed tests (Currents GET /test-results/{signature} answered HTTP 500"), "{}", lines[0]);
    assert!(
        currents.requests_to("/v1/test-results/").len() >= 4,
        "5xx is retried, not given up"
    );
    assert_eq!(
        out.output("flaky-failures").as_deref(),
        Some("1"),
        "the Explorer's rate stands"
    );

    let (out, currents) = refused("test-results", 403).await;
    assert_eq!(warnings(&out).len(), 1);
    assert!(currents.requests_to("/v1/test-results/").len() <= 4);

    let (out, _) = refused("actions", 403).await;
    assert_eq!(
        warnings(&out),
        [
            "::warning::Triage could not read the project's Currents Actions (Currents GET /actions answered HTTP 403 (scripted 403): the API key lacks permission; check that the key belongs to the organization that owns the project); no failure is marked quarantined."
        ]
    );
    assert_eq!(out.output("quarantined-failures").as_deref(), Some("0"));
    assert_eq!(out.output("known-failures").as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_shape_is_missing_history_not_a_failure() {
    let mut state = four_verdicts();
    state.history.refuse.insert(
        "tests",
        Reply::ok(json!({"status": "OK", "data": {"list": "not a list"}})),
    );
    let (currents, github) = started(state).await;
    let out = on_pull_request(&currents, &github).run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    let lines = warnings(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("sent a body that could not be read"),
        "{}",
        lines[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn triage_off_reads_no_history_and_no_actions() {
    let (currents, github) = started(four_verdicts()).await;
    let mut workflow = on_pull_request(&currents, &github);
    workflow.set("CURRENTS_TRIAGE", "off");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    for path in [
        "/v1/tests/",
        "/v1/test-results/",
        "/v1/actions",
        "/v1/signature/",
    ] {
        assert!(currents.requests_to(path).is_empty(), "{path}");
    }
    assert_eq!(
        out.output("known-failures").as_deref(),
        Some(""),
        "no base run: nothing to tell"
    );
    assert_eq!(out.output("verdicts").as_deref(), Some(""));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cypress_run_reads_no_actions() {
    let mut state = four_verdicts();
    for script in state
        .runs
        .values_mut()
        .chain(std::iter::once(&mut state.find))
    {
        for reply in script.0.iter_mut() {
            reply.body["data"]["meta"]["framework"] =
                json!({"type": "cypress", "version": "13.6.0"});
        }
    }
    let (currents, github) = started(state).await;
    let out = on_pull_request(&currents, &github).run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(currents.requests_to("/v1/actions").is_empty());
    assert_eq!(out.output("quarantined-failures").as_deref(), Some("0"));
    assert_eq!(
        out.output("new-failures").as_deref(),
        Some("2"),
        "feature 0 is new without its rule"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn flags_are_checked_before_any_work() {
    let (currents, github) = started(four_verdicts()).await;
    for (name, value, says) in [
        (
            "CURRENTS_TRIAGE",
            "maybe",
            "--triage (CURRENTS_TRIAGE) must be on or off",
        ),
        (
            "CURRENTS_HISTORY_DAYS",
            "0",
            "--history-days (CURRENTS_HISTORY_DAYS) must be a number of days from 1 to 365",
        ),
        (
            "CURRENTS_FLAKY_THRESHOLD",
            "150%",
            "--flaky-threshold (CURRENTS_FLAKY_THRESHOLD) must be a percentage",
        ),
    ] {
        let mut workflow = on_pull_request(&currents, &github);
        workflow.set(name, value);
        let out = workflow.run(&["report"]).await;
        assert_eq!(out.code, Some(2), "{name}={value}: {out:#?}");
        assert!(
            out.stdout.contains(says) || out.stderr.contains(says),
            "{out:#?}"
        );
    }
    assert!(currents.requests().is_empty(), "nothing was asked");
    // A higher threshold: 20% is not flaky at 25%, so feature 2 is new.
    let mut workflow = on_pull_request(&currents, &github);
    workflow.set("CURRENTS_FLAKY_THRESHOLD", "25%");
    workflow.set("CURRENTS_HISTORY_DAYS", "7");
    let out = workflow.run(&["report"]).await;
    assert_eq!(
        out.output("flaky-failures").as_deref(),
        Some("0"),
        "{out:#?}"
    );
    assert_eq!(out.output("new-failures").as_deref(), Some("2"));
    let explorer = &currents.requests_to("/v1/tests/Xk9Pq2")[0];
    assert!(explorer.query.contains("date_start="), "{}", explorer.query);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_lists_what_failed_before_and_passes_now() {
    let mut state = four_verdicts();
    // Attempt 1 failed feature 5 (passing now) and feature 3.
    let (mut previous, previous_instances) = synthetic_run(12, 6, 1, "x");
    previous["data"]["runId"] = json!("9999999999999999");
    previous["data"]["meta"]["ciBuildId"] = json!("acme/webapp-9876543210-1");
    for spec in previous["data"]["specs"].as_array_mut().unwrap() {
        let id = spec["instanceId"].as_str().unwrap().to_owned();
        spec["instanceId"] = json!(format!("prev-{id}"));
    }
    for mut instance in previous_instances {
        let id = instance["data"]["instanceId"].as_str().unwrap().to_owned();
        instance["data"]["instanceId"] = json!(format!("prev-{id}"));
        state
            .instances
            .insert(format!("prev-{id}"), Script::of([Reply::ok(instance)]));
    }
    state.finds.insert(
        "acme/webapp-9876543210-1".into(),
        Script::of([Reply::ok(previous)]),
    );
    let (currents, github) = started(state).await;
    let mut workflow = on_pull_request(&currents, &github);
    workflow.set("GITHUB_RUN_ATTEMPT", "2");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    let finds: Vec<String> = currents
        .requests_to("/v1/runs/find")
        .iter()
        .map(|r| r.query.clone())
        .collect();
    assert!(
        finds
            .iter()
            .any(|q| q.ends_with("ciBuildId=acme%2Fwebapp-9876543210-1")),
        "{finds:?}"
    );
    let summary = check_create(&github)["output"]["summary"]
        .as_str()
        .unwrap()
        .to_owned();
    let section = summary
        .split("### 🔁 Passed on re-run")
        .nth(1)
        .expect(&summary);
    assert!(section.starts_with(" (2): likely flaky"), "{section}");
    assert!(section.contains("feature 4 x › case 0"), "{section}");
    assert!(section.contains("feature 5 x › case 0"), "{section}");
    assert!(
        !section.split("###").next().unwrap().contains("feature 3 x"),
        "it fails now too"
    );

    // --previous-ci-build-id names another run; a missing one is no error.
    let mut workflow = on_pull_request(&currents, &github);
    workflow.set("GITHUB_RUN_ATTEMPT", "2");
    workflow.set("CURRENTS_PREVIOUS_CI_BUILD_ID", "custom-previous");
    let before = currents.requests_to("/v1/runs/find").len();
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    let finds = currents.requests_to("/v1/runs/find");
    assert!(
        finds[before..]
            .iter()
            .any(|r| r.query.ends_with("ciBuildId=custom-previous"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn six_hundred_failures_look_up_the_first_hundred() {
    let (run, instances) = synthetic_run(600, 600, 1, "x");
    let mut state = serving(run, &instances);
    state.runs_list = Script::of([Reply::ok(
        json!({"status": "OK", "has_more": false, "data": []}),
    )]);
    let (currents, github) = started(state).await;
    let out = on_pull_request(&currents, &github).run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    // The Explorer knows none of them (an empty branch): each of the first 100 asks for its
    // signature and its results; the other 500 ask nothing.
    assert_eq!(currents.requests_to("/v1/test-results/").len(), 100);
    assert_eq!(currents.requests_to("/v1/signature/test").len(), 100);
    let asked: std::collections::HashSet<String> = currents
        .requests_to("/v1/signature/test")
        .iter()
        .map(|r| r.json()["specFilePath"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        asked.contains("tests/area0/feature-0.spec.ts")
            && asked.contains("tests/area1/feature-99.spec.ts")
    );
    assert!(
        !asked.contains("tests/area2/feature-100.spec.ts"),
        "ranked in the run's spec order"
    );
    let summary = check_create(&github)["output"]["summary"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        summary.contains("_500 more failed tests were not looked up in the history: it is read for the first 100 by rank._"),
        "{}",
        &summary[..2000]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn app_mode_triages_the_same_run_the_same_way() {
    use crate::support::app_mode::{RUN_ID, SHA, on_pull_42, send_and_wait, start_app_relay};
    let dir = tempfile::tempdir().unwrap();
    let currents = FakeCurrents::start(four_verdicts_of(RUN_ID)).await;
    let github = FakeGithub::start(on_pull_42()).await;
    let relay = start_app_relay(&dir.path().join("relay.db"), &currents, &github, &[]).await;
    send_and_wait(&relay, &github, "RUN_FINISH").await;
    let check = github.checks()[0].clone();
    assert_eq!(check.title.as_deref(), Some("4 failed (1 new), 24 passed"));
    let words: Vec<&str> = check
        .annotations
        .iter()
        .map(|a| a["title"].as_str().unwrap().split(':').next().unwrap())
        .collect();
    assert_eq!(words, ["New", "Known", "Flaky", "Quarantined"]);
    wait_for("the comment", std::time::Duration::from_secs(20), || {
        !github.state.lock().unwrap().comments.is_empty()
    })
    .await;
    let comment = github.state.lock().unwrap().comments[0].2.clone();
    assert!(comment.contains("| 🛡️ Quarantined |"), "{comment}");

    // The step, on a pull request into main for the same commit, says the same.
    let step_github = FakeGithub::start(GithubState::default()).await;
    let mut workflow = on_pull_request(&currents, &step_github);
    workflow.set("CURRENTS_CHECK_SHA", SHA);
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    let created = check_create(&step_github);
    assert_eq!(
        created["output"]["summary"].as_str(),
        check.summary.as_deref()
    );
    drop(relay);
}
