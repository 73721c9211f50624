//! The event that triggered the workflow (`GITHUB_EVENT_NAME`, `GITHUB_EVENT_PATH`): read
//! once ([`Event::load`]) and asked for the check run's head SHA, the pull request and its base
//! branch.

use std::path::Path;

use serde_json::Value;

/// The workflow's event, read once.
#[derive(Debug, Clone, Default)]
pub struct Event {
    name: Option<String>,
    payload: Option<Value>,
}

impl Event {
    /// Reads the event file. A file that cannot be read or parsed is no event (every question
    /// then falls back), with the reason for one warning.
    pub fn load(name: Option<&str>, path: Option<&Path>) -> (Self, Option<String>) {
        let name = name.map(str::to_owned).filter(|n| !n.trim().is_empty());
        let Some(path) = path.filter(|p| !p.as_os_str().is_empty()) else {
            return (
                Self {
                    name,
                    payload: None,
                },
                None,
            );
        };
        let read = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()));
        match read {
            Ok(payload) => (
                Self {
                    name,
                    payload: Some(payload),
                },
                None,
            ),
            Err(reason) => (
                Self {
                    name,
                    payload: None,
                },
                Some(format!(
                    "Cannot read GITHUB_EVENT_PATH ({}): {reason}",
                    path.display()
                )),
            ),
        }
    }

    /// An event from its name and payload.
    pub fn new(name: Option<&str>, payload: Option<Value>) -> Self {
        Self {
            name: name.map(str::to_owned),
            payload,
        }
    }

    /// The commit a check run belongs on ([`head_sha`]).
    pub fn head_sha(&self, explicit: Option<&str>, github_sha: Option<&str>) -> Option<String> {
        head_sha(
            explicit,
            self.name.as_deref(),
            self.payload.as_ref(),
            github_sha,
        )
    }

    /// The base branch of the event's pull request ([`pull_request_base`]).
    pub fn pull_request_base(&self) -> Option<String> {
        pull_request_base(self.name.as_deref(), self.payload.as_ref())
    }

    /// The event's pull request ([`pull_request_number`]).
    pub fn pull_request_number(&self) -> Option<u64> {
        pull_request_number(self.name.as_deref(), self.payload.as_ref())
    }
}

/// The commit a check run belongs on:
/// 1. `--sha` when given;
/// 2. on `pull_request` and `pull_request_target`, the pull request's head, because
///    `GITHUB_SHA` is then a synthetic merge commit the pull request page does not show;
/// 3. on `workflow_run`, the head of the run that triggered this workflow (the fork pattern);
/// 4. otherwise `GITHUB_SHA`.
pub fn head_sha(
    explicit: Option<&str>,
    event_name: Option<&str>,
    event: Option<&Value>,
    github_sha: Option<&str>,
) -> Option<String> {
    let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    if let Some(sha) = explicit.and_then(non_empty) {
        return Some(sha);
    }
    let from_event = match event_name {
        Some(
            "pull_request"
            | "pull_request_target"
            | "pull_request_review"
            | "pull_request_review_comment",
        ) => event.and_then(|e| e.pointer("/pull_request/head/sha")),
        Some("workflow_run") => event.and_then(|e| e.pointer("/workflow_run/head_sha")),
        _ => None,
    };
    from_event
        .and_then(Value::as_str)
        .and_then(non_empty)
        .or_else(|| github_sha.and_then(non_empty))
}

/// The base branch of the pull request the event is about: `pull_request.base.ref`, or the
/// first of `workflow_run.pull_requests` (empty for a fork's pull request). `None` otherwise.
pub fn pull_request_base(event_name: Option<&str>, event: Option<&Value>) -> Option<String> {
    let base = match event_name? {
        "pull_request"
        | "pull_request_target"
        | "pull_request_review"
        | "pull_request_review_comment" => event?.pointer("/pull_request/base/ref"),
        "workflow_run" => event?.pointer("/workflow_run/pull_requests/0/base/ref"),
        _ => None,
    }?;
    base.as_str()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(str::to_owned)
}

