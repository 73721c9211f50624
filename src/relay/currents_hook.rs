//! `POST /webhooks/currents`: Currents' run webhooks, in App mode. Check the shared-secret
//! header (Currents signs nothing) and `x-timestamp`, parse, find the repository from the
//! commit's remote, then record the delivery and its check job in one transaction, and only
//! then answer. No network call happens before the answer.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::AppState;
use super::verify::timestamp_is_fresh;
use crate::currents::RunId;
use crate::currents::models::RunWebhook;
use crate::github::Repository;
use crate::log_safe::LogSafe;
use crate::store::{DeliveryId, HookId, NewCheckJob, NewDelivery, NewJob, Recorded};

/// The header Currents is configured to send the secret in (`register-currents-webhook`
/// sets it up).
pub const SECRET_HEADER: &str = "x-currents-bridge-secret";

/// The `hook_id` Currents deliveries are stored under; their `delivery_id` is the body's
/// SHA-256, as Currents sends no delivery id.
const HOOK_ID: &str = "currents";

/// The events that drive a check.
pub const EVENTS: [&str; 4] = ["RUN_START", "RUN_FINISH", "RUN_TIMEOUT", "RUN_CANCELED"];

/// What a check job needs of the webhook, stored as its payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckPayload {
    pub event: String,
    pub run_id: RunId,
    pub repository: String,
    pub head_sha: String,
    #[serde(default)]
    pub group_id: Option<String>,
}

type Answer = (StatusCode, &'static str);

/// How a Currents delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Queued,
    Duplicate,
    Ignored,
    OtherHost,
    Disabled,
    Unauthorized,
    Stale,
    BadRequest(&'static str),
    TooLarge,
    StoreError,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Queued => "currents_queued",
            Self::Duplicate => "currents_duplicate",
            Self::Ignored => "currents_ignored",
            Self::OtherHost => "currents_other_host",
            Self::Disabled => "currents_disabled",
            Self::Unauthorized => "currents_unauthorized",
            Self::Stale => "currents_stale",
            Self::BadRequest(_) => "currents_bad_request",
            Self::TooLarge => "currents_too_large",
            Self::StoreError => "currents_store_error",
        }
    }

    fn answer(self) -> Answer {
        match self {
            Self::Queued => (StatusCode::ACCEPTED, "check queued"),
            Self::Duplicate => (StatusCode::OK, "duplicate delivery"),
            Self::Ignored => (StatusCode::OK, "nothing to do"),
            Self::OtherHost => (StatusCode::OK, "repository not on this GitHub host"),
            Self::Disabled => (StatusCode::NOT_FOUND, "not found"),
            Self::Unauthorized | Self::Stale => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::BadRequest(reason) => (StatusCode::BAD_REQUEST, reason),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload too large"),
            Self::StoreError => (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable"),
        }
    }
}

pub(super) async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let outcome = handle(&state, &headers, body).await;
    state.metrics.delivery(outcome.label());
    outcome.answer()
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Outcome {
    let Some(app) = &state.app else {
        return Outcome::Disabled;
    };
    let secret = headers.get(SECRET_HEADER).map(|v| v.as_bytes());
    if let Err(reason) = app.currents_secrets.verify_shared(secret) {
        tracing::warn!(reason = shared_reason(reason), "Currents webhook refused");
        return Outcome::Unauthorized;
    }
    let timestamp = headers.get("x-timestamp").map(|v| v.as_bytes());
    if !timestamp_is_fresh(timestamp, std::time::SystemTime::now()) {
        tracing::warn!(
            "Currents webhook refused: x-timestamp missing or more than 5 minutes from now"
        );
        return Outcome::Stale;
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Outcome::TooLarge;
        }
        Err(_) => return Outcome::BadRequest("unreadable body"),
    };
    let Ok(webhook) = serde_json::from_slice::<RunWebhook>(&body) else {
        // serde's message may quote the payload: not logged.
        tracing::warn!("unparsable Currents webhook");
        return Outcome::BadRequest("unparsable payload");
    };
    if !EVENTS.contains(&webhook.event.as_str()) {
        return Outcome::Ignored;
    }
    let Some(run_id) = webhook.run_id() else {
        return Outcome::BadRequest("runUrl names no run");
    };
    let commit = webhook.commit.as_ref();
    let Some(head_sha) = commit
        .and_then(|c| c.sha.as_deref())
        .filter(|sha| sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()))
    else {
        return Outcome::BadRequest("commit.sha is not a commit id");
    };
    let Some(remote) = commit.and_then(|c| c.remote_origin.as_deref()) else {
        return Outcome::BadRequest("commit.remoteOrigin is missing");
    };
    let Some((host, repository)) = repository_of(remote) else {
        return Outcome::BadRequest("commit.remoteOrigin names no repository");
    };
    if !host.eq_ignore_ascii_case(&app.github_host) {
        tracing::info!(run = %LogSafe(run_id.as_str()), "Currents run of a repository on another host; ignored");
        return Outcome::OtherHost;
    }
    let group_id = webhook
        .group_id
        .filter(|g| !g.is_empty())
        .map(|g| g.chars().take(200).collect::<String>());
    let payload = CheckPayload {
        event: webhook.event.clone(),
        run_id: run_id.clone(),
        repository: repository.to_string(),
        head_sha: head_sha.to_ascii_lowercase(),
        group_id: group_id.clone(),
    };
    let Ok(payload_json) = serde_json::to_string(&payload) else {
        return Outcome::BadRequest("unparsable payload");
    };
    let job = NewJob::check(
        repository.to_string(),
        NewCheckJob {
            key: format!(
                "{}#{}#{}",
                run_id,
                webhook.event,
                group_id.as_deref().unwrap_or_default()
            ),
            payload: payload_json,
        },
    );
    let digest = hex::encode(sha2::Sha256::digest(&body));
    let (Some(hook_id), Some(delivery_id)) = (HookId::parse(HOOK_ID), DeliveryId::parse(&digest))
    else {
        return Outcome::StoreError;
    };
    let delivery = NewDelivery {
        hook_id: &hook_id,
        delivery_id: &delivery_id,
        event: "currents",
        action: Some(&webhook.event),
        body: Some(&body),
    };
    match state.store.record(&delivery, Some(&job)).await {
        Ok(Recorded::Duplicate | Recorded::Finished { .. }) => Outcome::Duplicate,
        Ok(Recorded::Delivery) => Outcome::Ignored,
        Ok(Recorded::Job { id, .. }) => {
            tracing::info!(job = id.get(), run = %LogSafe(run_id.as_str()), event = %LogSafe(&webhook.event), repository = %LogSafe(&payload.repository), "check queued");
            state.wake.notify_one();
            Outcome::Queued
        }
        Err(error) => {
            tracing::error!(%error, "cannot store the Currents webhook");
            Outcome::StoreError
        }
    }
}

