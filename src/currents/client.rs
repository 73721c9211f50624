//! The Currents REST client: Bearer auth over the shared HTTP layer, the retry policy, typed
//! outcomes.

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use super::error::CurrentsError;
use super::models::{
    CancelByGithubRequest, CancelResponse, Envelope, Instance, InstanceId, ProjectId, Run, RunId,
    from_envelope_or_bare,
};
use crate::ci_build_id::{CiBuildId, GithubRunId, RunAttempt};
use crate::http::{self, Http};
use crate::retry::{Idempotency, RetryPolicy};

/// What a 401 or 403 means for a call, after the error's own words (hence the "; ").
pub(super) const CANCEL_HINT: &str =
    "; cancelling needs a Read & Write API key (Currents: Organization > API Keys)";
pub(super) const WRITE_HINT: &str =
    "; this needs a Read & Write API key (Currents: Organization > API Keys)";
pub(super) const READ_HINT: &str =
    "; check that the key belongs to the organization that owns the project";

/// Where and how to reach Currents.
#[derive(Debug, Clone)]
pub struct CurrentsConfig {
    pub api_url: Url,
    pub api_key: SecretString,
    pub retry: RetryPolicy,
}

/// The Currents API, as currents-bridge uses it.
#[derive(Debug, Clone)]
pub struct CurrentsClient {
    http: Http,
    api_url: Url,
    api_key: SecretString,
    retry: RetryPolicy,
}

/// What to cancel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelTarget {
    /// `PUT /runs/{runId}/cancel`.
    Run(RunId),
    /// `PUT /runs/cancel-ci/github`: whatever run recorded this GitHub run and attempt.
    GithubRun(GithubRunCancel),
}

/// A cancel by GitHub workflow run: the run and attempt, optionally scoped to a project and a
/// ciBuildId. The client turns it into Currents' wire body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubRunCancel {
    pub run_id: GithubRunId,
    pub attempt: RunAttempt,
    pub project_id: Option<ProjectId>,
    pub ci_build_id: Option<CiBuildId>,
}

impl GithubRunCancel {
    /// The body of `PUT /runs/cancel-ci/github`: ids as JSON strings, as Currents' own action
    /// sends them.
    fn body(&self) -> CancelByGithubRequest {
        CancelByGithubRequest {
            github_run_id: self.run_id.to_string(),
            github_run_attempt: self.attempt.to_string(),
            project_id: self.project_id.as_ref().map(|p| p.as_str().to_owned()),
            ci_build_id: self.ci_build_id.as_ref().map(|c| c.as_str().to_owned()),
        }
    }
}

/// How a cancel ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// 200: cancelled now. The run id, when the body carries one.
    Cancelled { run_id: Option<RunId> },
    /// 422: it was cancelled before (another job's cancel step, the relay, the dashboard).
    AlreadyCancelled,
    /// 404: no run recorded for it (yet): nothing to cancel.
    NotFound,
}

/// How a delete ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// 200: deleted now.
    Deleted,
    /// 404: no such run (deleted before, or never there).
    AlreadyGone,
}

impl CancelOutcome {
    /// The `outcome` step output.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Cancelled { .. } => "cancelled",
            Self::AlreadyCancelled => "already-cancelled",
            Self::NotFound => "not-found",
        }
    }
}

impl CurrentsClient {
    /// A client over the process's HTTP layer.
    pub fn new(config: CurrentsConfig, http: &Http) -> Self {
        Self {
            http: http.clone(),
            api_url: config.api_url,
            api_key: config.api_key,
            retry: config.retry,
        }
    }

    /// A copy with another retry policy, on the same connections (the abort path uses one that
    /// fits its deadline; see [`RetryPolicy::within`]).
    pub fn with_retry(&self, retry: RetryPolicy) -> Self {
        Self {
            retry,
            ..self.clone()
        }
    }

