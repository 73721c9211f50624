//! The relay's worker: claims due jobs (cancels, App mode's checks) with a lease, runs each,
//! and records the outcome. Retries live in the queue (`next_run_at`), not in memory, so a restart loses none.
//!
//! It claims only as many jobs as it has free slots, so every claimed job starts at once, and
//! renews a job's lease while the job works: no other replica takes a job while it is still in
//! flight, and the worker never claims its own running jobs again. Each claim raises the job's
//! lease generation, which every write of the job names, so a copy that lost its lease anyway
//! (a database outage longer than the lease) can finish nothing, and stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::check::{CheckContext, CheckSettings};
use super::metrics::Metrics;
use super::schedule::{Decision, RetrySchedule, decide};
use crate::ci_build_id::{GithubRunId, RunAttempt, github_ci_build_id};
use crate::currents::{CancelTarget, CurrentsClient, GithubRunCancel, ProjectId};
use crate::github::app::GithubApp;
use crate::log_safe::LogSafe;
use crate::store::{CheckPayload, Claimed, ClickPayload, JobKind, JobOutcome, JobSpec, Store};

/// Jobs one worker runs at once: cancels are small, and Currents should not see bursts.
pub const CONCURRENCY: usize = 4;

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This worker's lease owner name, unique per process.
    pub owner: String,
    /// How often to look for due jobs when nothing wakes the worker.
    pub poll_interval: Duration,
    /// How long a claim lasts: longer than one Currents call (the client's timeout) plus a
    /// margin, so a slow cancel is never claimed twice; short enough that a crashed worker's
    /// jobs resume soon. `relay` refuses a shorter one at start.
    pub lease: Duration,
    pub schedule: RetrySchedule,
    /// Scopes every cancel to this Currents project (`CURRENTS_PROJECT_ID`).
    pub project_id: Option<ProjectId>,
    /// Log what would be cancelled and mark the job `dry`.
    pub dry_run: bool,
}

/// What check jobs (App mode) need beyond a cancel's.
#[derive(Debug, Clone)]
pub struct AppWork {
    pub app: GithubApp,
    pub settings: CheckSettings,
}

/// When the worker last looked for work, for `/readyz`.
#[derive(Debug, Clone, Default)]
pub struct Heartbeat(Arc<AtomicI64>);

impl Heartbeat {
    pub fn beat(&self) {
        self.0.store(wall_ms(), Ordering::Relaxed);
    }

    /// Milliseconds since the last beat; `None` before the first.
    pub fn age_ms(&self) -> Option<i64> {
        let last = self.0.load(Ordering::Relaxed);
        (last > 0).then(|| wall_ms() - last)
    }
}

/// This host's clock, for the heartbeat only (it never leaves the process).
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What the worker shares with the routes: the counters, its heartbeat for `/readyz`, and the
/// wake-up a new job rings.
#[derive(Debug, Clone)]
pub struct WorkerSignals {
    pub metrics: Arc<Metrics>,
    pub heartbeat: Heartbeat,
    pub wake: Arc<Notify>,
}

/// The worker and what it shares with the routes.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    client: Option<CurrentsClient>,
    app: Option<AppWork>,
    config: WorkerConfig,
    metrics: Arc<Metrics>,
    heartbeat: Heartbeat,
    wake: Arc<Notify>,
}

impl Worker {
    /// `client` is `None` only with `--dry-run` and no API key.
    pub fn new(
        store: Store,
        client: Option<CurrentsClient>,
        app: Option<AppWork>,
        config: WorkerConfig,
        signals: WorkerSignals,
    ) -> Self {
        let WorkerSignals {
            metrics,
            heartbeat,
            wake,
        } = signals;
        Self {
            inner: Arc::new(Inner {
                store,
                client,
                app,
                config,
                metrics,
                heartbeat,
                wake,
            }),
        }
    }

