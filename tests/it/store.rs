//! The store's behaviour, the same checks on both backends: `sqlite::*` always runs, and
//! `postgres::*` is ignored unless asked for (`--include-ignored`; `.ci/run` does it), since it
//! needs the PostgreSQL server at `TEST_DATABASE_URL`. Each Postgres test gets a fresh database.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use currents_bridge::relay::{
    Heartbeat, Metrics, RetrySchedule, Worker, WorkerConfig, WorkerSignals,
};
use currents_bridge::store::{
    DeliveryId, HookId, JobId, JobOutcome, JobState, NewDelivery, NewJob, Pruned, Recorded,
    Requeue, Store,
};
use sqlx::Connection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A store on a new SQLite file, with the directory that keeps it.
async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    (store, dir)
}

/// A store on a new database of the server at `TEST_DATABASE_URL`. Fails, rather than skips,
/// when there is none: only ignored tests call it, so it runs only when asked for.
pub(crate) async fn postgres() -> Store {
    Store::connect(&postgres_url().await).await.unwrap()
}

/// The URL of a new, empty database on the server at `TEST_DATABASE_URL`.
pub(crate) async fn postgres_url() -> String {
    let base = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .expect("TEST_DATABASE_URL must name a PostgreSQL server for the postgres::* tests");
    let name = format!(
        "currents_bridge_test_{}_{:08x}",
        std::process::id(),
        fastrand::u32(..)
    );
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .expect("TEST_DATABASE_URL must point at a running PostgreSQL server");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&name);
    url.to_string()
}

/// Runs each named check once per backend: `sqlite::NAME` and (ignored) `postgres::NAME`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (store, _dir) = super::sqlite().await;
                    super::$name(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL at TEST_DATABASE_URL"]
                async fn $name() {
                    super::$name(super::postgres().await).await;
                }
            )*
        }
    };
}

on_both_backends!(
    deliveries_and_jobs_are_deduplicated,
    claims_leases_and_outcomes,
    expired_leases_are_reclaimed,
    release_dead_and_retry,
    a_new_delivery_requeues_a_dead_job_and_bulk_retry_requeues_all,
    retention_prunes_only_old_finished_rows,
    check_records_and_sweeps_are_leased_to_one_owner,
    each_button_acts_once_per_check_whoever_races,
);

/// Clicks: of many jobs racing for a button of a check, one acts; the others find its click.
/// A refused click holds nothing; a failed one frees the button; offers and flags read back.
async fn each_button_acts_once_per_check_whoever_races(store: Store) {
    use currents_bridge::currents::{ProjectId, RunId};
    use currents_bridge::github::{CheckRunId, Repository};
    use currents_bridge::store::{Button, ClickClaim, ClickState, JobId, Offers};
    let check = CheckRunId::new(77);
    let run = RunId::new("r-77");
    let repo = Repository::parse("acme/webapp").unwrap();
    store
        .lock_check(
            &run,
            Some((&repo, "abc")),
            "owner",
            std::time::Duration::from_secs(30),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(
        store.clicked_check(check).await.unwrap().is_none(),
        "no check run id yet"
    );
    let offers = Offers {
        project: ProjectId::new("Xk9Pq2"),
        failed: true,
        may_rerun: true,
        flaky: Vec::new(),
        pull: Some(42),
    };
    store.save_offers(&run, &offers).await.unwrap();
    let mut record = store
        .lock_check(&run, None, "owner", std::time::Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    record.check_run_id = Some(77);
    assert!(store.save_check(&run, "owner", &record).await.unwrap());
    let found = store.clicked_check(check).await.unwrap().unwrap();
    assert_eq!(found.offers, Some(offers.clone()));
    assert_eq!(found.currents_run_id, run);

    store
        .refuse_click(
            check,
            Button::Quarantine,
            "mallory",
            JobId::new(1),
            "has read",
        )
        .await
        .unwrap();
    let claims = futures_util::future::join_all((2..12).map(|job| {
        let store = store.clone();
        async move {
            store
                .claim_click(check, Button::Quarantine, "alice", JobId::new(job))
                .await
                .unwrap()
        }
    }))
    .await;
    let mine: Vec<_> = claims
        .iter()
        .filter(|c| matches!(c, ClickClaim::Mine(_)))
        .collect();
    assert_eq!(mine.len(), 1, "{claims:?}");
    let ClickClaim::Mine(first) = mine[0] else {
        unreachable!()
    };
    // The winner's retry finds its own claim again.
    let again = store
        .claim_click(check, Button::Quarantine, "alice", first.job_id)
        .await
        .unwrap();
    assert_eq!(again, ClickClaim::Mine(first.clone()));
    // A failed click frees the button for the next one.
    store
        .end_click(first.id, ClickState::Failed, Some("refused"))
        .await
        .unwrap();
    let next = store
        .claim_click(check, Button::Quarantine, "bob", JobId::new(99))
        .await
        .unwrap();
    assert!(
        matches!(next, ClickClaim::Mine(ref c) if c.sender == "bob"),
        "{next:?}"
    );
    let states: Vec<(ClickState, String)> = store
        .clicks(check)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.state, c.sender))
        .collect();
    assert_eq!(
        states,
        [
            (ClickState::Refused, "mallory".into()),
            (ClickState::Failed, "alice".into()),
            (ClickState::Acting, "bob".into())
        ]
    );
    let project = ProjectId::new("Xk9Pq2");
    assert!(!store.actions_refused(&project).await.unwrap());
    store.flag_actions_refused(&project).await.unwrap();
    store.flag_actions_refused(&project).await.unwrap();
    assert!(store.actions_refused(&project).await.unwrap());
}

