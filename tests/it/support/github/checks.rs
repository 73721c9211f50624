//! Check runs: created, updated and read as GitHub does, validated against its limits (sizes,
//! annotation count and fields, 4-byte Unicode), and kept whole.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Call, Caller, GithubState, Recorded, reject};

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
    /// Every annotation received, in order.
    pub annotations: Vec<Value>,
    /// Every status it was set to, in order.
    pub statuses: Vec<String>,
    /// Actions created it for a job: a workflow's token may not change its status.
    pub of_job: bool,
    pub text: Option<String>,
    /// Its buttons (`actions`), as last set.
    pub buttons: Vec<Value>,
    /// The App that made it: ours for an installation token's, GitHub Actions' for a
    /// workflow token's.
    pub app_id: u64,
}

/// GitHub Actions' App id: the App of every check run a workflow's token makes.
pub const ACTIONS_APP_ID: u64 = 15_368;

impl FakeCheck {
    /// The check run Actions creates for a job.
    pub fn of_job(id: u64, repo: &str, name: &str) -> Self {
        Self {
            id,
            repo: repo.to_owned(),
            name: name.to_owned(),
            head_sha: String::new(),
            external_id: None,
            details_url: None,
            status: "in_progress".into(),
            conclusion: None,
            title: None,
            summary: None,
            annotations: Vec::new(),
            statuses: vec!["in_progress".into()],
            of_job: true,
            text: None,
            buttons: Vec::new(),
            app_id: ACTIONS_APP_ID,
        }
    }

    fn html_url(&self) -> String {
        format!("https://github.test/{}/runs/{}", self.repo, self.id)
    }
}

/// The check run a request PATCHes, if it does.
pub(super) fn patched_check(recorded: &Recorded) -> Option<u64> {
    (recorded.method == "PATCH")
        .then(|| recorded.path.rsplit_once("/check-runs/"))
        .flatten()
        .and_then(|(_, id)| id.parse().ok())
}

/// Counts a PATCH in flight; how long it takes (slow when it carries annotations).
pub(super) fn patch_begins(s: &mut GithubState, id: u64, recorded: &Recorded) -> Duration {
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
}

pub(super) fn endpoint(s: &mut GithubState, call: &Call<'_>) -> Option<Response> {
    let (caller, method, segments, recorded) =
        (&call.caller, call.method, call.segments, call.recorded);
    let body = recorded.json();
    Some(match (method, segments) {
        ("POST", ["repos", _, _, "check-runs"]) => create(s, caller, &body),
        ("PATCH", ["repos", _, _, "check-runs", id]) => update(s, caller, id, &body),
        ("GET", ["repos", _, _, "check-runs", id]) => match find(s, caller, id) {
            Some(c) => axum::Json(json!({
                "id": c.id,
                "name": c.name,
                "head_sha": c.head_sha,
                "external_id": c.external_id,
                "status": c.status,
                "conclusion": c.conclusion,
                "html_url": c.html_url(),
                "app": {"id": c.app_id, "slug": if c.app_id == super::APP_ID { super::app::APP_SLUG } else { "github-actions" }},
                "output": {"title": c.title, "summary": c.summary, "text": c.text, "annotations_count": c.annotations.len()},
            }))
            .into_response(),
            None => reject(s, 404, "Not Found"),
        },
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
                .filter(|c| c.repo == caller.repo && c.head_sha == *sha)
                .filter(|c| name.as_ref().is_none_or(|n| *n == c.name))
                .map(|c| json!({"id": c.id, "external_id": c.external_id, "html_url": c.html_url()}))
                .collect();
            axum::Json(json!({"total_count": runs.len(), "check_runs": runs})).into_response()
        }
        _ => return None,
    })
}

fn find<'a>(s: &'a GithubState, caller: &Caller, id: &str) -> Option<&'a FakeCheck> {
    let id: u64 = id.parse().ok()?;
    s.checks
        .iter()
        .find(|c| c.id == id && c.repo == caller.repo)
}

