//! Where a run's check may go, decided from what the Currents API says of the run (never from
//! the webhook that announced it): its project, its commit and the commit's remote, against
//! `--currents-projects` and `--github-server-url`.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::currents::{ProjectId, Run, RunId};
use crate::github::{GithubServer, Repository, repository_of};
use crate::log_safe::LogSafe;
use crate::relay::allow::ProjectRepos;
use crate::store::JobOutcome;

/// Where a run's check goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    pub project: ProjectId,
    pub repo: Repository,
    /// Lower-case hex.
    pub head_sha: String,
}

/// Why a run gets no check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The run's project may not report on its repository (or the run names neither).
    NotAllowed { project: String, repo: String },
    /// The run's remote is on another host than the GitHub server.
    OtherHost { expected: String, seen: String },
}

impl Refusal {
    pub fn outcome(&self) -> JobOutcome {
        match self {
            Self::NotAllowed { .. } => JobOutcome::NotAllowed,
            Self::OtherHost { .. } => JobOutcome::OtherHost,
        }
    }
}

/// Decides where `run`'s check goes.
pub(crate) fn place(
    run: &Run,
    allow: &ProjectRepos,
    server: &GithubServer,
) -> Result<Placement, Refusal> {
    let commit = run.meta.commit.as_ref();
    let remote = commit
        .and_then(|c| c.remote_origin.as_deref())
        .unwrap_or_default();
    let project = run.project_id.clone();
    let project_label = project
        .as_ref()
        .map_or_else(|| "(none)".to_owned(), ToString::to_string);
    let not_allowed = |repo: &str| Refusal::NotAllowed {
        project: project_label.clone(),
        repo: repo.to_owned(),
    };
    let Some((host, repo)) = repository_of(remote) else {
        return Err(not_allowed(if remote.is_empty() {
            "(no remote)"
        } else {
            "(a remote that names no repository)"
        }));
    };
    if !server.is_host_of(&host) {
        return Err(Refusal::OtherHost {
            expected: server.host().to_owned(),
            seen: host,
        });
    }
    let Some(project) = project.filter(|p| allow.allows(p, &repo)) else {
        return Err(not_allowed(&repo.to_string()));
    };
    let Some(head_sha) = commit
        .and_then(|c| c.sha.as_deref())
        .filter(|sha| sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()))
    else {
        return Err(not_allowed(&format!("{repo} (the run names no commit)")));
    };
    Ok(Placement {
        project,
        repo,
        head_sha: head_sha.to_ascii_lowercase(),
    })
}

/// Runs warned about already, so that a run's several events log its refusal once. Bounded:
/// emptied when full, at worst a run is warned about twice.
#[derive(Debug, Default)]
pub(crate) struct WarnedRuns(Mutex<HashSet<RunId>>);

/// Runs remembered at most.
const WARNED_RUNS: usize = 10_000;

impl WarnedRuns {
    /// Logs `refusal` for `run`: a WARN line the first time for another host (an operator's
    /// setting is likely wrong), an INFO line for a project or repository not allowed.
    pub fn log(&self, run: &RunId, refusal: &Refusal) {
        match refusal {
            Refusal::OtherHost { expected, seen } => {
                let first = {
                    let mut warned = self
                        .0
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if warned.len() >= WARNED_RUNS {
                        warned.clear();
                    }
                    warned.insert(run.clone())
                };
                if first {
                    tracing::warn!(
                        run = %LogSafe(run.as_str()),
                        expected_host = %LogSafe(expected),
                        seen_host = %LogSafe(seen),
                        "the Currents run's repository is on another host than --github-server-url (GITHUB_SERVER_URL); no check"
                    );
                }
            }
            Refusal::NotAllowed { project, repo } => tracing::info!(
                run = %LogSafe(run.as_str()),
                project = %LogSafe(project),
                repository = %LogSafe(repo),
                "the Currents project may not report on this repository (--currents-projects); no check"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(project: Option<&str>, remote: Option<&str>, sha: Option<&str>) -> Run {
        serde_json::from_value(serde_json::json!({
            "runId": "r1",
            "projectId": project,
            "meta": {"commit": {"remoteOrigin": remote, "sha": sha}},
        }))
        .unwrap()
    }

    const SHA: &str = "3F9C2A7E5B1D4C8E9A0F6B2D7C1E8A4B5D6F7A8B";

    #[test]
    fn the_apis_project_and_remote_decide() {
        let allow = ProjectRepos::parse("Xk9Pq2=acme/webapp").unwrap();
        let github = GithubServer::from_api_url(&"https://api.github.com".parse().unwrap());
        let placed = place(
            &run(
                Some("Xk9Pq2"),
                Some("ssh://git@ssh.github.com:443/Acme/webapp.git"),
                Some(SHA),
            ),
            &allow,
            &github,
        )
        .unwrap();
        assert_eq!(placed.repo.to_string(), "Acme/webapp");
        assert_eq!(placed.head_sha, SHA.to_ascii_lowercase());
        let refused =
            |project, remote, sha| place(&run(project, remote, sha), &allow, &github).unwrap_err();
        assert_eq!(
            refused(
                Some("Xk9Pq2"),
                Some("https://github.com/victim/other"),
                Some(SHA)
            ),
            Refusal::NotAllowed {
                project: "Xk9Pq2".into(),
                repo: "victim/other".into()
            }
        );
        assert_eq!(
            refused(
                Some("Other1"),
                Some("https://github.com/acme/webapp"),
                Some(SHA)
            )
            .outcome(),
            JobOutcome::NotAllowed
        );
        assert_eq!(
            refused(None, Some("https://github.com/acme/webapp"), Some(SHA)).outcome(),
            JobOutcome::NotAllowed
        );
        assert_eq!(
            refused(Some("Xk9Pq2"), None, Some(SHA)).outcome(),
            JobOutcome::NotAllowed
        );
        assert_eq!(
            refused(
                Some("Xk9Pq2"),
                Some("https://github.com/acme/webapp"),
                Some("main")
            )
            .outcome(),
            JobOutcome::NotAllowed
        );
        assert_eq!(
            refused(
                Some("Xk9Pq2"),
                Some("git@gitlab.com:acme/webapp.git"),
                Some(SHA)
            ),
            Refusal::OtherHost {
                expected: "github.com".into(),
                seen: "gitlab.com".into()
            }
        );
    }
}