/// App mode's rows: a check job keeps its kind and payload; a run's check record and a sweep
/// are held by one owner at a time, and what was saved under the lease is read back.
async fn check_records_and_sweeps_are_leased_to_one_owner(store: Store) {
    use currents_bridge::currents::RunId;
    use currents_bridge::github::Repository;
    use currents_bridge::store::{CheckEvent, CheckPayload, CheckRecord, JobKind, JobSpec};
    let ids = ids("currents", "body-digest-1");
    let payload = CheckPayload {
        event: CheckEvent::RunFinish,
        run_id: RunId::new("run1"),
        group_id: None,
    };
    let job = NewJob::check("acme/webapp", payload.clone());
    let Recorded::Job {
        id, created: true, ..
    } = store.record(&delivery(&ids), Some(&job)).await.unwrap()
    else {
        panic!("a check job is queued");
    };
    let stored = store.job(id).await.unwrap().unwrap();
    assert_eq!(stored.spec.kind(), JobKind::Check);
    assert_eq!(stored.dedupe_key, "check#run1#RUN_FINISH#");
    assert_eq!(
        stored.spec,
        JobSpec::Check(payload),
        "the typed payload is read back"
    );
    assert!(store.has_delivery("body-digest-1").await.unwrap());
    assert!(!store.has_delivery("body-digest-2").await.unwrap());

    let lease = Duration::from_secs(60);
    let run1 = RunId::new("run1");
    let repo = Repository::parse("acme/webapp").unwrap();
    let at = Some((&repo, "abc"));
    assert!(
        store
            .lock_check(&run1, None, "a", lease)
            .await
            .unwrap()
            .is_none(),
        "no record, none made without a place"
    );
    let fresh = store
        .lock_check(&run1, at, "a", lease)
        .await
        .unwrap()
        .expect("a new record is free");
    assert_eq!(
        (
            fresh.repository.as_str(),
            fresh.head_sha.as_str(),
            fresh.check_run_id,
            fresh.completed
        ),
        ("acme/webapp", "abc", None, false)
    );
    assert_eq!((fresh.annotations_sent, fresh.annotations_pending), (0, 0));
    assert!(
        store
            .lock_check(&run1, at, "b", lease)
            .await
            .unwrap()
            .is_none(),
        "held by a"
    );
    let saved = CheckRecord {
        check_run_id: Some(42),
        annotations_sent: 50,
        annotations_pending: 100,
        ..fresh.clone()
    };
    assert!(store.save_check(&run1, "a", &saved).await.unwrap());
    assert!(
        !store.save_check(&run1, "b", &saved).await.unwrap(),
        "b holds no lease"
    );
    // The same owner taking the record again fences out its earlier attempt.
    let retaken = store
        .lock_check(&run1, at, "a", lease)
        .await
        .unwrap()
        .expect("re-taken by its holder");
    assert!(retaken.fence > saved.fence);
    assert!(
        !store.save_check(&run1, "a", &saved).await.unwrap(),
        "the earlier attempt's fence is stale"
    );
    assert!(!store.renew_check(&run1, "a", &saved, lease).await.unwrap());
    store.unlock_check(&run1, "a", &saved).await.unwrap();
    assert!(
        store
            .lock_check(&run1, at, "b", lease)
            .await
            .unwrap()
            .is_none(),
        "a stale unlock leaves the newer lease alone"
    );
    assert!(
        store
            .renew_check(&run1, "a", &retaken, lease)
            .await
            .unwrap()
    );
    store.unlock_check(&run1, "a", &retaken).await.unwrap();
    let again = store
        .lock_check(&run1, at, "b", lease)
        .await
        .unwrap()
        .expect("free after the unlock");
    assert_eq!(
        (
            again.check_run_id,
            again.annotations_sent,
            again.annotations_pending
        ),
        (Some(42), 50, 100)
    );
    let done = CheckRecord {
        completed: true,
        ..again.clone()
    };
    assert!(store.save_check(&run1, "b", &done).await.unwrap());
    assert!(store.has_check(&run1).await.unwrap());
    assert!(!store.has_check(&RunId::new("run2")).await.unwrap());
    // An expired lease is taken over.
    store.unlock_check(&run1, "b", &done).await.unwrap();
    store
        .lock_check(&run1, at, "c", Duration::from_millis(1))
        .await
        .unwrap()
        .unwrap();
    wait_until(
        "c's 1 ms lease to expire",
        Duration::from_secs(10),
        || async {
            store
                .lock_check(&run1, at, "d", lease)
                .await
                .unwrap()
                .is_some()
        },
    )
    .await;
    let taken = store
        .lock_check(&run1, at, "d", lease)
        .await
        .unwrap()
        .unwrap();
    assert!(taken.completed, "completion is kept");

    let (last, now) = store.lock_sweep("s", "a", lease).await.unwrap().unwrap();
    assert_eq!(last, None, "never swept");
    assert!(now > 1_700_000_000_000, "the database's clock, in ms");
    assert!(store.lock_sweep("s", "b", lease).await.unwrap().is_none());
    store.finish_sweep("s", "a", now).await.unwrap();
    let (last, _) = store.lock_sweep("s", "b", lease).await.unwrap().unwrap();
    assert_eq!(last, Some(now));
}

