//! The Checks API: check runs (create, update, read, find) and their annotations, with
//! GitHub's limits for them. Our own serde types on the one [`GithubClient`] rather than
//! octocrab: one retry layer (octocrab's default retries POSTs at once, which can duplicate a
//! check run), and proxy settings honoured like every other call.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use url::Url;

use super::client::{GithubClient, GithubError, Permission, Repository};
use crate::retry::Idempotency;

/// GitHub's cap on annotations per create or update request; more fail the whole request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;

/// GitHub's limit for a check run's `output.summary` and `output.text`, enforced in UTF-8
/// bytes because GitHub's 422s count bytes.
pub const MAX_CHECK_OUTPUT_BYTES: usize = 65_535;

/// GitHub's limit for an annotation's `title`, in characters.
pub const MAX_ANNOTATION_TITLE_CHARS: usize = 255;

/// GitHub documents 64 KB for an annotation's `message` and `raw_details`; stay a little under
/// it, as the established reporters do, so that escaping on GitHub's side cannot tip it over.
pub const MAX_ANNOTATION_MESSAGE_BYTES: usize = 64_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnnotationLevel {
    Notice,
    Warning,
    Failure,
}

/// One annotation, shaped as the Checks API takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub annotation_level: AnnotationLevel,
    pub title: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_details: Option<String>,
}

crate::ids::id_type!(
    /// A check run's id.
    CheckRunId(u64)
);

/// A check run's `status`, as the Checks API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Queued,
    InProgress,
    Completed,
}

/// A completed check run's `conclusion`, as the Checks API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckConclusion {
    Success,
    Failure,
    Neutral,
    Cancelled,
    TimedOut,
    Skipped,
    ActionRequired,
}

/// The output of a check run.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRunOutput<'a> {
    pub title: &'a str,
    pub summary: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<&'a str>,
    pub annotations: &'a [Annotation],
}

/// The most buttons a check run shows, and the longest label, description and identifier.
pub const MAX_CHECK_BUTTONS: usize = 3;
pub const MAX_BUTTON_LABEL_CHARS: usize = 20;
pub const MAX_BUTTON_DESCRIPTION_CHARS: usize = 40;
pub const MAX_BUTTON_IDENTIFIER_CHARS: usize = 20;

/// A button on a check run (GitHub's `actions`): a click sends `check_run` with
/// `requested_action` to the App that made the check run, and to no one else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckButton {
    pub label: &'static str,
    pub description: &'static str,
    pub identifier: &'static str,
}

/// `POST /repos/{owner}/{repo}/check-runs`: in progress, or completed with a conclusion.
#[derive(Debug, Clone, Serialize)]
pub struct NewCheckRun<'a> {
    pub name: &'a str,
    pub head_sha: &'a str,
    pub status: CheckStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<CheckConclusion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details_url: Option<&'a str>,
    pub output: CheckRunOutput<'a>,
}

/// Buttons as GitHub takes them: at most [`MAX_CHECK_BUTTONS`].
pub fn buttons(buttons: &[CheckButton]) -> &[CheckButton] {
    &buttons[..buttons.len().min(MAX_CHECK_BUTTONS)]
}

/// `PATCH /repos/{owner}/{repo}/check-runs/{id}`: what is `None` is left as it is.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRunUpdate<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<CheckConclusion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<CheckStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<CheckRunOutput<'a>>,
    /// The buttons, replacing those it had; `None` leaves them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<&'a [CheckButton]>,
}

impl<'a> CheckRunUpdate<'a> {
    /// An update of the output only (its annotations appended).
    pub fn of_output(output: CheckRunOutput<'a>) -> Self {
        Self {
            conclusion: None,
            status: None,
            output: Some(output),
            actions: None,
        }
    }
}

/// The fields of GitHub's answer that we use.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckRun {
    pub id: CheckRunId,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub head_sha: Option<String>,
    /// The App that made it.
    #[serde(default)]
    pub app: Option<CheckRunApp>,
    /// Present on `GET` of one check run.
    #[serde(default)]
    pub output: Option<CheckRunOutputCounts>,
}

/// The App of a check run.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckRunApp {
    pub id: u64,
}

/// What GitHub holds of a check run's output.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CheckRunOutputCounts {
    /// Annotations the check run holds: every batch GitHub accepted.
    #[serde(default)]
    pub annotations_count: u64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

impl GithubClient {
    /// Creates a completed check run with the first [`ANNOTATIONS_PER_REQUEST`] annotations
    /// and appends the rest in further updates of at most that many each.
    pub async fn publish_check_run(
        &self,
        repo: &Repository,
        check: NewCheckRun<'_>,
    ) -> Result<CheckRun, GithubError> {
        let all = check.output.annotations;
        let (first, rest) = all.split_at(all.len().min(ANNOTATIONS_PER_REQUEST));
        let create = NewCheckRun {
            output: CheckRunOutput {
                annotations: first,
                ..check.output.clone()
            },
            ..check.clone()
        };
        let url = self.url(&["repos", &repo.owner, &repo.name, "check-runs"]);
        let created: CheckRun = self
            .send(
                "POST /repos/{owner}/{repo}/check-runs",
                Method::POST,
                url,
                &create,
            )
            .await?;
        for batch in rest.chunks(ANNOTATIONS_PER_REQUEST) {
            // An update that sends `output` must send the summary again; annotations append.
            let update = CheckRunUpdate {
                conclusion: None,
                status: None,
                output: Some(CheckRunOutput {
                    annotations: batch,
                    ..check.output.clone()
                }),
                actions: None,
            };
            self.update(repo, created.id, &update).await?;
        }
        Ok(created)
    }

