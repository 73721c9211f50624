//! Benchmark: App mode, from a Currents `RUN_FINISH` webhook to the completed check run, with
//! latency injected into every GitHub and Currents request, on the 400-spec run with 100
//! failed specs of `bench/report.sh`. Prints the median time next to the lower bound for that
//! latency. Run it with `bench/app.sh`.
//!
//! The lower bound counts the round trips that must happen one after another once the webhook
//! is stored: the run, the failed specs' instances in rounds of the fetch concurrency, the
//! annotations in batches of 50, and the completion. The `RUN_START` before it made the check
//! run and cached the installation token, as it does in use.
// A benchmark reports on stdout.
#![allow(clippy::print_stdout)]

// The integration tests' fakes; a bench uses only some of them.
#[allow(dead_code, unused_imports)]
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use support::relay_process::start_relay_with;
use support::*;

const LATENCY: Duration = Duration::from_millis(50);
const SPECS: usize = 400;
const FAILED_SPECS: usize = 100;
/// The relay's fetch concurrency (`relay/checks.rs`).
const CONCURRENCY: usize = 8;
const RUNS: usize = 7;
const TARGET_RATIO: f64 = 1.2;
const SECRET: &str = "bench-currents-secret";
const SHA: &str = "3f9c2a7e5b1d4c8e9a0f6b2d7c1e8a4b5d6f7a8b";

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let (run, instances) = synthetic_run(SPECS, FAILED_SPECS, 1, "bench");
    let mut state = serving(run.clone(), &instances);
    let run_ids: Vec<String> = (0..RUNS).map(|n| format!("b{n:015}")).collect();
    for id in &run_ids {
        let mut in_progress = run.clone();
        in_progress["data"]["completionState"] = json!("IN_PROGRESS");
        state.runs.insert(
            id.clone(),
            Script::of([Reply::ok(in_progress), Reply::ok(run.clone())]),
        );
    }
    state.latency = LATENCY;
    let currents = FakeCurrents::start(state).await;
    let mut app_state = GithubState::installed_on(&["acme/webapp"]);
    app_state.latency = LATENCY;
    let github = FakeGithub::start(app_state).await;
    let dir = tempfile::tempdir().unwrap();
    let url = github.url();
    let relay = start_relay_with(
        &dir.path().join("relay.db"),
        &currents,
        &[
            ("GITHUB_APP_ID", "31337"),
            ("GITHUB_APP_PRIVATE_KEY", app_keys().0.as_str()),
            ("GITHUB_API_URL", url.as_str()),
            ("CURRENTS_WEBHOOK_SECRET", SECRET),
            ("CURRENTS_PROJECTS", "Xk9Pq2=acme/webapp"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("RELAY_CATCHUP_INTERVAL", "0"),
            ("RELAY_RECONCILE_INTERVAL", "0"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let post = |id: &str, event: &str| {
        let body = json!({
            "event": event, "runUrl": format!("https://app.currents.dev/run/{id}"),
            "buildId": "acme/webapp-1-1", "tags": [],
            "commit": {"sha": SHA, "branch": "main", "remoteOrigin": "https://127.0.0.1/acme/webapp"},
        });
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        client
            .post(format!("{}/webhooks/currents", relay.base))
            .header("content-type", "application/json")
            .header("x-currents-bridge-secret", SECRET)
            .header("x-timestamp", now.to_string())
            .body(body.to_string())
            .send()
    };
    let check_of = |n: usize| {
        github
            .checks()
            .into_iter()
            .find(|c| c.external_id.as_deref() == Some(run_ids[n].as_str()))
    };

    let annotations = FAILED_SPECS; // one failed test per failed spec
    let round_trips = 1 + FAILED_SPECS.div_ceil(CONCURRENCY) + annotations.div_ceil(50) + 1;
    let lower_bound = LATENCY * round_trips as u32;
    let mut walls = Vec::new();
    for (n, id) in run_ids.iter().enumerate() {
        assert_eq!(post(id, "RUN_START").await.unwrap().status(), 202);
        wait_for("the in-progress check", Duration::from_secs(30), || {
            check_of(n).is_some()
        })
        .await;
        let started = Instant::now();
        assert_eq!(post(id, "RUN_FINISH").await.unwrap().status(), 202);
        let deadline = started + Duration::from_secs(60);
        while check_of(n).is_none_or(|c| c.status != "completed") {
            assert!(Instant::now() < deadline, "the check did not complete");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        walls.push(started.elapsed());
        let check = check_of(n).unwrap();
        assert_eq!(check.annotations.len(), annotations);
        assert!(github.rejected().is_empty(), "{:?}", github.rejected());
    }
    walls.sort();
    let median = walls[RUNS / 2];
    let ratio = median.as_secs_f64() / lower_bound.as_secs_f64();
    println!(
        "app benchmark: RUN_FINISH to completed check, {SPECS} specs, {FAILED_SPECS} failed, {} ms per request, concurrency {CONCURRENCY}, {RUNS} runs",
        LATENCY.as_millis()
    );
    println!(
        "  lower bound   {:>7.0} ms  ({round_trips} sequential round trips)",
        lower_bound.as_secs_f64() * 1000.0
    );
    println!(
        "  wall median   {:>7.0} ms  (min {:.0} ms, max {:.0} ms)",
        ms(median),
        ms(walls[0]),
        ms(walls[RUNS - 1])
    );
    println!("  ratio         {ratio:>7.2}x  (target <= {TARGET_RATIO}x)");
    println!(
        "  {}",
        if ratio <= TARGET_RATIO {
            "PASS"
        } else {
            "MISS"
        }
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
