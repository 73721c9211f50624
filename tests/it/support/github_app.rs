//! A fake GitHub that does what GitHub does for an App:
//!
//! - App endpoints take only a JWT signed RS256 with the App's key (verified with its public
//!   key), issued by the App's id, not from the future, at most 10 minutes long;
//! - installation tokens expire (after `token_lifetime`), and an expired one gets 401;
//! - check runs are validated as the plain fake GitHub validates them, and kept whole
//!   (status, conclusion, output, every annotation appended);
//! - `GET /app/hook/deliveries` pages with a cursor and a `Link` header, and
//!   `POST /app/hook/deliveries/{id}/attempts` sends that delivery again, signed, to the relay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Recorded, WEBHOOK_SECRET, record, reject_with, serve, validate_check_run};

pub const APP_ID: u64 = 31337;
/// The App's slug: its comments are written by `currents-bridge-test[bot]`.
pub const APP_SLUG: &str = "currents-bridge-test";
pub const BOT_LOGIN: &str = "currents-bridge-test[bot]";

/// The App's key pair, made once per test binary: (private PKCS#1 PEM, public SPKI PEM).
pub fn app_keys() -> &'static (String, String) {
    static KEYS: OnceLock<(String, String)> = OnceLock::new();
    KEYS.get_or_init(|| {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::{EncodePublicKey, LineEnding};
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let public = rsa::RsaPublicKey::from(&private);
        (
            private.to_pkcs1_pem(LineEnding::LF).unwrap().to_string(),
            public.to_public_key_pem(LineEnding::LF).unwrap(),
        )
    })
}

/// A check run as the fake keeps it.
#[derive(Debug, Clone)]
pub struct FakeCheck {
    pub id: u64,
    pub repo: String,
    pub name: String,
    pub head_sha: String,
    pub external_id: Option<String>,
    pub details_url: Option<String>,
    pub status: String,
    pub conclusion: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub annotations: Vec<Value>,
    /// Every status it was set to, in order.
    pub statuses: Vec<String>,
}

/// One delivery of the App's hook, with what a redelivery sends.
#[derive(Debug, Clone)]
pub struct FakeDelivery {
    pub id: u64,
    pub guid: String,
    pub event: String,
    pub action: String,
    pub status_code: u16,
    pub delivered_at: SystemTime,
    pub body: String,
}

pub struct AppState {
    /// `owner/repo` (lower case) → installation id.
    pub installations: HashMap<String, u64>,
    pub token_lifetime: Duration,
    /// Issued tokens: token → (installation, expiry).
    pub tokens: HashMap<String, (u64, SystemTime)>,
    pub checks: Vec<FakeCheck>,
    /// Newest first, as GitHub lists them.
    pub deliveries: Vec<FakeDelivery>,
    pub page_size: usize,
    /// Where a redelivery goes: the relay's `/webhooks/github`.
    pub relay_url: Option<String>,
    pub redelivered: Vec<u64>,
    pub requests: Vec<Recorded>,
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
    /// Pull request comments: (id, number, body).
    pub comments: Vec<(u64, u64, String)>,
    /// Comment authors other than the App's bot, by comment id.
    pub authors: HashMap<u64, String>,
    /// Open pull requests by head commit.
    pub pulls: HashMap<String, Vec<u64>>,
    next_id: u64,
}

impl Default for AppState {
    fn default() -> Self {
        Self {
            installations: HashMap::new(),
            token_lifetime: Duration::from_secs(3600),
            tokens: HashMap::new(),
            checks: Vec::new(),
            deliveries: Vec::new(),
            page_size: 100,
            relay_url: None,
            redelivered: Vec::new(),
            requests: Vec::new(),
            rejected: Vec::new(),
            latency: Duration::ZERO,
            answer_latency: Duration::ZERO,
            annotation_latency: Duration::ZERO,
            patches_in_flight: HashMap::new(),
            most_patches_at_once: 0,
            comments: Vec::new(),
            authors: HashMap::new(),
            pulls: HashMap::new(),
            next_id: 0,
        }
    }
}

impl AppState {
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
}

#[derive(Clone)]
pub struct FakeGithubApp {
    pub state: Arc<Mutex<AppState>>,
    pub addr: std::net::SocketAddr,
}

