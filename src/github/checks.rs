//! The Checks API: create a check run and append annotations to it.
//!
//! Plain reqwest with our own serde types rather than octocrab: two endpoints, one retry layer
//! (octocrab's default retries POSTs at once, which can duplicate a check run), and proxy
//! settings honoured like every other call.

use std::fmt;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::http::{self, Http};
use crate::report::Annotation;
use crate::retry::{Idempotency, RetryPolicy};

/// GitHub's cap on annotations per create or update request; more fail the whole request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;

/// GitHub recommends `application/vnd.github+json`; its API description declares the responses
/// as `application/json`, and servers that negotiate strictly (GHES proxies, mocks) answer 406
/// to the first alone. Offering both lets each serve what it has.
const ACCEPT: &str = "application/vnd.github+json, application/json";

/// `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub owner: String,
    pub name: String,
}

impl Repository {
    /// Parses `GITHUB_REPOSITORY`.
    pub fn parse(full_name: &str) -> Option<Self> {
        let (owner, name) = full_name.trim().split_once('/')?;
        let valid = |s: &str| !s.is_empty() && !s.contains('/');
        (valid(owner) && valid(name)).then(|| Self {
            owner: owner.into(),
            name: name.into(),
        })
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

#[derive(Debug, Clone)]
pub struct GithubConfig {
    /// `GITHUB_API_URL`: `https://api.github.com`, or `https://HOST/api/v3` on GHES.
    pub api_url: Url,
    pub token: SecretString,
    pub retry: RetryPolicy,
}

/// A check run's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CheckRunId(u64);

impl CheckRunId {
    pub const fn new(id: u64) -> Self {
        Self(id)
    }

    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for CheckRunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

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

impl From<crate::report::Conclusion> for CheckConclusion {
    fn from(conclusion: crate::report::Conclusion) -> Self {
        use crate::report::Conclusion as C;
        match conclusion {
            C::Success => Self::Success,
            C::Failure => Self::Failure,
            C::Cancelled => Self::Cancelled,
            C::TimedOut => Self::TimedOut,
            C::Neutral => Self::Neutral,
        }
    }
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

/// `POST /repos/{owner}/{repo}/check-runs`, created completed in one call.
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

/// `PATCH /repos/{owner}/{repo}/check-runs/{id}`: what is `None` is left as it is.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRunUpdate<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<CheckConclusion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<CheckStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<CheckRunOutput<'a>>,
}

/// The fields of GitHub's answer that we use.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckRun {
    pub id: CheckRunId,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    /// Present on `GET` of one check run.
    #[serde(default)]
    pub output: Option<CheckRunOutputCounts>,
}

/// What GitHub counts of a check run's output.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CheckRunOutputCounts {
    /// Annotations the check run holds: every batch GitHub accepted.
    #[serde(default)]
    pub annotations_count: u64,
}

/// A failed GitHub call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GithubError {
    /// 403 or 404 on a checks call: the token may not write checks (a fork's read-only token,
    /// or no `checks: write`). The report falls back to the job summary.
    #[error(
        "GitHub {call} answered HTTP {status}{detail}: the token cannot write check runs; add `permissions: checks: write` to the job (fork pull requests: see the README's workflow_run pattern)"
    )]
    NoPermission {
        call: String,
        status: u16,
        detail: String,
    },
    #[error("GitHub {call} answered HTTP {status}{detail}")]
    Status {
        call: String,
        status: u16,
        detail: String,
    },
    #[error("GitHub {call} failed: {reason}; check GITHUB_API_URL and the network")]
    Transport { call: String, reason: String },
    #[error("GitHub {call} sent a body that could not be read: {reason}")]
    Decode { call: String, reason: String },
}