    /// `GET /runs/find?projectId&ciBuildId`. `Ok(None)` on 404: the run appears only after
    /// the first results are uploaded, so "not found" means "not yet" to a poller.
    pub async fn find_run(
        &self,
        project: &ProjectId,
        ci_build_id: &CiBuildId,
    ) -> Result<Option<Run>, CurrentsError> {
        let mut url = self.url(&["runs", "find"]);
        url.query_pairs_mut()
            .append_pair("projectId", project.as_str())
            .append_pair("ciBuildId", ci_build_id.as_str());
        match self.get_json::<Run>("GET /runs/find", url).await {
            Ok(run) => Ok(Some(run)),
            Err(CurrentsError::NotFound { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// `GET /runs/{runId}`.
    pub async fn get_run(&self, run_id: &RunId) -> Result<Run, CurrentsError> {
        self.get_json("GET /runs/{runId}", self.url(&["runs", run_id.as_str()]))
            .await
    }

    /// `GET /projects/{projectId}`.
    pub async fn get_project(
        &self,
        project: &ProjectId,
    ) -> Result<super::models::Project, CurrentsError> {
        self.get_json(
            "GET /projects/{projectId}",
            self.url(&["projects", project.as_str()]),
        )
        .await
    }

    /// `GET /projects/{projectId}/runs?branches[]=&completion_state=COMPLETE`: the newest
    /// completed runs of `branch`, newest first (without their specs).
    pub async fn latest_complete_runs(
        &self,
        project: &ProjectId,
        branch: &str,
        limit: usize,
    ) -> Result<Vec<Run>, CurrentsError> {
        let mut url = self.url(&["projects", project.as_str(), "runs"]);
        url.query_pairs_mut()
            .append_pair("branches[]", branch)
            .append_pair("completion_state", "COMPLETE")
            .append_pair("limit", &limit.to_string());
        self.get_json("GET /projects/{projectId}/runs", url).await
    }

    /// One page of `GET /projects/{projectId}/runs?date_start=…`: the runs created since
    /// `since`, newest first, starting after `cursor` (the last run of the previous page), and
    /// whether there are more.
    pub async fn runs_since(
        &self,
        project: &ProjectId,
        since: std::time::SystemTime,
        cursor: Option<&str>,
    ) -> Result<RunPage, CurrentsError> {
        let mut url = self.url(&["projects", project.as_str(), "runs"]);
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair(
                    "date_start",
                    &humantime::format_rfc3339_millis(since).to_string(),
                )
                .append_pair("limit", &RUNS_PAGE.to_string());
            if let Some(cursor) = cursor {
                query.append_pair("starting_after", cursor);
            }
        }
        let call = "GET /projects/{projectId}/runs";
        let bytes = self.get_bytes(call, url).await?;
        serde_json::from_slice(&bytes).map_err(|e| CurrentsError::decode(call, e))
    }

    /// `GET /instances/{instanceId}`.
    pub async fn get_instance(&self, instance_id: &InstanceId) -> Result<Instance, CurrentsError> {
        self.get_json(
            "GET /instances/{instanceId}",
            self.url(&["instances", instance_id.as_str()]),
        )
        .await
    }

    /// Cancels a run. 200, 422 and 404 are outcomes; everything else is an error (401 and 403
    /// with a hint that cancelling needs a Read & Write key).
    pub async fn cancel(&self, target: &CancelTarget) -> Result<CancelOutcome, CurrentsError> {
        let (call, url, body) = match target {
            CancelTarget::Run(run_id) => (
                "PUT /runs/{runId}/cancel",
                self.url(&["runs", run_id.as_str(), "cancel"]),
                None,
            ),
            CancelTarget::GithubRun(cancel) => (
                "PUT /runs/cancel-ci/github",
                self.url(&["runs", "cancel-ci", "github"]),
                Some(cancel.body()),
            ),
        };
        let http::Answer {
            status,
            retry_after,
            body: bytes,
            ..
        } = self
            .exchange(call, Idempotency::Idempotent, || {
                let request = self.request(Method::PUT, url.clone());
                match &body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await?;
        match status {
            s if s.is_success() => {
                let run_id = serde_json::from_slice::<Envelope<CancelResponse>>(&bytes)
                    .ok()
                    .and_then(|e| e.data.run_id);
                Ok(CancelOutcome::Cancelled { run_id })
            }
            StatusCode::UNPROCESSABLE_ENTITY => Ok(CancelOutcome::AlreadyCancelled),
            StatusCode::NOT_FOUND => Ok(CancelOutcome::NotFound),
            other => Err(CurrentsError::from_status(call, other, &bytes, CANCEL_HINT)
                .with_retry_after(retry_after)),
        }
    }

    /// `GET /runs/{runId}`, with the body exactly as Currents sent it (checked to be a run).
    pub async fn get_run_as_sent(&self, run_id: &RunId) -> Result<(Run, Vec<u8>), CurrentsError> {
        let call = "GET /runs/{runId}";
        let bytes = self
            .get_bytes(call, self.url(&["runs", run_id.as_str()]))
            .await?;
        let run = decode::<Run>(call, &bytes)?;
        Ok((run, bytes))
    }

    /// `DELETE /runs/{runId}`. 404 is an outcome (it is gone already); 401 and 403 say a
    /// Read & Write key is needed.
    pub async fn delete_run(&self, run_id: &RunId) -> Result<DeleteOutcome, CurrentsError> {
        let call = "DELETE /runs/{runId}";
        let url = self.url(&["runs", run_id.as_str()]);
        let answer = self
            .exchange(call, Idempotency::Idempotent, || {
                self.request(Method::DELETE, url.clone())
            })
            .await?;
        match answer.status {
            s if s.is_success() => Ok(DeleteOutcome::Deleted),
            StatusCode::NOT_FOUND => Ok(DeleteOutcome::AlreadyGone),
            other => Err(CurrentsError::from_status(
                call,
                other,
                &answer.body,
                WRITE_HINT,
            )),
        }
    }

    /// `POST /webhooks?projectId=`: makes Currents send `events` for the project's runs to
    /// `url`, with `headers` (a JSON object) on every request. Not retried: a repeat would make
    /// a second webhook.
    pub async fn create_webhook(
        &self,
        project: &ProjectId,
        new: &NewWebhook<'_>,
    ) -> Result<Webhook, CurrentsError> {
        let call = "POST /webhooks";
        let body = self
            .create_in_project(call, "webhooks", project, new)
            .await?;
        // The reference leaves the envelope unconfirmed: a bare object is read too.
        from_envelope_or_bare(&body).map_err(|e| CurrentsError::decode(call, e))
    }

    /// `POST /{resource}?projectId=` with `new`: the body of its success. Not retried: a
    /// repeat would make a second one.
    pub(super) async fn create_in_project(
        &self,
        call: &str,
        resource: &str,
        project: &ProjectId,
        new: &(impl serde::Serialize + ?Sized),
    ) -> Result<Vec<u8>, CurrentsError> {
        let mut url = self.url(&[resource]);
        url.query_pairs_mut()
            .append_pair("projectId", project.as_str());
        self.send_json(
            Method::POST,
            call,
            url,
            new,
            Idempotency::NotIdempotent,
            WRITE_HINT,
        )
        .await
    }

    /// A call with a JSON body: the body of its success, or the error its
    /// status means (`hint`: which key helps).
    pub(super) async fn send_json(
        &self,
        method: Method,
        call: &str,
        url: Url,
        body: &(impl serde::Serialize + ?Sized),
        idempotency: Idempotency,
        hint: &'static str,
    ) -> Result<Vec<u8>, CurrentsError> {
        let answer = self
            .exchange(call, idempotency, || {
                self.request(method.clone(), url.clone()).json(body)
            })
            .await?;
        Ok(succeeded(call, answer, hint)?.body)
    }

    /// One call through the retry policy, its answer read whole (with the size cap); the
    /// caller maps the status.
    pub(super) async fn exchange(
        &self,
        call: &str,
        idempotency: Idempotency,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<http::Answer, CurrentsError> {
        let response = self
            .retry
            .send(idempotency, call, make)
            .await
            .map_err(|e| CurrentsError::transport(call, e))?;
        http::read(response)
            .await
            .map_err(|e| CurrentsError::read(call, e))
    }

    pub(super) async fn get_bytes(&self, call: &str, url: Url) -> Result<Vec<u8>, CurrentsError> {
        let answer = self
            .exchange(call, Idempotency::Idempotent, || {
                self.request(Method::GET, url.clone())
            })
            .await?;
        Ok(succeeded(call, answer, READ_HINT)?.body)
    }

    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        call: &str,
        url: Url,
    ) -> Result<T, CurrentsError> {
        decode(call, &self.get_bytes(call, url).await?)
    }

    pub(super) fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(self.api_key.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// The API URL with `segments` appended, each percent-encoded.
    pub(super) fn url(&self, segments: &[&str]) -> Url {
        http::endpoint(&self.api_url, segments)
    }
}

/// Runs one list page asks for: the API's documented maximum.
const RUNS_PAGE: usize = 50;

/// A page of a cursor list of runs.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct RunPage {
    #[serde(default)]
    pub has_more: bool,
    #[serde(default)]
    pub data: Vec<ListedRun>,
}

/// A run as lists give it: without its specs, with the cursor of its place in the list.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ListedRun {
    #[serde(flatten)]
    pub run: Run,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A webhook to create (`POST /webhooks`).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewWebhook<'a> {
    pub url: &'a str,
    /// A JSON object, as text (Currents' format): the headers sent with every request.
    pub headers: Option<String>,
    pub hook_events: &'a [&'a str],
    pub label: Option<&'a str>,
}

/// A webhook, as Currents answers.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub hook_id: String,
    #[serde(default)]
    pub url: Option<String>,
}

/// The answer if it is a success, else the error its status means (`hint`: which key helps).
pub(super) fn succeeded(
    call: &str,
    answer: http::Answer,
    hint: &'static str,
) -> Result<http::Answer, CurrentsError> {
    if answer.status.is_success() {
        Ok(answer)
    } else {
        Err(CurrentsError::from_status(
            call,
            answer.status,
            &answer.body,
            hint,
        ))
    }
}

/// The `data` of a success envelope.
pub(super) fn decode<T: DeserializeOwned>(call: &str, bytes: &[u8]) -> Result<T, CurrentsError> {
    serde_json::from_slice::<Envelope<T>>(bytes)
        .map(|e| e.data)
        .map_err(|e| CurrentsError::decode(call, e))
}
