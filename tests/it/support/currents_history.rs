//! The fake Currents' test history and Actions, with the documented shapes and paging
//! (reference `currents-tests-actions.md`): the Tests Explorer in offset pages
//! (`page`/`limit`, `total`, `nextPage`), a test's results in cursor pages (`starting_after`,
//! `has_more`), signatures computed from project, spec and title, and the project's Actions.
//! Dates are required where Currents requires them; old and new filter names are both read.

use std::collections::HashMap;

use serde_json::{Value, json};
use sha2::Digest;

use super::fake::{Recorded, Reply, Script};
use super::{CurrentsState, serving, synthetic_run};

#[derive(Default)]
pub struct HistoryState {
    /// Tests Explorer rows of each branch.
    pub explorer: HashMap<String, Vec<Value>>,
    /// Results of each signature, newest first; each names its branch in `commit.branch`.
    pub results: HashMap<String, Vec<Value>>,
    /// The project's Actions, any status.
    pub actions: Vec<Value>,
    /// Routes answered with a reply instead: `tests`, `test-results`, `signature`, `actions`
    /// (reads), `actions-write` (create, disable).
    pub refuse: HashMap<&'static str, Reply>,
    /// Actions made through `POST /actions`, in order (their bodies as sent).
    pub created: Vec<Value>,
}

/// The signature Currents would give `title` in `spec` (a stable digest, as the real one is).
pub fn signature_of(project: &str, spec: &str, title: &[&str]) -> String {
    let digest = sha2::Sha256::digest(format!("{project}|{spec}|{}", title.join(" > ")));
    hex::encode(&digest[..16])
}

/// An Explorer row: its name is the title's last segment, as in the reference's example.
pub fn explorer_row(
    spec: &str,
    title: &[&str],
    executions: u64,
    flaky: u64,
    failures: u64,
) -> Value {
    json!({
        "title": title.last().unwrap(),
        "signature": signature_of("Xk9Pq2", spec, title),
        "spec": spec,
        "metrics": {
            "executions": executions, "failures": failures, "ignored": 0,
            "passes": executions - failures, "flaky": flaky,
            "flakinessRate": flaky as f64 / executions.max(1) as f64,
            "failureRate": failures as f64 / executions.max(1) as f64,
            "avgDurationMs": 1000.0,
        },
        "latestTag": [],
        "lastSeen": "2026-08-20T14:02:11.512Z"
    })
}

/// A past result of a test on `branch`.
pub fn past_result(signature: &str, status: &str, branch: &str, at: &str, sha: &str) -> Value {
    json!({
        "signature": signature, "testId": "9d314e60d70d532f877a-b29c77ddb916da38bad5",
        "createdAt": at, "projectId": "Xk9Pq2", "runId": "c0ffee0000000000",
        "status": status, "flaky": false, "expectedStatus": "passed",
        "commit": {"branch": branch, "sha": sha, "authorName": "Sam", "message": "chore"},
        "attempts": []
    })
}

fn query(recorded: &Recorded) -> Vec<(String, String)> {
    url::form_urlencoded::parse(recorded.query.as_bytes())
        .into_owned()
        .collect()
}

fn one(query: &[(String, String)], names: &[&str]) -> Option<String> {
    query
        .iter()
        .find(|(k, _)| names.contains(&k.as_str()))
        .map(|(_, v)| v.clone())
}

fn bad(message: &str) -> Reply {
    Reply {
        status: 400,
        body: json!({"status": "FAILED", "error": message}),
        headers: Vec::new(),
    }
}

/// The limit asked for: at most 100 (the fake accepts 51-100, as older sources allow).
fn limit(query: &[(String, String)], default: usize) -> Result<usize, Reply> {
    match one(query, &["limit"]).map(|l| l.parse::<usize>()) {
        None => Ok(default),
        Some(Ok(n)) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(bad("\"limit\" must be between 1 and 100")),
    }
}

fn dated(query: &[(String, String)]) -> Result<(), Reply> {
    for name in ["date_start", "date_end"] {
        if one(query, &[name]).is_none() {
            return Err(bad(&format!("\"{name}\" is mandatory")));
        }
    }
    Ok(())
}

const BRANCH_NAMES: [&str; 4] = ["branches[]", "branch[]", "branches", "branch"];

/// The answer to a history or Actions call; `None` for another route.
pub(super) fn answer(
    h: &mut HistoryState,
    recorded: &Recorded,
    segments: &[&str],
) -> Option<Reply> {
    let route = match (recorded.method.as_str(), segments) {
        ("GET", ["tests", _]) => "tests",
        ("GET", ["test-results", _]) => "test-results",
        ("POST", ["signature", "test"]) => "signature",
        ("GET", ["actions"]) | ("GET", ["actions", _]) => "actions",
        ("POST", ["actions"]) | ("PUT", ["actions", _, "disable"]) => "actions-write",
        _ => return None,
    };
    if let Some(reply) = h.refuse.get(route) {
        return Some(reply.clone());
    }
    let query = query(recorded);
    let answer = match (route, segments) {
        ("tests", _) => explorer(h, &query),
        ("test-results", _) => results(h, &query, segments[1]),
        ("signature", _) => signature(&recorded.json()),
        ("actions", ["actions", id]) => one_action(h, id),
        ("actions", _) => actions(h, &query),
        ("actions-write", ["actions"]) => create_action(h, &query, &recorded.json()),
        (_, ["actions", id, "disable"]) => disable_action(h, id),
        _ => Err(bad("unknown route")),
    };
    Some(answer.unwrap_or_else(|refusal| refusal))
}

