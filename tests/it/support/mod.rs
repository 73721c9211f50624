//! Fake Currents and GitHub servers on loopback, and a runner for the real binary.
//!
//! The fakes record every request. The fake GitHub validates check-run requests the way
//! GitHub does (sizes, annotation count and fields, 4-byte Unicode), so a test that passes
//! against it proves the limits are met.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub mod action;
pub mod app_mode;
pub mod github_app;
pub mod relay_process;

/// A request as a fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: std::time::Instant,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Self {
            status: 200,
            body,
            headers: Vec::new(),
        }
    }

    pub fn status(status: u16) -> Self {
        let body = json!({"status": "FAILED", "error": format!("scripted {status}")});
        Self {
            status,
            body,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn into_response(self) -> Response {
        let mut response = (
            StatusCode::from_u16(self.status).unwrap(),
            axum::Json(self.body),
        )
            .into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        response
    }
}

/// Answers in order; the last one repeats.
#[derive(Debug, Clone, Default)]
pub struct Script(pub VecDeque<Reply>);

impl Script {
    pub fn of(replies: impl IntoIterator<Item = Reply>) -> Self {
        Self(replies.into_iter().collect())
    }

    fn next(&mut self) -> Option<Reply> {
        if self.0.len() > 1 {
            self.0.pop_front()
        } else {
            self.0.front().cloned()
        }
    }
}

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
    pub find: Script,
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
        let reply = match (recorded.method.as_str(), segments.as_slice()) {
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

#[derive(Default)]
pub struct GithubState {
    /// Answer every check-run call with this status instead of handling it.
    pub refuse_with: Option<u16>,
    pub requests: Vec<Recorded>,
    /// Annotations received per check run id.
    pub annotations: HashMap<u64, Vec<Value>>,
    pub next_id: u64,
    pub latency: Duration,
    /// Requests GitHub would have rejected, with the reason; tests assert it stays empty.
    pub rejected: Vec<String>,
    /// Check runs that Actions created (the jobs' own): their status and conclusion cannot be
    /// changed with a GITHUB_TOKEN, only their output.
    pub job_checks: Vec<u64>,
    /// Pull request comments: (id, pull request number, body), in creation order.
    pub comments: Vec<(u64, u64, String)>,
    /// Comment authors other than the token's (`github-actions[bot]`), by comment id.
    pub authors: HashMap<u64, String>,
    /// Open pull requests by head commit, for `GET /repos/{o}/{r}/commits/{sha}/pulls`.
    pub pulls: HashMap<String, Vec<u64>>,
    /// Answer comment calls with this status (a token without `pull-requests: write`).
    pub refuse_comments_with: Option<u16>,
}

impl GithubState {
    /// A GitHub that knows the job's own check run `id`, as Actions creates one per job.
    pub fn with_job_check(id: u64) -> Self {
        let mut state = Self {
            job_checks: vec![id],
            ..Self::default()
        };
        state.annotations.insert(id, Vec::new());
        state
    }
}

/// A fake GitHub REST API that validates check-run requests.
#[derive(Clone)]
pub struct FakeGithub {
    pub state: Arc<Mutex<GithubState>>,
    pub addr: SocketAddr,
}

impl FakeGithub {
    pub async fn start(state: GithubState) -> Self {
        let state = Arc::new(Mutex::new(state));
        let app = Router::new()
            .fallback(github_handler)
            .with_state(state.clone());
        let addr = serve(app).await;
        Self { state, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn rejected(&self) -> Vec<String> {
        self.state.lock().unwrap().rejected.clone()
    }

    pub fn annotations(&self) -> Vec<Value> {
        let s = self.state.lock().unwrap();
        s.annotations.values().flatten().cloned().collect()
    }
}

pub const GITHUB_TOKEN: &str = "ghs_faketoken0123456789abcdefSECRET";
pub const CURRENTS_KEY: &str = "cur_fakekey_9f8e7d6c5b4aSECRET";

async fn github_handler(
    State(state): State<Arc<Mutex<GithubState>>>,
    request: Request,
) -> Response {
    let recorded = record(request).await;
    let latency = state.lock().unwrap().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut s = state.lock().unwrap();
    s.requests.push(recorded.clone());
    if recorded.header("user-agent").is_none() {
        return reject(
            &mut s,
            403,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        );
    }
    if recorded.header("authorization").as_deref() != Some(&format!("Bearer {GITHUB_TOKEN}")) {
        return reject(&mut s, 401, "Bad credentials");
    }
    if let Some(status) = s.refuse_with {
        return (
            StatusCode::from_u16(status).unwrap(),
            axum::Json(json!({"message": "Resource not accessible by integration"})),
        )
            .into_response();
    }
    let segments: Vec<String> = recorded
        .path
        .trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let body = recorded.json();
    if segments.get(3) == Some(&"issues")
        && let Some(status) = s.refuse_comments_with
    {
        return reject(&mut s, status, "Resource not accessible by integration");
    }
    match (recorded.method.as_str(), segments.as_slice()) {
        ("GET", ["repos", _, _, "issues", number, "comments"]) => {
            let number: u64 = number.parse().unwrap_or(0);
            let list: Vec<Value> = s
                .comments
                .iter()
                .filter(|(_, n, _)| *n == number)
                .map(|(id, _, body)| {
                    let login = s.authors.get(id).map_or("github-actions[bot]", String::as_str);
                    json!({"id": id, "body": body, "user": {"login": login, "type": "Bot"},
                           "html_url": format!("https://github.test/pull/{number}#issuecomment-{id}")})
                })
                .collect();
            axum::Json(list).into_response()
        }
        // A workflow's token is no user's: GitHub answers 403, as it should.
        ("GET", ["user"]) => (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"message": "Resource not accessible by integration"})),
        )
            .into_response(),
        ("POST", ["repos", _, _, "issues", number, "comments"]) => {
            let number: u64 = number.parse().unwrap_or(0);
            let Some(text) = body.get("body").and_then(Value::as_str).map(str::to_owned) else {
                return reject(&mut s, 422, "body is required");
            };
            if text.chars().count() > 65_536 {
                return reject(
                    &mut s,
                    422,
                    "Body is too long (maximum is 65536 characters)",
                );
            }
            s.next_id += 1;
            let id = 50_000 + s.next_id;
            s.comments.push((id, number, text.clone()));
            (
                StatusCode::CREATED,
                axum::Json(json!({"id": id, "body": text, "html_url": format!("https://github.test/pull/{number}#issuecomment-{id}")})),
            )
                .into_response()
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let Some(text) = body.get("body").and_then(Value::as_str).map(str::to_owned) else {
                return reject(&mut s, 422, "body is required");
            };
            if text.chars().count() > 65_536 {
                return reject(
                    &mut s,
                    422,
                    "Body is too long (maximum is 65536 characters)",
                );
            }
            if s.authors.contains_key(&id) {
                return reject(&mut s, 403, "another user's comment");
            }
            let Some(comment) = s.comments.iter_mut().find(|(c, _, _)| *c == id) else {
                return reject(&mut s, 404, "Not Found");
            };
            comment.2 = text.clone();
            let number = comment.1;
            axum::Json(json!({"id": id, "body": text, "html_url": format!("https://github.test/pull/{number}#issuecomment-{id}")})).into_response()
        }
        ("DELETE", ["repos", _, _, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            if s.authors.contains_key(&id) {
                return reject(&mut s, 403, "another user's comment");
            }
            let before = s.comments.len();
            s.comments.retain(|(c, _, _)| *c != id);
            if s.comments.len() == before {
                return reject(&mut s, 404, "Not Found");
            }
            StatusCode::NO_CONTENT.into_response()
        }
        ("GET", ["repos", _, _, "commits", sha, "pulls"]) => {
            let pulls: Vec<Value> = s
                .pulls
                .get(*sha)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|n| json!({"number": n, "state": "open", "base": {"ref": "main"}}))
                .collect();
            axum::Json(pulls).into_response()
        }
        ("POST", ["repos", owner, repo, "check-runs"]) => {
            if let Err(reason) = validate_check_run(&body, true) {
                return reject(&mut s, 422, &reason);
            }
            s.next_id += 1;
            let id = s.next_id;
            let annotations = body
                .pointer("/output/annotations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            s.annotations.insert(id, annotations);
            let url = format!("https://github.test/{owner}/{repo}/runs/{id}");
            (
                StatusCode::CREATED,
                axum::Json(json!({"id": id, "html_url": url, "status": "completed"})),
            )
                .into_response()
        }
        ("PATCH", ["repos", owner, repo, "check-runs", id]) => {
            let Ok(id) = id.parse::<u64>() else {
                return reject(&mut s, 404, "Not Found");
            };
            if !s.annotations.contains_key(&id) {
                return reject(&mut s, 404, "Not Found");
            }
            if s.job_checks.contains(&id)
                && (body.get("status").is_some() || body.get("conclusion").is_some())
            {
                return reject(
                    &mut s,
                    403,
                    "GITHUB_TOKEN cannot change the status or conclusion of a check run Actions created",
                );
            }
            if let Err(reason) = validate_check_run(&body, false) {
                return reject(&mut s, 422, &reason);
            }
            let more = body
                .pointer("/output/annotations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            s.annotations.get_mut(&id).unwrap().extend(more);
            let url = format!("https://github.test/{owner}/{repo}/runs/{id}");
            axum::Json(json!({"id": id, "html_url": url})).into_response()
        }
        _ => reject(&mut s, 404, "Not Found"),
    }
}

pub(crate) fn reject_with(rejected: &mut Vec<String>, status: u16, reason: &str) -> Response {
    rejected.push(format!("{status}: {reason}"));
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"message": "Validation Failed", "errors": [reason]})),
    )
        .into_response()
}

