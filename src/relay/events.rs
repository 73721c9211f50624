//! The GitHub events the relay acts on, parsed from only the fields it needs.
//!
//! `workflow_job` and `workflow_run` with `action: completed` and `conclusion: cancelled` ask
//! for a cancel of `(repository, run id, run attempt)`; `check_run` with `action:
//! requested_action` is a click on a button of a check (App mode); everything else is
//! acknowledged and recorded, nothing more.

use serde::Deserialize;

use crate::ci_build_id::{GithubRunId, RunAttempt};
use crate::github::CheckRunId;
use crate::store::{Button, ClickPayload, NewJob};

/// What a delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Cancel the Currents run of this workflow run attempt.
    Cancel { action: String, job: NewJob },
    /// A click on a button of a check run made by the App `app_id`.
    Click { app_id: u64, job: NewJob },
    /// Nothing to do (ping, other events, other actions or conclusions).
    Ignore { action: Option<String> },
}

/// The payload is not the JSON its event promises.
#[derive(Debug, thiserror::Error)]
#[error("unparsable {event} payload: {reason}")]
pub struct ParseError {
    event: String,
    reason: String,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    action: Option<String>,
}

#[derive(Deserialize)]
struct WorkflowJobEvent {
    action: String,
    workflow_job: WorkflowJob,
    repository: Repository,
}

#[derive(Deserialize)]
struct WorkflowJob {
    run_id: i64,
    #[serde(default = "first_attempt")]
    run_attempt: i64,
    #[serde(default)]
    conclusion: Option<String>,
}

#[derive(Deserialize)]
struct WorkflowRunEvent {
    action: String,
    workflow_run: WorkflowRun,
    repository: Repository,
}

#[derive(Deserialize)]
struct WorkflowRun {
    id: i64,
    #[serde(default = "first_attempt")]
    run_attempt: i64,
    #[serde(default)]
    conclusion: Option<String>,
}

#[derive(Deserialize)]
struct CheckRunEvent {
    action: String,
    #[serde(default)]
    requested_action: Option<RequestedAction>,
    check_run: CheckRun,
    repository: Repository,
    sender: Sender,
}

#[derive(Deserialize)]
struct RequestedAction {
    identifier: String,
}

#[derive(Deserialize)]
struct CheckRun {
    id: u64,
    #[serde(default)]
    app: Option<CheckRunApp>,
}

#[derive(Deserialize)]
struct CheckRunApp {
    id: u64,
}

#[derive(Deserialize)]
struct Sender {
    login: String,
}

/// A click: the button must be one of ours; the rest the job checks with GitHub.
fn click(event: CheckRunEvent) -> Parsed {
    let button = event
        .requested_action
        .as_ref()
        .and_then(|a| Button::parse(&a.identifier));
    let (Some(button), Some(app), "requested_action") =
        (button, event.check_run.app, event.action.as_str())
    else {
        return Parsed::Ignore {
            action: Some(event.action),
        };
    };
    let login_ok = !event.sender.login.is_empty() && event.sender.login.len() <= 100;
    if !login_ok || event.check_run.id == 0 {
        return Parsed::Ignore {
            action: Some(event.action),
        };
    }
    let payload = ClickPayload {
        check_run_id: CheckRunId::new(event.check_run.id),
        button,
        sender: event.sender.login,
    };
    Parsed::Click {
        app_id: app.id,
        job: NewJob::click(event.repository.full_name, payload),
    }
}

fn first_attempt() -> i64 {
    1
}

/// A cancel when the run or job `completed` as `cancelled`; else nothing to do.
fn cancel_if(
    event: &str,
    action: String,
    conclusion: Option<String>,
    repository: String,
    (run_id, run_attempt): (i64, i64),
) -> Result<Parsed, ParseError> {
    if action != "completed" || conclusion.as_deref() != Some("cancelled") {
        return Ok(Parsed::Ignore {
            action: Some(action),
        });
    }
    checked(event, action, repository, run_id, run_attempt)
}

/// A cancel for a real workflow run: GitHub's ids and attempts start at 1.
fn checked(
    event: &str,
    action: String,
    repository: String,
    run_id: i64,
    run_attempt: i64,
) -> Result<Parsed, ParseError> {
    let (Ok(id), Ok(attempt)) = (u64::try_from(run_id), u32::try_from(run_attempt)) else {
        return Err(out_of_range(event));
    };
    if id < 1 || attempt < 1 || repository.trim().is_empty() {
        return Err(out_of_range(event));
    }
    let job = NewJob::cancel(repository, GithubRunId::new(id), RunAttempt::new(attempt));
    Ok(Parsed::Cancel { action, job })
}

fn out_of_range(event: &str) -> ParseError {
    ParseError {
        event: event.to_owned(),
        reason: "run id, attempt or repository out of range".into(),
    }
}