/// Ids live for the test; a delivery borrows them.
struct Ids {
    hook: HookId,
    delivery: DeliveryId,
}

fn ids(hook: &str, delivery: &str) -> Ids {
    Ids {
        hook: HookId::parse(hook).unwrap(),
        delivery: DeliveryId::parse(delivery).unwrap(),
    }
}

fn delivery(ids: &Ids) -> NewDelivery<'_> {
    NewDelivery {
        hook_id: &ids.hook,
        delivery_id: &ids.delivery,
        event: "workflow_job",
        action: Some("completed"),
        body_digest: None,
        body: Some(b"{}"),
    }
}

fn job(run_id: u64) -> NewJob {
    NewJob::cancel(
        "Acme/Webapp",
        currents_bridge::ci_build_id::GithubRunId::new(run_id),
        currents_bridge::ci_build_id::RunAttempt::new(1),
    )
}

/// Records a cancelled-job delivery `d{run}` for `run`.
async fn queue(store: &Store, run: u64) -> Recorded {
    store
        .record(&delivery(&ids("1", &format!("d{run}"))), Some(&job(run)))
        .await
        .unwrap()
}

async fn deliveries_and_jobs_are_deduplicated(store: Store) {
    let backend = store.backend();
    let first = store
        .record(&delivery(&ids("1", "d1")), Some(&job(7)))
        .await
        .unwrap();
    let Recorded::Job {
        id,
        created: true,
        requeued: false,
    } = first
    else {
        panic!("{backend}: {first:?}")
    };
    assert_eq!(
        store
            .record(&delivery(&ids("1", "d1")), Some(&job(7)))
            .await
            .unwrap(),
        Recorded::Duplicate,
        "{backend}"
    );
    // Another delivery for the same run (another job of the workflow, another hook).
    let again = store
        .record(
            &delivery(&ids("1", "d2")),
            Some(&NewJob {
                repository: "acme/webapp".into(),
                ..job(7)
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        again,
        Recorded::Job {
            id,
            created: false,
            requeued: false
        },
        "{backend}"
    );
    assert_eq!(
        store
            .record(&delivery(&ids("2", "d1")), None)
            .await
            .unwrap(),
        Recorded::Delivery,
        "{backend}: same GUID, other hook"
    );
    assert_eq!(store.jobs(None, 10).await.unwrap().len(), 1, "{backend}");
}

async fn claims_leases_and_outcomes(store: Store) {
    let backend = store.backend();
    for run in 1..=3 {
        queue(&store, run).await;
    }
    let lease = Duration::from_secs(60);
    let claimed = store.claim("a", lease, 2).await.unwrap();
    assert_eq!(claimed.len(), 2, "{backend}: the limit holds");
    assert!(claimed.iter().all(|c| c.job.state == JobState::Running
        && c.job.lease_owner.as_deref() == Some("a")
        && c.job.attempts == 1
        && c.claimed_at >= c.job.created_at));
    // Another worker gets only the rest.
    let other = store.claim("b", lease, 10).await.unwrap();
    assert_eq!(other.len(), 1, "{backend}");
    assert!(
        store.claim("b", lease, 10).await.unwrap().is_empty(),
        "{backend}: nothing is claimed twice"
    );

    assert!(
        store
            .finish(&claimed[0], JobOutcome::Cancelled, None)
            .await
            .unwrap()
    );
    let mut as_b = claimed[1].clone();
    as_b.job.lease_owner = Some("b".into());
    assert!(
        !store
            .finish(&as_b, JobOutcome::Cancelled, None)
            .await
            .unwrap(),
        "{backend}: not b's lease"
    );
    let done = store.job(claimed[0].job.id).await.unwrap().unwrap();
    assert_eq!(
        (done.state, done.outcome.map(JobOutcome::label)),
        (JobState::Done, Some("cancelled")),
        "{backend}"
    );
    assert!(
        store
            .reschedule(&claimed[1], Duration::from_millis(300), "HTTP 503")
            .await
            .unwrap()
    );
    assert!(
        store.claim("a", lease, 10).await.unwrap().is_empty(),
        "{backend}: not due yet, by the database's clock"
    );
    let again = wait_some(
        "the rescheduled job to be due",
        Duration::from_secs(10),
        || {
            let store = store.clone();
            async move {
                let again = store.claim("a", lease, 10).await.unwrap();
                (!again.is_empty()).then_some(again)
            }
        },
    )
    .await;
    assert_eq!(again.len(), 1, "{backend}: due after its delay");
    assert_eq!(again[0].job.attempts, 2, "{backend}");

    let stats = store.stats().await.unwrap();
    assert_eq!((stats.pending, stats.running), (0, 2), "{backend}");
}

async fn expired_leases_are_reclaimed(store: Store) {
    let backend = store.backend();
    queue(&store, 1).await;
    let short = Duration::from_millis(200);
    let crashed = store.claim("b", short, 10).await.unwrap();
    assert_eq!(crashed.len(), 1);
    assert!(store.claim("c", short, 10).await.unwrap().is_empty());
    let reclaimed = wait_some("b's lease to expire", Duration::from_secs(10), || {
        let store = store.clone();
        async move {
            // b never takes back its own job: it may still be working on it.
            assert!(store.claim("b", short, 10).await.unwrap().is_empty());
            let reclaimed = store.claim("c", short, 10).await.unwrap();
            (!reclaimed.is_empty()).then_some(reclaimed)
        }
    })
    .await;
    assert_eq!(
        reclaimed.iter().map(|c| c.job.id).collect::<Vec<_>>(),
        vec![crashed[0].job.id],
        "{backend}: b's expired lease is c's now"
    );
    assert!(
        !store
            .finish(&crashed[0], JobOutcome::Cancelled, None)
            .await
            .unwrap(),
        "{backend}: b lost the lease"
    );
    assert!(!store.renew(&crashed[0], short).await.unwrap(), "{backend}");
    assert!(
        reclaimed[0].job.lease_generation > crashed[0].job.lease_generation,
        "{backend}: every claim raises the generation"
    );
    assert!(
        store
            .renew(&reclaimed[0], Duration::from_secs(60))
            .await
            .unwrap()
    );
}

async fn release_dead_and_retry(store: Store) {
    let backend = store.backend();
    queue(&store, 1).await;
    queue(&store, 2).await;
    let claimed = store.claim("a", Duration::from_secs(60), 10).await.unwrap();
    assert_eq!(store.release("a").await.unwrap(), 2, "{backend}");
    let jobs = store.jobs(Some(JobState::Pending), 10).await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert!(
        jobs.iter()
            .all(|j| j.attempts == 0 && j.lease_owner.is_none()),
        "{backend}: a release is not an attempt"
    );

    let claimed_again = store.claim("a", Duration::from_secs(60), 10).await.unwrap();
    assert_eq!(claimed_again.len(), claimed.len());
    let stale = claimed
        .iter()
        .find(|c| c.job.id == claimed_again[0].job.id)
        .unwrap();
    assert!(
        !store
            .finish(stale, JobOutcome::Cancelled, None)
            .await
            .unwrap(),
        "{backend}: the same owner's earlier claim is fenced out"
    );
    let dead = claimed_again[0].job.id;
    store
        .finish(&claimed_again[0], JobOutcome::Rejected, Some("HTTP 401"))
        .await
        .unwrap();
    assert_eq!(store.stats().await.unwrap().dead, 1, "{backend}");
    let Requeue::Requeued(job) = store.retry(dead).await.unwrap() else {
        panic!("{backend}")
    };
    assert_eq!(
        (job.state, job.attempts),
        (JobState::Pending, 0),
        "{backend}"
    );
    assert!(
        matches!(store.retry(dead).await.unwrap(), Requeue::NotDead(_)),
        "{backend}"
    );
    assert_eq!(
        store.retry(JobId::new(999_999)).await.unwrap(),
        Requeue::NotFound,
        "{backend}"
    );
}

async fn a_new_delivery_requeues_a_dead_job_and_bulk_retry_requeues_all(store: Store) {
    let backend = store.backend();
    for run in 1..=3 {
        queue(&store, run).await;
    }
    for claimed in store.claim("a", Duration::from_secs(60), 10).await.unwrap() {
        let outcome = if cancel_of(&claimed.job).0 == 3 {
            JobOutcome::Cancelled
        } else {
            JobOutcome::GaveUp
        };
        store
            .finish(&claimed, outcome, Some("HTTP 503"))
            .await
            .unwrap();
    }
    assert_eq!(store.stats().await.unwrap().dead, 2, "{backend}");
    // workflow_run after workflow_job: a new delivery for run 1's dead job brings it back.
    let again = store
        .record(&delivery(&ids("1", "run-1-again")), Some(&job(1)))
        .await
        .unwrap();
    assert!(
        matches!(
            again,
            Recorded::Job {
                created: false,
                requeued: true,
                ..
            }
        ),
        "{backend}: {again:?}"
    );
    // A new delivery for a finished job says so.
    let finished = store
        .record(&delivery(&ids("1", "run-3-again")), Some(&job(3)))
        .await
        .unwrap();
    assert!(
        matches!(finished, Recorded::Finished { .. }),
        "{backend}: {finished:?}"
    );
    assert_eq!(store.retry_dead().await.unwrap(), 1, "{backend}: run 2");
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.pending, stats.dead), (2, 0), "{backend}");
}