fn reject(state: &mut GithubState, status: u16, reason: &str) -> Response {
    reject_with(&mut state.rejected, status, reason)
}

const CHECK_STATUSES: [&str; 3] = ["queued", "in_progress", "completed"];
const CONCLUSIONS: [&str; 7] = [
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "timed_out",
];
const LEVELS: [&str; 3] = ["notice", "warning", "failure"];

/// GitHub's rules for create (`POST`) and update (`PATCH`) bodies.
pub(crate) fn validate_check_run(body: &Value, create: bool) -> Result<(), String> {
    let str_field = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
    if create {
        for required in ["name", "head_sha"] {
            if str_field(body, required)
                .filter(|s| !s.is_empty())
                .is_none()
            {
                return Err(format!("{required} is required"));
            }
        }
    }
    if let Some(status) = body.get("status")
        && !CHECK_STATUSES.contains(&status.as_str().unwrap_or_default())
    {
        return Err(format!("status {status} is not a valid value"));
    }
    if let Some(conclusion) = body.get("conclusion")
        && !CONCLUSIONS.contains(&conclusion.as_str().unwrap_or_default())
    {
        return Err(format!("conclusion {conclusion} is not a valid value"));
    }
    if body.get("status").and_then(Value::as_str) == Some("completed")
        && body.get("conclusion").is_none()
    {
        return Err("conclusion is required when status is completed".into());
    }
    let Some(output) = body.get("output") else {
        return Ok(());
    };
    if str_field(output, "title").is_none() && create {
        return Err("output.title is required".into());
    }
    let summary = str_field(output, "summary").ok_or("output.summary is required")?;
    if summary.len() > 65_535 {
        return Err(format!(
            "Only 65535 characters are allowed; {} were supplied. (summary)",
            summary.len()
        ));
    }
    if let Some(text) = str_field(output, "text")
        && text.len() > 65_535
    {
        return Err(format!(
            "Only 65535 characters are allowed; {} were supplied. (text)",
            text.len()
        ));
    }
    let annotations = output
        .get("annotations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if annotations.len() > 50 {
        return Err(format!(
            "{} annotations were sent; the maximum is 50",
            annotations.len()
        ));
    }
    for a in &annotations {
        for required in ["path", "message"] {
            if str_field(a, required).is_none() {
                return Err(format!("annotation {required} is required"));
            }
        }
        for line in ["start_line", "end_line"] {
            if a.get(line).and_then(Value::as_u64).is_none_or(|l| l == 0) {
                return Err(format!("annotation {line} must be a positive integer"));
            }
        }
        let level = str_field(a, "annotation_level").unwrap_or_default();
        if !LEVELS.contains(&level.as_str()) {
            return Err(format!("annotation_level {level:?} is not a valid value"));
        }
        if str_field(a, "title").is_some_and(|t| t.chars().count() > 255) {
            return Err("annotation title is too long (maximum is 255 characters)".into());
        }
        for field in ["message", "raw_details"] {
            if str_field(a, field).is_some_and(|t| t.len() > 65_535) {
                return Err(format!("annotation {field} is too long (maximum is 64 KB)"));
            }
        }
        for field in ["path", "title", "message", "raw_details"] {
            if str_field(a, field).is_some_and(|t| t.chars().any(|c| c as u32 > 0xFFFF)) {
                return Err(format!(
                    "Invalid request: annotation {field} contains 4-byte Unicode"
                ));
            }
        }
    }
    Ok(())
}

