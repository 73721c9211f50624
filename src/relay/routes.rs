//! The relay's routers: what GitHub, Currents and the platform's probes reach, and what
//! operators reach, each with its limits.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use super::metrics::Metrics;
use super::{AppState, admin, currents_hook, media, webhook};

/// How long one request may take. Deliveries are answered in milliseconds; GitHub gives up
/// after 10 s, and a stuck request should not hold a connection longer than that.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `/readyz` waits for the database before answering 503.
const READY_DB_TIMEOUT: Duration = Duration::from_secs(2);

/// Every route on one listener (the default, and what the tests drive).
pub fn router(state: AppState) -> Router {
    public_router(state.clone()).merge(admin_router(state))
}

/// What GitHub, Currents and the platform's probes reach: the webhooks, `/media`,
/// `/healthz`, `/readyz`. The webhook routes read their bodies with [`super::body`]'s bounds.
pub fn public_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/webhooks/github",
            post(super::body::receive::<webhook::GithubRoute>),
        )
        .route(
            "/webhooks/currents",
            post(super::body::receive::<currents_hook::CurrentsRoute>),
        )
        .route("/media/{token}", get(media::open))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        // Outside the timeout layer, so that it sees the 408s that layer makes.
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            count_timeouts,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// What operators reach: `/metrics` and `/admin` (on `--admin-listen` when set).
pub fn admin_router(state: AppState) -> Router {
    let admin = Router::new()
        .route("/admin/jobs", get(admin::list_jobs))
        .route("/admin/jobs/retry", post(admin::retry_jobs))
        .route("/admin/jobs/{id}/retry", post(admin::retry_job))
        // Before any extractor: nothing of the request is read or echoed without the token.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin::authorize,
        ));
    Router::new()
        .route("/metrics", get(metrics))
        .merge(admin)
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A webhook that hit [`REQUEST_TIMEOUT`] gets 408 from the timeout layer, outside the handler:
/// count and log it here. Its delivery may still have been committed.
async fn count_timeouts(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let webhook = request.uri().path().starts_with("/webhooks/");
    let response = next.run(request).await;
    if webhook
        && response.status() == StatusCode::REQUEST_TIMEOUT
        && response
            .extensions()
            .get::<super::body::BodyCut>()
            .is_none()
    {
        metrics.delivery("timeout");
        tracing::warn!(
            "a webhook request timed out (408); if GitHub shows it failed, redeliver it from the hook's Recent Deliveries"
        );
    }
    response
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    // A ping on the read pool: cheap, and never queued behind ingest.
    let db = tokio::time::timeout(READY_DB_TIMEOUT, state.store.ping()).await;
    if !matches!(db, Ok(Ok(()))) {
        return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable");
    }
    let stale = u128::from(state.worker_stale_after.as_millis() as u64);
    match state.heartbeat.age_ms() {
        Some(age) if u128::from(age.unsigned_abs()) <= stale => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "worker not running"),
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let stats = state.figures.read(&state.store).await.unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(stats),
    )
}
