//! Benchmark: `report` against the fake servers with latency injected into every request, on a
//! run of 400 specs of which 100 failed. Prints the wall time next to the lower bound for that
//! latency, and the binary's peak RSS. Run it with `bench/report.sh`.
//!
//! The lower bound counts the round trips that must happen one after another: the find, the
//! instance fetches in rounds of `--fetch-concurrency`, the check-run create, and one update per
//! further 50 annotations.
//!
//! A second measure compares the run with a base-branch run of 50 failing specs and triages its
//! failures with the base branch's history and the project's Actions. The base run's lookup
//! (the list, the base run, its instances in rounds), the Tests Explorer and the Actions run
//! while the run's own instances are fetched and need fewer rounds; each failed test's results
//! page is asked for as its instance arrives, so the history adds one round trip: the one of
//! the last instance's tests.
//!
//! A third posts the sticky comment on the pull request (a new one: list, create, one more list
//! to fold a duplicate). Those calls start once the check run exists and run beside its further
//! annotation batches, so the bound counts whichever of the two is longer.
// A benchmark reports on stdout, and asks the kernel for its children's peak RSS.
#![allow(clippy::print_stdout, unsafe_code)]

// The integration tests' fakes; a bench uses only some of them.
#[allow(dead_code, unused_imports)]
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::*;

const LATENCY: Duration = Duration::from_millis(50);
const SPECS: usize = 400;
const FAILED_SPECS: usize = 100;
const CONCURRENCY: usize = 8;
const RUNS: usize = 7;
const TARGET_RATIO: f64 = 1.3;
/// With triage, the step stays this close to its bound.
const TARGET_RATIO_WITH_TRIAGE: f64 = 1.15;
/// With the comment off the critical path, the step stays this close to its bound.
const TARGET_RATIO_WITH_COMMENT: f64 = 1.1;
/// A new sticky comment: the list (the author read beside it), the create, the fold's list.
const NEW_COMMENT_CALLS: usize = 3;
const TARGET_RSS_MB: f64 = 50.0;
const BASE_FAILED_SPECS: usize = 50;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    runtime.block_on(bench());
}

/// What a measure adds to the plain report.
#[derive(Clone, Copy, PartialEq)]
enum Scenario {
    Plain,
    /// Compared with a base-branch run, and triaged with its history and Actions.
    Compared,
    /// The sticky comment posted on the pull request.
    Comment,
}

async fn bench() {
    let mut ok = true;
    for scenario in [Scenario::Plain, Scenario::Compared, Scenario::Comment] {
        ok &= measure(scenario).await;
    }
    println!("  {}", if ok { "PASS" } else { "MISS" });
}

/// The run's base branch: the same shape with `BASE_FAILED_SPECS` failing, under other ids.
fn add_base_run(state: &mut CurrentsState) {
    let (mut run, instances) = synthetic_run(SPECS, BASE_FAILED_SPECS, 1, "bench");
    let base_id = "ba5eba5eba5eba5e";
    run["data"]["runId"] = serde_json::json!(base_id);
    for spec in run["data"]["specs"].as_array_mut().unwrap() {
        let id = spec["instanceId"].as_str().unwrap().to_owned();
        spec["instanceId"] = serde_json::json!(format!("base-{id}"));
    }
    for mut instance in instances {
        let id = instance["data"]["instanceId"].as_str().unwrap().to_owned();
        instance["data"]["instanceId"] = serde_json::json!(format!("base-{id}"));
        state
            .instances
            .insert(format!("base-{id}"), Script::of([Reply::ok(instance)]));
    }
    let mut item = run["data"].clone();
    item.as_object_mut().unwrap().remove("specs");
    state.runs_list = Script::of([Reply::ok(
        serde_json::json!({"status": "OK", "has_more": false, "data": [item]}),
    )]);
    state
        .runs
        .insert(base_id.into(), Script::of([Reply::ok(run)]));
    // The base branch's history of every failing test: 41 runs, two flaky.
    let mut rows = Vec::new();
    for n in 0..FAILED_SPECS {
        let spec = format!("tests/area{}/feature-{n}.spec.ts", n % 7);
        let title = [
            format!("feature {n} bench"),
            "case 0 «bench» handles input".to_owned(),
        ];
        let title: Vec<&str> = title.iter().map(String::as_str).collect();
        rows.push(explorer_row(&spec, &title, 41, 2, 1));
        let sig = signature_of("Xk9Pq2", &spec, &title);
        let results = vec![past_result(
            &sig,
            "passed",
            "main",
            "2026-08-19T09:41:02.220Z",
            "8a7b6c5",
        )];
        state.history.results.insert(sig, results);
    }
    state.history.explorer.insert("main".into(), rows);
}

