//! The action as users run it: `action.yml` parsed strictly and checked against the binary,
//! and (with a Docker engine) the image started for each stage exactly as actions/runner
//! starts it. Names come from `action.yml` itself; see `support::action`.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use serde_json::Value;

use crate::support::action::{JOB_CHECK_RUN_ID, RunnerJob, Stage, action_metadata, api_key, with};
use crate::support::*;

/// Every `${{ inputs.NAME }}` in a value.
fn inputs_named(template: &str) -> Vec<String> {
    template
        .match_indices("${{")
        .filter_map(|(at, _)| {
            let rest = &template[at + 3..];
            let expression = rest[..rest.find("}}")?].trim();
            expression.strip_prefix("inputs.").map(str::to_owned)
        })
        .collect()
}

#[test]
fn action_yml_maps_every_input_and_declares_the_contracts_outputs() {
    let action = action_metadata("action.yml");
    assert!(!action.name.is_empty() && !action.description.is_empty());
    assert_eq!(action.runs.using, "docker");
    let image = action.runs.image.as_deref().unwrap_or_default();
    assert!(
        image == "Dockerfile" || image.starts_with("docker://"),
        "runs.image {image:?}"
    );
    // The pre stage must always run, so the post stage is registered at job start.
    assert_eq!(action.runs.pre_if, None);
    assert!(action.inputs["api-key"].required);
    let mut mapped: Vec<String> = action
        .runs
        .args
        .iter()
        .flat_map(|a| inputs_named(a))
        .collect();
    for (name, value) in &action.runs.env {
        let used = inputs_named(value);
        assert_eq!(
            used.len(),
            1,
            "runs.env.{name} should pass exactly one input, not {value:?}"
        );
        mapped.extend(used);
    }
    let declared: BTreeSet<&String> = action.inputs.keys().collect();
    let mapped_set: BTreeSet<&String> = mapped.iter().collect();
    assert_eq!(
        declared, mapped_set,
        "every input reaches the binary, through runs.args or runs.env"
    );
    assert_eq!(mapped.len(), mapped_set.len(), "an input is passed twice");
    for input in action.inputs.values() {
        assert!(!input.description.is_empty());
    }
    // DESIGN.md's report outputs, plus cancel's.
    for output in [
        "run-id",
        "run-url",
        "status",
        "completion-state",
        "tests",
        "passed",
        "failed",
        "flaky",
        "skipped",
        "pending",
        "check-run-id",
        "check-run-url",
        "cancelled",
        "outcome",
    ] {
        assert!(action.outputs.contains_key(output), "output {output}");
    }
}

/// Each variable `runs.env` sets is one the binary's `report` or `cancel` reads (clap shows
/// them in `--help` as `[env: NAME=…]`), so a renamed flag cannot silently drop an input.
#[tokio::test]
async fn every_variable_action_yml_sets_is_one_the_binary_reads() {
    let action = action_metadata("action.yml");
    let mut help = String::new();
    for command in ["report", "cancel"] {
        let output = tokio::process::Command::new(binary())
            .args([command, "--help"])
            .env_clear()
            .output()
            .await
            .unwrap();
        assert!(output.status.success());
        help.push_str(&String::from_utf8_lossy(&output.stdout));
    }
    for name in action.runs.env.keys() {
        assert!(
            help.contains(&format!("[env: {name}")),
            "action.yml sets {name}, which neither `report` nor `cancel` reads"
        );
    }
}

