//! Buttons on App mode's checks, end to end: the relay as a GitHub App completes the check of
//! a run with a flaky failure, then clicks arrive as GitHub sends them (`check_run` with
//! `requested_action`, signed) and become jobs that act once, only for people who may, and say
//! what they did on the check and in the comment.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::app_mode::*;
use crate::support::relay_process::RelayProcess;
use crate::support::*;

/// The workflow run of the example's ciBuildId (`acme/webapp-9876543210-1`).
const WORKFLOW_RUN: u64 = 9_876_543_210;

struct Bench {
    _dir: tempfile::TempDir,
    currents: FakeCurrents,
    github: FakeGithub,
    relay: RelayProcess,
    check: u64,
}

/// The relay completes the check of a run with one failure of each verdict, on pull request
/// 42: `alice` may write to the repository, `mallory` may read.
async fn completed(adjust: impl FnOnce(&mut CurrentsState, &mut GithubState)) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let mut currents = four_verdicts_of(RUN_ID);
    let mut github = on_pull_42();
    github.roles.insert("alice".into(), "write".into());
    github.roles.insert("bob".into(), "maintain".into());
    github.roles.insert("mallory".into(), "read".into());
    github
        .workflow_runs
        .insert(WORKFLOW_RUN, FakeWorkflowRun::failed(SHA));
    adjust(&mut currents, &mut github);
    let currents = FakeCurrents::start(currents).await;
    let github = FakeGithub::start(github).await;
    let env = [("CURRENTS_COMMENT", "always")];
    let relay = start_app_relay(&dir.path().join("relay.db"), &currents, &github, &env).await;
    send_and_wait(&relay, &github, "RUN_FINISH").await;
    wait_for("the comment", Duration::from_secs(20), || {
        !github.state.lock().unwrap().comments.is_empty()
    })
    .await;
    let check = github.checks()[0].id;
    Bench {
        _dir: dir,
        currents,
        github,
        relay,
        check,
    }
}

impl Bench {
    fn buttons(&self) -> Vec<String> {
        self.github.checks()[0]
            .buttons
            .iter()
            .map(|b| b["identifier"].as_str().unwrap().to_owned())
            .collect()
    }

    fn summary(&self) -> String {
        self.github.checks()[0].summary.clone().unwrap_or_default()
    }

    fn comment(&self) -> String {
        self.github.state.lock().unwrap().comments[0].2.clone()
    }

    /// `sender` clicks `button` (delivery `delivery`); the answer's status.
    async fn click_as(&self, delivery: &str, button: &str, sender: &str, event: Value) -> u16 {
        let _ = (button, sender);
        post_delivery(
            &reqwest::Client::new(),
            &format!("{}/webhooks/github", self.relay.base),
            "check_run",
            delivery,
            event.to_string(),
        )
        .await
        .status()
        .as_u16()
    }

    /// `sender` clicks `button`, and every job ends.
    async fn click(&self, delivery: &str, button: &str, sender: &str) -> u16 {
        let event = click_event(self.check, button, sender);
        let status = self.click_as(delivery, button, sender, event).await;
        self.settled().await;
        status
    }

    async fn settled(&self) {
        wait_until("every job to end", Duration::from_secs(30), || async {
            self.relay
                .admin_jobs("")
                .await
                .iter()
                .all(|j| j["state"] != "pending" && j["state"] != "running")
        })
        .await;
    }