fn create(s: &mut GithubState, caller: &Caller, body: &Value) -> Response {
    if let Err(reason) = validate_check_run(body, true) {
        return reject(s, 422, &reason);
    }
    let id = s.next_id();
    let text = |path: &str| {
        body.pointer(path)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let status = text("/status").unwrap_or_else(|| "queued".into());
    let check = FakeCheck {
        id,
        repo: caller.repo.clone(),
        name: text("/name").unwrap_or_default(),
        head_sha: text("/head_sha").unwrap_or_default(),
        external_id: text("/external_id"),
        details_url: text("/details_url"),
        status: status.clone(),
        conclusion: text("/conclusion"),
        title: text("/output/title"),
        summary: text("/output/summary"),
        annotations: annotations_of(body),
        statuses: vec![status.clone()],
        of_job: false,
        text: text("/output/text"),
        buttons: buttons_of(body),
        app_id: if caller.workflow {
            ACTIONS_APP_ID
        } else {
            super::APP_ID
        },
    };
    let answer = json!({"id": id, "html_url": check.html_url(), "status": status,
                        "external_id": check.external_id});
    s.checks.push(check);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

fn update(s: &mut GithubState, caller: &Caller, id: &str, body: &Value) -> Response {
    let Some(index) = find(s, caller, id).map(|found| {
        let id = found.id;
        s.checks.iter().position(|c| c.id == id).unwrap()
    }) else {
        return reject(s, 404, "Not Found");
    };
    if s.checks[index].of_job
        && caller.workflow
        && (body.get("status").is_some() || body.get("conclusion").is_some())
    {
        return reject(
            s,
            403,
            "GITHUB_TOKEN cannot change the status or conclusion of a check run Actions created",
        );
    }
    if let Err(reason) = validate_check_run(body, false) {
        return reject(s, 422, &reason);
    }
    let check = &mut s.checks[index];
    if let Some(status) = body.get("status").and_then(Value::as_str) {
        check.status = status.to_owned();
        check.statuses.push(status.to_owned());
    }
    if let Some(conclusion) = body.get("conclusion").and_then(Value::as_str) {
        check.conclusion = Some(conclusion.to_owned());
        check.status = "completed".into();
    }
    if let Some(output) = body.get("output") {
        let text = |name: &str| output.get(name).and_then(Value::as_str).map(str::to_owned);
        check.title = text("title");
        check.summary = text("summary");
        check.text = text("text");
        check.annotations.extend(annotations_of(body));
    }
    if body.get("actions").is_some() {
        check.buttons = buttons_of(body);
    }
    axum::Json(json!({"id": check.id, "html_url": check.html_url()})).into_response()
}

fn buttons_of(body: &Value) -> Vec<Value> {
    body.get("actions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn annotations_of(body: &Value) -> Vec<Value> {
    body.pointer("/output/annotations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
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
fn validate_check_run(body: &Value, create: bool) -> Result<(), String> {
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
    validate_buttons(body)?;
    let Some(output) = body.get("output") else {
        return Ok(());
    };
    if str_field(output, "title").is_none() && create {
        return Err("output.title is required".into());
    }
    let summary = str_field(output, "summary").ok_or("output.summary is required")?;
    for (name, text) in [
        ("summary", Some(summary)),
        ("text", str_field(output, "text")),
    ] {
        if let Some(text) = text
            && text.len() > 65_535
        {
            return Err(format!(
                "Only 65535 characters are allowed; {} were supplied. ({name})",
                text.len()
            ));
        }
    }
    let annotations = annotations_of(body);
    if annotations.len() > 50 {
        return Err(format!(
            "{} annotations were sent; the maximum is 50",
            annotations.len()
        ));
    }
    annotations.iter().try_for_each(validate_annotation)
}

/// GitHub's limits for `actions`: three at most; label 20, description 40, identifier 20.
fn validate_buttons(body: &Value) -> Result<(), String> {
    let Some(actions) = body.get("actions") else {
        return Ok(());
    };
    let actions = actions.as_array().ok_or("actions must be an array")?;
    if actions.len() > 3 {
        return Err(format!(
            "{} actions were sent; the maximum is 3",
            actions.len()
        ));
    }
    for action in actions {
        for (field, max) in [("label", 20), ("description", 40), ("identifier", 20)] {
            let value = action
                .get(field)
                .and_then(Value::as_str)
                .ok_or(format!("action {field} is required"))?;
            if value.chars().count() > max || value.is_empty() {
                return Err(format!("action {field} must be 1 to {max} characters"));
            }
        }
    }
    Ok(())
}

fn validate_annotation(a: &Value) -> Result<(), String> {
    let str_field = |name: &str| a.get(name).and_then(Value::as_str).map(str::to_owned);
    for required in ["path", "message"] {
        if str_field(required).is_none() {
            return Err(format!("annotation {required} is required"));
        }
    }
    for line in ["start_line", "end_line"] {
        if a.get(line).and_then(Value::as_u64).is_none_or(|l| l == 0) {
            return Err(format!("annotation {line} must be a positive integer"));
        }
    }
    let level = str_field("annotation_level").unwrap_or_default();
    if !LEVELS.contains(&level.as_str()) {
        return Err(format!("annotation_level {level:?} is not a valid value"));
    }
    if str_field("title").is_some_and(|t| t.chars().count() > 255) {
        return Err("annotation title is too long (maximum is 255 characters)".into());
    }
    for field in ["message", "raw_details"] {
        if str_field(field).is_some_and(|t| t.len() > 65_535) {
            return Err(format!("annotation {field} is too long (maximum is 64 KB)"));
        }
    }
    for field in ["path", "title", "message", "raw_details"] {
        if str_field(field).is_some_and(|t| t.chars().any(|c| c as u32 > 0xFFFF)) {
            return Err(format!(
                "Invalid request: annotation {field} contains 4-byte Unicode"
            ));
        }
    }
    Ok(())
}