    /// Writes `output` into an existing check run (the job's own), its annotations in batches of
    /// [`ANNOTATIONS_PER_REQUEST`]. Status and conclusion are left alone: GitHub does not let
    /// `GITHUB_TOKEN` change those of a check run that Actions created.
    pub async fn write_check_output(
        &self,
        repo: &Repository,
        id: CheckRunId,
        output: CheckRunOutput<'_>,
    ) -> Result<CheckRun, GithubError> {
        let mut batches = output.annotations.chunks(ANNOTATIONS_PER_REQUEST);
        let first = batches.next().unwrap_or(&[]);
        let update = |annotations| {
            CheckRunUpdate::of_output(CheckRunOutput {
                annotations,
                ..output.clone()
            })
        };
        let written = self.update(repo, id, &update(first)).await?;
        for batch in batches {
            self.update(repo, id, &update(batch)).await?;
        }
        Ok(written)
    }

    /// Appends `batches` of annotations to check run `id`, one update each (each update sends
    /// `output`'s text again, as GitHub requires).
    pub async fn append_annotations<'a>(
        &self,
        repo: &Repository,
        id: CheckRunId,
        output: CheckRunOutput<'_>,
        batches: impl Iterator<Item = &'a [Annotation]>,
    ) -> Result<(), GithubError> {
        for annotations in batches {
            let update = CheckRunUpdate::of_output(CheckRunOutput {
                annotations,
                ..output.clone()
            });
            self.update(repo, id, &update).await?;
        }
        Ok(())
    }

    /// Marks an existing check run completed with `conclusion`.
    pub async fn complete_check_run(
        &self,
        repo: &Repository,
        id: CheckRunId,
        conclusion: CheckConclusion,
    ) -> Result<CheckRun, GithubError> {
        let update = CheckRunUpdate {
            conclusion: Some(conclusion),
            status: Some(CheckStatus::Completed),
            output: None,
            actions: None,
        };
        self.update(repo, id, &update).await
    }

    fn check_run_url(&self, repo: &Repository, id: CheckRunId) -> Url {
        self.url(&[
            "repos",
            &repo.owner,
            &repo.name,
            "check-runs",
            &id.to_string(),
        ])
    }

    async fn update(
        &self,
        repo: &Repository,
        id: CheckRunId,
        update: &CheckRunUpdate<'_>,
    ) -> Result<CheckRun, GithubError> {
        let url = self.check_run_url(repo, id);
        self.send(
            "PATCH /repos/{owner}/{repo}/check-runs/{id}",
            Method::PATCH,
            url,
            update,
        )
        .await
    }

    async fn send<T: Serialize>(
        &self,
        call: &str,
        method: Method,
        url: Url,
        body: &T,
    ) -> Result<CheckRun, GithubError> {
        self.call(
            call,
            method,
            url,
            Some(body),
            Idempotency::NotIdempotent,
            Permission::Checks,
        )
        .await
        .map(|(check, _)| check)
    }

    /// Creates a check run in one call: at most [`ANNOTATIONS_PER_REQUEST`] annotations.
    pub async fn create_check_run(
        &self,
        repo: &Repository,
        check: &NewCheckRun<'_>,
    ) -> Result<CheckRun, GithubError> {
        let url = self.url(&["repos", &repo.owner, &repo.name, "check-runs"]);
        self.send(
            "POST /repos/{owner}/{repo}/check-runs",
            Method::POST,
            url,
            check,
        )
        .await
    }

    /// Updates a check run in one call; annotations in `update` are appended.
    pub async fn update_check_run(
        &self,
        repo: &Repository,
        id: CheckRunId,
        update: &CheckRunUpdate<'_>,
    ) -> Result<CheckRun, GithubError> {
        self.update(repo, id, update).await
    }

    /// Check run `id` as GitHub has it now: how a retry learns whether a batch of annotations
    /// sent by an interrupted attempt was taken.
    pub async fn get_check_run(
        &self,
        repo: &Repository,
        id: CheckRunId,
    ) -> Result<CheckRun, GithubError> {
        let url = self.check_run_url(repo, id);
        let (check, _): (CheckRun, _) = self
            .get(
                "GET /repos/{owner}/{repo}/check-runs/{check_run_id}",
                url,
                Permission::Checks,
            )
            .await?;
        Ok(check)
    }

    /// The check run named `name` on `head_sha` whose `external_id` is `external_id`, if one
    /// exists: how a retry finds the check run an interrupted attempt created.
    pub async fn find_check_run(
        &self,
        repo: &Repository,
        head_sha: &str,
        name: &str,
        external_id: &str,
    ) -> Result<Option<CheckRun>, GithubError> {
        #[derive(Deserialize)]
        struct Listed {
            check_runs: Vec<CheckRun>,
        }
        let mut url = self.url(&[
            "repos",
            &repo.owner,
            &repo.name,
            "commits",
            head_sha,
            "check-runs",
        ]);
        url.query_pairs_mut()
            .append_pair("check_name", name)
            .append_pair("filter", "all")
            .append_pair("per_page", "100");
        let (listed, _): (Listed, _) = self
            .get(
                "GET /repos/{owner}/{repo}/commits/{ref}/check-runs",
                url,
                Permission::Checks,
            )
            .await?;
        Ok(listed
            .check_runs
            .into_iter()
            .find(|check| check.external_id.as_deref() == Some(external_id)))
    }
}
