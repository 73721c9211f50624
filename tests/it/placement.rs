//! Where the check lands (`--check-mode`): the report in the job's own check run, a named check
//! run with the conclusion, or both; and the fallback where no job check run id exists (GHES).

use serde_json::Value;

use crate::support::*;

const JOB_CHECK: u64 = 900;

/// Runs `report` on the example with `mode`, and the job's check run id when `job_check`.
async fn report_with(mode: &str, job_check: bool, fail_on_failures: bool) -> (Outcome, FakeGithub) {
    let (run, instances) = example_run();
    let currents = FakeCurrents::start(serving(run, &instances)).await;
    let github = FakeGithub::start(GithubState::with_job_check(JOB_CHECK)).await;
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.set("CURRENTS_CHECK_MODE", mode);
    if job_check {
        workflow.set("CURRENTS_JOB_CHECK_RUN_ID", &JOB_CHECK.to_string());
    }
    if fail_on_failures {
        workflow.set("CURRENTS_FAIL_ON_TEST_FAILURES", "true");
    }
    let out = workflow.run(&["report"]).await;
    assert!(github.rejected().is_empty(), "{:?}", github.rejected());
    out.assert_no_secrets();
    (out, github)
}

fn creates(github: &FakeGithub) -> Vec<Value> {
    github
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(Recorded::json)
        .collect()
}

fn job_check_updates(github: &FakeGithub) -> Vec<Value> {
    github
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with(&format!("/check-runs/{JOB_CHECK}")))
        .map(Recorded::json)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn both_puts_the_report_in_the_jobs_check_and_the_conclusion_in_the_named_one() {
    let (out, github) = report_with("both", true, false).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    let updates = job_check_updates(&github);
    assert_eq!(updates.len(), 1, "{:?}", github.requests());
    let update = &updates[0];
    assert!(update.get("status").is_none() && update.get("conclusion").is_none());
    assert!(
        update["output"]["summary"]
            .as_str()
            .unwrap()
            .contains("Failed tests")
    );
    assert_eq!(update["output"]["annotations"].as_array().unwrap().len(), 3);
    let created = creates(&github);
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["name"], "Currents");
    assert_eq!(created[0]["conclusion"], "failure");
    let summary = created[0]["output"]["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!(
            "(https://github.test/acme/webapp/runs/{JOB_CHECK})"
        )),
        "{summary}"
    );
    assert!(
        created[0]["output"]["annotations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The outputs name the named check, which carries the conclusion.
    assert_eq!(out.output("check-run-id").as_deref(), Some("1"));
    assert!(
        out.stdout.contains("set fail-on-test-failures"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn job_mode_writes_only_the_jobs_check_and_the_exit_code_decides() {
    let (out, github) = report_with("job", true, true).await;
    assert_eq!(
        out.code,
        Some(1),
        "tests failed, and only the exit code can say so"
    );
    assert!(creates(&github).is_empty(), "no named check");
    assert_eq!(job_check_updates(&github).len(), 1);
    assert_eq!(
        out.output("check-run-id").as_deref(),
        Some(JOB_CHECK.to_string().as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn named_mode_ignores_the_jobs_check() {
    let (out, github) = report_with("named", true, false).await;
    assert_eq!(out.code, Some(0));
    assert!(job_check_updates(&github).is_empty());
    let created = creates(&github);
    assert_eq!(created.len(), 1);
    assert!(
        created[0]["output"]["summary"]
            .as_str()
            .unwrap()
            .contains("Failed tests")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_job_check_id_both_falls_back_to_named_with_a_notice() {
    let (out, github) = report_with("both", false, false).await;
    assert_eq!(out.code, Some(0));
    assert!(
        out.stdout.contains("::notice::No job check run id"),
        "{}",
        out.stdout
    );
    assert!(job_check_updates(&github).is_empty());
    let created = creates(&github);
    assert_eq!(created.len(), 1);
    assert!(
        created[0]["output"]["summary"]
            .as_str()
            .unwrap()
            .contains("Failed tests")
    );
}

#[tokio::test]
async fn an_unknown_check_mode_is_a_usage_error() {
    let currents = FakeCurrents::start(CurrentsState::default()).await;
    let mut workflow = Workflow::new(&currents, None);
    workflow.set("CURRENTS_CHECK_MODE", "everywhere");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("must be named, job or both"),
        "{}",
        out.stderr
    );
    assert!(currents.requests().is_empty());
}
