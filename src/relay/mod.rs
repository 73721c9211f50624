//! `currents-bridge relay`: a GitHub webhook receiver that forwards cancels to Currents and,
//! as a GitHub App, turns Currents' run webhooks into check runs.
//!
//! A force-cancelled job runs no steps, `if: cancelled()` and post steps included, so only the
//! server side can cancel its Currents run. GitHub never redelivers a failed webhook, so the
//! relay acknowledges a delivery only once it is stored: HTTP → verify → store (delivery and
//! job in one transaction) → 202; the worker then claims the job (a cancel or a check), does
//! it and records the outcome, retrying from the database.

mod admin;
pub mod allow;
pub mod body;
pub mod catchup;
mod check;
pub mod client;
mod config;
pub mod currents_hook;
pub mod events;
mod figures;
mod media;
mod metrics;
pub mod reconcile;
mod routes;
mod run;
pub mod schedule;
mod server;
pub mod verify;
mod webhook;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::Notify;

pub use allow::ProjectRepos;
pub use body::BodyBudget;
pub use check::CheckSettings;
pub use client::TrustedProxies;
pub use config::{AppModeConfig, ChecksConfig, RegisterConfig, RelayConfig};
pub use media::MediaRoute;
pub use metrics::Metrics;
pub use routes::{admin_router, public_router, router};
pub use run::{register_currents_webhook, run};
pub use schedule::{Backoff, DEFAULT_RETRY_WINDOW, RetrySchedule};
pub use server::{HEADER_READ_TIMEOUT, connection_cap};
pub use verify::WebhookSecrets;
pub use worker::{AppWork, Heartbeat, Worker, WorkerConfig, WorkerSignals};

use crate::store::Store;

/// Everything the routes share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub secrets: WebhookSecrets,
    /// `None` disables the admin routes.
    pub admin_token: Option<SecretString>,
    pub metrics: Arc<Metrics>,
    /// The worker's heartbeat, for `/readyz`.
    pub heartbeat: Heartbeat,
    /// Wakes the worker when a job is queued, so a cancel goes out at once.
    pub wake: Arc<Notify>,
    /// Request bodies above this answer 413.
    pub max_body: usize,
    /// The memory the webhook routes' bodies in flight share.
    pub body_budget: BodyBudget,
    /// Whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// A heartbeat older than this makes `/readyz` answer 503.
    pub worker_stale_after: Duration,
    /// Queue figures, read at most once a second whatever the scrape load.
    figures: Arc<figures::Figures>,
    /// Failed admin attempts, for the rate limit.
    admin_failures: Arc<admin::FailureLimiter>,
    /// `POST /webhooks/currents` (App mode with `--currents-webhook-secret`); 404 when `None`.
    pub app: Option<CurrentsHook>,
    /// The App's id in App mode: clicks on its checks' buttons are queued, others ignored.
    pub app_id: Option<u64>,
    /// `GET /media/{token}` (with `--media-secret`); 404 when `None`.
    pub media: Option<Arc<MediaRoute>>,
}

/// What the Currents webhook route checks.
#[derive(Debug, Clone)]
pub struct CurrentsHook {
    /// The values accepted in `X-Currents-Bridge-Secret`.
    pub currents_secrets: WebhookSecrets,
    /// A delivery for a repository no project may report on is answered at once, unqueued.
    pub projects: ProjectRepos,
}

impl AppState {
    /// A state with fresh metrics, heartbeat and wake-up.
    pub fn new(
        store: Store,
        secrets: WebhookSecrets,
        admin_token: Option<SecretString>,
        max_body: usize,
        worker_stale_after: Duration,
    ) -> Self {
        Self {
            store,
            secrets,
            admin_token,
            metrics: Arc::default(),
            heartbeat: Heartbeat::default(),
            wake: Arc::default(),
            max_body,
            body_budget: BodyBudget::default(),
            trusted_proxies: TrustedProxies::default(),
            worker_stale_after,
            figures: Arc::default(),
            admin_failures: Arc::default(),
            app: None,
            app_id: None,
            media: None,
        }
    }

    /// In App mode, as App `app_id`.
    #[must_use]
    pub fn with_app_id(self, app_id: u64) -> Self {
        Self {
            app_id: Some(app_id),
            ..self
        }
    }

    /// With the media route enabled.
    #[must_use]
    pub fn with_media(self, media: MediaRoute) -> Self {
        Self {
            media: Some(Arc::new(media)),
            ..self
        }
    }

    /// What the worker shares with these routes.
    pub fn signals(&self) -> WorkerSignals {
        WorkerSignals {
            metrics: Arc::clone(&self.metrics),
            heartbeat: self.heartbeat.clone(),
            wake: Arc::clone(&self.wake),
        }
    }

    /// With `X-Forwarded-For` believed from these proxies.
    #[must_use]
    pub fn with_trusted_proxies(self, trusted_proxies: TrustedProxies) -> Self {
        Self {
            trusted_proxies,
            ..self
        }
    }

    /// With the Currents webhook route enabled.
    #[must_use]
    pub fn with_currents_hook(self, hook: CurrentsHook) -> Self {
        Self {
            app: Some(hook),
            ..self
        }
    }
}
