//! `POST /webhooks/github`: check the content type, the size and the signature over the raw
//! bytes, then parse, then record the delivery and any cancel job in one transaction, and only
//! then answer. No network call happens before the answer.
//!
//! Answers carry a short fixed reason: never the input, never internals.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};

use tracing::Instrument;

use super::AppState;
use super::events::{self, Parsed};
use crate::store::{NewDelivery, Recorded, now_ms};

type Answer = (StatusCode, &'static str);

pub(super) async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let answer = handle(&state, &headers, body).await;
    state.metrics.delivery(outcome_label(&answer));
    answer
}

fn outcome_label(answer: &Answer) -> &'static str {
    match answer {
        (StatusCode::ACCEPTED, _) => "queued",
        (StatusCode::OK, "duplicate delivery") => "duplicate",
        (StatusCode::OK, _) => "ignored",
        (StatusCode::UNAUTHORIZED, _) => "unauthorized",
        (StatusCode::PAYLOAD_TOO_LARGE, _) => "too_large",
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, _) => "unsupported_media_type",
        (StatusCode::SERVICE_UNAVAILABLE, _) => "store_error",
        _ => "bad_request",
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
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
        _ => {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported content type",
            );
        }
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "payload too large");
        }
        Err(_) => return (StatusCode::BAD_REQUEST, "unreadable body"),
    };
    let signature = headers.get("x-hub-signature-256").map(|v| v.as_bytes());
    let secret_index = match state.secrets.verify(&body, signature) {
        Ok(index) => index,
        Err(reason) => {
            tracing::warn!(%reason, "webhook refused");
            return (StatusCode::UNAUTHORIZED, "invalid signature");
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
        return (StatusCode::BAD_REQUEST, "missing X-GitHub-Event header");
    };
    let Some(delivery_id) = header_text("x-github-delivery") else {
        return (StatusCode::BAD_REQUEST, "missing X-GitHub-Delivery header");
    };
    let hook_id = header_text("x-github-hook-id").unwrap_or_default();
    let span =
        tracing::info_span!("delivery", delivery = %delivery_id, hook = %hook_id, event = %event);
    let delivery = Delivery {
        hook_id,
        delivery_id,
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
    hook_id: &'a str,
    delivery_id: &'a str,
    event: &'a str,
    form_encoded: bool,
    secret_index: usize,
}

/// Parses and records a verified delivery.
async fn accept(state: &AppState, headers: &Delivery<'_>, body: &[u8]) -> Answer {
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
        return (StatusCode::BAD_REQUEST, "missing payload field");
    };
    let parsed = match events::parse(event, &payload) {
        Ok(parsed) => parsed,
        Err(error) => {
            tracing::warn!(%error, "unparsable delivery");
            return (StatusCode::BAD_REQUEST, "unparsable payload");
        }
    };
    let (action, job) = match &parsed {
        Parsed::Cancel { action, job } => (Some(action.as_str()), Some(job)),
        Parsed::Ignore { action } => (action.as_deref(), None),
    };
    let delivery = NewDelivery {
        hook_id,
        delivery_id,
        event,
        action,
        // The signed bytes are kept for replay only where they matter.
        body: job.map(|_| body),
        received_at: now_ms(),
    };
    match state.store.record(&delivery, job).await {
        Ok(Recorded::Duplicate) => {
            tracing::info!("duplicate delivery");
            (StatusCode::OK, "duplicate delivery")
        }
        Ok(Recorded::Delivery) => (
            StatusCode::OK,
            if event == "ping" {
                "pong"
            } else {
                "nothing to do"
            },
        ),
        Ok(Recorded::Job { id, created }) => {
            let job = job.expect("a job was recorded");
            tracing::info!(job = id, created, repository = %job.repository, run_id = job.run_id, run_attempt = job.run_attempt, "cancel queued");
            state.wake.notify_one();
            (StatusCode::ACCEPTED, "cancel queued")
        }
        Err(error) => {
            // GitHub does not redeliver: say so loudly, so an operator can redeliver by hand.
            tracing::error!(%error, "cannot store the delivery; redeliver it from the hook's Recent Deliveries");
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable")
        }
    }
}