async fn retention_prunes_only_old_finished_rows(store: Store) {
    let backend = store.backend();
    for run in 1..=3 {
        queue(&store, run).await;
    }
    let claimed = store.claim("a", Duration::from_secs(60), 2).await.unwrap();
    store
        .finish(&claimed[0], JobOutcome::Cancelled, None)
        .await
        .unwrap();
    store
        .finish(&claimed[1], JobOutcome::Rejected, None)
        .await
        .unwrap();
    // Nothing is old enough yet.
    let kept = store.prune(Duration::from_secs(3600)).await.unwrap();
    assert_eq!(kept, Pruned::default(), "{backend}");
    // Once 10 ms old, everything finished goes (in one pass or over a few).
    let total = std::sync::Mutex::new(Pruned::default());
    wait_until(
        "the rows to be 10 ms old",
        Duration::from_secs(10),
        || async {
            let now = store.prune(Duration::from_millis(10)).await.unwrap();
            let mut total = total.lock().unwrap();
            total.deliveries += now.deliveries;
            total.jobs += now.jobs;
            total.check_runs += now.check_runs;
            total.deliveries == 3 && total.jobs == 1
        },
    )
    .await;
    let pruned = total.into_inner().unwrap();
    assert_eq!(
        pruned,
        Pruned {
            deliveries: 3,
            jobs: 1,
            check_runs: 0,
        },
        "{backend}: all deliveries, and only the finished job"
    );
    let left: Vec<JobState> = store
        .jobs(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.state)
        .collect();
    assert_eq!(
        left.len(),
        2,
        "{backend}: the dead and the pending job stay"
    );
    assert!(left.contains(&JobState::Dead) && left.contains(&JobState::Pending));
}

