//! Admin routes: list jobs, requeue dead ones. They need `Authorization: Bearer <token>`
//! (the scheme in any case), compared in constant time before anything else of the request is
//! read, and answer 404 when no admin token is configured. Wrong tokens are rate-limited per
//! client, and the right token is always accepted: a stranger's guesses cannot lock the
//! operator out.

use std::collections::HashMap;
use std::net::IpAddr;
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

/// Wrong tokens one client may send per window before its wrong tokens get 429 until the
/// window ends: enough for a mistyped token, far too few to guess one.
const MAX_FAILURES: u32 = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(10);
/// Clients remembered before the expired windows are dropped.
const MAX_CLIENTS: usize = 10_000;

/// Counts each client's wrong tokens in fixed windows.
#[derive(Debug, Default)]
pub(super) struct FailureLimiter {
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureLimiter {
    /// Counts a wrong token from `client`; `true` when the client is over its limit.
    fn fail(&self, client: IpAddr) -> bool {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= MAX_CLIENTS {
            windows.retain(|_, (start, _)| start.elapsed() < FAILURE_WINDOW);
            if windows.len() >= MAX_CLIENTS {
                // A flood of addresses: start over rather than grow.
                windows.clear();
            }
        }
        let window = windows.entry(client).or_insert((Instant::now(), 0));
        if window.0.elapsed() >= FAILURE_WINDOW {
            *window = (Instant::now(), 0);
        }
        window.1 += 1;
        window.1 > MAX_FAILURES
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
        return next.run(request).await;
    }
    state.metrics.admin_denied();
    let client = state.trusted_proxies.client_of(&request);
    if state.admin_failures.fail(client) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed attempts; try again later",
        )
            .into_response();
    }
    tracing::warn!(%client, "admin request refused: missing or wrong token");
    (StatusCode::UNAUTHORIZED, "invalid admin token").into_response()
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
            tracing::error!(error = %crate::log_safe::Chain(&error), "cannot list jobs");
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
            tracing::error!(error = %crate::log_safe::Chain(&error), "cannot requeue");
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
            tracing::error!(error = %crate::log_safe::Chain(&error), "cannot requeue");
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response()
        }
    }
}
