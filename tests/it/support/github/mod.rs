//! One fake GitHub REST API, for the step (a workflow's `GITHUB_TOKEN`) and for App mode (a
//! JWT for the App's endpoints, installation tokens for a repository's).
//!
//! It records every request and refuses what GitHub refuses: no User-Agent, bad or expired
//! credentials, a token for another installation's repository, check-run bodies over GitHub's
//! limits, a change to the status of a check run Actions created, another user's comment.
//! A test that passes against it proves those rules are kept.

mod app;
mod checks;
mod comments;
mod repo;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub use app::{APP_ID, BOT_LOGIN, FakeDelivery, app_keys};
pub use checks::FakeCheck;
pub use repo::FakeWorkflowRun;

use super::fake::{Recorded, record, serve};

/// The workflow's token the step runs with.
pub const GITHUB_TOKEN: &str = "ghs_faketoken0123456789abcdefSECRET";
/// Who a workflow's token writes as.
pub const ACTIONS_LOGIN: &str = "github-actions[bot]";

pub struct GithubState {
    /// `owner/repo` (lower case) → installation id.
    pub installations: HashMap<String, u64>,
    pub token_lifetime: Duration,
    /// Issued installation tokens: token → (installation, expiry).
    pub tokens: HashMap<String, (u64, SystemTime)>,
    /// Answer every repository call with this status instead of handling it.
    pub refuse_with: Option<u16>,
    /// Answer comment calls with this status (a token without `pull-requests: write`).
    pub refuse_comments_with: Option<u16>,
    pub checks: Vec<FakeCheck>,
    /// Pull request comments: (id, pull request number, body), in creation order.
    pub comments: Vec<(u64, u64, String)>,
    /// Each comment's author, by comment id; a test sets another user's here.
    pub authors: HashMap<u64, String>,
    /// Open pull requests by head commit, for `GET /repos/{o}/{r}/commits/{sha}/pulls`.
    pub pulls: HashMap<String, Vec<u64>>,
    /// Role of each user on the repositories (lower-case login → `admin`, `maintain`,
    /// `write`, `triage`, `read`); others are unknown (404).
    pub roles: HashMap<String, String>,
    /// Workflow runs by id.
    pub workflow_runs: HashMap<u64, FakeWorkflowRun>,
    /// Runs whose failed jobs were re-run, in order.
    pub reruns: Vec<u64>,
    /// Answer re-runs with this status.
    pub refuse_reruns_with: Option<u16>,
    /// What the installations granted the App (their tokens say so).
    pub permissions: HashMap<String, String>,
    /// The App hook's deliveries, newest first, as GitHub lists them.
    pub deliveries: Vec<FakeDelivery>,
    pub page_size: usize,
    /// Where a redelivery goes (the relay's `/webhooks/github`), once the test names it.
    pub relay_url: tokio::sync::watch::Sender<Option<String>>,
    pub redelivered: Vec<u64>,
    pub requests: Vec<Recorded>,
    /// Requests GitHub would have rejected, with the reason; tests assert it stays empty.
    pub rejected: Vec<String>,
    /// Added to every request's answer.
    pub latency: Duration,
    /// Added after a request has taken effect, before its answer goes out: a caller that dies
    /// in this window never learns that GitHub did what it asked.
    pub answer_latency: Duration,
    /// How long a PATCH of a check run that carries annotations takes (a slow GitHub).
    pub annotation_latency: Duration,
    /// Check-run PATCHes in flight now, and the most ever in flight at once, per check run.
    pub patches_in_flight: HashMap<u64, usize>,
    pub most_patches_at_once: usize,
    /// The last id given to a check run or comment.
    pub next_id: u64,
}