fn shared_reason(reason: super::verify::VerifyError) -> &'static str {
    match reason {
        super::verify::VerifyError::Missing => "no X-Currents-Bridge-Secret header",
        _ => "the X-Currents-Bridge-Secret header matches no configured secret",
    }
}

/// The host and repository of a git remote: `https://host/owner/repo(.git)`,
/// `ssh://git@host(:port)/owner/repo(.git)` or scp-like `git@host:owner/repo(.git)`.
pub fn repository_of(remote: &str) -> Option<(String, Repository)> {
    let remote = remote.trim();
    let (host, path) = if remote.contains("://") {
        let url = url::Url::parse(remote).ok()?;
        (url.host_str()?.to_owned(), url.path().to_owned())
    } else {
        // scp-like syntax: [user@]host:path
        let (authority, path) = remote.split_once(':')?;
        let host = authority.rsplit('@').next()?;
        (host.to_owned(), path.to_owned())
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let repository = Repository::parse(path)?;
    let valid = |s: &str| {
        s.len() <= 100
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    (valid(&repository.owner) && valid(&repository.name) && !host.is_empty())
        .then_some((host, repository))
}

/// The web host of a GitHub API URL: `api.github.com` is `github.com`'s; a GHES API
/// (`https://HOST/api/v3`) is its own host's.
pub fn github_host(api_url: &url::Url) -> String {
    match api_url.host_str() {
        Some("api.github.com") | None => "github.com".to_owned(),
        Some(host) => host.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_of_every_shape() {
        let acme = |host: &str| {
            Some((
                host.to_owned(),
                Repository {
                    owner: "acme".into(),
                    name: "webapp".into(),
                },
            ))
        };
        assert_eq!(
            repository_of("https://github.com/acme/webapp"),
            acme("github.com")
        );
        assert_eq!(
            repository_of("https://github.com/acme/webapp.git"),
            acme("github.com")
        );
        assert_eq!(
            repository_of("https://x-access-token:abc@github.com/acme/webapp/"),
            acme("github.com")
        );
        assert_eq!(
            repository_of("git@github.com:acme/webapp.git"),
            acme("github.com")
        );
        assert_eq!(
            repository_of("ssh://git@ghe.example.com:2222/acme/webapp.git"),
            acme("ghe.example.com")
        );
        assert_eq!(repository_of("https://github.com/acme"), None);
        assert_eq!(repository_of("https://github.com/acme/web/app"), None);
        assert_eq!(repository_of("https://github.com/acme/we%0Abapp"), None);
        assert_eq!(repository_of("not a remote"), None);
    }

    #[test]
    fn api_urls_give_their_web_host() {
        let host = |url: &str| github_host(&url.parse().unwrap());
        assert_eq!(host("https://api.github.com"), "github.com");
        assert_eq!(host("https://GHE.example.com/api/v3"), "ghe.example.com");
    }
}