    async fn click_outcomes(&self) -> Vec<String> {
        self.relay
            .admin_jobs("")
            .await
            .iter()
            .filter(|j| j["kind"] == "click")
            .map(|j| j["outcome"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    fn created_rules(&self) -> Vec<Value> {
        self.currents.state.lock().unwrap().history.created.clone()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_completed_check_offers_what_helps_and_the_step_offers_nothing() {
    let bench = completed(|_, _| {}).await;
    assert_eq!(bench.buttons(), ["rerun-failed", "quarantine"]);
    // Without `actions: write` the App cannot re-run: no such button, and the log says why.
    let without = completed(|_, github| {
        github.permissions.insert("actions".into(), "read".into());
    })
    .await;
    assert_eq!(without.buttons(), ["quarantine"]);
    wait_for("the startup line", Duration::from_secs(10), || {
        without
            .relay
            .log_text()
            .contains("lacks actions: write, so the Re-run failed button is not offered there")
    })
    .await;
    // The report step's checks (a workflow's token) never carry buttons: GitHub would send
    // their clicks to GitHub Actions.
    let step = FakeGithub::start(GithubState::default()).await;
    let mut workflow = Workflow::new(&bench.currents, Some(&step));
    workflow.set("CURRENTS_CHECK_SHA", SHA);
    workflow.set("CURRENTS_COMPARE_BRANCH", "main");
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(
        step.requests()
            .iter()
            .all(|r| r.json().get("actions").is_none())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn quarantine_flaky_makes_one_rule_for_exactly_the_flaky_tests() {
    let bench = completed(|_, _| {}).await;
    assert_eq!(bench.click("d-1", "quarantine", "alice").await, 202);
    let rules = bench.created_rules();
    assert_eq!(rules.len(), 1, "{rules:#?}");
    let rule = &rules[0];
    assert_eq!(rule["action"], json!([{"op": "quarantine"}]));
    assert_eq!(
        rule["matcher"],
        json!({"op": "OR", "cond": [{"type": "testId", "op": "eq", "value": "inst000000000002-t0"}]}),
        "the flaky failure only: never the new one"
    );
    let name = rule["name"].as_str().unwrap();
    assert!(
        name.contains("acme/webapp#42") && name.contains(&format!("[cb {}]", bench.check)),
        "{name}"
    );
    assert!(
        rule["description"].as_str().unwrap().contains("by alice"),
        "{rule}"
    );
    let until =
        humantime::parse_rfc3339_weak(rule["expiresAfter"].as_str().unwrap().trim_end_matches('Z'))
            .unwrap();
    let week = until.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(
        week > Duration::from_secs(7 * 86_400 - 600) && week <= Duration::from_secs(7 * 86_400)
    );

    assert_eq!(bench.buttons(), ["rerun-failed", "unquarantine"]);
    let summary = bench.summary();
    assert!(summary.starts_with("<!-- currents-bridge:taken -->\n**From this check**\n\n- 🛡️ Quarantined 1 test for 7 days by @\u{200d}alice, "), "{summary}");
    assert!(
        summary.contains("4 failed (1 new)"),
        "the report stays below: {summary}"
    );
    let comment = bench.comment();
    assert!(
        comment.starts_with("<!-- currents-bridge:comment:"),
        "{comment}"
    );
    assert!(
        comment.contains("🛡️ Quarantined 1 test for 7 days by @\u{200d}alice"),
        "{comment}"
    );

    // A double click (its job already ran), a redelivery, another maintainer: still one rule.
    assert_eq!(bench.click("d-2", "quarantine", "alice").await, 200);
    assert_eq!(
        bench.click("d-1", "quarantine", "alice").await,
        200,
        "a redelivery"
    );
    assert_eq!(bench.click("d-3", "quarantine", "bob").await, 202);
    assert_eq!(bench.created_rules().len(), 1);
    assert_eq!(bench.summary().matches("Quarantined 1 test").count(), 1);
    assert!(
        bench
            .click_outcomes()
            .await
            .iter()
            .all(|o| o == "click-done")
    );

    // Undo: the rule is disabled, and no button is left but the re-run.
    bench.click("d-4", "unquarantine", "bob").await;
    let actions = bench.currents.state.lock().unwrap().history.actions.clone();
    let made = actions.iter().find(|a| a["name"] == rule["name"]).unwrap();
    assert_eq!(made["status"], "disabled");
    assert!(
        bench
            .summary()
            .contains("↩️ Quarantine undone by @\u{200d}bob")
    );
    assert_eq!(bench.buttons(), ["rerun-failed"]);
    assert!(
        bench.github.rejected().is_empty(),
        "{:?}",
        bench.github.rejected()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rerun_failed_reruns_the_workflow_once() {
    let bench = completed(|_, _| {}).await;
    bench.click("d-1", "rerun-failed", "alice").await;
    assert_eq!(bench.github.state.lock().unwrap().reruns, [WORKFLOW_RUN]);
    assert!(
        bench
            .summary()
            .contains("🔁 Re-ran the failed jobs by @\u{200d}alice"),
        "{}",
        bench.summary()
    );
    assert!(bench.summary().contains(": attempt 2"));
    assert_eq!(bench.buttons(), ["quarantine"]);
    // Clicked again by someone else, and the same person once more: no second re-run.
    bench.click("d-2", "rerun-failed", "bob").await;
    bench.click("d-3", "rerun-failed", "alice").await;
    assert_eq!(bench.github.state.lock().unwrap().reruns, [WORKFLOW_RUN]);
    assert!(bench.comment().contains("🔁 Re-ran the failed jobs"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_is_refused_and_the_check_says_why() {
    let bench = completed(|_, _| {}).await;
    bench.click("d-1", "quarantine", "mallory").await;
    bench.click("d-2", "rerun-failed", "stranger").await;
    assert!(bench.created_rules().is_empty());
    assert!(bench.github.state.lock().unwrap().reruns.is_empty());
    let summary = bench.summary();
    assert!(
        summary.contains("⛔ Quarantine flaky refused for @\u{200d}mallory"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "needs write, maintain or admin access to the repository; the account has read"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("the account has none"),
        "an unknown user: {summary}"
    );
    assert_eq!(
        bench.buttons(),
        ["rerun-failed", "quarantine"],
        "still there for someone who may"
    );
    assert_eq!(
        bench.click_outcomes().await,
        ["click-refused", "click-refused"]
    );
    // One who may, afterwards: it acts.
    bench.click("d-3", "quarantine", "alice").await;
    assert_eq!(bench.created_rules().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn clicks_on_other_checks_or_unsigned_do_nothing() {
    let bench = completed(|_, _| {}).await;
    // Another App's check: acknowledged, nothing queued.
    let mut other = click_event(bench.check, "quarantine", "alice");
    other["check_run"]["app"]["id"] = json!(4242);
    assert_eq!(
        bench.click_as("d-1", "quarantine", "alice", other).await,
        200
    );
    // A check run this relay never made, with our App's id in the payload.
    assert_eq!(
        bench
            .click_as(
                "d-2",
                "quarantine",
                "alice",
                click_event(999_999, "quarantine", "alice")
            )
            .await,
        202
    );
    bench.settled().await;
    assert_eq!(bench.click_outcomes().await, ["not-ours"]);
    // A forged signature.
    let forged = reqwest::Client::new()
        .post(format!("{}/webhooks/github", bench.relay.base))
        .header("content-type", "application/json")
        .header("x-github-event", "check_run")
        .header("x-github-delivery", "d-3")
        .header("x-hub-signature-256", "sha256=00")
        .body(click_event(bench.check, "quarantine", "alice").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    bench.settled().await;
    assert!(bench.created_rules().is_empty());
    assert_eq!(bench.click_outcomes().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_from_currents_and_github_are_said_on_the_check() {
    let bench = completed(|currents, github| {
        currents
            .history
            .refuse
            .insert("actions-write", Reply::status(403));
        github.refuse_reruns_with = Some(403);
    })
    .await;
    bench.click("d-1", "quarantine", "alice").await;
    bench.click("d-2", "rerun-failed", "alice").await;
    let summary = bench.summary();
    assert!(
        summary.contains("⚠️ Quarantine flaky by @\u{200d}alice failed")
            && summary.contains("Currents refused to make the rule")
            && summary.contains("the project's API key needs Read \\& Write access"),
        "{summary}"
    );
    assert!(
        summary.contains("⚠️ Re-run failed by @\u{200d}alice failed"),
        "{summary}"
    );
    assert!(
        summary.contains("Actions: write"),
        "what the App needs: {summary}"
    );
    assert!(
        bench.buttons().is_empty(),
        "neither is offered again: {:?}",
        bench.buttons()
    );
    assert_eq!(
        bench.click_outcomes().await,
        ["click-failed", "click-failed"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rule_an_interrupted_attempt_made_is_adopted_not_made_again() {
    // The first check run the fake makes is check run 1: an earlier attempt's rule for it is
    // on Currents already (its answer never came back; its test ids are not this run's, so
    // the triage at completion did not see it apply).
    let bench = completed(|currents, _| {
        currents.history.actions.push(json!({
            "actionId": "0123456789abcdef01234567", "name": "Quarantine flaky: acme/webapp#42 [cb 1]",
            "status": "active", "action": [{"op": "quarantine"}],
            "matcher": {"op": "OR", "cond": [{"type": "testId", "op": "eq", "value": "another-test"}]}
        }));
    })
    .await;
    assert_eq!(bench.check, 1);
    bench.click("d-1", "quarantine", "alice").await;
    assert!(
        bench.created_rules().is_empty(),
        "{:?}",
        bench.created_rules()
    );
    assert!(
        bench
            .summary()
            .contains("rule `0123456789abcdef01234567` on Currents"),
        "{}",
        bench.summary()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_new_attempt_links_back_to_the_check_it_reran() {
    let attempt_2 = "b2b2b2b2b2b2b2b2";
    let bench = completed(|currents, _| {
        // Attempt 2 of the same workflow run, recorded as a new Currents run.
        let mut second = four_verdicts_of(attempt_2);
        let mut run = second.find.0.pop_front().unwrap().body;
        run["data"]["meta"]["ciBuildId"] = json!("acme/webapp-9876543210-2");
        currents
            .runs
            .insert(attempt_2.into(), Script::of([Reply::ok(run)]));
        currents.instances.extend(second.instances.drain());
        let first = currents.runs[RUN_ID].0.front().unwrap().clone();
        currents
            .finds
            .insert("acme/webapp-9876543210-1".into(), Script::of([first]));
    })
    .await;
    bench.click("d-1", "rerun-failed", "alice").await;
    let mut finish = currents_event("RUN_FINISH", None, REPO);
    finish["runUrl"] = json!(format!("https://app.currents.dev/run/{attempt_2}"));
    let (status, text) = post_currents(&bench.relay, &finish).await;
    assert_eq!(status, 202, "{text}");
    wait_for("the second check", Duration::from_secs(20), || {
        bench
            .github
            .checks()
            .get(1)
            .is_some_and(|c| c.status == "completed")
    })
    .await;
    let summary = bench.github.checks()[1].summary.clone().unwrap();
    assert!(
        summary.contains(&format!(
            "· [its check](https://github.com/acme/webapp/runs/{})",
            bench.check
        )),
        "{summary}"
    );
}
