//! The one GitHub client: a token, the process's HTTP layer and its retry policy under every
//! GitHub call (check runs in `checks.rs`, comments in `comments.rs`, the App's endpoints in
//! `app.rs`), one error type, and pagination that never follows a link off the API's origin.

use std::fmt;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::api::{ReadFailure, Transport, Unreadable, error_detail, is_transient_status};
use crate::http::{self, Http};
use crate::retry::{Idempotency, RetryPolicy};

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

/// The permission whose lack a 403 or 404 means, for a call: each call site says which, so
/// that the advice in the error is true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Check runs: `checks: write`.
    Checks,
    /// Pull request comments: `pull-requests: write`.
    PullRequests,
    /// Re-running a workflow's jobs: `actions: write`.
    Actions,
    /// Nothing a token's permissions decide (the App's own endpoints, `GET /user`, an
    /// installation lookup): a 403 or 404 is an answer like any other.
    None,
}

impl Permission {
    /// What to do about a 403 or 404 of a call that needs this permission.
    pub const fn advice(self) -> &'static str {
        match self {
            Self::Checks => {
                "the token cannot write check runs: add `permissions: checks: write` to the job (fork pull requests: see the README's workflow_run pattern; a GitHub App needs Checks: write)"
            }
            Self::PullRequests => {
                "the token cannot comment on the pull request: add `permissions: pull-requests: write` to the job, or set comment: off (a GitHub App needs Pull requests: write)"
            }
            Self::Actions => {
                "the App cannot re-run workflow jobs: grant it Actions: write (then accept the new permission on each installation)"
            }
            Self::None => "",
        }
    }
}

/// A failed GitHub call. Callers branch on the variant, never on the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GithubError {
    /// 403 or 404 on a call that needs a permission the token may lack (a fork's read-only
    /// token, or a missing `permissions:` entry).
    #[error("GitHub {call} answered HTTP {status}{detail}: {}", needs.advice())]
    NoPermission {
        call: String,
        status: u16,
        detail: String,
        needs: Permission,
    },
    #[error("GitHub {call} answered HTTP {status}{detail}")]
    Status {
        call: String,
        status: u16,
        detail: String,
    },
    #[error("GitHub {call} failed; check GITHUB_API_URL and the network")]
    Transport {
        call: String,
        #[source]
        source: Transport,
    },
    #[error("GitHub {call} sent a body that could not be read")]
    Decode {
        call: String,
        #[source]
        source: Unreadable,
    },
}

impl GithubError {
    fn from_status(call: &str, status: StatusCode, body: &[u8], needs: Permission) -> Self {
        let call = call.to_owned();
        let detail = error_detail(body);
        let status = status.as_u16();
        match (status, needs) {
            (403 | 404, Permission::Checks | Permission::PullRequests)
            | (403, Permission::Actions) => Self::NoPermission {
                call,
                status,
                detail,
                needs,
            },
            _ => Self::Status {
                call,
                status,
                detail,
            },
        }
    }

    /// An answer that is not what the call returns.
    pub(crate) fn decode(call: &str, source: impl Into<Unreadable>) -> Self {
        Self::Decode {
            call: call.to_owned(),
            source: source.into(),
        }
    }

    /// The HTTP status GitHub answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::NoPermission { status, .. } | Self::Status { status, .. } => Some(*status),
            Self::Transport { .. } | Self::Decode { .. } => None,
        }
    }

    /// Worth trying again later: no answer, or 408/425/429/5xx (the rule Currents' errors
    /// follow too).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            other => other.status().is_some_and(is_transient_status),
        }
    }
}

/// The GitHub REST API with one token.
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

    /// A `GET` with this client's token: the answer's JSON and the next page's URL, if any.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        call: &str,
        url: Url,
        needs: Permission,
    ) -> Result<(T, Option<String>), GithubError> {
        self.call(
            call,
            Method::GET,
            url,
            None::<&()>,
            Idempotency::Idempotent,
            needs,
        )
        .await
    }

    /// One call with this client's token: the answer's JSON and the next page's URL, if any.
    /// Failures map to [`GithubError`]; a 403 or 404 to `NoPermission` when the call `needs` a
    /// permission a token may lack, else to `Status`.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        call: &str,
        method: Method,
        url: Url,
        body: Option<&(impl Serialize + ?Sized)>,
        idempotency: Idempotency,
        needs: Permission,
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
                source: Transport::new(e),
            })?;
        let http::Answer {
            status,
            body: bytes,
            next_page,
            ..
        } = http::read(response).await.map_err(|e| {
            let call = call.to_owned();
            match ReadFailure::from(e) {
                ReadFailure::Transport(source) => GithubError::Transport { call, source },
                ReadFailure::Unreadable(source) => GithubError::Decode { call, source },
            }
        })?;
        if !status.is_success() {
            return Err(GithubError::from_status(call, status, &bytes, needs));
        }
        // `POST …/attempts` answers 202 with an empty or unrelated body.
        let bytes = if bytes.is_empty() {
            b"null".to_vec()
        } else {
            bytes
        };
        let value = serde_json::from_slice(&bytes).map_err(|e| GithubError::Decode {
            call: call.to_owned(),
            source: e.into(),
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
    fn no_permission_only_where_its_advice_is_true() {
        let error = |needs| GithubError::from_status("X", StatusCode::FORBIDDEN, b"{}", needs);
        assert!(
            error(Permission::Checks)
                .to_string()
                .contains("checks: write")
        );
        assert!(
            error(Permission::PullRequests)
                .to_string()
                .contains("pull-requests: write")
        );
        let plain = error(Permission::None);
        assert!(matches!(plain, GithubError::Status { status: 403, .. }));
        assert!(!plain.to_string().contains("permissions"));
        let not_found =
            GithubError::from_status("X", StatusCode::NOT_FOUND, b"{}", Permission::None);
        assert_eq!(not_found.status(), Some(404));
        assert!(!not_found.is_transient());
        let busy =
            GithubError::from_status("X", StatusCode::REQUEST_TIMEOUT, b"{}", Permission::None);
        assert!(
            busy.is_transient(),
            "408 is transient for GitHub as for Currents"
        );
    }
}
