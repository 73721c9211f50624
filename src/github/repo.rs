//! What a repository says beyond checks and comments: a user's permission on it, and its
//! workflow runs with the re-run of their failed jobs (the relay's buttons).

use reqwest::Method;
use serde::Deserialize;

use super::client::{GithubClient, GithubError, Permission, Repository};
use crate::ci_build_id::{GithubRunId, RunAttempt};
use crate::retry::Idempotency;

/// A user's role on a repository (`role_name`, else `permission`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRole(pub String);

impl RepoRole {
    /// Whether the role may change what the repository's checks say: `admin`, `maintain` or
    /// `write`.
    pub fn may_write(&self) -> bool {
        matches!(self.0.as_str(), "admin" | "maintain" | "write")
    }
}

/// A workflow run, as far as a re-run needs it.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowRun {
    pub id: GithubRunId,
    #[serde(default = "first_attempt")]
    pub run_attempt: RunAttempt,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub head_sha: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
}

fn first_attempt() -> RunAttempt {
    RunAttempt::new(1)
}

impl GithubClient {
    /// `GET /repos/{owner}/{repo}/collaborators/{username}/permission`: what `login` may do on
    /// `repo`. A user GitHub does not know there (404) has no role.
    pub async fn role_of(&self, repo: &Repository, login: &str) -> Result<RepoRole, GithubError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            permission: Option<String>,
            #[serde(default)]
            role_name: Option<String>,
        }
        let url = self.url(&[
            "repos",
            &repo.owner,
            &repo.name,
            "collaborators",
            login,
            "permission",
        ]);
        let call = "GET /repos/{owner}/{repo}/collaborators/{username}/permission";
        match self.get::<Answer>(call, url, Permission::None).await {
            Ok((answer, _)) => {
                let role = answer.role_name.or(answer.permission).unwrap_or_default();
                Ok(RepoRole(role.to_ascii_lowercase()))
            }
            Err(e) if e.status() == Some(404) => Ok(RepoRole("none".into())),
            Err(e) => Err(e),
        }
    }

    /// `GET /repos/{owner}/{repo}/actions/runs/{run_id}`.
    pub async fn workflow_run(
        &self,
        repo: &Repository,
        run: GithubRunId,
    ) -> Result<WorkflowRun, GithubError> {
        let id = run.to_string();
        let url = self.url(&["repos", &repo.owner, &repo.name, "actions", "runs", &id]);
        let call = "GET /repos/{owner}/{repo}/actions/runs/{run_id}";
        Ok(self.get(call, url, Permission::Actions).await?.0)
    }

    /// `GET /repos/{owner}/{repo}/actions/runs?head_sha=`: the workflow runs of a commit,
    /// newest first (one page of 100).
    pub async fn workflow_runs_of_commit(
        &self,
        repo: &Repository,
        head_sha: &str,
    ) -> Result<Vec<WorkflowRun>, GithubError> {
        #[derive(Deserialize)]
        struct Listed {
            #[serde(default)]
            workflow_runs: Vec<WorkflowRun>,
        }
        let mut url = self.url(&["repos", &repo.owner, &repo.name, "actions", "runs"]);
        url.query_pairs_mut()
            .append_pair("head_sha", head_sha)
            .append_pair("per_page", "100");
        let call = "GET /repos/{owner}/{repo}/actions/runs";
        let (listed, _): (Listed, _) = self.get(call, url, Permission::Actions).await?;
        Ok(listed.workflow_runs)
    }

    /// `POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs`: a new attempt of
    /// the run's failed jobs. Not retried after an answer: a repeat could start another.
    pub async fn rerun_failed_jobs(
        &self,
        repo: &Repository,
        run: GithubRunId,
    ) -> Result<(), GithubError> {
        let id = run.to_string();
        let url = self.url(&[
            "repos",
            &repo.owner,
            &repo.name,
            "actions",
            "runs",
            &id,
            "rerun-failed-jobs",
        ]);
        let call = "POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs";
        self.call::<serde_json::Value>(
            call,
            Method::POST,
            url,
            None::<&()>,
            Idempotency::NotIdempotent,
            Permission::Actions,
        )
        .await?;
        Ok(())
    }
}
