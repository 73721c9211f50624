//! A fake Currents API under `/v1` that answers from scripts, and the runs it serves.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::currents_history::{self, HistoryState};
use super::fake::{Recorded, Reply, Script, record, serve};
use super::http;

/// The project's API key the tests configure.
pub const CURRENTS_KEY: &str = "cur_fakekey_9f8e7d6c5b4aSECRET";

/// Reads a file of `tests/data/currents/`.
pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/currents")
        .join(name);
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

#[derive(Default)]
pub struct CurrentsState {
    /// `GET /runs/find`, whatever the ciBuildId (unless `finds` has it).
    pub find: Script,
    /// `GET /runs/find` by ciBuildId.
    pub finds: HashMap<String, Script>,
    /// Test history and Actions.
    pub history: HistoryState,
    pub runs: HashMap<String, Script>,
    pub instances: HashMap<String, Script>,
    pub cancel: Script,
    /// `DELETE /runs/{id}`.
    pub delete: Script,
    /// `POST /webhooks`.
    pub webhooks: Script,
    /// `GET /projects/{id}/runs`.
    pub runs_list: Script,
    /// `GET /projects/{id}`.
    pub project: Script,
    pub latency: Duration,
    pub requests: Vec<Recorded>,
}

/// A fake Currents API under `/v1`.
#[derive(Clone)]
pub struct FakeCurrents {
    pub state: Arc<Mutex<CurrentsState>>,
    pub addr: SocketAddr,
}