impl GithubError {
    /// The HTTP status GitHub answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::NoPermission { status, .. } | Self::Status { status, .. } => Some(*status),
            Self::Transport { .. } | Self::Decode { .. } => None,
        }
    }

    /// Worth trying again later: no answer, a rate limit, or a server error.
    pub fn is_transient(&self) -> bool {
        match self.status() {
            None => matches!(self, Self::Transport { .. }),
            Some(status) => status == 429 || status >= 500,
        }
    }
}

/// The GitHub REST API, for check runs.
#[derive(Debug, Clone)]
pub struct GithubClient {
    http: Http,
    api_url: Url,
    token: SecretString,
    retry: RetryPolicy,
}

impl GithubClient {
    /// A client over the process's HTTP layer.
    pub fn new(config: GithubConfig, http: &Http) -> Self {
        Self {
            http: http.clone(),
            api_url: config.api_url,
            token: config.token,
            retry: config.retry,
        }
    }

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
        let update = |annotations| CheckRunUpdate {
            conclusion: None,
            status: None,
            output: Some(CheckRunOutput {
                annotations,
                ..output.clone()
            }),
        };
        let written = self.update(repo, id, &update(first)).await?;
        for batch in batches {
            self.update(repo, id, &update(batch)).await?;
        }
        Ok(written)
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
        self.call(call, method, url, Some(body), Idempotency::NotIdempotent)
            .await
            .map(|(check, _)| check)
    }

    /// A `GET` with this client's token: the answer's JSON and the next page's URL, if any.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        call: &str,
        url: Url,
    ) -> Result<(T, Option<String>), GithubError> {
        self.call(call, Method::GET, url, None::<&()>, Idempotency::Idempotent)
            .await
    }

    /// One call with this client's token: the answer's JSON and the next page's URL, if any.
    /// Failures map to [`GithubError`]; 403 and 404 to `NoPermission`.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        call: &str,
        method: Method,
        url: Url,
        body: Option<&(impl Serialize + ?Sized)>,
        idempotency: Idempotency,
    ) -> Result<(T, Option<String>), GithubError> {
        let response = self
            .retry
            .send(idempotency, call, || {
                let request = self
                    .http
                    .request(method.clone(), url.clone())
                    .bearer_auth(self.token.expose_secret())
                    .header(reqwest::header::ACCEPT, ACCEPT)
                    .header("X-GitHub-Api-Version", "2022-11-28");
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await
            .map_err(|e| GithubError::Transport {
                call: call.to_owned(),
                reason: http::transport_reason(e),
            })?;
        let http::Answer {
            status,
            body: bytes,
            next_page,
            ..
        } = http::read(response).await.map_err(|e| match e {
            http::ReadError::Transport(reason) => GithubError::Transport {
                call: call.to_owned(),
                reason,
            },
            too_large @ http::ReadError::TooLarge => GithubError::Decode {
                call: call.to_owned(),
                reason: too_large.to_string(),
            },
        })?;
        if !status.is_success() {
            let detail = error_detail(&bytes);
            return Err(match status {
                StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => GithubError::NoPermission {
                    call: call.to_owned(),
                    status: status.as_u16(),
                    detail,
                },
                _ => GithubError::Status {
                    call: call.to_owned(),
                    status: status.as_u16(),
                    detail,
                },
            });
        }
        // `POST …/attempts` answers 202 with an empty or unrelated body.
        let bytes = if bytes.is_empty() {
            b"null".to_vec()
        } else {
            bytes
        };
        let value = serde_json::from_slice(&bytes).map_err(|e| GithubError::Decode {
            call: call.to_owned(),
            reason: e.to_string(),
        })?;
        Ok((value, next_page))
    }

    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        http::endpoint(&self.api_url, segments)
    }

    /// A pagination link (`Link: <…>; rel="next"`) to follow, when it is on this API's origin:
    /// the token goes with the request, so it must never be sent to a host a server names.
    pub(crate) fn next_page(&self, link: Option<String>) -> Option<Url> {
        let url = Url::parse(&link?).ok()?;
        (url.origin() == self.api_url.origin()
            && url
                .path()
                .starts_with(self.api_url.path().trim_end_matches('/')))
        .then_some(url)
    }

    /// The same client with another token (an App's JWT or installation token).
    pub(crate) fn with_token(&self, token: SecretString) -> Self {
        Self {
            token,
            ..self.clone()
        }
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
            .get("GET /repos/{owner}/{repo}/check-runs/{check_run_id}", url)
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
            .get("GET /repos/{owner}/{repo}/commits/{ref}/check-runs", url)
            .await?;
        Ok(listed
            .check_runs
            .into_iter()
            .find(|check| check.external_id.as_deref() == Some(external_id)))
    }
}