/// The pre and post entrypoints are the names the binary dispatches on, and they live where the
/// image puts the binary. Run here through links of those names; in the image below.
#[tokio::test(flavor = "multi_thread")]
async fn the_stage_entrypoints_are_names_the_binary_dispatches_on() {
    let action = action_metadata("action.yml");
    let runs = &action.runs;
    let main = runs.entrypoint.as_deref().unwrap();
    let pre = runs.pre_entrypoint.as_deref().unwrap();
    let post = runs.post_entrypoint.as_deref().unwrap();
    assert_eq!(runs.post_if.as_deref(), Some("cancelled()"));
    let dir = std::path::Path::new(main).parent().unwrap();
    for entrypoint in [pre, post] {
        assert_eq!(std::path::Path::new(entrypoint).parent(), Some(dir));
    }
    let currents = FakeCurrents::start(CurrentsState {
        cancel: Script::of([Reply::ok(fixture("cancel-ci-github-200.json"))]),
        ..Default::default()
    })
    .await;
    let workflow = Workflow::new(&currents, None);
    let link = |entrypoint: &str| {
        let name = std::path::Path::new(entrypoint).file_name().unwrap();
        let path = workflow.dir.path().join(name);
        std::os::unix::fs::symlink(binary(), &path).unwrap();
        path
    };
    let (pre, post) = (link(pre), link(post));
    let args: Vec<String> = runs
        .args
        .iter()
        .map(|a| action.evaluate(a, &with(&[])))
        .collect();
    let run = |program: std::path::PathBuf| {
        let mut command = workflow.command(&[]);
        command.as_std_mut().arg0(program).args(&args);
        command.output()
    };
    let pre_out = workflow.outcome(run(pre).await.unwrap());
    assert_eq!(pre_out.code, Some(0), "{pre_out:#?}");
    assert!(currents.requests().is_empty(), "the pre stage sent nothing");
    let post_out = workflow.outcome(run(post).await.unwrap());
    assert_eq!(post_out.code, Some(0), "{post_out:#?}");
    assert_eq!(currents.requests_to("/v1/runs/cancel-ci/github").len(), 1);
}

#[test]
fn the_install_action_is_a_composite_that_parses() {
    let install = action_metadata("install/action.yml");
    assert_eq!(install.runs.using, "composite");
    assert!(!install.runs.steps.is_empty());
    assert!(install.outputs.contains_key("path"));
}

// ---- the image, run as actions/runner runs it ------------------------------------------------

/// A container name unique to this test run.
fn container(stage: &str) -> String {
    format!(
        "currents-bridge-test-{stage}-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    )
}

async fn finished(command: &mut tokio::process::Command) -> Outcome {
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the container finished within 120 s")
        .expect("docker started");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        outputs: String::new(),
        summary: String::new(),
    }
}