impl FakeCurrents {
    pub async fn start(state: CurrentsState) -> Self {
        let state = Arc::new(Mutex::new(state));
        let app = Router::new()
            .fallback(currents_handler)
            .with_state(state.clone());
        let addr = serve(app).await;
        Self { state, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn requests_to(&self, path_prefix: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with(path_prefix))
            .collect()
    }
}

async fn currents_handler(
    State(state): State<Arc<Mutex<CurrentsState>>>,
    request: Request,
) -> Response {
    let recorded = record(request).await;
    let (reply, latency) = {
        let mut s = state.lock().unwrap();
        s.requests.push(recorded.clone());
        let path = recorded.path.trim_start_matches("/v1");
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let ci_build_id = url::form_urlencoded::parse(recorded.query.as_bytes())
            .find(|(k, _)| k == "ciBuildId")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let history = currents_history::answer(&mut s.history, &recorded, &segments);
        let reply = match (recorded.method.as_str(), segments.as_slice()) {
            _ if history.is_some() => history,
            ("GET", ["runs", "find"]) if s.finds.contains_key(&ci_build_id) => {
                s.finds.get_mut(&ci_build_id).and_then(Script::next)
            }
            ("GET", ["runs", "find"]) => s.find.next(),
            ("PUT", ["runs", "cancel-ci", "github"]) | ("PUT", ["runs", _, "cancel"]) => {
                s.cancel.next()
            }
            ("GET", ["runs", id]) => s.runs.get_mut(*id).and_then(Script::next),
            ("DELETE", ["runs", _]) => s.delete.next(),
            ("POST", ["webhooks"]) => s.webhooks.next(),
            ("GET", ["projects", _, "runs"]) => s.runs_list.next(),
            ("GET", ["projects", _]) => s.project.next(),
            ("GET", ["instances", id]) => s.instances.get_mut(*id).and_then(Script::next),
            _ => None,
        };
        (
            reply.unwrap_or_else(|| Reply {
                status: 404,
                body: json!({"status":"FAILED","error":"Not found"}),
                headers: vec![],
            }),
            s.latency,
        )
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    reply.into_response()
}

/// A Currents state that serves `run` from find and by id, and `instances` by id.
pub fn serving(run: Value, instances: &[Value]) -> CurrentsState {
    let run_id = run["data"]["runId"].as_str().unwrap().to_owned();
    let mut state = CurrentsState {
        find: Script::of([Reply::ok(run.clone())]),
        ..Default::default()
    };
    state.runs.insert(run_id, Script::of([Reply::ok(run)]));
    for instance in instances {
        let id = instance["data"]["instanceId"].as_str().unwrap().to_owned();
        state
            .instances
            .insert(id, Script::of([Reply::ok(instance.clone())]));
    }
    state
}

/// The example run in `examples/playwright-failed` (the fixtures plus a flaky spec's instance).
pub fn example_run() -> (Value, Vec<Value>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/playwright-failed");
    let read = |p: PathBuf| serde_json::from_slice::<Value>(&std::fs::read(p).unwrap()).unwrap();
    let instances = std::fs::read_dir(dir.join("instances"))
        .unwrap()
        .map(|e| read(e.unwrap().path()))
        .collect();
    (read(dir.join("run.json")), instances)
}

/// Serves a `main` run to compare the example with (`b0b0b0b0b0b0b0b0`): the coupon test
/// passes there unless `also_fails_coupon`, and a cart test fails there that passes here.
pub fn with_base_branch(state: &mut CurrentsState, also_fails_coupon: bool) {
    let (run, instances) = example_run();
    let base_id = "b0b0b0b0b0b0b0b0";
    let mut base = run.clone();
    base["data"]["runId"] = serde_json::json!(base_id);
    base["data"]["meta"]["commit"]["branch"] = serde_json::json!("main");
    for spec in base["data"]["specs"].as_array_mut().unwrap() {
        let id = spec["instanceId"].as_str().unwrap().to_owned();
        spec["instanceId"] = serde_json::json!(format!("base-{id}"));
    }
    for instance in &instances {
        let mut instance = instance.clone();
        let id = instance["data"]["instanceId"].as_str().unwrap().to_owned();
        instance["data"]["instanceId"] = serde_json::json!(format!("base-{id}"));
        instance["data"]["runId"] = serde_json::json!(base_id);
        if id == "Qm3vT8nXcR2pLw7K" {
            let tests = instance["data"]["results"]["tests"].as_array_mut().unwrap();
            if !also_fails_coupon {
                tests[0]["state"] = serde_json::json!("passed");
                tests[0]["attempts"] = serde_json::json!([{"state": "passed"}]);
            }
            tests[2]["state"] = serde_json::json!("failed");
            tests[2]["attempts"] =
                serde_json::json!([{"state": "failed", "error": {"message": "Error: cart empty"}}]);
        }
        state
            .instances
            .insert(format!("base-{id}"), Script::of([Reply::ok(instance)]));
    }
    // The list has this very run first (a re-run on the branch), then the base run.
    let mut listed = serde_json::json!({"status": "OK", "has_more": false, "data": [run["data"].clone(), base["data"].clone()]});
    for item in listed["data"].as_array_mut().unwrap() {
        item.as_object_mut().unwrap().remove("specs");
    }
    state.runs_list = Script::of([Reply::ok(listed)]);
    state
        .runs
        .insert(base_id.into(), Script::of([Reply::ok(base)]));
}

/// A synthetic Playwright run: `specs` specs, of which `failed_specs` have `tests_per_spec`
/// failing tests each, whose titles carry `title_extra` (emoji, non-ASCII).
pub fn synthetic_run(
    specs: usize,
    failed_specs: usize,
    tests_per_spec: usize,
    title_extra: &str,
) -> (Value, Vec<Value>) {
    let run_id = "5a5a5a5a5a5a5a5a";
    let mut spec_list = Vec::new();
    let mut instances = Vec::new();
    for n in 0..specs {
        let instance_id = format!("inst{n:012}");
        let spec = format!("tests/area{}/feature-{n}.spec.ts", n % 7);
        let failing = if n < failed_specs { tests_per_spec } else { 0 };
        spec_list.push(json!({
            "spec": spec, "groupId": "chromium", "instanceId": instance_id,
            "claimedAt": "2026-08-20T14:02:13.104Z", "completedAt": "2026-08-20T14:04:41.877Z",
            "results": {"flaky": 0, "stats": {"overall": failing + 2, "tests": failing + 2, "passes": 2, "failures": failing,
                "pending": 0, "skipped": 0, "flaky": 0, "retries": 0}, "videoUrl": null, "screenshots": []}
        }));
        if failing > 0 {
            let tests: Vec<Value> = (0..failing).map(|t| json!({
                "testId": format!("{instance_id}-t{t}"),
                "title": [format!("feature {n} {title_extra}"), format!("case {t} «{title_extra}» handles input")],
                "state": "failed",
                "attempts": [{"state": "failed", "error": {
                    "name": "Error",
                    "message": format!("expect(received).toBe(expected) {title_extra}"),
                    "stack": format!("Error: \u{1b}[31mexpect(received).toBe(expected)\u{1b}[39m {title_extra}\n\nExpected: {t}\nReceived: {}\n    at {spec}:{}:9", t + 1, 10 + t),
                    "codeFrame": {"line": 10 + t, "column": 9, "file": format!("/home/runner/work/webapp/webapp/{spec}"),
                        "frame": format!("> {} |   expect(value).toBe({t}); // {title_extra}\n    |         ^", 10 + t)}
                }}],
                "displayError": null, "isFlaky": false
            })).collect();
            instances.push(json!({"status": "OK", "data": {
                "instanceId": instance_id, "runId": run_id, "spec": spec, "groupId": "chromium",
                "results": {"stats": {"failures": failing}, "tests": tests, "screenshots": [], "videos": [], "playwrightTraces": []}
            }}));
        }
    }
    let failures = failed_specs * tests_per_spec;
    let run = json!({"status": "OK", "data": {
        "runId": run_id, "projectId": "Xk9Pq2", "completionState": "COMPLETE", "status": "FAILED",
        "meta": {"ciBuildId": "acme/webapp-9876543210-1", "framework": {"type": "pw", "version": "1.55.0"},
                 "commit": {"sha": "3f9c2a7e5b1d4c8e9a0f6b2d7c1e8a4b5d6f7a8b", "branch": "feat/checkout-coupons",
                            "remoteOrigin": "https://github.com/acme/webapp"}},
        "groups": [{"groupId": "chromium", "tests": {"overall": failures + 2 * specs, "passes": 2 * specs, "failures": failures},
                    "instances": {"overall": specs, "claimed": specs, "complete": specs}}],
        "specs": spec_list
    }});
    (run, instances)
}

/// A Currents client for `currents` that tries each call once, as the relay's worker does.
pub fn currents_client(currents: &FakeCurrents) -> currents_bridge::currents::CurrentsClient {
    currents_bridge::currents::CurrentsClient::new(
        currents_bridge::currents::CurrentsConfig {
            api_url: currents.url().parse().unwrap(),
            api_key: secrecy::SecretString::from(CURRENTS_KEY),
            retry: currents_bridge::retry::RetryPolicy {
                max_retries: 0,
                ..currents_bridge::retry::RetryPolicy::ACTION
            },
        },
        &http(),
    )
}