/// The longest server error text quoted in a message, to keep errors on one line.
const MAX_DETAIL_CHARS: usize = 300;

/// GitHub's `message` plus its first validation error, or a problem+json (RFC 9457) `title`
/// plus its first `validation` message (API gateways and mocks answer so), shortened to one
/// line.
fn error_detail(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Body {
        #[serde(alias = "title")]
        message: Option<String>,
        #[serde(default, alias = "validation")]
        errors: Vec<serde_json::Value>,
    }
    let Ok(body) = serde_json::from_slice::<Body>(body) else {
        return String::new();
    };
    let mut text = body.message.unwrap_or_default();
    if let Some(first) = body.errors.first() {
        let first = first.get("message").unwrap_or(first);
        let first = first
            .as_str()
            .map_or_else(|| first.to_string(), str::to_owned);
        text = format!("{text}: {first}");
    }
    let text = http::one_line(&text, MAX_DETAIL_CHARS);
    if text.is_empty() {
        text
    } else {
        format!(" ({text})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_parsing() {
        assert_eq!(
            Repository::parse("acme/webapp"),
            Some(Repository {
                owner: "acme".into(),
                name: "webapp".into()
            })
        );
        assert_eq!(Repository::parse("acme"), None);
        assert_eq!(Repository::parse("a/b/c"), None);
        assert_eq!(Repository::parse("/b"), None);
    }

    #[test]
    fn pagination_links_are_followed_only_on_the_apis_origin() {
        let http = crate::http::Http::new().unwrap();
        let client = GithubClient::new(
            GithubConfig {
                api_url: "https://ghe.example.com/api/v3".parse().unwrap(),
                token: SecretString::from("t"),
                retry: RetryPolicy::ACTION,
            },
            &http,
        );
        let next = |link: &str| {
            client
                .next_page(Some(link.to_owned()))
                .map(|u| u.to_string())
        };
        assert_eq!(
            next("https://ghe.example.com/api/v3/app/hook/deliveries?cursor=x").as_deref(),
            Some("https://ghe.example.com/api/v3/app/hook/deliveries?cursor=x")
        );
        assert_eq!(
            next("https://evil.example.com/api/v3/x"),
            None,
            "another host"
        );
        assert_eq!(
            next("http://ghe.example.com/api/v3/x"),
            None,
            "another scheme"
        );
        assert_eq!(
            next("https://ghe.example.com/other"),
            None,
            "outside the API"
        );
        assert_eq!(client.next_page(None), None);
    }

    #[test]
    fn error_detail_reads_validation_errors() {
        let body = br#"{"message":"Invalid request.","errors":["Only 65535 characters are allowed; 85289 were supplied."]}"#;
        assert_eq!(
            error_detail(body),
            " (Invalid request.: Only 65535 characters are allowed; 85289 were supplied.)"
        );
        let problem = br#"{"title":"Invalid request","status":422,"validation":[{"location":["body","conclusion"],"message":"Request body property conclusion must be equal to one of the allowed values"}]}"#;
        assert_eq!(
            error_detail(problem),
            " (Invalid request: Request body property conclusion must be equal to one of the allowed values)"
        );
        assert_eq!(error_detail(b"not json"), "");
    }
}
