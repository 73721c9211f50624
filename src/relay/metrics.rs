//! Prometheus metrics of the relay, on the maintained `prometheus-client` crate. One registry
//! per relay (no global recorder), so tests can build as many routers as they like.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::store::QueueStats;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Table {
    table: String,
}

/// The relay's counters and gauges.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    deliveries: Family<Outcome, Counter>,
    cancels: Family<Outcome, Counter>,
    checks: Family<Outcome, Counter>,
    clicks: Family<Outcome, Counter>,
    redeliveries: Family<Outcome, Counter>,
    media: Family<Outcome, Counter>,
    reconciled: Family<Outcome, Counter>,
    retries: Counter,
    refused_connections: Family<Reason, Counter>,
    admin_denied: Counter,
    pruned: Family<Table, Counter>,
    queue_pending: Gauge,
    queue_running: Gauge,
    queue_dead: Gauge,
    oldest_pending: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("currents_bridge");
        let deliveries = Family::<Outcome, Counter>::default();
        let cancels = Family::<Outcome, Counter>::default();
        let checks = Family::<Outcome, Counter>::default();
        let clicks = Family::<Outcome, Counter>::default();
        let redeliveries = Family::<Outcome, Counter>::default();
        let media = Family::<Outcome, Counter>::default();
        let reconciled = Family::<Outcome, Counter>::default();
        let retries = Counter::default();
        let refused_connections = Family::<Reason, Counter>::default();
        let admin_denied = Counter::default();
        let pruned = Family::<Table, Counter>::default();
        let queue_pending = Gauge::default();
        let queue_running = Gauge::default();
        let queue_dead = Gauge::default();
        let oldest_pending = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by outcome: queued, requeued, finished, duplicate, ignored, click_queued, click_finished, unauthorized, bad_request, too_large, too_slow, unsupported_media_type, overloaded, timeout, store_error; Currents' (App mode) as currents_queued, currents_duplicate, currents_ignored, currents_not_allowed, currents_unauthorized, currents_stale, currents_bad_request, currents_too_large, currents_too_slow, currents_overloaded, currents_disabled",
            deliveries.clone(),
        );
        registry.register(
            "cancels",
            "Cancel attempts by outcome: cancelled, already-cancelled, not-found, retry, gave-up, rejected, dry-run",
            cancels.clone(),
        );
        registry.register(
            "checks",
            "Check job attempts (App mode) by outcome: check-in-progress, check-completed, not-installed, not-allowed, other-host, not-found, retry, gave-up, rejected",
            checks.clone(),
        );
        registry.register(
            "clicks",
            "Button clicks on App mode's checks by outcome: click-done, click-refused, click-failed, not-ours, not-installed, retry, gave-up, rejected",
            clicks.clone(),
        );
        registry.register(
            "redeliveries",
            "Redeliveries of missed GitHub deliveries asked for by the catch-up (App mode): requested, failed",
            redeliveries.clone(),
        );
        registry.register(
            "media_links",
            "Media links opened by outcome: redirected, gone, unauthorized, rate_limited, upstream_error",
            media.clone(),
        );
        registry.register(
            "reconciled_checks",
            "Check jobs queued by the reconcile pass (App mode): open (a check left open), unseen (a finished run whose webhooks never arrived)",
            reconciled.clone(),
        );
        registry.register(
            "cancel_retries",
            "Cancel attempts rescheduled for a retry",
            retries.clone(),
        );
        registry.register(
            "refused_connections",
            "Connections refused: over_capacity (answered 503), accept_error (e.g. out of file descriptors)",
            refused_connections.clone(),
        );
        registry.register(
            "admin_denied",
            "Admin requests refused for a missing or wrong token, or rate-limited after too many",
            admin_denied.clone(),
        );
        registry.register(
            "pruned_rows",
            "Rows deleted by retention, by table",
            pruned.clone(),
        );
        registry.register(
            "queue_pending_jobs",
            "Jobs (cancels and checks) waiting to run",
            queue_pending.clone(),
        );
        registry.register(
            "queue_running_jobs",
            "Jobs claimed by a worker",
            queue_running.clone(),
        );
        registry.register(
            "queue_dead_jobs",
            "Jobs given up on (see /admin/jobs?state=dead)",
            queue_dead.clone(),
        );
        registry.register(
            "queue_oldest_pending_age_seconds",
            "Age of the oldest pending job",
            oldest_pending.clone(),
        );
        Self {
            registry,
            deliveries,
            cancels,
            checks,
            clicks,
            redeliveries,
            media,
            reconciled,
            retries,
            refused_connections,
            admin_denied,
            pruned,
            queue_pending,
            queue_running,
            queue_dead,
            oldest_pending,
        }
    }
}

impl Metrics {
    pub fn delivery(&self, outcome: &str) {
        self.deliveries
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn cancel(&self, outcome: &str) {
        self.cancels
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
        if outcome == "retry" {
            self.retries.inc();
        }
    }

    pub fn check(&self, outcome: &str) {
        self.checks
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn click(&self, outcome: &str) {
        self.clicks
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn media(&self, outcome: &str) {
        self.media
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn redelivery(&self, outcome: &str) {
        self.redeliveries
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn reconciled(&self, outcome: &str) {
        self.reconciled
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn connection_refused(&self, reason: &str) {
        self.refused_connections
            .get_or_create(&Reason {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn admin_denied(&self) {
        self.admin_denied.inc();
    }

    pub fn pruned(&self, table: &str, rows: u64) {
        self.pruned
            .get_or_create(&Table {
                table: table.to_owned(),
            })
            .inc_by(rows);
    }

    /// The text exposition, with the queue gauges set from `stats`.
    pub fn render(&self, stats: QueueStats) -> String {
        self.queue_pending.set(stats.pending);
        self.queue_running.set(stats.running);
        self.queue_dead.set(stats.dead);
        self.oldest_pending
            .set(stats.oldest_pending_ms as f64 / 1000.0);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
