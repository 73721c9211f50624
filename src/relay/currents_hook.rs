//! `POST /webhooks/currents`: Currents' run webhooks, in App mode. Check the shared-secret
//! header (Currents signs nothing) and `x-timestamp`, parse, then record the delivery and its
//! check job in one transaction, and only then answer. No network call happens before the
//! answer.
//!
//! The payload is a doorbell: only its event and run id are used. Where the check goes is
//! decided by the job from the Currents API's run. The only thing taken from the payload is a
//! refusal: a remote whose repository no project may report on is answered at once.

use axum::http::{HeaderMap, StatusCode};

use super::AppState;
use super::body::{BodyRejection, Delivered, WebhookBody, WebhookRoute};
use super::verify::timestamp_is_fresh;
use crate::currents::models::RunWebhook;
use crate::github::repository_of;
use crate::log_safe::LogSafe;
use crate::store::{CheckEvent, CheckPayload, DeliveryId, HookId, NewDelivery, NewJob, Recorded};

/// The header Currents is configured to send the secret in (`register-currents-webhook`
/// sets it up).
pub const SECRET_HEADER: &str = "x-currents-bridge-secret";

/// The `hook_id` Currents deliveries are stored under; their `delivery_id` is the body's
/// SHA-256, as Currents sends no delivery id.
const HOOK_ID: &str = "currents";

/// The events that drive a check, as Currents spells them (`register-currents-webhook`).
pub const EVENTS: [&str; 4] = [
    CheckEvent::RunStart.as_str(),
    CheckEvent::RunFinish.as_str(),
    CheckEvent::RunTimeout.as_str(),
    CheckEvent::RunCanceled.as_str(),
];

/// How a Currents delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Queued,
    Duplicate,
    Ignored,
    NotAllowed,
    Disabled,
    Unauthorized,
    Stale,
    BadRequest(&'static str),
    Body(BodyRejection),
    StoreError,
}

impl Delivered for Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Queued => "currents_queued",
            Self::Duplicate => "currents_duplicate",
            Self::Ignored => "currents_ignored",
            Self::NotAllowed => "currents_not_allowed",
            Self::Disabled => "currents_disabled",
            Self::Unauthorized => "currents_unauthorized",
            Self::Stale => "currents_stale",
            Self::BadRequest(_) => "currents_bad_request",
            Self::Body(BodyRejection::TooLarge) => "currents_too_large",
            Self::Body(BodyRejection::TooSlow) => "currents_too_slow",
            Self::Body(BodyRejection::Overloaded) => "currents_overloaded",
            Self::Body(BodyRejection::Unreadable) => "currents_bad_request",
            Self::StoreError => "currents_store_error",
        }
    }

    fn answer(self) -> (StatusCode, &'static str) {
        match self {
            Self::Queued => (StatusCode::ACCEPTED, "check queued"),
            Self::Duplicate => (StatusCode::OK, "duplicate delivery"),
            Self::Ignored => (StatusCode::OK, "nothing to do"),
            Self::NotAllowed => (StatusCode::OK, "repository not allowed"),
            Self::Disabled => (StatusCode::NOT_FOUND, "not found"),
            Self::Unauthorized | Self::Stale => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::BadRequest(reason) => (StatusCode::BAD_REQUEST, reason),
            Self::Body(rejection) => rejection.answer(),
            Self::StoreError => (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable"),
        }
    }

    fn rejection(self) -> Option<BodyRejection> {
        match self {
            Self::Body(rejection) => Some(rejection),
            _ => None,
        }
    }
}

/// The route, for [`super::body::receive`].
pub(super) struct CurrentsRoute;

impl WebhookRoute for CurrentsRoute {
    type Outcome = Outcome;

    async fn handle(
        state: &AppState,
        headers: &HeaderMap,
        body: Result<WebhookBody, BodyRejection>,
    ) -> Outcome {
        handle(state, headers, body).await
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<WebhookBody, BodyRejection>,
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
        Ok(body) => body.bytes,
        Err(rejection) => return Outcome::Body(rejection),
    };
    let Ok(webhook) = serde_json::from_slice::<RunWebhook>(&body) else {
        // serde's message may quote the payload: not logged.
        tracing::warn!("unparsable Currents webhook");
        return Outcome::BadRequest("unparsable payload");
    };
    let Some(event) = CheckEvent::of_webhook(&webhook.event) else {
        return Outcome::Ignored;
    };
    let Some(run_id) = webhook.run_id() else {
        return Outcome::BadRequest("runUrl names no run");
    };
    // The payload may name any repository; it can only make the relay do less.
    let claimed = webhook
        .commit
        .as_ref()
        .and_then(|c| c.remote_origin.as_deref())
        .and_then(repository_of)
        .map(|(_, repo)| repo);
    if let Some(repo) = &claimed
        && !app.projects.allows_any(repo)
    {
        tracing::info!(run = %LogSafe(run_id.as_str()), repository = %LogSafe(&repo.to_string()), "Currents run of a repository no project may report on (--currents-projects); ignored");
        return Outcome::NotAllowed;
    }
    let payload = CheckPayload {
        event,
        run_id: run_id.clone(),
        group_id: webhook
            .group_id
            .filter(|g| !g.is_empty())
            .map(|g| g.chars().take(200).collect::<String>()),
    };
    let claimed = claimed.map(|r| r.to_string()).unwrap_or_default();
    let job = NewJob::check(claimed, payload);
    record(state, &body, &job).await
}

/// Records the delivery (its id the body's digest) and its check job in one transaction.
async fn record(state: &AppState, body: &[u8], job: &NewJob) -> Outcome {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(body));
    let (Some(hook_id), Some(delivery_id)) = (HookId::parse(HOOK_ID), DeliveryId::parse(&digest))
    else {
        return Outcome::StoreError;
    };
    let delivery = NewDelivery {
        hook_id: &hook_id,
        delivery_id: &delivery_id,
        event: "currents",
        action: Some(match &job.spec {
            crate::store::JobSpec::Check(check) => check.event.as_str(),
            _ => "",
        }),
        body: Some(body),
        // The delivery id is the body's digest already.
        body_digest: None,
    };
    match state.store.record(&delivery, Some(job)).await {
        Ok(Recorded::Duplicate | Recorded::Finished { .. }) => Outcome::Duplicate,
        Ok(Recorded::Delivery) => Outcome::Ignored,
        Ok(Recorded::Job { id, .. }) => {
            tracing::info!(job = id.get(), key = %LogSafe(&job.dedupe_key()), "check queued");
            state.wake.notify_one();
            Outcome::Queued
        }
        Err(error) => {
            tracing::error!(error = %crate::log_safe::Chain(&error), "cannot store the Currents webhook");
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