/// Parses the JSON `payload` of an `event` delivery.
pub fn parse(event: &str, payload: &[u8]) -> Result<Parsed, ParseError> {
    // serde's message quotes the offending value, which is payload text: say only where and
    // what kind of error it is, so nothing of the payload reaches a log.
    let fail = |e: serde_json::Error| ParseError {
        event: event.to_owned(),
        reason: format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ),
    };
    match event {
        "workflow_job" => {
            let e: WorkflowJobEvent = serde_json::from_slice(payload).map_err(fail)?;
            let job = e.workflow_job;
            cancel_if(
                event,
                e.action,
                job.conclusion,
                e.repository.full_name,
                (job.run_id, job.run_attempt),
            )
        }
        "workflow_run" => {
            let e: WorkflowRunEvent = serde_json::from_slice(payload).map_err(fail)?;
            let run = e.workflow_run;
            cancel_if(
                event,
                e.action,
                run.conclusion,
                e.repository.full_name,
                (run.id, run.run_attempt),
            )
        }
        "check_run" => {
            let e: CheckRunEvent = serde_json::from_slice(payload).map_err(fail)?;
            Ok(click(e))
        }
        _ => {
            let e: Envelope = serde_json::from_slice(payload).map_err(fail)?;
            Ok(Parsed::Ignore { action: e.action })
        }
    }
}

/// The JSON of a delivery: the body itself, or its `payload` field when GitHub sends
/// `application/x-www-form-urlencoded`.
pub fn payload_of(form_encoded: bool, body: &[u8]) -> Option<Vec<u8>> {
    if !form_encoded {
        return Some(body.to_vec());
    }
    url::form_urlencoded::parse(body)
        .find(|(key, _)| key == "payload")
        .map(|(_, value)| value.into_owned().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job_event(action: &str, conclusion: Option<&str>) -> Vec<u8> {
        json!({"action": action, "workflow_job": {"id": 1, "run_id": 42, "run_attempt": 2, "conclusion": conclusion, "extra": [1]},
               "repository": {"full_name": "acme/webapp", "id": 9}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_cancelled_job_asks_for_a_cancel() {
        let parsed = parse("workflow_job", &job_event("completed", Some("cancelled"))).unwrap();
        assert_eq!(
            parsed,
            Parsed::Cancel {
                action: "completed".into(),
                job: NewJob::cancel("acme/webapp", GithubRunId::new(42), RunAttempt::new(2))
            }
        );
    }

    #[test]
    fn other_actions_and_conclusions_are_ignored() {
        for (action, conclusion) in [
            ("completed", Some("failure")),
            ("completed", None),
            ("in_progress", None),
            ("queued", None),
        ] {
            assert!(matches!(
                parse("workflow_job", &job_event(action, conclusion)).unwrap(),
                Parsed::Ignore { .. }
            ));
        }
        assert_eq!(
            parse("ping", br#"{"zen":"Keep it simple."}"#).unwrap(),
            Parsed::Ignore { action: None }
        );
    }

    #[test]
    fn a_cancelled_run_asks_for_a_cancel() {
        let body = json!({"action": "completed", "workflow_run": {"id": 7, "run_attempt": 1, "conclusion": "cancelled"}, "repository": {"full_name": "a/b"}});
        let Parsed::Cancel { job, .. } =
            parse("workflow_run", body.to_string().as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            job.spec,
            crate::store::JobSpec::Cancel {
                run_id: GithubRunId::new(7),
                run_attempt: RunAttempt::new(1)
            }
        );
    }

    #[test]
    fn impossible_ids_are_errors() {
        let body = |id: i64, attempt: i64, repo: &str| {
            json!({"action": "completed", "workflow_run": {"id": id, "run_attempt": attempt, "conclusion": "cancelled"}, "repository": {"full_name": repo}})
                .to_string()
        };
        assert!(parse("workflow_run", body(0, 1, "a/b").as_bytes()).is_err());
        assert!(parse("workflow_run", body(5, -1, "a/b").as_bytes()).is_err());
        assert!(parse("workflow_run", body(5, 1, " ").as_bytes()).is_err());
        assert!(parse("workflow_run", body(5, 1, "a/b").as_bytes()).is_ok());
    }

    #[test]
    fn broken_payloads_are_errors() {
        assert!(parse("workflow_job", b"{").is_err());
        assert!(parse("workflow_job", br#"{"action":"completed"}"#).is_err());
        assert!(parse("ping", b"not json").is_err());
    }

    #[test]
    fn form_payloads() {
        assert_eq!(
            payload_of(true, b"payload=%7B%22a%22%3A1%7D").unwrap(),
            br#"{"a":1}"#
        );
        assert_eq!(payload_of(true, b"other=1"), None);
        assert_eq!(payload_of(false, b"{}").unwrap(), b"{}");
    }
}
