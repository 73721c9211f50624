//! Pull requests of a commit and their comments: listed, created, edited and deleted as GitHub
//! does, each written by whom the token speaks for, and only its author may change it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Call, Caller, GithubState, reject};

const MAX_BODY_CHARS: usize = 65_536;

pub(super) fn endpoint(s: &mut GithubState, call: &Call<'_>) -> Option<Response> {
    let (caller, method, segments, recorded) =
        (&call.caller, call.method, call.segments, call.recorded);
    if segments.get(3) == Some(&"issues")
        && let Some(status) = s.refuse_comments_with
    {
        return Some(reject(s, status, "Resource not accessible by integration"));
    }
    let number = |n: &str| n.parse::<u64>().unwrap_or(0);
    Some(match (method, segments) {
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
        ("GET", ["repos", _, _, "issues", n, "comments"]) => list(s, number(n)),
        ("POST", ["repos", _, _, "issues", n, "comments"]) => {
            create(s, caller, number(n), &recorded.json())
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            edit(s, caller, number(id), &recorded.json())
        }
        ("DELETE", ["repos", _, _, "issues", "comments", id]) => delete(s, caller, number(id)),
        _ => return None,
    })
}

fn html_url(number: u64, id: u64) -> String {
    format!("https://github.test/pull/{number}#issuecomment-{id}")
}

fn list(s: &GithubState, number: u64) -> Response {
    let list: Vec<Value> = s
        .comments
        .iter()
        .filter(|(_, n, _)| *n == number)
        .map(|(id, _, body)| {
            let login = s.authors.get(id).map_or("ghost", String::as_str);
            json!({"id": id, "body": body, "user": {"login": login, "type": "Bot"},
                   "html_url": html_url(number, *id)})
        })
        .collect();
    axum::Json(list).into_response()
}

/// GitHub's refusal: status and reason.
type Refusal = (u16, &'static str);

/// The comment's body, or GitHub's refusal.
fn body_of(body: &Value) -> Result<String, Refusal> {
    match body.get("body").and_then(Value::as_str) {
        None | Some("") => Err((422, "body is required")),
        Some(text) if text.chars().count() > MAX_BODY_CHARS => {
            Err((422, "Body is too long (maximum is 65536 characters)"))
        }
        Some(text) => Ok(text.to_owned()),
    }
}

/// Refused unless `caller` wrote comment `id` (or nobody is known to have).
fn own(s: &GithubState, caller: &Caller, id: u64) -> Result<(), Refusal> {
    match s.authors.get(&id) {
        Some(author) if author != caller.login => Err((403, "another user's comment")),
        _ => Ok(()),
    }
}

fn create(s: &mut GithubState, caller: &Caller, number: u64, body: &Value) -> Response {
    let text = match body_of(body) {
        Ok(text) => text,
        Err((status, reason)) => return reject(s, status, reason),
    };
    let id = 50_000 + s.next_id();
    s.comments.push((id, number, text.clone()));
    s.authors.insert(id, caller.login.to_owned());
    let answer = json!({"id": id, "body": text, "html_url": html_url(number, id)});
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

fn edit(s: &mut GithubState, caller: &Caller, id: u64, body: &Value) -> Response {
    let text = match body_of(body).and_then(|text| own(s, caller, id).map(|()| text)) {
        Ok(text) => text,
        Err((status, reason)) => return reject(s, status, reason),
    };
    let Some(comment) = s.comments.iter_mut().find(|(c, _, _)| *c == id) else {
        return reject(s, 404, "Not Found");
    };
    comment.2 = text.clone();
    let number = comment.1;
    axum::Json(json!({"id": id, "body": text, "html_url": html_url(number, id)})).into_response()
}

fn delete(s: &mut GithubState, caller: &Caller, id: u64) -> Response {
    if let Err((status, reason)) = own(s, caller, id) {
        return reject(s, status, reason);
    }
    let before = s.comments.len();
    s.comments.retain(|(c, _, _)| *c != id);
    if s.comments.len() == before {
        return reject(s, 404, "Not Found");
    }
    StatusCode::NO_CONTENT.into_response()
}