/// The pull request number the event names: `pull_request.number` (or the event's `number`),
/// or the first of `workflow_run.pull_requests`.
pub fn pull_request_number(event_name: Option<&str>, event: Option<&Value>) -> Option<u64> {
    let event = event?;
    match event_name? {
        "pull_request"
        | "pull_request_target"
        | "pull_request_review"
        | "pull_request_review_comment" => event
            .pointer("/pull_request/number")
            .or_else(|| event.get("number"))
            .and_then(Value::as_u64),
        "workflow_run" => event
            .pointer("/workflow_run/pull_requests/0/number")
            .and_then(Value::as_u64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unreadable_event_file_is_no_event_and_says_why() {
        let dir = std::env::temp_dir().join(format!("event-{}", std::process::id()));
        std::fs::write(&dir, "{not json").unwrap();
        let (event, warning) = super::Event::load(Some("pull_request"), Some(&dir));
        std::fs::remove_file(&dir).unwrap();
        assert!(warning.unwrap().contains("Cannot read GITHUB_EVENT_PATH"));
        assert_eq!(event.head_sha(None, Some("abc")).as_deref(), Some("abc"));
        assert_eq!(event.pull_request_number(), None);
        let (none, warning) = super::Event::load(Some("push"), None);
        assert!(warning.is_none() && none.pull_request_base().is_none());
    }

    #[test]
    fn the_pull_request_number_comes_from_the_event() {
        let pr = json!({"number": 7, "pull_request": {"number": 7}});
        assert_eq!(
            pull_request_number(Some("pull_request"), Some(&pr)),
            Some(7)
        );
        let run = json!({"workflow_run": {"pull_requests": [{"number": 12}]}});
        assert_eq!(
            pull_request_number(Some("workflow_run"), Some(&run)),
            Some(12)
        );
        assert_eq!(pull_request_number(Some("push"), Some(&pr)), None);
    }

    #[test]
    fn the_base_branch_comes_from_the_pull_request() {
        let pr = json!({"pull_request": {"base": {"ref": "main"}, "head": {"sha": "h"}}});
        assert_eq!(
            pull_request_base(Some("pull_request"), Some(&pr)).as_deref(),
            Some("main")
        );
        let run = json!({"workflow_run": {"pull_requests": [{"base": {"ref": "release/2"}}]}});
        assert_eq!(
            pull_request_base(Some("workflow_run"), Some(&run)).as_deref(),
            Some("release/2")
        );
        let fork = json!({"workflow_run": {"pull_requests": []}});
        assert_eq!(pull_request_base(Some("workflow_run"), Some(&fork)), None);
        assert_eq!(pull_request_base(Some("push"), Some(&pr)), None);
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn pull_request_uses_the_head_not_the_merge_commit() {
        let event =
            json!({"pull_request": {"head": {"sha": "head111"}, "merge_commit_sha": "merge222"}});
        assert_eq!(
            head_sha(None, Some("pull_request"), Some(&event), Some("merge222")).as_deref(),
            Some("head111")
        );
        assert_eq!(
            head_sha(
                None,
                Some("pull_request_target"),
                Some(&event),
                Some("base")
            )
            .as_deref(),
            Some("head111")
        );
    }

    #[test]
    fn workflow_run_uses_the_triggering_head() {
        let event = json!({"workflow_run": {"head_sha": "fork333", "pull_requests": []}});
        assert_eq!(
            head_sha(
                None,
                Some("workflow_run"),
                Some(&event),
                Some("default-branch")
            )
            .as_deref(),
            Some("fork333")
        );
    }

    #[test]
    fn push_uses_github_sha() {
        let event = json!({"after": "abc", "pull_request": {"head": {"sha": "ignored"}}});
        assert_eq!(
            head_sha(None, Some("push"), Some(&event), Some("push444")).as_deref(),
            Some("push444")
        );
    }

    #[test]
    fn explicit_sha_wins_and_gaps_fall_back() {
        let event = json!({"pull_request": {"head": {"sha": "head111"}}});
        assert_eq!(
            head_sha(Some("given"), Some("pull_request"), Some(&event), Some("x")).as_deref(),
            Some("given")
        );
        assert_eq!(
            head_sha(Some(""), Some("pull_request"), None, Some("x")).as_deref(),
            Some("x")
        );
        assert_eq!(head_sha(None, None, None, None), None);
    }
}
