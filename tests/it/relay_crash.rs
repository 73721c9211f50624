//! Crash safety with the real binary: what the relay acknowledged survives SIGKILL.

use std::time::Duration;

use crate::support::relay_process::*;
use crate::support::*;
use serde_json::Value;

fn cancelled_run_ids(currents: &FakeCurrents) -> Vec<String> {
    currents
        .requests_to("/v1/runs/cancel-ci/github")
        .iter()
        .map(|r| r.json()["githubRunId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_cancels_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let currents = FakeCurrents::start(CurrentsState {
        cancel: Script::of([Reply::status(503)]),
        ..Default::default()
    })
    .await;
    let mut relay = start_relay_with(&db, &currents, &[]).await;
    let client = reqwest::Client::new();

    // 20 cancels, acknowledged while Currents is down.
    for run in 0..20u64 {
        let body = cancelled_job("acme/webapp", 5_000 + run, 1).to_string();
        let response = post_delivery(
            &client,
            &format!("{}/webhooks/github", relay.base),
            "workflow_job",
            &format!("crash-{run}"),
            body,
        )
        .await;
        let status = response.status();
        assert_eq!(
            status,
            202,
            "answer: {}\nrelay log:\n{}",
            response.text().await.unwrap_or_default(),
            relay_log(&db)
        );
    }
    // Wait until every job has failed against the 503 at least once, then kill without warning.
    wait_for(
        "the worker to try every job",
        Duration::from_secs(20),
        || {
            let mut ids = cancelled_run_ids(&currents);
            ids.sort();
            ids.dedup();
            ids.len() == 20
        },
    )
    .await;
    relay.child.start_kill().unwrap(); // SIGKILL
    relay.child.wait().await.unwrap();

    // Currents recovers; a new relay on the same database finishes the work.
    let before = currents.requests().len();
    {
        let mut state = currents.state.lock().unwrap();
        state.cancel = Script::of([Reply::ok(fixture("cancel-ci-github-200.json"))]);
    }
    let relay = start_relay_with(&db, &currents, &[]).await;
    let done = || relay.admin_jobs("?state=done");
    wait_until(
        "all 20 jobs to finish after the restart",
        Duration::from_secs(30),
        || async { done().await.len() == 20 },
    )
    .await;
    assert!(done().await.iter().all(|j| j["outcome"] == "cancelled"));
    let mut after: Vec<String> = currents.requests()[before..]
        .iter()
        .map(|r| r.json()["githubRunId"].as_str().unwrap().to_owned())
        .collect();
    after.sort();
    after.dedup();
    assert_eq!(after.len(), 20, "all 20 cancels arrived after the restart");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_carry_ids_but_no_secrets_or_bodies_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("relay.log");
    let currents = FakeCurrents::start(CurrentsState::default()).await;
    let mut relay = start_relay_with(
        &dir.path().join("relay.db"),
        &currents,
        &[("RELAY_LOG_FORMAT", "json"), ("CURRENTS_DRY_RUN", "true")],
    )
    .await;
    let event = cancelled_job("acme/webapp", 31337, 2);
    let head_sha = event["workflow_job"]["head_sha"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = event.to_string();
    let response = post_delivery(
        &reqwest::Client::new(),
        &format!("{}/webhooks/github", relay.base),
        "workflow_job",
        "log-delivery-1",
        body,
    )
    .await;
    assert_eq!(response.status(), 202);
    wait_for("the dry run to be logged", Duration::from_secs(10), || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("dry run: would cancel")
    })
    .await;
    let pid = relay.child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(10), relay.child.wait())
        .await
        .expect("stopped")
        .unwrap();
    assert_eq!(status.code(), Some(0), "a graceful stop exits 0");

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let queued = lines
        .iter()
        .find(|l| l["fields"]["message"] == "cancel queued")
        .expect("a queued line");
    assert_eq!(queued["span"]["delivery"], "log-delivery-1");
    assert_eq!(queued["span"]["event"], "workflow_job");
    assert_eq!(queued["fields"]["repository"], "acme/webapp");
    assert_eq!(queued["fields"]["run_id"], 31337);
    let cancel = lines
        .iter()
        .find(|l| {
            l["fields"]["message"] == "dry run: would cancel the Currents run of this workflow run"
        })
        .unwrap();
    assert_eq!(cancel["span"]["ci_build_id"], "acme/webapp-31337-2");
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "relay stopped")
    );
    for secret in [
        WEBHOOK_SECRET,
        CURRENTS_KEY,
        "crash-admin",
        head_sha.as_str(),
    ] {
        assert!(!text.contains(secret), "the log holds {secret:?}");
    }
}

