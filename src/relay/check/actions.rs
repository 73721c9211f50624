//! What the buttons do: re-run the failed jobs of the workflow run behind a check, quarantine
//! its flaky tests with one Currents Action, and disable that Action again. Each says what it
//! did (stored with the click) or why not: for good, or worth a retry.

use std::time::SystemTime;

use super::CheckContext;
use crate::ci_build_id::{CiBuildId, GithubRunId, RunAttempt, parse_github_ci_build_id};
use crate::currents::CurrentsError;
use crate::currents::models::{ActionId, Condition, Matcher, NewAction, RuleAction};
use crate::github::{CheckRunId, GithubClient, GithubError, Repository};
use crate::log_safe::Chain;
use crate::store::{Button, ClickState, ClickedCheck};

/// Why a button did not do what it says.
#[derive(Debug)]
pub(super) enum Refusal {
    /// For good: said on the check.
    Final(String),
    /// Worth another try later (an outage, a rate limit).
    Later(String),
}

fn github(e: GithubError) -> Refusal {
    if e.is_transient() || e.status() == Some(401) {
        Refusal::Later(Chain(&e).to_string())
    } else {
        Refusal::Final(Chain(&e).to_string())
    }
}

fn currents(e: CurrentsError) -> Refusal {
    if e.is_transient() {
        Refusal::Later(Chain(&e).to_string())
    } else {
        Refusal::Final(Chain(&e).to_string())
    }
}

/// The workflow run behind the check and the attempt that recorded its Currents run: from
/// the run's ciBuildId when it follows the default template, else the commit's newest failed
/// workflow run.
async fn workflow_of(
    ctx: &CheckContext<'_>,
    github_client: &GithubClient,
    repo: &Repository,
    record: &ClickedCheck,
) -> Result<(GithubRunId, RunAttempt), Refusal> {
    let run = ctx
        .currents
        .get_run(&record.currents_run_id)
        .await
        .map_err(currents)?;
    let from_template = run
        .meta
        .ci_build_id
        .clone()
        .and_then(CiBuildId::new)
        .and_then(|id| parse_github_ci_build_id(&id, &repo.to_string()));
    if let Some(found) = from_template {
        return Ok(found);
    }
    let runs = github_client
        .workflow_runs_of_commit(repo, &record.head_sha)
        .await
        .map_err(github)?;
    runs.into_iter()
        .find(|r| r.conclusion.as_deref() == Some("failure"))
        .map(|r| (r.id, r.run_attempt))
        .ok_or_else(|| Refusal::Final("no failed workflow run of the commit to re-run".into()))
}

/// Re-runs the failed jobs, once: a run already past the attempt that recorded the check's
/// Currents run (a re-run an interrupted attempt or someone else started) is not re-run again.
pub(super) async fn rerun(
    ctx: &CheckContext<'_>,
    github_client: &GithubClient,
    repo: &Repository,
    record: &ClickedCheck,
) -> Result<String, Refusal> {
    let (run_id, attempt) = workflow_of(ctx, github_client, repo, record).await?;
    let run = github_client
        .workflow_run(repo, run_id)
        .await
        .map_err(github)?;
    if run.run_attempt.get() > attempt.get() {
        return Ok(format!("attempt {}", run.run_attempt));
    }
    if run.status.as_deref().is_some_and(|s| s != "completed") {
        return Err(Refusal::Final(
            "the workflow run is still running; re-run it once it ends".into(),
        ));
    }
    github_client
        .rerun_failed_jobs(repo, run_id)
        .await
        .map_err(github)?;
    Ok(format!("attempt {}", attempt.get() + 1))
}

/// The tag in a rule's name that ties it to its check: how an interrupted attempt's rule is
/// found again instead of made twice.
fn tag(check: CheckRunId) -> String {
    format!("[cb {check}]")
}