fn explorer(h: &HistoryState, query: &[(String, String)]) -> Result<Reply, Reply> {
    dated(query)?;
    let limit = limit(query, 50)?;
    let page: usize = one(query, &["page"])
        .map_or(Ok(0), |p| p.parse())
        .map_err(|_| bad("page"))?;
    let branch = one(query, &BRANCH_NAMES).unwrap_or_default();
    let spec = one(query, &["spec"]).unwrap_or_default();
    let rows: Vec<&Value> = h
        .explorer
        .get(&branch)
        .into_iter()
        .flatten()
        .filter(|r| r["spec"].as_str().unwrap_or_default().contains(&spec))
        .collect();
    let list: Vec<&Value> = rows
        .iter()
        .skip(page * limit)
        .take(limit)
        .copied()
        .collect();
    let next = if (page + 1) * limit < rows.len() {
        json!(page + 1)
    } else {
        json!(false)
    };
    Ok(Reply::ok(json!({"status": "OK", "data": {
        "list": list, "count": list.len(), "total": rows.len(), "nextPage": next
    }})))
}

fn results(h: &HistoryState, query: &[(String, String)], signature: &str) -> Result<Reply, Reply> {
    dated(query)?;
    let limit = limit(query, 10)?;
    let branch = one(query, &BRANCH_NAMES);
    let after = one(query, &["starting_after"]);
    let all: Vec<Value> = h
        .results
        .get(signature)
        .into_iter()
        .flatten()
        .filter(|r| branch.as_deref().is_none_or(|b| r["commit"]["branch"] == b))
        .enumerate()
        .map(|(n, r)| {
            let mut r = r.clone();
            r["cursor"] = json!(format!("cursor{n:04}"));
            r
        })
        .collect();
    let start = match after {
        Some(cursor) => all
            .iter()
            .position(|r| r["cursor"] == cursor.as_str())
            .map_or(all.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<&Value> = all.iter().skip(start).take(limit).collect();
    let has_more = start + page.len() < all.len();
    Ok(Reply::ok(
        json!({"status": "OK", "has_more": has_more, "data": page}),
    ))
}

fn signature(body: &Value) -> Result<Reply, Reply> {
    let (Some(project), Some(spec)) = (body["projectId"].as_str(), body["specFilePath"].as_str())
    else {
        return Err(bad(
            "Invalid request body: projectId and specFilePath are required",
        ));
    };
    let title: Vec<&str> = match &body["testTitle"] {
        Value::Array(parts) => parts.iter().filter_map(Value::as_str).collect(),
        Value::String(joined) => joined.split(" > ").collect(),
        _ => Vec::new(),
    };
    if title.is_empty() {
        return Err(Reply {
            status: 422,
            body: json!({"status": "FAILED", "error": "Invalid testTitle format. Must be a non-empty array"}),
            headers: Vec::new(),
        });
    }
    let signature = signature_of(project, spec, &title);
    Ok(Reply::ok(
        json!({"status": "OK", "data": {"signature": signature}}),
    ))
}

fn actions(h: &HistoryState, query: &[(String, String)]) -> Result<Reply, Reply> {
    if one(query, &["projectId"]).is_none() {
        return Err(bad("\"projectId\" is required"));
    }
    let statuses: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "status" || k == "status[]")
        .map(|(_, v)| v.as_str())
        .collect();
    let search = one(query, &["search"]).unwrap_or_default().to_lowercase();
    let list: Vec<&Value> = h
        .actions
        .iter()
        .filter(|a| {
            statuses.is_empty() || statuses.contains(&a["status"].as_str().unwrap_or_default())
        })
        .filter(|a| {
            let name = a["name"].as_str().unwrap_or_default().to_lowercase();
            name.contains(&search)
        })
        .collect();
    Ok(Reply::ok(json!({"status": "OK", "data": list})))
}

fn not_found() -> Reply {
    Reply {
        status: 404,
        body: json!({"status": "FAILED", "error": "Not found"}),
        headers: Vec::new(),
    }
}

fn one_action(h: &HistoryState, id: &str) -> Result<Reply, Reply> {
    let found = h
        .actions
        .iter()
        .find(|a| a["actionId"] == id)
        .ok_or_else(not_found)?;
    Ok(Reply::ok(json!({"status": "OK", "data": found})))
}

/// `POST /actions?projectId=`, checked as the OpenAPI document describes the body.
fn create_action(
    h: &mut HistoryState,
    query: &[(String, String)],
    body: &Value,
) -> Result<Reply, Reply> {
    if one(query, &["projectId"]).is_none() {
        return Err(bad("\"projectId\" is required"));
    }
    let name = body["name"].as_str().unwrap_or_default();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(bad(
            "Invalid request body: name is required (1-255 characters)",
        ));
    }
    if body["description"]
        .as_str()
        .is_some_and(|d| d.chars().count() > 1000)
    {
        return Err(bad(
            "Invalid request body: description is longer than 1000 characters",
        ));
    }
    let ops_ok = body["action"].as_array().is_some_and(|a| {
        !a.is_empty()
            && a.iter()
                .all(|x| matches!(x["op"].as_str(), Some("skip" | "quarantine" | "tag")))
    });
    let cond = body["matcher"]["cond"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let matcher_ok = matches!(body["matcher"]["op"].as_str(), Some("AND" | "OR"))
        && !cond.is_empty()
        && cond
            .iter()
            .all(|c| c["type"].is_string() && c["op"].is_string());
    if !ops_ok || !matcher_ok {
        return Err(bad("Invalid request body: action and matcher are required"));
    }
    h.created.push(body.clone());
    let mut action = body.clone();
    action["actionId"] = json!(format!("66b2f1c4e8a9d7{:010x}", h.created.len()));
    action["status"] = json!("active");
    action["createdAt"] = json!("2026-12-04T10:02:00.000Z");
    action["createdBy"] = json!("github-relay");
    h.actions.push(action.clone());
    Ok(Reply {
        status: 201,
        body: json!({"status": "OK", "data": action}),
        headers: Vec::new(),
    })
}

fn disable_action(h: &mut HistoryState, id: &str) -> Result<Reply, Reply> {
    let action = h
        .actions
        .iter_mut()
        .find(|a| a["actionId"] == id)
        .ok_or_else(not_found)?;
    action["status"] = json!("disabled");
    action["disabledBy"] = json!("github-relay");
    Ok(Reply::ok(json!({"status": "OK", "data": action})))
}

/// A run of four failed specs, one failed test each: `feature 0` is quarantined by a rule, `feature 1`
/// fails on `main` for its last two results, `feature 2` is flaky on `main` (20% of 41 runs),
/// `feature 3` last passed on `main` (new); the run's id is `run_id`.
pub fn four_verdicts_of(run_id: &str) -> CurrentsState {
    let (mut run, instances) = synthetic_run(12, 4, 1, "x");
    run["data"]["runId"] = json!(run_id);
    let mut state = serving(run, &instances);
    state.runs_list = Script::of([Reply::ok(
        json!({"status": "OK", "has_more": false, "data": []}),
    )]);
    let test = |n: usize| {
        let spec = format!("tests/area{}/feature-{n}.spec.ts", n % 7);
        let title = [
            format!("feature {n} x"),
            "case 0 «x» handles input".to_owned(),
        ];
        (spec, title)
    };
    let history = &mut state.history;
    let mut rows = Vec::new();
    for n in 0..4 {
        let (spec, title) = test(n);
        let title: Vec<&str> = title.iter().map(String::as_str).collect();
        let (flaky, failures) = if n == 2 { (8, 8) } else { (0, 1) };
        rows.push(explorer_row(&spec, &title, 41, flaky, failures));
        let sig = signature_of("Xk9Pq2", &spec, &title);
        let results = match n {
            1 => vec![
                past_result(
                    &sig,
                    "failed",
                    "main",
                    "2026-08-20T10:00:00.000Z",
                    "aaaa1111",
                ),
                past_result(
                    &sig,
                    "failed",
                    "main",
                    "2026-08-19T10:00:00.000Z",
                    "aaaa2222",
                ),
                past_result(
                    &sig,
                    "passed",
                    "main",
                    "2026-08-18T10:00:00.000Z",
                    "aaaa3333",
                ),
            ],
            _ => vec![past_result(
                &sig,
                "passed",
                "main",
                "2026-08-19T09:41:02.220Z",
                "8a7b6c5d4e3f",
            )],
        };
        history.results.insert(sig, results);
    }
    history.explorer.insert("main".into(), rows);
    history.actions = vec![
        json!({"actionId": "66b2f1c4e8a9d70012ab34cd", "name": "Quarantine feature 0",
               "createdBy": "jane@acme.example", "status": "active",
               "expiresAfter": "2999-09-03T15:00:00.000Z", "action": [{"op": "quarantine"}],
               "matcher": {"op": "AND", "cond": [
                   {"type": "testId", "op": "eq", "value": "inst000000000000-t0"},
                   {"type": "git_branch", "op": "neq", "value": "main"}]}}),
        // Disabled: asked for only as active, never applied.
        json!({"actionId": "66a0b9e2c7d8f50011aa22bb", "name": "Old", "status": "disabled",
               "action": [{"op": "skip"}],
               "matcher": {"op": "OR", "cond": [{"type": "title", "op": "any", "value": null}]}}),
    ];
    state
}