pub(crate) async fn record(request: Request) -> Recorded {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body: body.to_vec(),
        at: std::time::Instant::now(),
    }
}

pub(crate) async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("fake server") });
    addr
}

/// How the binary ran.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub outputs: String,
    pub summary: String,
}

impl Outcome {
    /// The value of a step output.
    pub fn output(&self, name: &str) -> Option<String> {
        self.outputs
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }

    /// Secrets must not reach any log or file the binary writes.
    pub fn assert_no_secrets(&self) {
        for secret in [GITHUB_TOKEN, CURRENTS_KEY] {
            for (name, text) in [
                ("stdout", &self.stdout),
                ("stderr", &self.stderr),
                ("outputs", &self.outputs),
                ("summary", &self.summary),
            ] {
                assert!(!text.contains(secret), "a secret leaked into {name}");
            }
        }
    }
}

/// A workspace for one run of the binary: runtime files and the environment of a workflow.
pub struct Workflow {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Workflow {
    /// The environment of a `pull_request` workflow in `acme/webapp`, run 9876543210 attempt 1,
    /// talking to the given fakes.
    pub fn new(currents: &FakeCurrents, github: Option<&FakeGithub>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let event = dir.path().join("event.json");
        std::fs::write(&event, r#"{"pull_request":{"number":7,"head":{"sha":"prhead0000000000000000000000000000000001"}}}"#).unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let mut env: Vec<(String, String)> = [
            ("CURRENTS_API_URL", currents.url()),
            ("CURRENTS_API_KEY", CURRENTS_KEY.into()),
            ("CURRENTS_PROJECT_ID", "Xk9Pq2".into()),
            ("CURRENTS_POLL_INTERVAL", "50ms".into()),
            ("CURRENTS_WAIT_TIMEOUT", "20s".into()),
            ("GITHUB_ACTIONS", "true".into()),
            ("GITHUB_REPOSITORY", "acme/webapp".into()),
            ("GITHUB_RUN_ID", "9876543210".into()),
            ("GITHUB_RUN_ATTEMPT", "1".into()),
            (
                "GITHUB_SHA",
                "merge000000000000000000000000000000000002".into(),
            ),
            ("GITHUB_EVENT_NAME", "pull_request".into()),
            ("GITHUB_EVENT_PATH", event.display().to_string()),
            ("GITHUB_OUTPUT", path("output")),
            ("GITHUB_STEP_SUMMARY", path("summary")),
            ("GITHUB_TOKEN", GITHUB_TOKEN.into()),
            // The check-run tests count GitHub requests; the comment's tests turn it on.
            ("CURRENTS_COMMENT", "off".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(github) = github {
            env.push(("GITHUB_API_URL".into(), github.url()));
        }
        Self { dir, env }
    }

    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn unset(&mut self, key: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        self
    }

    /// The binary with this environment only.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(binary());
        command
            .args(args)
            .env_clear()
            .envs(self.env.iter().cloned());
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command
    }

    pub async fn run(&self, args: &[&str]) -> Outcome {
        let output = tokio::time::timeout(Duration::from_secs(60), self.command(args).output())
            .await
            .expect("the binary finished within 60 s")
            .expect("the binary started");
        self.outcome(output)
    }

    pub fn outcome(&self, output: std::process::Output) -> Outcome {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        Outcome {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            outputs: read("output"),
            summary: read("summary"),
        }
    }
}

/// The binary under test: the one cargo built for these tests, or `CURRENTS_BRIDGE_BIN` when set
/// (the benchmarks measure the static release binary that the image ships; bench/*.sh set it).
pub fn binary() -> PathBuf {
    std::env::var_os("CURRENTS_BRIDGE_BIN")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_currents-bridge")))
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

/// A cancel job's workflow run id and attempt.
pub fn cancel_of(job: &currents_bridge::store::Job) -> (u64, u32) {
    match &job.spec {
        currents_bridge::store::JobSpec::Cancel {
            run_id,
            run_attempt,
        } => (run_id.get(), run_attempt.get()),
        other => panic!("not a cancel job: {other:?}"),
    }
}

/// The webhook secret the relay tests configure.
pub const WEBHOOK_SECRET: &str = "relay-test-secret-do-not-leak";

/// A webhook example of `tests/data/webhooks/` (from @octokit/webhooks-examples).
pub fn webhook_example(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/webhooks")
        .join(name);
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// The workflow_job example, completed and cancelled, for `repo` run `run_id` attempt `attempt`.
pub fn cancelled_job(repo: &str, run_id: u64, attempt: u64) -> Value {
    let mut event = webhook_example("workflow_job.completed.json");
    event["workflow_job"]["conclusion"] = json!("cancelled");
    event["workflow_job"]["run_id"] = json!(run_id);
    event["workflow_job"]["run_attempt"] = json!(attempt);
    event["repository"]["full_name"] = json!(repo);
    event
}

/// The workflow_run example, completed and cancelled.
pub fn cancelled_run() -> Value {
    let mut event = webhook_example("workflow_run.completed.json");
    event["workflow_run"]["conclusion"] = json!("cancelled");
    event
}

/// A delivery as GitHub sends it: JSON, signed with `secret`.
pub fn delivery(
    event: &str,
    delivery_id: &str,
    body: &[u8],
    secret: &str,
) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::post("/webhooks/github")
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/abc123")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery_id)
        .header("x-github-hook-id", "123456")
        .header(
            "x-hub-signature-256",
            currents_bridge::relay::verify::sign(secret, body),
        )
        .body(axum::body::Body::from(body.to_vec()))
        .unwrap()
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

/// The HTTP layer, as the binary builds it.
pub fn http() -> currents_bridge::http::Http {
    currents_bridge::http::Http::new().unwrap()
}

/// A GitHub client for the API at `url` that tries each call once.
pub fn github_client(url: &str) -> currents_bridge::github::GithubClient {
    currents_bridge::github::GithubClient::new(
        currents_bridge::github::GithubConfig {
            api_url: url.parse().unwrap(),
            token: secrecy::SecretString::from(GITHUB_TOKEN),
            retry: currents_bridge::retry::RetryPolicy {
                max_retries: 0,
                ..currents_bridge::retry::RetryPolicy::ACTION
            },
        },
        &http(),
    )
}

/// Waits until `condition` holds, looking every 20 ms; fails the test, naming `what`, once
/// `limit` has passed. The one way tests wait: for a condition, never for a fixed time.
pub async fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Like [`wait_for`], for a condition that must await (a database query, a request).
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    while !condition().await {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Like [`wait_until`], for a look that finds something: its first `Some`.
pub async fn wait_some<T, F, Fut>(what: &str, limit: Duration, mut look: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(found) = look().await {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `url` answers `200`, for at most 20 s.
pub async fn wait_until_ready(url: &str) {
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status() == 200
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{url} did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// POSTs `body` to a running relay's webhook `url` as GitHub would: JSON, signed with
/// [`WEBHOOK_SECRET`].
pub async fn post_delivery(
    client: &reqwest::Client,
    url: &str,
    event: &str,
    delivery_id: &str,
    body: String,
) -> reqwest::Response {
    let signature = currents_bridge::relay::verify::sign(WEBHOOK_SECRET, body.as_bytes());
    client
        .post(url)
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery_id)
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .expect("the relay answers")
}

/// A relay state on a fresh SQLite database (kept while the directory lives), with the test
/// webhook secret: for tests that drive the router directly.
pub async fn sqlite_state() -> (currents_bridge::relay::AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = currents_bridge::store::Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("relay.db").display()
    ))
    .await
    .unwrap();
    let secrets = currents_bridge::relay::WebhookSecrets::new(vec![secrecy::SecretString::from(
        WEBHOOK_SECRET,
    )])
    .unwrap();
    (
        currents_bridge::relay::AppState::new(
            store,
            secrets,
            None,
            64 * 1024,
            Duration::from_secs(5),
        ),
        dir,
    )
}
