//! The `report` command, run as a real binary against fake Currents and GitHub servers.

use crate::support::*;
use serde_json::Value;

async fn fakes(state: CurrentsState) -> (FakeCurrents, FakeGithub) {
    (
        FakeCurrents::start(state).await,
        FakeGithub::start(GithubState::default()).await,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_playwright_run_becomes_a_check_summary_and_outputs() {
    let (run, instances) = example_run();
    let (currents, github) = fakes(serving(run, &instances)).await;
    let workflow = Workflow::new(&currents, Some(&github));
    let out = workflow.run(&["report"]).await;

    assert_eq!(out.code, Some(0), "{out:#?}");
    out.assert_no_secrets();
    assert!(github.rejected().is_empty(), "{:?}", github.rejected());

    // Found by the default ciBuildId, with the key as a Bearer token.
    let find = &currents.requests_to("/v1/runs/find")[0];
    assert_eq!(
        find.query,
        "projectId=Xk9Pq2&ciBuildId=acme%2Fwebapp-9876543210-1"
    );
    assert_eq!(
        find.header("authorization"),
        Some(format!("Bearer {CURRENTS_KEY}"))
    );
    assert!(
        find.header("accept-encoding")
            .unwrap_or_default()
            .contains("gzip")
    );
    // Both specs with failures or flaky tests were fetched, the passing one was not.
    let mut fetched: Vec<String> = currents
        .requests_to("/v1/instances/")
        .iter()
        .map(|r| r.path.clone())
        .collect();
    fetched.sort();
    assert_eq!(
        fetched,
        [
            "/v1/instances/Hf7aZ1yUe4bN0sDq",
            "/v1/instances/Qm3vT8nXcR2pLw7K"
        ]
    );

    let requests = github.requests();
    assert_eq!(requests.len(), 1);
    let create = requests[0].json();
    assert_eq!(requests[0].path, "/repos/acme/webapp/check-runs");
    assert_eq!(create["name"], "Currents");
    assert_eq!(
        create["head_sha"], "prhead0000000000000000000000000000000001",
        "the PR head, not the merge commit"
    );
    assert_eq!(create["status"], "completed");
    assert_eq!(create["conclusion"], "failure");
    assert_eq!(create["external_id"], "a1b2c3d4e5f60718");
    assert_eq!(
        create["details_url"],
        "https://app.currents.dev/run/a1b2c3d4e5f60718"
    );
    assert_eq!(
        create["output"]["title"],
        "2 failed, 1 flaky, 9 passed, 1 skipped"
    );
    let summary = create["output"]["summary"].as_str().unwrap();
    let failures_at = summary.find("Failed tests").unwrap();
    assert!(
        failures_at < summary.find("Flaky tests").unwrap(),
        "failures lead"
    );
    assert!(summary.contains("Received string: \"$100.00\""));
    assert!(!summary.contains('\u{1b}'), "ANSI codes are stripped");
    assert!(
        summary.contains(
            "> 42 |   await expect(page.getByTestId('order-total')).toHaveText('$90.00');"
        )
    );
    assert!(summary.contains("expire 2 h after"));
    assert!(requests[0].header("x-github-api-version").is_some());

    let annotations = create["output"]["annotations"].as_array().unwrap();
    assert_eq!(annotations.len(), 3);
    assert_eq!(annotations[0]["path"], "tests/checkout.spec.ts");
    assert_eq!(annotations[0]["start_line"], 42);
    assert_eq!(annotations[0]["annotation_level"], "failure");
    assert_eq!(annotations[2]["annotation_level"], "warning");
    assert_eq!(annotations[2]["start_line"], 27);

    assert_eq!(out.output("run-id").as_deref(), Some("a1b2c3d4e5f60718"));
    assert_eq!(out.output("status").as_deref(), Some("FAILED"));
    assert_eq!(out.output("completion-state").as_deref(), Some("COMPLETE"));
    assert_eq!(out.output("failed").as_deref(), Some("2"));
    assert_eq!(out.output("passed").as_deref(), Some("9"));
    assert_eq!(out.output("flaky").as_deref(), Some("1"));
    assert_eq!(out.output("skipped").as_deref(), Some("1"));
    assert_eq!(out.output("tests").as_deref(), Some("12"));
    assert_eq!(out.output("check-run-id").as_deref(), Some("1"));
    assert_eq!(
        out.output("check-run-url").as_deref(),
        Some("https://github.test/acme/webapp/runs/1")
    );
    assert!(
        out.summary
            .starts_with("## ❌ Currents: 2 failed, 1 flaky, 9 passed, 1 skipped")
    );
    assert!(
        out.summary
            .contains("[View the check run](https://github.test/acme/webapp/runs/1)")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_on_test_failures_exits_1() {
    let (run, instances) = example_run();
    let (currents, github) = fakes(serving(run, &instances)).await;
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.set("CURRENTS_FAIL_ON_TEST_FAILURES", "true");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert_eq!(github.requests().len(), 1, "the check is still published");
}

#[tokio::test(flavor = "multi_thread")]
async fn cypress_run_links_the_spec_video_at_the_attempt_and_its_screenshots() {
    let run = fixture("run-cypress-failed.json");
    let instance = fixture("instance-cypress-failed.json");
    let (currents, github) = fakes(serving(run, &[instance])).await;
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow
        .set("CURRENTS_PROJECT_ID", "bAYZ4a")
        .set("CURRENTS_PATH_PREFIX", "web/");
    let out = workflow.run(&["report"]).await;

    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(github.rejected().is_empty(), "{:?}", github.rejected());
    let create = github.requests()[0].json();
    assert_eq!(create["output"]["title"], "1 failed, 4 passed, 1 pending");
    let summary = create["output"]["summary"].as_str().unwrap();
    // The last failed attempt (index 1) starts 26.674 s into the spec video.
    assert!(summary.contains("[video at 0:26](https://fs.currents.dev/64c37267d04f264d0923d328/bf89e79f-af2a-43cb-afba-2575e567f103.mp4?Expires=1787243405&Key-Pair-Id=K1EXAMPLEKEYPAIR&Signature=CYVIDEO-EXAMPLE-SIGNATURE__#t=26.7)"), "{summary}");
    assert!(
        summary.contains("7a1c3e55-0b9d-4e61-8f2a-2f0c6d5e9b11.png"),
        "the failing attempt's screenshot"
    );
    assert!(summary.contains("Timed out retrying after 4000ms"));
    let annotation = &create["output"]["annotations"][0];
    assert_eq!(annotation["path"], "web/cypress/e2e/checkout.cy.ts");
    assert_eq!(annotation["start_line"], 18);
}

#[tokio::test(flavor = "multi_thread")]
async fn waits_while_the_run_is_in_progress() {
    let (run, instances) = example_run();
    let mut state = serving(run.clone(), &instances);
    let in_progress = fixture("run-playwright-in-progress.json");
    state.find = Script::of([
        Reply::ok(in_progress.clone()),
        Reply::ok(in_progress),
        Reply::ok(run),
    ]);
    let (currents, github) = fakes(state).await;
    let out = Workflow::new(&currents, Some(&github))
        .run(&["report"])
        .await;

    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(currents.requests_to("/v1/runs/find").len(), 3);
    let group = out
        .stdout
        .find("::group::Waiting for the Currents run with ciBuildId acme/webapp-9876543210-1")
        .expect("a log group");
    let progress = out
        .stdout
        .find("is IN_PROGRESS (FAILING): specs complete 1/3")
        .expect("progress at each poll");
    let end = out.stdout.find("::endgroup::").unwrap();
    assert!(group < progress && progress < end);
    assert_eq!(out.stdout.matches("specs complete").count(), 2);
    assert_eq!(github.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn six_hundred_failures_fit_githubs_limits() {
    let (run, instances) = synthetic_run(120, 100, 6, "🎉 ünïcödé");
    let (currents, github) = fakes(serving(run, &instances)).await;
    let out = Workflow::new(&currents, Some(&github))
        .run(&["report"])
        .await;

    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(
        github.rejected().is_empty(),
        "GitHub would reject: {:?}",
        github.rejected()
    );
    let requests = github.requests();
    assert_eq!(requests.len(), 12, "one create and 11 updates of 50");
    for request in &requests {
        let output = &request.json()["output"];
        assert!(output["annotations"].as_array().unwrap().len() <= 50);
        assert!(output["summary"].as_str().unwrap().len() <= 65_535);
        assert!(output["text"].as_str().map_or(0, str::len) <= 65_535);
    }
    let annotations = github.annotations();
    assert_eq!(annotations.len(), 600);
    assert!(
        annotations
            .iter()
            .all(|a| !a.to_string().chars().any(|c| c as u32 > 0xFFFF))
    );
    assert!(
        annotations[0]["title"]
            .as_str()
            .unwrap()
            .contains("\\u{1F389} ünïcödé")
    );

    let summary = requests[0].json()["output"]["summary"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(summary.contains("Failed tests (600)"));
    assert!(
        summary.contains("more failed tests are not shown here"),
        "says how many were left out"
    );
    assert!(support_fences_balanced(&summary));
    assert!(
        requests[0].json()["output"]["text"]
            .as_str()
            .unwrap()
            .starts_with("### All failed tests (600)")
    );
    assert!(out.summary.len() <= 1024 * 1024);
    assert!(
        out.summary.contains("🎉"),
        "the job summary keeps emoji: only annotations are restricted"
    );
}

fn support_fences_balanced(markdown: &str) -> bool {
    currents_bridge::report::text::fences_balanced(markdown)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_without_checks_permission_falls_back_to_summary_and_log_annotations() {
    let (run, instances) = synthetic_run(20, 15, 1, "x");
    let currents = FakeCurrents::start(serving(run, &instances)).await;
    let github = FakeGithub::start(GithubState {
        refuse_with: Some(403),
        ..Default::default()
    })
    .await;
    let out = Workflow::new(&currents, Some(&github))
        .run(&["report"])
        .await;

    assert_eq!(out.code, Some(0), "{out:#?}");
    out.assert_no_secrets();
    assert!(
        out.stdout
            .contains("::warning::GitHub POST /repos/{owner}/{repo}/check-runs answered HTTP 403")
    );
    assert!(out.stdout.contains("permissions: checks: write"));
    assert_eq!(
        out.stdout.matches("::error file=").count(),
        10,
        "the runner shows at most 10"
    );
    assert!(
        out.stdout
            .contains("::notice::5 more failures are not annotated")
    );
    assert!(out.summary.contains("Failed tests (15)"));
    assert_eq!(out.output("failed").as_deref(), Some("15"));
    assert_eq!(out.output("check-run-id").as_deref(), Some(""));
}

#[tokio::test(flavor = "multi_thread")]
async fn currents_503_twice_then_200_is_retried() {
    let (run, instances) = example_run();
    let mut state = serving(run.clone(), &instances);
    state.find = Script::of([
        Reply::status(503),
        Reply::status(503).with_header("retry-after", "0"),
        Reply::ok(run),
    ]);
    let (currents, github) = fakes(state).await;
    let out = Workflow::new(&currents, Some(&github))
        .run(&["report"])
        .await;

    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(currents.requests_to("/v1/runs/find").len(), 3);
    assert_eq!(github.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_never_appears_exits_3() {
    let state = CurrentsState {
        find: Script::of([Reply::status(404)]),
        ..Default::default()
    };
    let (currents, github) = fakes(state).await;
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow
        .set("CURRENTS_WAIT_TIMEOUT", "1s")
        .set("CURRENTS_POLL_INTERVAL", "200ms");
    let out = workflow.run(&["report"]).await;

    assert_eq!(out.code, Some(3), "{out:#?}");
    out.assert_no_secrets();
    assert!(
        currents.requests_to("/v1/runs/find").len() >= 3,
        "kept polling through the 404s"
    );
    assert!(
        out.stderr.contains(
            "no run appeared for the Currents run with ciBuildId acme/webapp-9876543210-1"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    assert!(github.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_api_key_exits_4_with_a_hint_and_no_secret() {
    let state = CurrentsState {
        find: Script::of([Reply::ok(Value::Null)]),
        ..Default::default()
    };
    let (currents, github) = fakes(state).await;
    {
        currents.state.lock().unwrap().find = Script::of([Reply::status(401)]);
    }
    let out = Workflow::new(&currents, Some(&github))
        .run(&["report"])
        .await;
    assert_eq!(out.code, Some(4), "{out:#?}");
    out.assert_no_secrets();
    assert!(out.stderr.contains("HTTP 401"));
    assert!(out.stderr.contains("CURRENTS_API_KEY"));
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_configuration_exits_2() {
    let currents = FakeCurrents::start(CurrentsState::default()).await;
    let mut workflow = Workflow::new(&currents, None);
    workflow.unset("CURRENTS_PROJECT_ID");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert!(out.stderr.contains("project id is missing"));
    // Empty values are unset values: an action input left blank.
    workflow
        .set("CURRENTS_PROJECT_ID", "Xk9Pq2")
        .set("CURRENTS_API_KEY", "");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert!(out.stderr.contains("API key is missing"));
    assert!(currents.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_example_needs_no_network() {
    let out = tokio::process::Command::new(binary())
        .args([
            "report",
            "--from-dir",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/playwright-failed"),
            "--dry-run",
        ])
        .env_clear()
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("Title: 2 failed, 1 flaky, 9 passed, 1 skipped"));
    assert!(stdout.contains("Annotations: 3"));
    assert!(stdout.contains("### ❌ Failed tests (2)"));
}

/// A runtime file that cannot be written is the machine's failure (exit 5), not a usage error,
/// and the error keeps its cause.
#[tokio::test(flavor = "multi_thread")]
async fn an_unwritable_github_output_exits_5_with_its_cause() {
    let (run, instances) = example_run();
    let (currents, github) = fakes(serving(run, &instances)).await;
    let mut workflow = Workflow::new(&currents, Some(&github));
    let dir = workflow.dir.path().display().to_string();
    workflow.set("GITHUB_OUTPUT", &dir);
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(5), "{out:#?}");
    assert!(
        out.stderr.contains("cannot write GITHUB_OUTPUT: ") && out.stderr.contains("directory"),
        "{}",
        out.stderr
    );
    out.assert_no_secrets();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_marks_new_failures_against_its_base_branch() {
    let (run, instances) = example_run();
    let mut state = serving(run, &instances);
    with_base_branch(&mut state, false);
    let (currents, github) = fakes(state).await;
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.on_pull_request_into_main();
    workflow.set("CURRENTS_FAIL_ON_TEST_FAILURES", "new");
    let out = workflow.run(&["report"]).await;

    assert_eq!(
        out.code,
        Some(1),
        "one new failure fails the step: {out:#?}"
    );
    let list = &currents.requests_to("/v1/projects/")[0];
    assert_eq!(list.path, "/v1/projects/Xk9Pq2/runs");
    assert_eq!(
        list.query,
        "branches%5B%5D=main&completion_state=COMPLETE&limit=2"
    );
    assert_eq!(currents.requests_to("/v1/runs/b0b0b0b0b0b0b0b0").len(), 1);
    assert_eq!(currents.requests_to("/v1/instances/base-").len(), 2);
    assert_eq!(out.output("new-failures").as_deref(), Some("1"));
    let create = github.requests()[0].json();
    assert_eq!(
        create["output"]["title"],
        "2 failed (1 new), 1 flaky, 9 passed, 1 skipped"
    );
    let summary = create["output"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("**1 new**, 1 known, 0 flaky, 0 quarantined; 1 fixed"),
        "{summary}"
    );
    assert!(
        summary.contains("checkout › shows the cart summary"),
        "the fixed list: {summary}"
    );
    let titles = annotation_titles(&create);
    assert_eq!(titles[0], "New: checkout › applies a 10% coupon");
    assert_eq!(
        titles[1],
        "Known: checkout › places an order with a saved card"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_old_failures_pass_with_fail_on_new_and_off_skips_the_comparison() {
    let (run, instances) = example_run();
    let mut state = serving(run, &instances);
    with_base_branch(&mut state, true);
    let (currents, github) = fakes(state).await;
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.on_pull_request_into_main();
    workflow.set("CURRENTS_FAIL_ON_TEST_FAILURES", "new");
    let out = workflow.run(&["report"]).await;
    assert_eq!(
        out.code,
        Some(0),
        "both failures fail on main too: {out:#?}"
    );
    assert_eq!(out.output("new-failures").as_deref(), Some("0"));

    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.on_pull_request_into_main();
    workflow.set("CURRENTS_FAIL_ON_TEST_FAILURES", "new");
    workflow.set("CURRENTS_COMPARE_BRANCH", "off");
    let before = currents.requests_to("/v1/projects/").len();
    let out = workflow.run(&["report"]).await;
    assert_eq!(
        out.code,
        Some(1),
        "without a comparison every failure is new"
    );
    assert_eq!(out.output("new-failures").as_deref(), Some(""));
    assert_eq!(
        currents.requests_to("/v1/projects/").len(),
        before,
        "not looked up"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_base_run_is_one_line_and_the_report_goes_on() {
    let (run, instances) = example_run();
    let mut state = serving(run, &instances);
    state.runs_list = Script::of([Reply::ok(
        serde_json::json!({"status": "OK", "has_more": false, "data": []}),
    )]);
    let (currents, github) = fakes(state).await;
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.set("CURRENTS_COMPARE_BRANCH", "release/2");
    // Without triage nothing else is read of the branch (its history is tests/it/triage.rs's).
    workflow.set("CURRENTS_TRIAGE", "off");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    let notices: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("release/2"))
        .collect();
    assert_eq!(
        notices,
        vec![
            "::notice::No completed Currents run of release/2 to compare with: failures are not marked new."
        ]
    );
    let create = github.requests()[0].json();
    assert_eq!(
        create["output"]["title"],
        "2 failed, 1 flaky, 9 passed, 1 skipped"
    );
    assert!(
        create["output"]["summary"]
            .as_str()
            .unwrap()
            .contains("No completed Currents run of `release/2` to compare with.")
    );
}

fn comments(github: &FakeGithub) -> Vec<(u64, u64, String)> {
    github.state.lock().unwrap().comments.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_sticky_comment_is_posted_then_edited_in_place() {
    let (run, instances) = example_run();
    let mut state = serving(run, &instances);
    with_base_branch(&mut state, false);
    let (currents, github) = fakes(state).await;
    // Someone else's comment is left alone.
    github
        .state
        .lock()
        .unwrap()
        .comments
        .push((1, 7, "LGTM".into()));
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.on_pull_request_into_main();
    workflow.unset("CURRENTS_COMMENT"); // the default: failures
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    let posted = comments(&github);
    assert_eq!(posted.len(), 2, "{posted:?}");
    let (id, number, body) = &posted[1];
    assert_eq!(*number, 7, "the event's pull request");
    assert!(body.starts_with("<!-- currents-bridge:comment:"), "{body}");
    assert!(body.contains("Currents: 2 failed (1 new), 1 flaky, 9 passed, 1 skipped"));
    assert!(
        body.contains("**1 new**, 1 known, 0 flaky, 0 quarantined; 1 fixed"),
        "{body}"
    );
    let first_failure = body.lines().find(|l| l.starts_with("| 🆕")).unwrap();
    assert!(
        first_failure.starts_with(
            "| 🆕 New | **tests/checkout.spec.ts › checkout › applies a 10% coupon** · `Error:"
        ),
        "{first_failure}"
    );
    assert!(
        body.contains("[The check run](https://github.test/"),
        "links to the check"
    );
    assert_eq!(
        out.output("comment-id").as_deref(),
        Some(id.to_string().as_str())
    );
    assert!(
        out.output("comment-url")
            .unwrap()
            .contains("#issuecomment-")
    );

    // The next run edits the same comment; a green run too, once the comment exists.
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.on_pull_request_into_main();
    workflow.unset("CURRENTS_COMMENT");
    workflow.set("CURRENTS_COMPARE_BRANCH", "off");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0));
    let after = comments(&github);
    assert_eq!(after.len(), 2, "never a second comment");
    assert_eq!(after[1].0, *id);
    assert!(!after[1].2.contains("new**"), "the body was replaced");
    assert!(github.rejected().is_empty(), "{:?}", github.rejected());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_green_run_posts_no_comment_by_default_and_always_does() {
    let (mut run, instances) = example_run();
    run["data"]["status"] = serde_json::json!("PASSED");
    for group in run["data"]["groups"].as_array_mut().unwrap() {
        group["tests"]["failures"] = serde_json::json!(0);
    }
    for spec in run["data"]["specs"].as_array_mut().unwrap() {
        spec["results"]["stats"]["failures"] = serde_json::json!(0);
        spec["results"]["stats"]["flaky"] = serde_json::json!(0);
        spec["results"]["flaky"] = serde_json::json!(0);
    }
    let (currents, github) = fakes(serving(run, &instances)).await;
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.unset("CURRENTS_COMMENT");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(
        comments(&github).is_empty(),
        "nothing failed, no comment yet"
    );
    assert_eq!(out.output("comment-id").as_deref(), Some(""));

    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.set("CURRENTS_COMMENT", "always");
    // Not from the event: the commit's open pull request.
    workflow.set("GITHUB_EVENT_NAME", "push");
    github
        .state
        .lock()
        .unwrap()
        .pulls
        .insert("merge000000000000000000000000000000000002".into(), vec![31]);
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    let posted = comments(&github);
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].1, 31);
    assert!(posted[0].2.contains("No test failed."));

    // pr-number overrides both the event and the commit's pull requests.
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.set("CURRENTS_COMMENT", "always");
    workflow.set("CURRENTS_PR_NUMBER", "99");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    let posted = comments(&github);
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[1].1, 99);
    let mut bad = Workflow::new(&currents, Some(&github));
    bad.set("CURRENTS_PR_NUMBER", "seven");
    assert_eq!(bad.run(&["report"]).await.code, Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_racing_second_comment_is_folded_into_the_first() {
    let (run, instances) = example_run();
    let (currents, github) = fakes(serving(run, &instances)).await;
    let marker_body = {
        let mut workflow = Workflow::new(&currents, Some(&github));
        workflow.set("CURRENTS_COMMENT", "always");
        let out = workflow.run(&["report"]).await;
        assert_eq!(out.code, Some(0));
        comments(&github)[0].2.clone()
    };
    // Two comments with the marker now, both the workflow's (as after a race): the next run
    // keeps the oldest.
    {
        let mut state = github.state.lock().unwrap();
        state.comments.push((99_999, 7, marker_body));
        state.authors.insert(99_999, ACTIONS_LOGIN.into());
    }
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.set("CURRENTS_COMMENT", "always");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0));
    let left: Vec<u64> = comments(&github).iter().map(|c| c.0).collect();
    assert_eq!(
        left.len(),
        1,
        "the oldest is kept, the other deleted: {left:?}"
    );
    assert!(left[0] < 99_999);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_marker_comment_by_another_user_is_neither_edited_nor_deleted() {
    let (run, instances) = example_run();
    let (currents, github) = fakes(serving(run, &instances)).await;
    // The marker is public: anyone can write a comment that starts with it.
    let marker = currents_bridge::github::marker("Currents", "Xk9Pq2");
    let forged = format!("{marker}\nLooks like the bot, isn't");
    for (id, forged) in [(10, forged.clone()), (11, forged.clone())] {
        let mut state = github.state.lock().unwrap();
        state.comments.push((id, 7, forged));
        state.authors.insert(id, "mallory".into());
    }
    for _ in 0..2 {
        let mut workflow = Workflow::new(&currents, Some(&github));
        workflow.set("CURRENTS_COMMENT", "always");
        let out = workflow.run(&["report"]).await;
        assert_eq!(out.code, Some(0), "{out:#?}");
    }
    let left = comments(&github);
    assert_eq!(left.len(), 3, "ours beside theirs, once: {left:?}");
    assert_eq!((left[0].0, left[1].0), (10, 11));
    assert!(
        left[0].2 == forged && left[1].2 == forged,
        "theirs untouched"
    );
    assert!(left[2].2.contains("Currents: 2 failed"));
    assert!(github.rejected().is_empty(), "{:?}", github.rejected());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_pull_requests_write_the_comment_is_a_warning_and_the_step_goes_on() {
    let (run, instances) = example_run();
    let (currents, github) = fakes(serving(run, &instances)).await;
    github.state.lock().unwrap().refuse_comments_with = Some(403);
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.set("CURRENTS_COMMENT", "always");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(
        out.stdout.contains("::warning::Cannot post the pull request comment: GitHub GET /repos/{owner}/{repo}/issues/{number}/comments answered HTTP 403")
            && out.stdout.contains("add `permissions: pull-requests: write` to the job, or set comment: off"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Published check run"));
    out.assert_no_secrets();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_report_steps_racing_leave_one_comment() {
    let (run, instances) = example_run();
    let (currents, github) = fakes(serving(run, &instances)).await;
    github.state.lock().unwrap().latency = std::time::Duration::from_millis(20);
    for round in 0..3 {
        let mut a = Workflow::new(&currents, Some(&github));
        a.set("CURRENTS_COMMENT", "always");
        let mut b = Workflow::new(&currents, Some(&github));
        b.set("CURRENTS_COMMENT", "always");
        let (out_a, out_b) = tokio::join!(a.run(&["report"]), b.run(&["report"]));
        assert_eq!((out_a.code, out_b.code), (Some(0), Some(0)));
        let left = comments(&github);
        assert_eq!(
            left.len(),
            1,
            "round {round}: {:?}",
            left.iter().map(|c| c.0).collect::<Vec<_>>()
        );
    }
}
