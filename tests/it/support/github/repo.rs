//! A repository's collaborators and workflow runs: a user's role, the runs of a commit, and
//! the re-run of a run's failed jobs (refused without `actions: write`, or while it runs).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Call, GithubState, reject};

/// A workflow run as the fake keeps it.
#[derive(Debug, Clone)]
pub struct FakeWorkflowRun {
    pub attempt: u64,
    pub status: String,
    pub conclusion: Option<String>,
    pub head_sha: String,
}

impl FakeWorkflowRun {
    /// A completed, failed run of `head_sha` at its first attempt.
    pub fn failed(head_sha: &str) -> Self {
        Self {
            attempt: 1,
            status: "completed".into(),
            conclusion: Some("failure".into()),
            head_sha: head_sha.into(),
        }
    }
}

fn run_json(id: u64, run: &FakeWorkflowRun) -> Value {
    json!({"id": id, "run_attempt": run.attempt, "status": run.status,
           "conclusion": run.conclusion, "head_sha": run.head_sha,
           "html_url": format!("https://github.test/actions/runs/{id}")})
}

pub(super) fn endpoint(s: &mut GithubState, call: &Call<'_>) -> Option<Response> {
    let (caller, method, segments, recorded) =
        (&call.caller, call.method, call.segments, call.recorded);
    Some(match (method, segments) {
        ("GET", ["repos", _, _, "collaborators", login, "permission"]) => {
            match s.roles.get(&login.to_ascii_lowercase()) {
                Some(role) => {
                    let permission = match role.as_str() {
                        "maintain" => "write",
                        "triage" => "read",
                        other => other,
                    };
                    axum::Json(json!({"permission": permission, "role_name": role,
                                      "user": {"login": login}}))
                    .into_response()
                }
                None => reject(s, 404, "Not Found"),
            }
        }
        ("GET", ["repos", _, _, "actions", "runs", id]) => {
            match id
                .parse::<u64>()
                .ok()
                .and_then(|id| s.workflow_runs.get(&id).map(|r| (id, r)))
            {
                Some((id, run)) => axum::Json(run_json(id, run)).into_response(),
                None => reject(s, 404, "Not Found"),
            }
        }
        ("GET", ["repos", _, _, "actions", "runs"]) => {
            let sha = url::form_urlencoded::parse(recorded.query.as_bytes())
                .find(|(k, _)| k == "head_sha")
                .map(|(_, v)| v.into_owned());
            let mut runs: Vec<(&u64, &FakeWorkflowRun)> = s
                .workflow_runs
                .iter()
                .filter(|(_, r)| sha.as_ref().is_none_or(|sha| r.head_sha == *sha))
                .collect();
            runs.sort_by_key(|(id, _)| std::cmp::Reverse(**id));
            let list: Vec<Value> = runs.into_iter().map(|(id, r)| run_json(*id, r)).collect();
            axum::Json(json!({"total_count": list.len(), "workflow_runs": list})).into_response()
        }
        ("POST", ["repos", _, _, "actions", "runs", id, "rerun-failed-jobs"]) => {
            let may = caller.workflow
                || matches!(
                    s.permissions.get("actions").map(String::as_str),
                    Some("write")
                );
            if !may {
                return Some(reject(s, 403, "Resource not accessible by integration"));
            }
            if let Some(status) = s.refuse_reruns_with {
                return Some(reject(s, status, "scripted refusal of a re-run"));
            }
            let Some(id) = id
                .parse::<u64>()
                .ok()
                .filter(|id| s.workflow_runs.contains_key(id))
            else {
                return Some(reject(s, 404, "Not Found"));
            };
            let run = s.workflow_runs.get_mut(&id).unwrap();
            if run.status != "completed" {
                return Some(reject(s, 403, "This workflow is already running"));
            }
            run.attempt += 1;
            run.status = "queued".into();
            run.conclusion = None;
            s.reruns.push(id);
            (StatusCode::CREATED, axum::Json(json!({}))).into_response()
        }
        _ => return None,
    })
}