impl FakeGithubApp {
    pub async fn start(state: AppState) -> Self {
        let state = Arc::new(Mutex::new(state));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let addr = serve(app).await;
        Self { state, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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

    pub fn checks(&self) -> Vec<FakeCheck> {
        self.state.lock().unwrap().checks.clone()
    }

    pub fn rejected(&self) -> Vec<String> {
        self.state.lock().unwrap().rejected.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Checks a JWT as GitHub does; the reason when it is refused.
fn verify_jwt(header: Option<String>) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Claims {
        iat: u64,
        exp: u64,
        iss: String,
    }
    let token = header
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or("A JSON web token could not be decoded")?;
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(app_keys().1.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[APP_ID.to_string()]);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| format!("A JSON web token could not be decoded ({e})"))?
        .claims;
    let now = epoch(SystemTime::now());
    if claims.iat > now + 1 {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing a time in the past".into(),
        );
    }
    if claims.exp.saturating_sub(claims.iat) > 600 {
        return Err("'Expiration time' claim ('exp') is too far in the future".into());
    }
    assert_eq!(claims.iss, APP_ID.to_string());
    Ok(())
}

async fn handle(State(state): State<Arc<Mutex<AppState>>>, request: Request) -> Response {
    let recorded = record(request).await;
    let (latency, answer_latency) = {
        let s = state.lock().unwrap();
        (s.latency, s.answer_latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    // A check run's PATCH: counted while in flight, and slow when it carries annotations.
    let patched = (recorded.method == "PATCH")
        .then(|| recorded.path.rsplit_once("/check-runs/"))
        .flatten()
        .and_then(|(_, id)| id.parse::<u64>().ok());
    if let Some(id) = patched {
        let slow = {
            let mut s = state.lock().unwrap();
            let now = {
                let count = s.patches_in_flight.entry(id).or_default();
                *count += 1;
                *count
            };
            s.most_patches_at_once = s.most_patches_at_once.max(now);
            let annotated = recorded
                .json()
                .pointer("/output/annotations")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            if annotated {
                s.annotation_latency
            } else {
                Duration::ZERO
            }
        };
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

fn respond(state: &Arc<Mutex<AppState>>, recorded: Recorded) -> Response {
    let mut s = state.lock().unwrap();
    s.requests.push(recorded.clone());
    if recorded.header("user-agent").is_none() {
        return reject_with(&mut s.rejected, 403, "a User-Agent header is required");
    }
    let segments: Vec<String> = recorded
        .path
        .trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let auth = recorded.header("authorization");
    let method = recorded.method.as_str();
    // App endpoints: a JWT.
    let app_call = matches!(
        (method, segments.as_slice()),
        ("GET", ["repos", _, _, "installation"])
            | ("POST", ["app", "installations", _, "access_tokens"])
            | ("GET", ["app", "hook", "deliveries"])
            | ("GET", ["app"])
            | ("POST", ["app", "hook", "deliveries", _, "attempts"])
    );
    if app_call {
        if let Err(reason) = verify_jwt(auth) {
            return reject_with(&mut s.rejected, 401, &reason);
        }
        return app_endpoint(&mut s, state, method, &segments, &recorded);
    }
    // Repository endpoints: a live installation token for that repository's installation.
    let Some([owner, repo]) = segments.get(1..3).map(|p| [p[0], p[1]]) else {
        return reject_with(&mut s.rejected, 404, "Not Found");
    };
    let full = format!("{owner}/{repo}").to_ascii_lowercase();
    let token = auth
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    match (s.tokens.get(token), s.installations.get(&full)) {
        (Some((installation, expiry)), Some(wanted)) if installation == wanted => {
            if *expiry <= SystemTime::now() {
                return reject_with(&mut s.rejected, 401, "Bad credentials (the token expired)");
            }
        }
        _ => return reject_with(&mut s.rejected, 401, "Bad credentials"),
    }
    let body = recorded.json();
    match (method, segments.as_slice()) {
        ("POST", ["repos", _, _, "check-runs"]) => {
            if let Err(reason) = validate_check_run(&body, true) {
                return reject_with(&mut s.rejected, 422, &reason);
            }
            s.next_id += 1;
            let id = s.next_id;
            let text = |path: &str| {
                body.pointer(path)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let status = text("/status").unwrap_or_else(|| "queued".into());
            s.checks.push(FakeCheck {
                id,
                repo: full.clone(),
                name: text("/name").unwrap_or_default(),
                head_sha: text("/head_sha").unwrap_or_default(),
                external_id: text("/external_id"),
                details_url: text("/details_url"),
                status: status.clone(),
                conclusion: text("/conclusion"),
                title: text("/output/title"),
                summary: text("/output/summary"),
                annotations: body
                    .pointer("/output/annotations")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                statuses: vec![status],
            });
            (
                StatusCode::CREATED,
                axum::Json(json!({"id": id, "html_url": format!("https://github.test/{full}/runs/{id}"), "external_id": text("/external_id")})),
            )
                .into_response()
        }
        ("PATCH", ["repos", _, _, "check-runs", id]) => {
            if let Err(reason) = validate_check_run(&body, false) {
                return reject_with(&mut s.rejected, 422, &reason);
            }
            let Some(check) = id
                .parse::<u64>()
                .ok()
                .and_then(|id| s.checks.iter_mut().find(|c| c.id == id && c.repo == full))
            else {
                return reject_with(&mut s.rejected, 404, "Not Found");
            };
            if let Some(status) = body.get("status").and_then(Value::as_str) {
                check.status = status.to_owned();
                check.statuses.push(status.to_owned());
            }
            if let Some(conclusion) = body.get("conclusion").and_then(Value::as_str) {
                check.conclusion = Some(conclusion.to_owned());
                check.status = "completed".into();
            }
            if let Some(output) = body.get("output") {
                check.title = output
                    .get("title")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                check.summary = output
                    .get("summary")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                check.annotations.extend(
                    output
                        .get("annotations")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            let id = check.id;
            axum::Json(
                json!({"id": id, "html_url": format!("https://github.test/{full}/runs/{id}")}),
            )
            .into_response()
        }
        ("GET", ["repos", _, _, "check-runs", id]) => {
            match id
                .parse::<u64>()
                .ok()
                .and_then(|id| s.checks.iter().find(|c| c.id == id && c.repo == full))
            {
                Some(c) => axum::Json(json!({
                    "id": c.id,
                    "external_id": c.external_id,
                    "status": c.status,
                    "html_url": format!("https://github.test/{full}/runs/{}", c.id),
                    "output": {"title": c.title, "summary": c.summary, "annotations_count": c.annotations.len()},
                }))
                .into_response(),
                None => reject_with(&mut s.rejected, 404, "Not Found"),
            }
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
        ("GET", ["repos", _, _, "issues", number, "comments"]) => {
            let number: u64 = number.parse().unwrap_or(0);
            let list: Vec<Value> = s
                .comments
                .iter()
                .filter(|(_, n, _)| *n == number)
                .map(|(id, _, body)| {
                    let login = s.authors.get(id).map_or(BOT_LOGIN, String::as_str);
                    json!({"id": id, "body": body, "user": {"login": login, "type": "Bot"}})
                })
                .collect();
            axum::Json(list).into_response()
        }
        ("POST", ["repos", _, _, "issues", number, "comments"]) => {
            let number: u64 = number.parse().unwrap_or(0);
            let text = body["body"].as_str().unwrap_or_default().to_owned();
            if text.is_empty() || text.chars().count() > 65_536 {
                return reject_with(&mut s.rejected, 422, "body is empty or too long");
            }
            s.next_id += 1;
            let id = 70_000 + s.next_id;
            s.comments.push((id, number, text));
            (StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response()
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            if s.authors.contains_key(&id) {
                return reject_with(&mut s.rejected, 403, "another user's comment");
            }
            let text = body["body"].as_str().unwrap_or_default().to_owned();
            match s.comments.iter_mut().find(|(c, _, _)| *c == id) {
                Some(comment) => {
                    comment.2 = text;
                    axum::Json(json!({"id": id})).into_response()
                }
                None => reject_with(&mut s.rejected, 404, "Not Found"),
            }
        }
        ("GET", ["repos", _, _, "commits", sha, "check-runs"]) => {
            let name = recorded
                .query
                .split('&')
                .find_map(|p| p.strip_prefix("check_name="))
                .map(|n| {
                    url::form_urlencoded::parse(format!("n={n}").as_bytes())
                        .next()
                        .unwrap()
                        .1
                        .into_owned()
                });
            let runs: Vec<Value> = s
                .checks
                .iter()
                .filter(|c| c.repo == full && c.head_sha == *sha)
                .filter(|c| name.as_ref().is_none_or(|n| *n == c.name))
                .map(|c| json!({"id": c.id, "external_id": c.external_id, "html_url": format!("https://github.test/{full}/runs/{}", c.id)}))
                .collect();
            axum::Json(json!({"total_count": runs.len(), "check_runs": runs})).into_response()
        }
        _ => reject_with(&mut s.rejected, 404, "Not Found"),
    }
}

fn app_endpoint(
    s: &mut AppState,
    shared: &Arc<Mutex<AppState>>,
    method: &str,
    segments: &[&str],
    recorded: &Recorded,
) -> Response {
    match (method, segments) {
        ("GET", ["app"]) => {
            axum::Json(json!({"id": APP_ID, "slug": APP_SLUG, "name": "Currents Bridge"}))
                .into_response()
        }
        ("GET", ["repos", owner, repo, "installation"]) => {
            let full = format!("{owner}/{repo}").to_ascii_lowercase();
            match s.installations.get(&full) {
                Some(id) => axum::Json(json!({"id": id, "app_id": APP_ID})).into_response(),
                None => reject_with(&mut s.rejected, 404, "Not Found"),
            }
        }
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            let Ok(id) = id.parse::<u64>() else {
                return reject_with(&mut s.rejected, 404, "Not Found");
            };
            if !s.installations.values().any(|i| *i == id) {
                return reject_with(&mut s.rejected, 404, "Not Found");
            }
            let token = format!("ghs_fake{:016x}", fastrand::u64(..));
            let expires = SystemTime::now() + s.token_lifetime;
            s.tokens.insert(token.clone(), (id, expires));
            (
                StatusCode::CREATED,
                axum::Json(json!({"token": token, "expires_at": rfc3339(expires)})),
            )
                .into_response()
        }
        ("GET", ["app", "hook", "deliveries"]) => {
            let cursor: usize = recorded
                .query
                .split('&')
                .find_map(|p| p.strip_prefix("cursor="))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let page: Vec<Value> = s
                .deliveries
                .iter()
                .skip(cursor)
                .take(s.page_size)
                .map(|d| {
                    json!({"id": d.id, "guid": d.guid, "delivered_at": rfc3339(d.delivered_at),
                           "redelivery": false, "duration": 0.1, "status": if d.status_code == 200 { "OK" } else { "Bad Gateway" },
                           "status_code": d.status_code, "event": d.event, "action": d.action,
                           "installation_id": 1000, "repository_id": 1})
                })
                .collect();
            let next = cursor + s.page_size;
            let mut response = axum::Json(page).into_response();
            if next < s.deliveries.len() {
                let link = format!(
                    "<http://{}/app/hook/deliveries?per_page={}&cursor={next}>; rel=\"next\"",
                    recorded.header("host").unwrap_or_default(),
                    s.page_size
                );
                response.headers_mut().insert("link", link.parse().unwrap());
            }
            response
        }
        ("POST", ["app", "hook", "deliveries", id, "attempts"]) => {
            let Some(delivery) = id
                .parse::<u64>()
                .ok()
                .and_then(|id| s.deliveries.iter().find(|d| d.id == id).cloned())
            else {
                return reject_with(&mut s.rejected, 404, "Not Found");
            };
            s.redelivered.push(delivery.id);
            let shared = Arc::clone(shared);
            // GitHub answers at once and delivers afterwards, with the original GUID. The test
            // names the relay's address once it has started.
            tokio::spawn(async move {
                let relay = loop {
                    if let Some(url) = shared.lock().unwrap().relay_url.clone() {
                        break url;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                };
                let signature =
                    currents_bridge::relay::verify::sign(WEBHOOK_SECRET, delivery.body.as_bytes());
                let status = reqwest::Client::new()
                    .post(&relay)
                    .header("content-type", "application/json")
                    .header("user-agent", "GitHub-Hookshot/fake")
                    .header("x-github-event", &delivery.event)
                    .header("x-github-delivery", &delivery.guid)
                    .header("x-github-hook-id", "777")
                    .header("x-hub-signature-256", signature)
                    .body(delivery.body.clone())
                    .send()
                    .await
                    .map_or(0, |r| r.status().as_u16());
                let mut s = shared.lock().unwrap();
                s.next_id += 1;
                let id = 900_000 + s.next_id;
                s.deliveries.insert(
                    0,
                    FakeDelivery {
                        id,
                        status_code: status,
                        delivered_at: SystemTime::now(),
                        ..delivery
                    },
                );
            });
            (StatusCode::ACCEPTED, axum::Json(json!({}))).into_response()
        }
        _ => reject_with(&mut s.rejected, 404, "Not Found"),
    }
}
