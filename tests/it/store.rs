//! The store's behaviour, the same checks on both backends: `sqlite::*` always runs, and
//! `postgres::*` is ignored unless asked for (`--include-ignored`; `.ci/run` does it), since it
//! needs the PostgreSQL server at `TEST_DATABASE_URL`. Each Postgres test gets a fresh database.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use currents_bridge::relay::{self, Heartbeat, Metrics, RetrySchedule, WorkerConfig};
use currents_bridge::store::{JobState, NewDelivery, NewJob, Recorded, Requeue, Store};
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
async fn postgres() -> Store {
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
    Store::connect(url.as_str()).await.unwrap()
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
    release_dead_and_retry,
);

fn delivery<'a>(id: &'a str, at: i64) -> NewDelivery<'a> {
    NewDelivery {
        hook_id: "1",
        delivery_id: id,
        event: "workflow_job",
        action: Some("completed"),
        body: Some(b"{}"),
        received_at: at,
    }
}

fn job(run_id: i64) -> NewJob {
    NewJob {
        repository: "Acme/Webapp".into(),
        run_id,
        run_attempt: 1,
    }
}

async fn deliveries_and_jobs_are_deduplicated(store: Store) {
    let backend = store.backend();
    let first = store
        .record(&delivery("d1", 1), Some(&job(7)))
        .await
        .unwrap();
    let Recorded::Job { id, created: true } = first else {
        panic!("{backend}: {first:?}")
    };
    assert_eq!(
        store
            .record(&delivery("d1", 2), Some(&job(7)))
            .await
            .unwrap(),
        Recorded::Duplicate,
        "{backend}"
    );
    // Another delivery for the same run (another job of the workflow, another hook).
    let again = store
        .record(
            &delivery("d2", 3),
            Some(&NewJob {
                repository: "acme/webapp".into(),
                ..job(7)
            }),
        )
        .await
        .unwrap();
    assert_eq!(again, Recorded::Job { id, created: false }, "{backend}");
    assert_eq!(
        store
            .record(
                &NewDelivery {
                    hook_id: "2",
                    ..delivery("d1", 4)
                },
                None
            )
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
        store
            .record(&delivery(&format!("d{run}"), 1_000), Some(&job(run)))
            .await
            .unwrap();
    }
    let lease = Duration::from_secs(60);
    let claimed = store.claim("a", 1_000, lease, 2).await.unwrap();
    assert_eq!(claimed.len(), 2, "{backend}: the limit holds");
    assert!(
        claimed.iter().all(|j| j.state == "running"
            && j.lease_owner.as_deref() == Some("a")
            && j.attempts == 1)
    );
    // Another worker gets only the rest.
    let other = store.claim("b", 1_000, lease, 10).await.unwrap();
    assert_eq!(other.len(), 1, "{backend}");
    assert!(
        store.claim("b", 1_000, lease, 10).await.unwrap().is_empty(),
        "{backend}: nothing is claimed twice"
    );

    assert!(
        store
            .finish(claimed[0].id, "a", JobState::Done, "cancelled", None, 2_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish(claimed[1].id, "b", JobState::Done, "cancelled", None, 2_000)
            .await
            .unwrap(),
        "{backend}: not b's lease"
    );
    assert!(
        store
            .reschedule(claimed[1].id, "a", 5_000, "HTTP 503", 2_000)
            .await
            .unwrap()
    );
    assert!(
        store.claim("a", 4_999, lease, 10).await.unwrap().is_empty(),
        "{backend}: not due yet"
    );
    assert_eq!(
        store.claim("a", 5_000, lease, 10).await.unwrap()[0].attempts,
        2,
        "{backend}"
    );

    // b crashed: its lease expires and the job is reclaimed.
    let reclaimed = store.claim("c", 1_000 + 60_001, lease, 10).await.unwrap();
    assert!(
        reclaimed.iter().any(|j| j.id == other[0].id),
        "{backend}: expired lease reclaimed"
    );

    let stats = store.stats(100_000).await.unwrap();
    assert_eq!((stats.pending, stats.running), (0, 2), "{backend}");
}

async fn release_dead_and_retry(store: Store) {
    let backend = store.backend();
    store
        .record(&delivery("d1", 0), Some(&job(1)))
        .await
        .unwrap();
    store
        .record(&delivery("d2", 0), Some(&job(2)))
        .await
        .unwrap();
    let claimed = store
        .claim("a", 0, Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(store.release("a", 1).await.unwrap(), 2, "{backend}");
    let jobs = store.jobs(Some(JobState::Pending), 10).await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert!(
        jobs.iter()
            .all(|j| j.attempts == 0 && j.lease_owner.is_none()),
        "{backend}: a release is not an attempt"
    );

    let claimed_again = store
        .claim("a", 1, Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed_again.len(), claimed.len());
    store
        .finish(
            claimed_again[0].id,
            "a",
            JobState::Dead,
            "rejected",
            Some("HTTP 401"),
            2,
        )
        .await
        .unwrap();
    assert_eq!(store.stats(2).await.unwrap().dead, 1, "{backend}");
    let Requeue::Requeued(job) = store.retry(claimed_again[0].id, 3).await.unwrap() else {
        panic!("{backend}")
    };
    assert_eq!(
        (job.state.as_str(), job.attempts),
        ("pending", 0),
        "{backend}"
    );
    assert!(
        matches!(
            store.retry(claimed_again[0].id, 3).await.unwrap(),
            Requeue::NotDead(_)
        ),
        "{backend}"
    );
    assert_eq!(
        store.retry(999_999, 3).await.unwrap(),
        Requeue::NotFound,
        "{backend}"
    );
}

/// Two workers on one Postgres database never both process the same job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL at TEST_DATABASE_URL"]
async fn two_workers_cancel_each_of_100_jobs_exactly_once() {
    let store = postgres().await;
    for run in 0..100 {
        store
            .record(
                &delivery(&format!("d{run}"), currents_bridge::store::now_ms()),
                Some(&job(1_000 + run)),
            )
            .await
            .unwrap();
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
            tokio::spawn(relay::worker::run(
                store.clone(),
                Some(client.clone()),
                WorkerConfig {
                    owner: owner.into(),
                    poll_interval: Duration::from_millis(10),
                    lease: Duration::from_secs(30),
                    schedule: RetrySchedule::default(),
                    project_id: None,
                    dry_run: false,
                },
                metrics,
                Heartbeat::default(),
                Arc::new(Notify::new()),
                shutdown.clone(),
            ))
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while store.jobs(Some(JobState::Done), 1000).await.unwrap().len() < 100 {
        assert!(
            std::time::Instant::now() < deadline,
            "not all jobs finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