impl Default for GithubState {
    fn default() -> Self {
        Self {
            installations: HashMap::new(),
            token_lifetime: Duration::from_secs(3600),
            tokens: HashMap::new(),
            refuse_with: None,
            refuse_comments_with: None,
            checks: Vec::new(),
            comments: Vec::new(),
            authors: HashMap::new(),
            pulls: HashMap::new(),
            roles: HashMap::new(),
            workflow_runs: HashMap::new(),
            reruns: Vec::new(),
            refuse_reruns_with: None,
            permissions: [
                ("checks", "write"),
                ("pull_requests", "write"),
                ("actions", "write"),
                ("metadata", "read"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            deliveries: Vec::new(),
            page_size: 100,
            relay_url: tokio::sync::watch::Sender::new(None),
            redelivered: Vec::new(),
            requests: Vec::new(),
            rejected: Vec::new(),
            latency: Duration::ZERO,
            answer_latency: Duration::ZERO,
            annotation_latency: Duration::ZERO,
            patches_in_flight: HashMap::new(),
            most_patches_at_once: 0,
            next_id: 0,
        }
    }
}

impl GithubState {
    /// A GitHub that knows the job's own check run `id` in `acme/webapp`, as Actions creates one
    /// per job: a workflow's token may change its output, not its status or conclusion.
    pub fn with_job_check(id: u64) -> Self {
        let mut state = Self::default();
        state
            .checks
            .push(FakeCheck::of_job(id, "acme/webapp", "test"));
        state
    }

    /// The App installed on `repos`.
    pub fn installed_on(repos: &[&str]) -> Self {
        let mut state = Self::default();
        for (n, repo) in repos.iter().enumerate() {
            state
                .installations
                .insert(repo.to_ascii_lowercase(), 1000 + n as u64);
        }
        state
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

#[derive(Clone)]
pub struct FakeGithub {
    pub state: Arc<Mutex<GithubState>>,
    pub addr: SocketAddr,
}

impl FakeGithub {
    pub async fn start(state: GithubState) -> Self {
        let state = Arc::new(Mutex::new(state));
        let app = Router::new().fallback(handle).with_state(state.clone());
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

    pub fn checks(&self) -> Vec<FakeCheck> {
        self.state.lock().unwrap().checks.clone()
    }

    /// Every annotation of every check run, in the order received.
    pub fn annotations(&self) -> Vec<Value> {
        let s = self.state.lock().unwrap();
        s.checks
            .iter()
            .flat_map(|c| c.annotations.clone())
            .collect()
    }

    /// Where redeliveries go from now on: the relay's webhook route.
    pub fn deliver_to(&self, url: String) {
        self.state.lock().unwrap().relay_url.send_replace(Some(url));
    }

    /// Waits, 30 s at most, until the first check run's status is `status`.
    pub async fn wait_for_first_check(&self, status: &str) {
        super::wait_for(
            &format!("the check run to be {status}"),
            Duration::from_secs(30),
            || self.checks().first().is_some_and(|c| c.status == status),
        )
        .await;
    }
}

/// A repository call: who makes it, and what it asks.
struct Call<'a> {
    caller: Caller,
    method: &'a str,
    segments: &'a [&'a str],
    recorded: &'a Recorded,
}

/// Who a repository call speaks for.
struct Caller {
    /// The repository, `owner/repo` in lower case.
    repo: String,
    /// Whom the credentials belong to: a workflow's token or the App's bot.
    login: &'static str,
    /// A workflow's token (it may not change the status of a job's own check run).
    workflow: bool,
}

async fn handle(State(state): State<Arc<Mutex<GithubState>>>, request: Request) -> Response {
    let recorded = record(request).await;
    let (latency, answer_latency) = {
        let s = state.lock().unwrap();
        (s.latency, s.answer_latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let patched = checks::patched_check(&recorded);
    if let Some(id) = patched {
        let slow = checks::patch_begins(&mut state.lock().unwrap(), id, &recorded);
        if !slow.is_zero() {
            tokio::time::sleep(slow).await;
        }
    }
    let response = respond(&state, recorded);
    if let Some(id) = patched {
        *state
            .lock()
            .unwrap()
            .patches_in_flight
            .entry(id)
            .or_default() -= 1;
    }
    if !answer_latency.is_zero() {
        tokio::time::sleep(answer_latency).await;
    }
    response
}

fn respond(shared: &Arc<Mutex<GithubState>>, recorded: Recorded) -> Response {
    let mut s = shared.lock().unwrap();
    s.requests.push(recorded.clone());
    if recorded.header("user-agent").is_none() {
        return reject(
            &mut s,
            403,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        );
    }
    let owned: Vec<String> = recorded
        .path
        .trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect();
    let segments: Vec<&str> = owned.iter().map(String::as_str).collect();
    let method = recorded.method.as_str();
    if app::is_app_call(method, &segments) {
        return app::endpoint(&mut s, shared, &segments, &recorded);
    }
    // No token speaks for a user: a workflow's is an integration's, and so is an App's.
    if (method, segments.as_slice()) == ("GET", ["user"].as_slice()) {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"message": "Resource not accessible by integration"})),
        )
            .into_response();
    }
    let caller = match authorize(&s, &segments, recorded.header("authorization")) {
        Ok(caller) => caller,
        Err(reason) => return reject(&mut s, 401, reason),
    };
    if let Some(status) = s.refuse_with {
        return (
            StatusCode::from_u16(status).unwrap(),
            axum::Json(json!({"message": "Resource not accessible by integration"})),
        )
            .into_response();
    }
    let call = Call {
        caller,
        method,
        segments: &segments,
        recorded: &recorded,
    };
    let routes = [comments::endpoint, repo::endpoint, checks::endpoint];
    routes
        .into_iter()
        .find_map(|route| route(&mut s, &call))
        .unwrap_or_else(|| reject(&mut s, 404, "Not Found"))
}

/// A repository call's credentials: the workflow's token (any repository) or a live
/// installation token of that repository's installation.
fn authorize(
    s: &GithubState,
    segments: &[&str],
    header: Option<String>,
) -> Result<Caller, &'static str> {
    let Some(["repos", owner, repo]) = segments.get(..3) else {
        return Err("Bad credentials");
    };
    let repo = format!("{owner}/{repo}").to_ascii_lowercase();
    let token = header
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    if token == GITHUB_TOKEN {
        return Ok(Caller {
            repo,
            login: ACTIONS_LOGIN,
            workflow: true,
        });
    }
    match (s.tokens.get(token), s.installations.get(&repo)) {
        (Some((installation, expiry)), Some(wanted)) if installation == wanted => {
            if *expiry <= SystemTime::now() {
                return Err("Bad credentials (the token expired)");
            }
            Ok(Caller {
                repo,
                login: BOT_LOGIN,
                workflow: false,
            })
        }
        _ => Err("Bad credentials"),
    }
}

/// Refuses as GitHub does, and keeps the reason for the test to see.
pub(crate) fn reject(s: &mut GithubState, status: u16, reason: &str) -> Response {
    s.rejected.push(format!("{status}: {reason}"));
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"message": "Validation Failed", "errors": [reason]})),
    )
        .into_response()
}