fn inputs(currents: &FakeCurrents) -> std::collections::BTreeMap<String, String> {
    with(&[
        ("api-key", api_key()),
        ("project-id", "Xk9Pq2"),
        ("api-url", &currents.url()),
    ])
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Docker engine and CURRENTS_BRIDGE_IMAGE from scripts/build-image.sh"]
async fn image_pre_stage_exits_0_and_sends_nothing() {
    let currents = FakeCurrents::start(CurrentsState::default()).await;
    let github = FakeGithub::start(GithubState::default()).await;
    let job = RunnerJob::new(&github.url());
    let out =
        finished(&mut job.docker_run(Stage::Pre, &container("pre"), &inputs(&currents))).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(currents.requests().is_empty());
    assert!(github.requests().is_empty());
    assert_eq!(job.file_command("set_output"), "");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Docker engine and CURRENTS_BRIDGE_IMAGE from scripts/build-image.sh"]
async fn image_main_stage_publishes_the_check_outputs_and_summary() {
    let (run, instances) = example_run();
    let currents = FakeCurrents::start(serving(run, &instances)).await;
    // The runner gives the job's own check run id (`job.check_run_id`): the default
    // check-mode, both, writes the report there and the conclusion into a named check.
    let github = FakeGithub::start(GithubState::with_job_check(JOB_CHECK_RUN_ID)).await;
    let job = RunnerJob::new(&github.url());
    let out =
        finished(&mut job.docker_run(Stage::Main, &container("main"), &inputs(&currents))).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(github.rejected().is_empty(), "{:?}", github.rejected());
    let report = github
        .requests()
        .iter()
        .find(|r| {
            r.method == "PATCH" && r.path.ends_with(&format!("/check-runs/{JOB_CHECK_RUN_ID}"))
        })
        .map(Recorded::json)
        .expect("the report went into the job's check run");
    assert!(
        report["output"]["summary"]
            .as_str()
            .unwrap()
            .contains("Failed tests")
    );
    let creates: Vec<Value> = github
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/check-runs"))
        .map(Recorded::json)
        .collect();
    assert_eq!(creates.len(), 1, "{:?}", github.requests());
    assert_eq!(creates[0]["name"], "Currents");
    assert_eq!(
        creates[0]["head_sha"],
        "prhead0000000000000000000000000000000001"
    );
    assert_eq!(creates[0]["conclusion"], "failure");
    assert_eq!(job.output("check-run-id").as_deref(), Some("1"));
    assert_eq!(job.output("status").as_deref(), Some("FAILED"));
    // The default comment mode (failures) commented on the event's pull request.
    let comments = github.state.lock().unwrap().comments.clone();
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0].1, 7);
    assert_eq!(
        job.output("comment-id").as_deref(),
        Some(comments[0].0.to_string().as_str())
    );
    assert!(
        job.output("run-url")
            .is_some_and(|u| u.starts_with("https://"))
    );
    let summary = job.file_command("step_summary");
    assert!(summary.contains("Failed tests"), "{summary}");
    for text in [
        &out.stdout,
        &out.stderr,
        &summary,
        &job.file_command("set_output"),
    ] {
        assert!(!text.contains(api_key()) && !text.contains(GITHUB_TOKEN));
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Docker engine and CURRENTS_BRIDGE_IMAGE from scripts/build-image.sh"]
async fn image_main_stage_cancels_on_sigint_and_exits_130_in_time() {
    let currents = FakeCurrents::start(CurrentsState {
        find: Script::of([Reply::ok(fixture("run-playwright-in-progress.json"))]),
        cancel: Script::of([Reply::ok(fixture("cancel-200.json"))]),
        ..Default::default()
    })
    .await;
    let github = FakeGithub::start(GithubState::default()).await;
    let job = RunnerJob::new(&github.url());
    let name = container("main-sigint");
    let child = job
        .docker_run(Stage::Main, &name, &inputs(&currents))
        .spawn()
        .unwrap();
    wait_for(
        "the first poll of Currents",
        Duration::from_secs(60),
        || !currents.requests_to("/v1/runs/find").is_empty(),
    )
    .await;
    let kill = tokio::process::Command::new("docker")
        .args(["kill", "--signal", "INT", &name])
        .output()
        .await
        .unwrap();
    assert!(kill.status.success(), "{kill:?}");
    // The runner sends SIGTERM 7.5 s after SIGINT: everything must be done before it.
    let output = tokio::time::timeout(Duration::from_millis(7_500), child.wait_with_output())
        .await
        .expect("the container stopped within the 7.5 s the runner allows after SIGINT")
        .unwrap();
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    assert_eq!(
        currents
            .requests_to("/v1/runs/a1b2c3d4e5f60718/cancel")
            .len(),
        1,
        "{:?}",
        currents.requests()
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Docker engine and CURRENTS_BRIDGE_IMAGE from scripts/build-image.sh"]
async fn image_post_stage_cancels_and_exits_0() {
    let currents = FakeCurrents::start(CurrentsState {
        cancel: Script::of([Reply::ok(fixture("cancel-ci-github-200.json"))]),
        ..Default::default()
    })
    .await;
    let github = FakeGithub::start(GithubState::default()).await;
    let job = RunnerJob::new(&github.url());
    let out =
        finished(&mut job.docker_run(Stage::Post, &container("post"), &inputs(&currents))).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    let cancels = currents.requests_to("/v1/runs/cancel-ci/github");
    assert_eq!(cancels.len(), 1, "{:?}", currents.requests());
    assert_eq!(cancels[0].json()["githubRunId"], "9876543210");
    assert_eq!(job.output("outcome").as_deref(), Some("cancelled"));
    assert!(github.requests().is_empty());
}