/// Row 10 of the hardening review: replicas whose clocks disagree. Relay A runs an hour behind
/// (libfaketime), relay B on time, both on one Postgres database. A claims a cancel whose call
/// hangs for seconds; were leases taken from A's clock, B would find the lease an hour expired
/// and cancel a second time. Taken from the database's clock, B leaves it alone.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL at TEST_DATABASE_URL and faketime (Debian's faketime package)"]
async fn a_replica_with_a_slow_clock_keeps_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = crate::store::postgres_url().await;
    let mut state = CurrentsState {
        cancel: Script::of([Reply::ok(fixture("cancel-ci-github-200.json"))]),
        ..Default::default()
    };
    // Long enough for B to poll a hundred times while A's call is in flight.
    state.latency = Duration::from_secs(6);
    let currents = FakeCurrents::start(state).await;
    // libfaketime preloaded into the relay itself (not the `faketime` wrapper, whose child
    // would outlive the test): its wall clock an hour behind, its monotonic clock true.
    let library = ["x86_64-linux-gnu", "aarch64-linux-gnu"]
        .iter()
        .map(|triplet| format!("/usr/lib/{triplet}/faketime/libfaketime.so.1"))
        .find(|path| std::path::Path::new(path).exists())
        .expect("libfaketime (Debian's faketime package) is installed");
    let env = [("DATABASE_URL", database_url.as_str())];
    let slow_env = [
        env[0],
        ("LD_PRELOAD", library.as_str()),
        ("FAKETIME", "-1h"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ];
    let slow = start_relay_with(&dir.path().join("a.db"), &currents, &slow_env).await;
    let client = reqwest::Client::new();
    let body = cancelled_job("acme/webapp", 8_800, 1).to_string();
    let answer = post_delivery(
        &client,
        &format!("{}/webhooks/github", slow.base),
        "workflow_job",
        "skew-1",
        body,
    )
    .await;
    assert_eq!(answer.status(), 202);
    // A has claimed the job once its call reaches Currents (answered 6 s later).
    wait_for(
        "A's cancel to reach Currents",
        Duration::from_secs(20),
        || !currents.requests_to("/v1/runs/cancel-ci/github").is_empty(),
    )
    .await;
    let on_time = start_relay_with(&dir.path().join("b.db"), &currents, &env).await;
    // The wrapper works: A's log is stamped an hour behind B's.
    let stamp = |log: String| {
        let first = log.split_whitespace().next().unwrap_or_default().to_owned();
        humantime::parse_rfc3339_weak(first.trim_end_matches('Z'))
            .unwrap_or_else(|e| panic!("{first}: {e}"))
    };
    let behind = stamp(on_time.log_text())
        .duration_since(stamp(slow.log_text()))
        .unwrap_or_default();
    assert!(
        behind >= Duration::from_secs(55 * 60),
        "A is {behind:?} behind"
    );
    // What B must not do cannot be waited for, but its traces can: A's call takes 6 s, during
    // which B polls about a hundred times; had B taken the job, its call would be recorded by
    // the time the job is done.
    let done = || on_time.admin_jobs("?state=done");
    wait_until("the job to finish", Duration::from_secs(30), || async {
        done().await.len() == 1
    })
    .await;
    assert_eq!(
        currents.requests_to("/v1/runs/cancel-ci/github").len(),
        1,
        "the on-time replica took the slow one's job"
    );
    drop(slow);
}