/// Two workers on one Postgres database never both process the same job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL at TEST_DATABASE_URL"]
async fn two_workers_cancel_each_of_100_jobs_exactly_once() {
    let store = postgres().await;
    for run in 0..100 {
        queue(&store, 1_000 + run).await;
    }
    let mut state = CurrentsState {
        cancel: Script::of([Reply::ok(fixture("cancel-ci-github-200.json"))]),
        ..Default::default()
    };
    // A little latency, so that both workers are busy at once.
    state.latency = Duration::from_millis(5);
    let currents = FakeCurrents::start(state).await;
    let client = currents_client(&currents);
    let shutdown = CancellationToken::new();
    let metrics = [Arc::new(Metrics::default()), Arc::new(Metrics::default())];
    let workers: Vec<_> = ["one", "two"]
        .into_iter()
        .zip(metrics.clone())
        .map(|(owner, metrics)| {
            let worker = Worker::new(
                store.clone(),
                Some(client.clone()),
                None,
                WorkerConfig {
                    owner: owner.into(),
                    poll_interval: Duration::from_millis(10),
                    lease: Duration::from_secs(30),
                    schedule: RetrySchedule::default(),
                    project_id: None,
                    dry_run: false,
                },
                WorkerSignals {
                    metrics,
                    heartbeat: Heartbeat::default(),
                    wake: Arc::new(Notify::new()),
                },
            );
            tokio::spawn(worker.run(shutdown.clone(), Duration::from_secs(5)))
        })
        .collect();
    wait_until("all jobs to finish", Duration::from_secs(60), || async {
        store.jobs(Some(JobState::Done), 1000).await.unwrap().len() == 100
    })
    .await;
    shutdown.cancel();
    for worker in workers {
        worker.await.unwrap();
    }
    let mut per_run: HashMap<String, usize> = HashMap::new();
    for request in currents.requests() {
        *per_run
            .entry(request.json()["githubRunId"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_run.len(), 100);
    assert!(
        per_run.values().all(|&n| n == 1),
        "a job was cancelled twice: {per_run:?}"
    );
    let attempts: std::collections::HashSet<_> = store
        .jobs(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.attempts)
        .collect();
    assert_eq!(
        attempts,
        [1].into_iter().collect(),
        "every job was claimed once"
    );
    let cancelled_by = |m: &Metrics| {
        let text = m.render(Default::default());
        text.lines()
            .find_map(|l| l.strip_prefix(r#"currents_bridge_cancels_total{outcome="cancelled"} "#))
            .map_or(0, |n| n.parse::<u64>().unwrap())
    };
    let (one, two) = (cancelled_by(&metrics[0]), cancelled_by(&metrics[1]));
    assert_eq!(one + two, 100);
    assert!(
        one > 0 && two > 0,
        "both workers took part: {one} and {two}"
    );
}
