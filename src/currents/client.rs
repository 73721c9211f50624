//! The Currents REST client: Bearer auth, gzip, the shared retry policy, typed outcomes.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use super::error::CurrentsError;
use super::models::{
    CancelByGithubRequest, CancelResponse, Envelope, Instance, InstanceId, ProjectId, Run, RunId,
};
use crate::ci_build_id::CiBuildId;
use crate::retry::{Idempotency, RetryPolicy};

/// How long one request may take before it counts as a transport failure. A large run's JSON
/// arrives in well under this; a hung connection does not hold a CI job for long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Connecting takes milliseconds when the API is up; fail fast so that retries can help.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const USER_AGENT: &str = concat!("currents-bridge/", env!("CARGO_PKG_VERSION"));

const READ_WRITE_HINT: &str =
    "cancelling needs a Read & Write API key (Currents: Organization > API Keys)";
const READ_HINT: &str = "check that the key belongs to the organization that owns the project";

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
    http: reqwest::Client,
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
    GithubRun(CancelByGithubRequest),
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
    pub fn new(config: CurrentsConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .gzip(true)
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()?;
        Ok(Self {
            http,
            api_url: config.api_url,
            api_key: config.api_key,
            retry: config.retry,
        })
    }

    /// A copy whose retries fit within `cap` (see [`RetryPolicy::within`]).
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
            CancelTarget::GithubRun(request) => (
                "PUT /runs/cancel-ci/github",
                self.url(&["runs", "cancel-ci", "github"]),
                Some(request),
            ),
        };
        let response = self
            .retry
            .send(Idempotency::Idempotent, call, || {
                let request = self.request(Method::PUT, url.clone());
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await
            .map_err(|e| CurrentsError::transport(call, &e))?;
        let status = response.status();
        let retry_after =
            crate::retry::retry_after(response.headers(), std::time::SystemTime::now());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CurrentsError::transport(call, &e))?;
        match status {
            s if s.is_success() => {
                let run_id = serde_json::from_slice::<Envelope<CancelResponse>>(&bytes)
                    .ok()
                    .and_then(|e| e.data.run_id);
                Ok(CancelOutcome::Cancelled { run_id })
            }
            StatusCode::UNPROCESSABLE_ENTITY => Ok(CancelOutcome::AlreadyCancelled),
            StatusCode::NOT_FOUND => Ok(CancelOutcome::NotFound),
            other => Err(
                CurrentsError::from_status(call, other, &bytes, READ_WRITE_HINT)
                    .with_retry_after(retry_after),
            ),
        }
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        call: &str,
        url: Url,
    ) -> Result<T, CurrentsError> {
        let response = self
            .retry
            .send(Idempotency::Idempotent, call, || {
                self.request(Method::GET, url.clone())
            })
            .await
            .map_err(|e| CurrentsError::transport(call, &e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CurrentsError::transport(call, &e))?;
        if !status.is_success() {
            return Err(CurrentsError::from_status(call, status, &bytes, READ_HINT));
        }
        serde_json::from_slice::<Envelope<T>>(&bytes)
            .map(|e| e.data)
            .map_err(|e| CurrentsError::Decode {
                call: call.to_owned(),
                reason: e.to_string(),
            })
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(self.api_key.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// The API URL with `segments` appended, each percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.api_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(api_url: &str) -> CurrentsClient {
        CurrentsClient::new(CurrentsConfig {
            api_url: api_url.parse().unwrap(),
            api_key: SecretString::from("k"),
            retry: RetryPolicy::ACTION,
        })
        .unwrap()
    }

    #[test]
    fn urls_keep_the_base_path_and_escape_ids() {
        let c = client("https://api.currents.dev/v1");
        assert_eq!(
            c.url(&["runs", "a/b"]).as_str(),
            "https://api.currents.dev/v1/runs/a%2Fb"
        );
        let c = client("http://127.0.0.1:9/v1/");
        assert_eq!(
            c.url(&["instances", "x"]).as_str(),
            "http://127.0.0.1:9/v1/instances/x"
        );
    }
}