    /// Runs until `shutdown`. Then it claims nothing more, gives in-flight cancels until
    /// `drain` to finish, abandons the rest, and releases every lease it still holds, so
    /// another worker (or this relay's next start) takes them at once.
    pub async fn run(self, shutdown: CancellationToken, drain: Duration) {
        let inner = &self.inner;
        let config = &inner.config;
        tracing::info!(owner = %config.owner, dry_run = config.dry_run, "worker started");
        let mut in_flight = JoinSet::new();
        while !shutdown.is_cancelled() {
            inner.heartbeat.beat();
            let free = CONCURRENCY - in_flight.len();
            if free > 0 {
                match inner.store.claim(&config.owner, config.lease, free).await {
                    Ok(jobs) => {
                        let claimed_all = jobs.len() == free;
                        for job in jobs {
                            let worker = self.clone();
                            in_flight.spawn(async move { worker.process(job).await });
                        }
                        // More may be due: claim again as soon as a slot frees.
                        if claimed_all && in_flight.len() < CONCURRENCY {
                            continue;
                        }
                    }
                    Err(error) => {
                        tracing::error!(error = %crate::log_safe::Chain(&error), "cannot claim jobs")
                    }
                }
            }
            tokio::select! {
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                () = tokio::time::sleep(config.poll_interval) => {}
                () = inner.wake.notified() => {}
                () = shutdown.cancelled() => {}
            }
        }
        let finishing = in_flight.len();
        let drained = tokio::time::timeout(drain, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                abandoned = in_flight.len(),
                "shutdown deadline reached; abandoning in-flight cancels"
            );
            in_flight.shutdown().await;
        }
        match inner.store.release(&config.owner).await {
            Ok(released) => tracing::info!(finishing, released, "worker stopped"),
            Err(error) => {
                tracing::error!(error = %crate::log_safe::Chain(&error), "worker stopped; leases expire by themselves")
            }
        }
    }

    /// Runs one claimed job while renewing its lease. A job whose lease is lost (another
    /// worker claimed it after a renewal failed) is dropped at once, so this copy makes no
    /// further call; a job that panics goes back to the queue.
    async fn process(&self, claimed: Claimed) {
        let work = async {
            match &claimed.job.spec {
                JobSpec::Cancel {
                    run_id,
                    run_attempt,
                } => self.cancel(&claimed, *run_id, *run_attempt).await,
                JobSpec::Check(payload) => self.check(&claimed, payload).await,
                JobSpec::Click(click) => self.click(&claimed, click).await,
                JobSpec::Unreadable { reason } => {
                    self.finish(&claimed, JobOutcome::Unreadable, Some(reason))
                        .await;
                }
            }
        };
        let work = std::panic::AssertUnwindSafe(work).catch_unwind();
        tokio::select! {
            finished = work => if finished.is_err() {
                tracing::error!(job = claimed.job.id.get(), "the job panicked; it is retried later");
                self.apply(&claimed, Decision::Retry {
                    after: self.inner.config.schedule.transient.after(1),
                    error: "the job panicked".into(),
                }).await;
            },
            () = self.keep_lease(&claimed) => tracing::warn!(
                job = claimed.job.id.get(),
                "lost the job's lease; this copy stops before its next call"
            ),
        }
    }

    /// Renews `claimed`'s lease every third of it; returns once the lease is lost, or when
    /// renewals kept failing until it was about to run out.
    async fn keep_lease(&self, claimed: &Claimed) {
        let lease = self.inner.config.lease;
        let every = lease / 3;
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(every).await;
            match self.inner.store.renew(claimed, lease).await {
                Ok(true) => renewed = tokio::time::Instant::now(),
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(error = %crate::log_safe::Chain(&error), "cannot renew a job's lease");
                    if renewed.elapsed() + every >= lease {
                        return;
                    }
                }
            }
        }
    }

    /// A check job: see [`super::check`].
    async fn check(&self, claimed: &Claimed, payload: &CheckPayload) {
        let span = self.app_span("check", claimed);
        self.with_check_context(claimed, |ctx| async move {
            super::check::process(&ctx, claimed, payload).await
        })
        .instrument(span)
        .await;
    }

    /// A click on a check's button: see [`super::check`].
    async fn click(&self, claimed: &Claimed, click: &ClickPayload) {
        let span = self.app_span("click", claimed);
        self.with_check_context(claimed, |ctx| async move {
            super::check::process_click(&ctx, claimed, click).await
        })
        .instrument(span)
        .await;
    }

    fn app_span(&self, name: &'static str, claimed: &Claimed) -> tracing::Span {
        let job = &claimed.job;
        tracing::info_span!(
            "job",
            kind = name,
            job = job.id.get(),
            repository = %LogSafe(&job.repository),
            key = %LogSafe(&job.dedupe_key),
            attempt = job.attempts,
        )
    }

    /// Runs an App mode job with its context, and applies its decision.
    async fn with_check_context<'a, F, Fut>(&'a self, claimed: &Claimed, run: F)
    where
        F: FnOnce(CheckContext<'a>) -> Fut,
        Fut: std::future::Future<Output = Decision>,
    {
        let inner = &self.inner;
        inner.heartbeat.beat();
        let (Some(work), Some(currents)) = (&inner.app, &inner.client) else {
            self.finish(
                claimed,
                JobOutcome::Rejected,
                Some("App mode jobs need App mode and a Currents API key"),
            )
            .await;
            return;
        };
        let ctx = CheckContext {
            store: &inner.store,
            app: &work.app,
            currents,
            settings: &work.settings,
            owner: &inner.config.owner,
            lease: inner.config.lease,
            schedule: &inner.config.schedule,
        };
        let decision = run(ctx).await;
        self.apply(claimed, decision).await;
    }

    async fn cancel(&self, claimed: &Claimed, run_id: GithubRunId, attempt: RunAttempt) {
        let inner = &self.inner;
        let job = &claimed.job;
        let ci_build_id = github_ci_build_id(&job.repository, run_id, attempt);
        let span = tracing::info_span!(
            "cancel",
            job = job.id.get(),
            delivery = %job.delivery_id,
            repository = %LogSafe(&job.repository),
            run_id = run_id.get(),
            run_attempt = attempt.get(),
            ci_build_id = %LogSafe(ci_build_id.as_str()),
            attempt = job.attempts,
        );
        async {
            inner.heartbeat.beat();
            if inner.config.dry_run {
                tracing::info!("dry run: would cancel the Currents run of this workflow run");
                self.finish(claimed, JobOutcome::DryRun, None).await;
                return;
            }
            let Some(client) = &inner.client else {
                self.finish(
                    claimed,
                    JobOutcome::Rejected,
                    Some("no Currents API key is configured"),
                )
                .await;
                return;
            };
            let target = CancelTarget::GithubRun(GithubRunCancel {
                run_id,
                attempt,
                project_id: inner.config.project_id.clone(),
                ci_build_id: None,
            });
            let result = client.cancel(&target).await;
            let decision = decide(&result, claimed, &inner.config.schedule);
            self.apply(claimed, decision).await;
        }
        .instrument(span)
        .await;
    }

    /// Ends or reschedules a job as `decision` says.
    async fn apply(&self, claimed: &Claimed, decision: Decision) {
        let inner = &self.inner;
        match decision {
            Decision::Finish { outcome, error } => {
                self.finish(claimed, outcome, error.as_deref()).await;
            }
            Decision::Retry { after, error } => {
                tracing::warn!(
                    error = %error,
                    retry_in_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
                    "job will be retried"
                );
                match inner.store.reschedule(claimed, after, &error).await {
                    Ok(true) => self.count(claimed.job.spec.kind(), "retry"),
                    Ok(false) => tracing::warn!(
                        "lost the lease before rescheduling; another worker has the job"
                    ),
                    Err(e) => tracing::error!(
                        error = %crate::log_safe::Chain(&e),
                        "cannot reschedule; the lease will expire and the job resume"
                    ),
                }
            }
        }
    }

    fn count(&self, kind: JobKind, outcome: &str) {
        match kind {
            JobKind::Cancel => self.inner.metrics.cancel(outcome),
            JobKind::Check => self.inner.metrics.check(outcome),
            JobKind::Click => self.inner.metrics.click(outcome),
        }
    }

    async fn finish(&self, claimed: &Claimed, outcome: JobOutcome, error: Option<&str>) {
        let inner = &self.inner;
        match inner.store.finish(claimed, outcome, error).await {
            Ok(true) => {
                self.count(claimed.job.spec.kind(), outcome.label());
                let state = outcome.state().as_str();
                let kind = claimed.job.spec.kind().as_str();
                let outcome = outcome.label();
                match error {
                    Some(error) => tracing::error!(state, outcome, kind, %error, "job ended"),
                    None => tracing::info!(state, outcome, kind, "job ended"),
                }
            }
            Ok(false) => {
                tracing::warn!("lost the lease before finishing; another worker has the job");
            }
            Err(e) => tracing::error!(
                error = %crate::log_safe::Chain(&e),
                "cannot record the outcome; the lease will expire and the job resume"
            ),
        }
    }
}