/// Quarantines the check's flaky tests with one Currents Action (`quarantine`, `testId eq`
/// each, `OR`), expiring after `--quarantine-for`, named and described after where it came
/// from. Returns the rule's id.
pub(super) async fn quarantine(
    ctx: &CheckContext<'_>,
    repo: &Repository,
    check: CheckRunId,
    record: &ClickedCheck,
    sender: &str,
) -> Result<String, Refusal> {
    let Some(offers) = record.offers.as_ref().filter(|o| !o.flaky.is_empty()) else {
        return Err(Refusal::Final("no failure of this check is flaky".into()));
    };
    let tag = tag(check);
    let made = ctx
        .currents
        .actions_named(&offers.project, &tag)
        .await
        .map_err(currents)?;
    if let Some(rule) = made.iter().find(|a| a.name.contains(&tag)) {
        return Ok(rule.action_id.to_string());
    }
    let pull = offers.pull.map(|n| format!("#{n}")).unwrap_or_default();
    let titles: Vec<&str> = offers.flaky.iter().map(|t| t.title.as_str()).collect();
    let description = format!(
        "Quarantined from GitHub by {sender} with currents-bridge: {} flaky test{} of check run {check} on {repo}{}, commit {}. {}",
        offers.flaky.len(),
        if offers.flaky.len() == 1 { "" } else { "s" },
        if pull.is_empty() {
            String::new()
        } else {
            format!(", pull request {pull}")
        },
        record.head_sha.chars().take(7).collect::<String>(),
        titles.join("; ")
    );
    let until = SystemTime::now() + ctx.settings.quarantine_for;
    let new = NewAction {
        name: truncate(&format!("Quarantine flaky: {repo}{pull} {tag}"), 255, &tag),
        description: Some(description.chars().take(1000).collect()),
        action: vec![RuleAction {
            op: "quarantine".into(),
            details: None,
        }],
        matcher: Matcher {
            op: "OR".into(),
            cond: offers
                .flaky
                .iter()
                .map(|t| Condition {
                    kind: "testId".into(),
                    op: "eq".into(),
                    value: serde_json::json!(t.test_id),
                })
                .collect(),
        },
        expires_after: Some(humantime::format_rfc3339_millis(until).to_string()),
    };
    match ctx.currents.create_action(&offers.project, &new).await {
        Ok(rule) => Ok(rule.action_id.to_string()),
        Err(e) if matches!(e.status(), Some(401 | 403)) => {
            if let Err(store) = ctx.store.flag_actions_refused(&offers.project).await {
                tracing::warn!(error = %Chain(&store), "cannot remember that the key may not write Actions");
            }
            Err(Refusal::Final(format!(
                "Currents refused to make the rule ({}): the project's API key needs Read & Write access",
                Chain(&e)
            )))
        }
        Err(e) => Err(currents(e)),
    }
}

/// `text` within `max` characters, keeping `tail` (the tag) whole at its end.
fn truncate(text: &str, max: usize, tail: &str) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let head: String = text
        .chars()
        .take(max.saturating_sub(tail.chars().count() + 2))
        .collect();
    format!("{head}… {tail}")
}

/// Disables the rule this check's quarantine made.
pub(super) async fn unquarantine(
    ctx: &CheckContext<'_>,
    check: CheckRunId,
) -> Result<String, Refusal> {
    let clicks = ctx
        .store
        .clicks(check)
        .await
        .map_err(|e| Refusal::Later(Chain(&e).to_string()))?;
    let Some(rule) = clicks
        .iter()
        .find(|c| c.button == Button::Quarantine && c.state == ClickState::Done)
        .and_then(|c| c.detail.clone())
    else {
        return Err(Refusal::Final(
            "this check made no quarantine to undo".into(),
        ));
    };
    match ctx
        .currents
        .disable_action(&ActionId::new(rule.clone()))
        .await
    {
        Ok(_) => Ok(rule),
        // Archived on the dashboard meanwhile: nothing left to disable.
        Err(e) if e.status() == Some(404) => Ok(rule),
        Err(e) if matches!(e.status(), Some(401 | 403)) => Err(Refusal::Final(format!(
            "Currents refused to disable the rule ({}): the project's API key needs Read & Write access",
            Chain(&e)
        ))),
        Err(e) => Err(currents(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_keeps_its_tag() {
        let tag = tag(CheckRunId::new(42));
        let name = truncate(&format!("{} {tag}", "x".repeat(300)), 255, &tag);
        assert_eq!(name.chars().count(), 255);
        assert!(name.ends_with("… [cb 42]"));
        assert_eq!(truncate("short [cb 42]", 255, &tag), "short [cb 42]");
    }
}