/// One scenario, printed; whether it met its targets.
async fn measure(scenario: Scenario) -> bool {
    let with_base = scenario == Scenario::Compared;
    let (run, instances) = synthetic_run(SPECS, FAILED_SPECS, 1, "bench");
    let mut state = serving(run, &instances);
    if with_base {
        add_base_run(&mut state);
    }
    state.latency = LATENCY;
    let currents = FakeCurrents::start(state).await;
    let github = FakeGithub::start(GithubState {
        latency: LATENCY,
        ..Default::default()
    })
    .await;
    let mut workflow = Workflow::new(&currents, Some(&github));
    workflow.set("CURRENTS_FETCH_CONCURRENCY", &CONCURRENCY.to_string());
    if with_base {
        workflow.set("CURRENTS_COMPARE_BRANCH", "main");
    }
    let (history, after_create, target) = {
        let annotations = FAILED_SPECS; // one failed test per failed spec
        let batches = annotations.saturating_sub(50).div_ceil(50);
        match scenario {
            Scenario::Comment => {
                workflow.set("CURRENTS_COMMENT", "always");
                (0, batches.max(NEW_COMMENT_CALLS), TARGET_RATIO_WITH_COMMENT)
            }
            // The last instance's tests' results pages.
            Scenario::Compared => (1, batches, TARGET_RATIO_WITH_TRIAGE),
            Scenario::Plain => (0, batches, TARGET_RATIO),
        }
    };
    let round_trips = 1 + FAILED_SPECS.div_ceil(CONCURRENCY) + history + 1 + after_create;
    let lower_bound = LATENCY * round_trips as u32;

    let mut walls = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let out = workflow.run(&["report"]).await;
        walls.push(started.elapsed());
        assert_eq!(out.code, Some(0), "report failed: {}", out.stderr);
        if with_base {
            // The base run fails specs 0..50, this one 0..100: 50 known, 50 new (each last
            // passed on main; 2 flaky runs of 41 are under the 5% threshold).
            assert_eq!(out.output("new-failures").as_deref(), Some("50"));
            assert_eq!(out.output("known-failures").as_deref(), Some("50"));
            assert!(!out.stdout.contains("::warning::"), "{}", out.stdout);
            assert_eq!(
                currents.requests_to("/v1/test-results/").len() % FAILED_SPECS,
                0
            );
        }
        assert!(github.rejected().is_empty(), "{:?}", github.rejected());
        if scenario == Scenario::Comment {
            // A new comment each time: the measure is of the create path.
            let mut state = github.state.lock().unwrap();
            assert_eq!(state.comments.len(), 1, "one sticky comment");
            state.comments.clear();
        }
    }
    walls.sort();
    let median = walls[RUNS / 2];
    let ratio = median.as_secs_f64() / lower_bound.as_secs_f64();
    let rss_mb = peak_child_rss_kib() as f64 / 1024.0;

    println!(
        "report benchmark: {SPECS} specs, {FAILED_SPECS} failed, {} ms per request, concurrency {CONCURRENCY}, {RUNS} runs{}",
        LATENCY.as_millis(),
        match scenario {
            Scenario::Plain => String::new(),
            Scenario::Compared => format!(
                ", compared with a base run of {BASE_FAILED_SPECS} failing specs and triaged with the history"
            ),
            Scenario::Comment => ", posting a new pull request comment".into(),
        }
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
    println!("  ratio         {ratio:>7.2}x  (target <= {target}x)");
    println!("  peak RSS      {rss_mb:>7.1} MB  (target <= {TARGET_RSS_MB} MB)");
    ratio <= target && rss_mb <= TARGET_RSS_MB
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The largest resident set of any child this process has waited for, in KiB.
fn peak_child_rss_kib() -> i64 {
    // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    usage.ru_maxrss
}
