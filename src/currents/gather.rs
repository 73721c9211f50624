//! Everything a report reads besides its run, at once: the failing instances with their tests'
//! history, the base branch's latest run, the project's Actions and the previous attempt's
//! run. The `report` step and App mode's check job call this one function, so both read the
//! same. Only the instances are needed: every other part degrades to a line in
//! [`Gathered::missing`] and the report goes out without it.

use std::future::Future;
use std::time::SystemTime;

use futures_util::FutureExt;

use super::analytics::Window;
use super::fetch::{
    FailedInstances, HistoryLookup, base_run, fetch_failed_instances, fetch_with_history,
};
use super::history::{History, HistoryPlan};
use super::models::{Action, ProjectId, Run};
use super::{CurrentsClient, SourceError};
use crate::ci_build_id::CiBuildId;
use crate::log_safe::Chain;

/// What to read besides the instances.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// Instance fetches (and history lookups) in flight at once.
    pub concurrency: usize,
    /// The run's project: the base run, the history and the Actions are looked up in it.
    pub project: Option<ProjectId>,
    /// Triage: the base branch's history over this many days, and the project's Actions.
    pub triage_days: Option<u32>,
    /// The failed tests whose history is read, at most.
    pub max_lookups: usize,
    /// On a re-run, the previous attempt's run.
    pub previous: Option<CiBuildId>,
}

/// What was read.
#[derive(Debug, Default)]
pub struct Gathered {
    pub details: FailedInstances,
    /// The branch compared with, and its latest completed run with its failing instances
    /// (`None` when the branch has none).
    pub base: Option<(String, Option<(Run, FailedInstances)>)>,
    pub history: Option<History>,
    /// The project's active Actions (Playwright runs only: other reporters ignore them).
    pub rules: Option<Vec<Action>>,
    /// The previous attempt's run with its failing instances.
    pub previous: Option<(Run, FailedInstances)>,
    /// What could not be read, and what the report does without it: one sentence each.
    pub missing: Vec<String>,
}

/// Reads what `wanted` asks for, the parts at once. `base_branch` is the branch to compare
/// with (a pull request's base, or `--compare-branch`): a future, so that the instances are
/// fetched while it is found. Only an instance that is there but invalid (a `--from-dir`
/// file) is an error.
pub async fn gather(
    client: &CurrentsClient,
    run: &Run,
    wanted: &Wanted,
    base_branch: impl Future<Output = Option<String>>,
    now: SystemTime,
) -> Result<Gathered, SourceError> {
    let base_branch = base_branch.shared();
    let plan = {
        let branch = base_branch.clone();
        async move {
            match (&wanted.project, branch.await, wanted.triage_days) {
                (Some(project), Some(branch), Some(days)) => Some(HistoryPlan {
                    project: project.clone(),
                    branch,
                    days,
                    window: Window::days_before(now, days),
                }),
                _ => None,
            }
        }
    };
    let lookup = HistoryLookup {
        client,
        plan,
        max_lookups: wanted.max_lookups,
    };
    let (details, base, rules, previous) = tokio::join!(
        fetch_with_history(client, run, wanted.concurrency, Some(lookup)),
        base_of(client, run, wanted, base_branch.clone()),
        rules_of(client, run, wanted, base_branch),
        previous_of(client, run, wanted),
    );
    let (details, history) = details?;
    let mut gathered = Gathered {
        details,
        history,
        ..Gathered::default()
    };
    gathered.base = part(base, &mut gathered.missing);
    gathered.rules = part(rules, &mut gathered.missing);
    gathered.previous = part(previous, &mut gathered.missing);
    if let Some(history) = &gathered.history {
        gathered.missing.extend(history.missing.iter().map(|what| {
            format!("Triage could not read {what}; those verdicts come from the base run only.")
        }));
    }
    Ok(gathered)
}

/// A part that was not wanted (`Ok(None)`), read, or missing with its sentence.
fn part<T>(result: Result<Option<T>, String>, missing: &mut Vec<String>) -> Option<T> {
    result.unwrap_or_else(|line| {
        missing.push(line);
        None
    })
}

async fn base_of(
    client: &CurrentsClient,
    run: &Run,
    wanted: &Wanted,
    branch: impl Future<Output = Option<String>>,
) -> Result<Option<(String, Option<(Run, FailedInstances)>)>, String> {
    let (Some(project), Some(branch)) = (&wanted.project, branch.await) else {
        return Ok(None);
    };
    match base_run(client, project, &branch, &run.run_id, wanted.concurrency).await {
        Ok(found) => Ok(Some((branch, found))),
        Err(e) => Err(format!(
            "Cannot read the latest run of {branch} to compare with ({}); the report goes on without the comparison.",
            Chain(&e)
        )),
    }
}

/// The project's active Actions, for a Playwright run triaged against a base branch.
async fn rules_of(
    client: &CurrentsClient,
    run: &Run,
    wanted: &Wanted,
    branch: impl Future<Output = Option<String>>,
) -> Result<Option<Vec<Action>>, String> {
    let (Some(project), Some(_)) = (&wanted.project, wanted.triage_days) else {
        return Ok(None);
    };
    if !run.is_playwright() || branch.await.is_none() {
        return Ok(None);
    }
    match client.active_actions(project).await {
        Ok(rules) => Ok(Some(rules)),
        Err(e) => Err(format!(
            "Triage could not read the project's Currents Actions ({}); no failure is marked quarantined.",
            Chain(&e)
        )),
    }
}

async fn previous_of(
    client: &CurrentsClient,
    run: &Run,
    wanted: &Wanted,
) -> Result<Option<(Run, FailedInstances)>, String> {
    let (Some(project), Some(ci_build_id)) = (&wanted.project, &wanted.previous) else {
        return Ok(None);
    };
    let read = async {
        match client.find_run(project, ci_build_id).await? {
            Some(previous) if previous.run_id != run.run_id => {
                let failed = fetch_failed_instances(client, &previous, wanted.concurrency).await?;
                Ok::<_, SourceError>(Some((previous, failed)))
            }
            _ => Ok(None),
        }
    };
    read.await.map_err(|e| {
        format!(
            "Cannot read the previous attempt's run ({ci_build_id}: {}); the report does not list what passed on re-run.",
            Chain(&e)
        )
    })
}
