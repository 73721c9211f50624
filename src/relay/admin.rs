//! Admin routes: list jobs, requeue dead ones. They need `Authorization: Bearer <token>`
//! (the scheme in any case), compared in constant time before anything else of the request is
//! read, and answer 404 when no admin token is configured. Failed attempts are rate-limited.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::store::{JobId, JobState, Requeue};

/// The most jobs one listing returns.
const MAX_LIST: i64 = 1_000;

/// Failed attempts allowed per window before every admin request gets 429 until the window
/// ends: enough for a mistyped token, far too few to guess one.
const MAX_FAILURES: u32 = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(10);

/// Counts failed admin attempts in fixed windows.
#[derive(Debug, Default)]
pub(super) struct FailureLimiter {
    window: Mutex<Option<(Instant, u32)>>,
}

impl FailureLimiter {
    fn is_limited(&self) -> bool {
        let window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        matches!(*window, Some((start, failures)) if start.elapsed() < FAILURE_WINDOW && failures >= MAX_FAILURES)
    }

    fn fail(&self) {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *window {
            Some((start, failures)) if start.elapsed() < FAILURE_WINDOW => *failures += 1,
            other => *other = Some((Instant::now(), 1)),
        }
    }
}

/// Middleware on every admin route.
pub(super) async fn authorize(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &state.admin_token else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    if state.admin_failures.is_limited() {
        state.metrics.admin_denied();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed attempts; try again later",
        )
            .into_response();
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or_default();
    // Hashing first makes both sides the same length, so the comparison time says nothing
    // about the token's length either.
    let expected = Sha256::digest(token.expose_secret().as_bytes());
    let given = Sha256::digest(given.as_bytes());
    if bool::from(expected.as_slice().ct_eq(given.as_slice())) {
        next.run(request).await
    } else {
        state.admin_failures.fail();
        state.metrics.admin_denied();
        tracing::warn!("admin request refused: missing or wrong token");
        (StatusCode::UNAUTHORIZED, "invalid admin token").into_response()
    }
}

/// `state=` and `limit=` of a listing, read by hand so that a bad value gets a fixed reason
/// rather than an echo of itself.
fn list_query(raw: Option<&str>) -> Result<(Option<JobState>, i64), &'static str> {
    let mut state = None;
    let mut limit = 100;
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "state" if value.is_empty() => {}
            "state" => {
                state = Some(
                    value
                        .parse::<JobState>()
                        .map_err(|_| "state must be pending, running, done, dead or dry")?,
                );
            }
            "limit" => {
                limit = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=MAX_LIST).contains(n))
                    .ok_or("limit must be a number from 1 to 1000")?;
            }
            _ => {}
        }
    }
    Ok((state, limit))
}

pub(super) async fn list_jobs(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let (filter, limit) = match list_query(raw.as_deref()) {
        Ok(query) => query,
        Err(reason) => return (StatusCode::BAD_REQUEST, reason).into_response(),
    };
    match state.store.jobs(filter, limit).await {
        Ok(jobs) => Json(jobs).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot list jobs");
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response()
        }
    }
}

pub(super) async fn retry_job(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>().map(JobId::new) else {
        return (StatusCode::NOT_FOUND, "no such job").into_response();
    };
    match state.store.retry(id).await {
        Ok(Requeue::Requeued(job)) => {
            tracing::info!(job = id.get(), "dead job requeued by an admin");
            state.wake.notify_one();
            Json(job).into_response()
        }
        Ok(Requeue::NotDead(_)) => {
            (StatusCode::CONFLICT, "only dead jobs can be retried").into_response()
        }
        Ok(Requeue::NotFound) => (StatusCode::NOT_FOUND, "no such job").into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot requeue");
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response()
        }
    }
}

/// `POST /admin/jobs/retry?state=dead`: requeue every dead job (after an outage or a key fix).
pub(super) async fn retry_jobs(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let dead = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .any(|(key, value)| key == "state" && value == "dead");
    if !dead {
        return (
            StatusCode::BAD_REQUEST,
            "only state=dead can be retried in bulk",
        )
            .into_response();
    }
    match state.store.retry_dead().await {
        Ok(requeued) => {
            tracing::info!(requeued, "dead jobs requeued by an admin");
            state.wake.notify_one();
            Json(serde_json::json!({ "requeued": requeued })).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "cannot requeue");
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response()
        }
    }
}
