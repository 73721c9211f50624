//! `POST /webhooks/github`: check the content type, the size and the signature over the raw
//! bytes, then parse, then record the delivery and any cancel job in one transaction, and only
//! then answer. No network call happens before the answer.
//!
//! Answers carry a short fixed reason: never the input, never internals.

use axum::http::{HeaderMap, StatusCode, header};
use sha2::Digest;

use tracing::Instrument;

use super::AppState;
use super::body::{BodyRejection, Delivered, WebhookBody, WebhookRoute};
use super::events::{self, Parsed};
use crate::log_safe::LogSafe;
use crate::store::{DeliveryId, HookId, JobSpec, NewDelivery, NewJob, Recorded};

type Answer = (StatusCode, &'static str);

/// How a delivery ended: one label for the metrics and logs, one answer for GitHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DeliveryOutcome {
    /// A new cancel job was queued, or one for the same run is already waiting or running.
    Queued,
    /// Its run's job was dead; this delivery requeued it.
    Requeued,
    /// A click on one of the App's checks was queued (or is already).
    ClickQueued,
    /// The same person's click of that button was handled already.
    ClickFinished,
    /// Its run's job had already finished.
    Finished,
    Duplicate,
    Ping,
    Ignored,
    Unauthorized,
    BadRequest(&'static str),
    Body(BodyRejection),
    UnsupportedMediaType,
    StoreError,
}

impl Delivered for DeliveryOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Requeued => "requeued",
            Self::ClickQueued => "click_queued",
            Self::ClickFinished => "click_finished",
            Self::Finished => "finished",
            Self::Duplicate => "duplicate",
            Self::Ping | Self::Ignored => "ignored",
            Self::Unauthorized => "unauthorized",
            Self::BadRequest(_) => "bad_request",
            Self::Body(rejection) => rejection.label(),
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::StoreError => "store_error",
        }
    }

    fn answer(self) -> Answer {
        match self {
            Self::Queued => (StatusCode::ACCEPTED, "cancel queued"),
            Self::Requeued => (StatusCode::ACCEPTED, "cancel requeued"),
            Self::ClickQueued => (StatusCode::ACCEPTED, "click queued"),
            Self::ClickFinished => (StatusCode::OK, "click already handled"),
            Self::Finished => (StatusCode::ACCEPTED, "cancel already done"),
            Self::Duplicate => (StatusCode::OK, "duplicate delivery"),
            Self::Ping => (StatusCode::OK, "pong"),
            Self::Ignored => (StatusCode::OK, "nothing to do"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "invalid signature"),
            Self::BadRequest(reason) => (StatusCode::BAD_REQUEST, reason),
            Self::Body(rejection) => rejection.answer(),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported content type",
            ),
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
pub(super) struct GithubRoute;

impl WebhookRoute for GithubRoute {
    type Outcome = DeliveryOutcome;

    async fn handle(
        state: &AppState,
        headers: &HeaderMap,
        body: Result<WebhookBody, BodyRejection>,
    ) -> DeliveryOutcome {
        handle(state, headers, body).await
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<WebhookBody, BodyRejection>,
) -> DeliveryOutcome {
    // GitHub's two content types; the signature covers the body as sent in either.
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let form_encoded = match media_type.as_deref() {
        Some("application/json") => false,
        Some("application/x-www-form-urlencoded") => true,
        _ => return DeliveryOutcome::UnsupportedMediaType,
    };
    let body = match body {
        Ok(body) => body.bytes,
        Err(rejection) => return DeliveryOutcome::Body(rejection),
    };
    let signature = headers.get("x-hub-signature-256").map(|v| v.as_bytes());
    let secret_index = match state.secrets.verify(&body, signature) {
        Ok(index) => index,
        Err(reason) => {
            tracing::warn!(%reason, "webhook refused");
            return DeliveryOutcome::Unauthorized;
        }
    };
    let header_text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let Some(event) = header_text("x-github-event") else {
        return DeliveryOutcome::BadRequest("missing X-GitHub-Event header");
    };
    let Some(delivery_id) = header_text("x-github-delivery") else {
        return DeliveryOutcome::BadRequest("missing X-GitHub-Delivery header");
    };
    // Stored values are capped: a signed delivery still cannot grow the database by
    // inventing ever longer ids.
    let Some(delivery_id) = DeliveryId::parse(delivery_id) else {
        return DeliveryOutcome::BadRequest("X-GitHub-Delivery header too long");
    };
    let Some(hook_id) = HookId::parse(header_text("x-github-hook-id").unwrap_or_default()) else {
        return DeliveryOutcome::BadRequest("X-GitHub-Hook-ID header too long");
    };
    if event.len() > crate::store::MAX_ID_BYTES {
        return DeliveryOutcome::BadRequest("X-GitHub-Event header too long");
    }
    // Header values are visible ASCII (`to_str` refuses anything else), so they cannot break a
    // log line; payload fields are logged through `LogSafe`, which escapes control characters.
    let span =
        tracing::info_span!("delivery", delivery = %delivery_id, hook = %hook_id, event = %event);
    let delivery = Delivery {
        hook_id: &hook_id,
        delivery_id: &delivery_id,
        event,
        form_encoded,
        secret_index,
    };
    // `instrument`, not `span.enter()`: a guard held across `.await` would mark the span as
    // entered on whichever thread the task resumes on.
    accept(state, &delivery, &body).instrument(span).await
}

/// The verified headers of a delivery.
struct Delivery<'a> {
    hook_id: &'a HookId,
    delivery_id: &'a DeliveryId,
    event: &'a str,
    form_encoded: bool,
    secret_index: usize,
}

/// Parses and records a verified delivery.
async fn accept(state: &AppState, headers: &Delivery<'_>, body: &[u8]) -> DeliveryOutcome {
    let Delivery {
        hook_id,
        delivery_id,
        event,
        form_encoded,
        secret_index,
    } = *headers;
    if secret_index > 0 {
        tracing::info!(
            secret_index,
            "verified with an older secret; finish the rotation when every hook is updated"
        );
    }

    let Some(payload) = events::payload_of(form_encoded, body) else {
        return DeliveryOutcome::BadRequest("missing payload field");
    };
    let parsed = match events::parse(event, &payload) {
        Ok(parsed) => parsed,
        Err(error) => {
            tracing::warn!(error = %crate::log_safe::Chain(&error), "unparsable delivery");
            return DeliveryOutcome::BadRequest("unparsable payload");
        }
    };
    let (action, job) = match &parsed {
        Parsed::Cancel { action, job } => (Some(action.as_str()), Some(job)),
        // A click on a check of this App; another App's is none of ours.
        Parsed::Click { app_id, job } if state.app_id == Some(*app_id) => {
            (Some("requested_action"), Some(job))
        }
        Parsed::Click { .. } => (Some("requested_action"), None),
        Parsed::Ignore { action } => (action.as_deref(), None),
    };
    // GitHub's signature covers the body, not the headers: the same signed bytes under a new
    // delivery id are a replay.
    let digest = hex::encode(sha2::Sha256::digest(body));
    let delivery = NewDelivery {
        hook_id,
        delivery_id,
        event,
        action,
        // The signed bytes are kept for replay only where they matter.
        body: job.map(|_| body),
        body_digest: Some(&digest),
    };
    let recorded = state.store.record(&delivery, job).await;
    outcome_of(state, event, job, recorded)
}

/// The answer to a recorded delivery, logged.
fn outcome_of(
    state: &AppState,
    event: &str,
    job: Option<&NewJob>,
    recorded: Result<Recorded, crate::store::StoreError>,
) -> DeliveryOutcome {
    match recorded {
        Ok(Recorded::Duplicate) => {
            tracing::info!("duplicate delivery");
            DeliveryOutcome::Duplicate
        }
        Ok(Recorded::Delivery) if event == "ping" => DeliveryOutcome::Ping,
        Ok(Recorded::Delivery) => DeliveryOutcome::Ignored,
        Ok(Recorded::Job {
            id,
            created,
            requeued,
        }) => {
            state.wake.notify_one();
            match job {
                Some(NewJob {
                    repository,
                    spec:
                        JobSpec::Cancel {
                            run_id,
                            run_attempt,
                        },
                }) => {
                    tracing::info!(job = id.get(), created, requeued, repository = %LogSafe(repository), run_id = run_id.get(), run_attempt = run_attempt.get(), "cancel queued");
                }
                Some(NewJob {
                    repository,
                    spec: JobSpec::Click(click),
                }) => {
                    tracing::info!(job = id.get(), created, repository = %LogSafe(repository), check_run = click.check_run_id.get(), button = click.button.identifier(), sender = %LogSafe(&click.sender), "click queued");
                    return DeliveryOutcome::ClickQueued;
                }
                _ => {}
            }
            if requeued {
                DeliveryOutcome::Requeued
            } else {
                DeliveryOutcome::Queued
            }
        }
        Ok(Recorded::Finished { id }) => {
            if let Some(NewJob {
                spec: JobSpec::Click(_),
                ..
            }) = job
            {
                tracing::info!(job = id.get(), "this click was handled already");
                return DeliveryOutcome::ClickFinished;
            }
            tracing::info!(job = id.get(), "the run's cancel job already finished");
            DeliveryOutcome::Finished
        }
        Err(error) => {
            // GitHub does not redeliver: say so loudly, so an operator can redeliver by hand.
            tracing::error!(error = %crate::log_safe::Chain(&error), "cannot store the delivery; redeliver it from the hook's Recent Deliveries");
            DeliveryOutcome::StoreError
        }
    }
}
