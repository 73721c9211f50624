//! The relay and `report` under hostile load, long outages and bad configuration: one test per
//! row of the hardening review (issue 10). Each waits for conditions, never for fixed time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use currents_bridge::currents::{CurrentsClient, CurrentsConfig};
use currents_bridge::relay::{
    self, AppState, Heartbeat, RetrySchedule, WebhookSecrets, Worker, WorkerConfig, WorkerSignals,
};
use currents_bridge::store::{JobState, Store};
use http_body_util::BodyExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::support::relay_process::*;
use crate::support::*;

/// Sends `request` through the relay's router; the status and body text.
async fn through_router(state: &AppState, request: Request<Body>) -> (StatusCode, String) {
    let response = relay::router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Reads until the server closes the connection; `None` if it is still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

fn host_port(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

async fn relay_on_tempdir(env: &[(&str, &str)]) -> (tempfile::TempDir, FakeCurrents, RelayProcess) {
    let dir = tempfile::tempdir().unwrap();
    let currents = FakeCurrents::start(CurrentsState {
        cancel: Script::of([Reply::ok(fixture("cancel-ci-github-200.json"))]),
        ..Default::default()
    })
    .await;
    let relay = start_relay_with(&dir.path().join("relay.db"), &currents, env).await;
    (dir, currents, relay)
}

async fn deliver_cancel(base: &str, delivery: &str, run_id: u64) -> reqwest::Response {
    post_delivery(
        &reqwest::Client::new(),
        &format!("{base}/webhooks/github"),
        "workflow_job",
        delivery,
        cancelled_job("acme/webapp", run_id, 1).to_string(),
    )
    .await
}

// Slow bodies (issue "Trust"): 40 sockets trickling 5 MB bodies hold no budget a real delivery
// needs; each is cut with 408 once it falls below the minimum rate.
#[tokio::test(flavor = "multi_thread")]
async fn trickling_bodies_cannot_keep_a_signed_delivery_out() {
    let (_dir, _currents, relay) = relay_on_tempdir(&[]).await;
    let mut tricklers = Vec::new();
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for n in 0..40 {
        let address = host_port(&relay.base);
        let started = Arc::clone(&started);
        tricklers.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(address).await.unwrap();
            let head = format!(
                "POST /webhooks/github HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\nx-github-event: push\r\nx-github-delivery: slow-{n}\r\ncontent-length: {}\r\n\r\n",
                5 * 1024 * 1024
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            stream.write_all(b"x").await.unwrap();
            started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // A byte every 100 ms until the relay cuts it off; what it answered.
            let mut answer = Vec::new();
            let mut buf = [0u8; 1024];
            let mut pace = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    read = stream.read(&mut buf) => match read {
                        Ok(0) | Err(_) => return answer,
                        Ok(n) => answer.extend_from_slice(&buf[..n]),
                    },
                    _ = pace.tick() => {
                        if stream.write_all(b"x").await.is_err() {
                            let _ = stream.read_to_end(&mut answer).await;
                            return answer;
                        }
                    }
                }
            }
        }));
    }
    // Every trickler has its request in, and the first byte of its body.
    wait_for(
        "the trickling requests to be open",
        Duration::from_secs(10),
        || started.load(std::sync::atomic::Ordering::SeqCst) == 40,
    )
    .await;
    let delivered = tokio::time::timeout(
        Duration::from_secs(5),
        deliver_cancel(&relay.base, "real-one", 9),
    )
    .await
    .expect("a signed delivery is answered within 5 s while 40 bodies trickle");
    assert_eq!(delivered.status(), 202);
    for trickler in tricklers {
        let answer = tokio::time::timeout(Duration::from_secs(30), trickler)
            .await
            .expect("each slow body is cut")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    let metrics = relay.metrics().await;
    assert!(
        metrics.contains(r#"currents_bridge_webhook_deliveries_total{outcome="too_slow"} 40"#),
        "{metrics}"
    );
}

// Replays (issue "Trust"): GitHub's signature covers the body, not the headers, so a captured
// delivery replayed under a new X-GitHub-Delivery is recognised by its bytes.
#[tokio::test(flavor = "multi_thread")]
async fn a_signed_body_replayed_under_new_delivery_ids_is_stored_once() {
    let (_dir, currents, relay) = relay_on_tempdir(&[("CURRENTS_DRY_RUN", "true")]).await;
    assert_eq!(
        deliver_cancel(&relay.base, "original", 11).await.status(),
        202
    );
    for n in 0..3 {
        let replay = deliver_cancel(&relay.base, &format!("replay-{n}"), 11).await;
        assert_eq!(replay.status(), 200);
        assert_eq!(replay.text().await.unwrap(), "duplicate delivery");
    }
    // GitHub's own redelivery keeps its id, and is a duplicate as ever.
    let redelivery = deliver_cancel(&relay.base, "original", 11).await;
    assert_eq!(redelivery.status(), 200);
    assert_eq!(relay.admin_jobs("").await.len(), 1);
    let metrics = relay.metrics().await;
    assert!(
        metrics.contains(r#"currents_bridge_webhook_deliveries_total{outcome="duplicate"} 4"#),
        "{metrics}"
    );
    drop(currents);
}

// Row 1: a client that trickles header lines is cut off.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_header_client_is_cut_off_within_the_header_timeout() {
    let (_dir, _currents, relay) = relay_on_tempdir(&[]).await;
    let mut stream = TcpStream::connect(host_port(&relay.base)).await.unwrap();
    stream
        .write_all(b"POST /webhooks/github HTTP/1.1\r\nhost: relay\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // A header line every 900 ms: slower than a client sends, faster than the idle timeout.
    let mut pace = tokio::time::interval(Duration::from_millis(900));
    pace.tick().await;
    let trickle = async {
        for n in 0.. {
            pace.tick().await;
            if stream
                .write_all(format!("x-trickle-{n}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                return started.elapsed();
            }
            let mut probe = [0u8; 1];
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(10), stream.read(&mut probe)).await
            {
                return started.elapsed();
            }
        }
        unreachable!()
    };
    // Cut off within the header timeout (plus the pace of one line and a margin).
    tokio::time::timeout(relay::HEADER_READ_TIMEOUT + Duration::from_secs(2), trickle)
        .await
        .expect("the trickling client is cut off within the header timeout");
}

// Row 2: idle connections neither exhaust file descriptors nor keep out a real delivery, under
// systemd's default soft limit of 1024 descriptors (the hard limit is far higher there).
#[tokio::test(flavor = "multi_thread")]
async fn two_thousand_idle_connections_do_not_stop_a_delivery() {
    // This test's own process needs the descriptors for its side of the connections.
    rlimit::increase_nofile_limit(8_192).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let currents = FakeCurrents::start(CurrentsState::default()).await;
    let relay = spawn_relay(
        &dir.path().join("relay.db"),
        &currents,
        &[("CURRENTS_DRY_RUN", "true")],
        Some((1_024, 8_192)),
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..2_000 {
        idle.push(TcpStream::connect(host_port(&relay.base)).await.unwrap());
    }
    let response = deliver_cancel(&relay.base, "through-the-crowd", 42).await;
    assert_eq!(response.status(), 202, "{}", relay.log_text());
    assert!(!relay.log_text().contains("Too many open files"));
    drop(idle);
}

// Row 2, past the cap: quick 503s, counted, and never a hang.
#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_cap_get_a_quick_503_and_are_counted() {
    let (_dir, _currents, relay) = relay_on_tempdir(&[
        ("RELAY_MAX_CONNECTIONS", "50"),
        ("RELAY_ADMIN_LISTEN", "127.0.0.1:0"),
    ])
    .await;
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(TcpStream::connect(host_port(&relay.base)).await.unwrap());
    }
    // Let the relay accept them all.
    wait_for(
        "the relay to hold 50 connections",
        Duration::from_secs(10),
        || std::fs::read_dir(format!("/proc/{}/fd", relay.pid())).map_or(0, |d| d.count()) >= 50,
    )
    .await;
    let mut extra = TcpStream::connect(host_port(&relay.base)).await.unwrap();
    let answer = closed_within(&mut extra, Duration::from_secs(2))
        .await
        .expect("the refused connection is closed at once");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 503"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let metrics = relay.metrics().await;
    assert!(
        metrics.contains(r#"currents_bridge_refused_connections_total{reason="over_capacity"}"#),
        "{metrics}"
    );
    drop(idle);
}

// Row 3: SIGTERM while a client holds a partial request: exit within the deadline.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_with_a_stuck_client_exits_within_the_deadline() {
    let (_dir, _currents, mut relay) = relay_on_tempdir(&[("RELAY_SHUTDOWN_TIMEOUT", "2s")]).await;
    let mut stuck = TcpStream::connect(host_port(&relay.base)).await.unwrap();
    stuck
        .write_all(
            b"POST /webhooks/github HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\ncontent-length: 1000\r\nexpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    // The server says "100 Continue" once the handler reads the body: the request is in.
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&seen).contains("100 Continue") {
            let n = stuck.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the body was asked for");
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the handler asks for the body");
    stuck.write_all(b"{\"partial\":").await.unwrap();
    relay.signal("TERM");
    // Stopped within the 2 s deadline, plus a margin for a busy machine.
    let status = tokio::time::timeout(Duration::from_millis(4_500), relay.child.wait())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "not stopped 4.5 s after SIGTERM with a 2 s deadline\n{}",
                relay.log_text()
            )
        })
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

// Row 4: many large unsigned bodies do not grow the process without bound.
#[tokio::test(flavor = "multi_thread")]
async fn memory_stays_bounded_under_many_large_unsigned_bodies() {
    let (_dir, _currents, relay) = relay_on_tempdir(&[]).await;
    let (before, _) = relay.rss_kib();
    let body_len = 5 * 1024 * 1024 - 64;
    let mut clients = Vec::new();
    for _ in 0..120 {
        let address = host_port(&relay.base);
        clients.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(address).await.unwrap();
            let head = format!(
                "POST /webhooks/github HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\nx-github-event: push\r\nx-github-delivery: d\r\ncontent-length: {}\r\n\r\n",
                body_len + 1
            );
            let _ = stream.write_all(head.as_bytes()).await;
            // All but the last byte: the relay must buffer it all to check a signature.
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < body_len {
                let n = chunk.len().min(body_len - sent);
                if stream.write_all(&chunk[..n]).await.is_err() {
                    break;
                }
                sent += n;
            }
            stream
        }));
    }
    let mut streams = Vec::new();
    for client in clients {
        streams.push(client.await.unwrap());
    }
    let (_, peak) = relay.rss_kib();
    let peak_mb = peak / 1024;
    // 120 x 5 MiB would be 600 MiB; the webhook route buffers at most 128 MiB of bodies.
    assert!(
        peak_mb < 300,
        "peak RSS {peak_mb} MiB (from {} MiB)",
        before / 1024
    );
    drop(streams);
    // And it takes a delivery again once the flood has gone. A closed connection frees its
    // share of the body budget as soon as the relay sees it close, which takes a moment on a
    // busy machine: until then it sheds load with a 503.
    let status = wait_some(
        "the body budget to be freed",
        Duration::from_secs(15),
        || async {
            let status = deliver_cancel(&relay.base, "after-flood", 7).await.status();
            (status != 503).then_some(status)
        },
    )
    .await;
    assert_eq!(status, 202);
}

// Row 5: /metrics and /readyz load does not delay deliveries, with a big jobs table.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_load_does_not_delay_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    {
        let store = Store::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        store.close().await;
        // 200,000 finished jobs, written straight into the file.
        let status = std::process::Command::new("python3")
            .arg("-c")
            .arg(format!(
                r#"
import sqlite3
c = sqlite3.connect({db:?})
c.executemany("INSERT INTO jobs (dedupe_key, repository, run_id, run_attempt, delivery_id, state, outcome, attempts, next_run_at, created_at, updated_at) VALUES (?, 'a/b', ?, 1, 'd', 'done', 'cancelled', 1, 0, 0, 9e15)", ((f"a/b#{{i}}#1", i) for i in range(200000)))
c.commit()
"#,
                db = db.display().to_string()
            ))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let currents = FakeCurrents::start(CurrentsState::default()).await;
    let relay = start_relay_with(&db, &currents, &[("CURRENTS_DRY_RUN", "true")]).await;
    let stop = CancellationToken::new();
    let mut scrapers = Vec::new();
    for n in 0..40 {
        let url = format!(
            "{}/{}",
            relay.base,
            if n % 2 == 0 { "metrics" } else { "readyz" }
        );
        let stop = stop.clone();
        scrapers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.is_cancelled() {
                let _ = client.get(&url).send().await;
            }
        }));
    }
    for n in 0..30 {
        // Each is answered well inside GitHub's 10 s, scrapes or not.
        let id = format!("under-scrape-{n}");
        let delivery = deliver_cancel(&relay.base, &id, 1_000 + n);
        let response = tokio::time::timeout(Duration::from_secs(2), delivery)
            .await
            .expect("a delivery is answered within 2 s under scrape load");
        assert_eq!(response.status(), 202);
    }
    stop.cancel();
    for scraper in scrapers {
        scraper.await.unwrap();
    }

    assert!(!relay.log_text().contains("timed out (408)"));
}

/// A worker on `store` whose Currents calls time out after `timeout`.
fn hanging_worker(
    store: &Store,
    currents: &FakeCurrents,
    owner: &str,
    timeout: Duration,
    lease: Duration,
) -> Worker {
    let http = currents_bridge::http::Http::with_request_timeout(timeout).unwrap();
    let client = CurrentsClient::new(
        CurrentsConfig {
            api_url: currents.url().parse().unwrap(),
            api_key: SecretString::from(CURRENTS_KEY),
            retry: currents_bridge::retry::RetryPolicy {
                max_retries: 0,
                ..currents_bridge::retry::RetryPolicy::ACTION
            },
        },
        &http,
    );
    Worker::new(
        store.clone(),
        Some(client),
        None,
        WorkerConfig {
            owner: owner.into(),
            poll_interval: Duration::from_millis(20),
            lease,
            schedule: RetrySchedule::with_base(Duration::from_millis(100)),
            project_id: None,
            dry_run: false,
        },
        WorkerSignals {
            metrics: Arc::default(),
            heartbeat: Heartbeat::default(),
            wake: Arc::default(),
        },
    )
}

/// Queues cancels for runs `1..=n` straight into `store`.
async fn queue_cancels(store: &Store, n: u64) {
    let secrets = WebhookSecrets::new(vec![SecretString::from(WEBHOOK_SECRET)]).unwrap();
    let state = AppState::new(
        store.clone(),
        secrets,
        None,
        64 * 1024,
        Duration::from_secs(5),
    );
    for run in 1..=n {
        let body = cancelled_job("acme/webapp", run, 1).to_string();
        let response = relay::router(state.clone())
            .oneshot(delivery(
                "workflow_job",
                &format!("d{run}"),
                body.as_bytes(),
                WEBHOOK_SECRET,
            ))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
}

// Row 6: a Currents that hangs never gets one job from two replicas at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL at TEST_DATABASE_URL"]
async fn two_postgres_workers_never_process_a_job_twice_while_currents_hangs() {
    let store = crate::store::postgres().await;
    let jobs = 10;
    queue_cancels(&store, jobs).await;
    let currents = FakeCurrents::start(CurrentsState {
        cancel: Script::of([Reply::ok(fixture("cancel-ci-github-200.json"))]),
        // Longer than the client's timeout: every call times out until this is lifted.
        latency: Duration::from_secs(30),
        ..Default::default()
    })
    .await;
    let timeout = Duration::from_millis(500);
    let lease = Duration::from_millis(1_500);
    let shutdown = CancellationToken::new();
    let workers: Vec<_> = ["one", "two"]
        .into_iter()
        .map(|owner| {
            let worker = hanging_worker(&store, &currents, owner, timeout, lease);
            tokio::spawn(worker.run(shutdown.clone(), Duration::from_secs(5)))
        })
        .collect();
    // Every job is tried (and times out) at least twice, then Currents recovers.
    wait_for(
        "two timed-out tries of every job",
        Duration::from_secs(60),
        || {
            let mut per_run: HashMap<String, usize> = HashMap::new();
            for r in currents.requests() {
                *per_run
                    .entry(r.json()["githubRunId"].to_string())
                    .or_default() += 1;
            }
            per_run.len() == jobs as usize && per_run.values().all(|&n| n >= 2)
        },
    )
    .await;
    currents.state.lock().unwrap().latency = Duration::ZERO;
    wait_until("every job to finish", Duration::from_secs(60), || async {
        store.jobs(Some(JobState::Done), 100).await.unwrap().len() == jobs as usize
    })
    .await;
    shutdown.cancel();
    for worker in workers {
        worker.await.unwrap();
    }
    // No two calls for one job overlapped: each ends by the timeout, and the next starts later.
    let mut at: HashMap<String, Vec<Instant>> = HashMap::new();
    for r in currents.requests() {
        at.entry(r.json()["githubRunId"].to_string())
            .or_default()
            .push(r.at);
    }
    for (run, mut times) in at {
        times.sort();
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= timeout,
                "run {run}: a second call {gap:?} after the first, within the {timeout:?} timeout"
            );
        }
    }
}

// Row 7: SIGTERM while Currents hangs: the in-flight calls get the deadline, then exit 0, and
// the jobs are back in the queue for the next start.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_currents_hangs_exits_within_the_deadline_and_releases_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let currents = FakeCurrents::start(CurrentsState {
        cancel: Script::of([Reply::ok(fixture("cancel-ci-github-200.json"))]),
        latency: Duration::from_secs(60),
        ..Default::default()
    })
    .await;
    let mut relay = start_relay_with(&db, &currents, &[("RELAY_SHUTDOWN_TIMEOUT", "2s")]).await;
    for run in 1..=8 {
        assert_eq!(
            deliver_cancel(&relay.base, &format!("h{run}"), run)
                .await
                .status(),
            202
        );
    }
    wait_for(
        "the worker's calls to hang",
        Duration::from_secs(10),
        || currents.requests().len() >= 4,
    )
    .await;
    relay.signal("TERM");
    // Stopped within the 2 s deadline, plus a margin for a busy machine.
    let status = tokio::time::timeout(Duration::from_millis(4_500), relay.child.wait())
        .await
        .expect("stopped within the deadline")
        .unwrap();
    assert_eq!(status.code(), Some(0), "{}", relay.log_text());
    assert_eq!(
        currents.requests().len(),
        4,
        "the worker claims only what it runs at once"
    );
    let store = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let jobs = store.jobs(None, 100).await.unwrap();
    assert_eq!(jobs.len(), 8);
    assert!(
        jobs.iter()
            .all(|j| j.state == JobState::Pending && j.lease_owner.is_none()),
        "{jobs:#?}"
    );
}

// Rows 8 and 9: a delivery for a dead job requeues it, truthfully; over-long ids are refused.
#[tokio::test]
async fn dead_jobs_are_requeued_by_news_and_long_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("r.db").display()))
        .await
        .unwrap();
    let secrets = WebhookSecrets::new(vec![SecretString::from(WEBHOOK_SECRET)]).unwrap();
    let state = AppState::new(
        store.clone(),
        secrets,
        None,
        64 * 1024,
        Duration::from_secs(5),
    );
    let send = |id: &str, hook: Option<&str>, body: String| {
        let mut request = delivery("workflow_job", id, body.as_bytes(), WEBHOOK_SECRET);
        if let Some(hook) = hook {
            request
                .headers_mut()
                .insert("x-github-hook-id", hook.parse().unwrap());
        }
        let state = state.clone();
        async move { through_router(&state, request).await }
    };
    let body = cancelled_job("acme/webapp", 5, 1).to_string();
    assert_eq!(send("first", None, body.clone()).await.1, "cancel queued");
    let claimed = store.claim("w", Duration::from_secs(60), 1).await.unwrap();
    store
        .finish(
            &claimed[0],
            currents_bridge::store::JobOutcome::GaveUp,
            Some("HTTP 503"),
        )
        .await
        .unwrap();
    // Another job of the same workflow run: its own event, with its own body.
    let mut other_job = cancelled_job("acme/webapp", 5, 1);
    other_job["workflow_job"]["id"] = json!(777_001);
    assert_eq!(
        send("second", None, other_job.to_string()).await,
        (StatusCode::ACCEPTED, "cancel requeued".into())
    );
    assert_eq!(
        store.jobs(None, 10).await.unwrap()[0].state,
        JobState::Pending
    );
    let long = "x".repeat(200);
    assert_eq!(
        send(&long, None, body.clone()).await,
        (
            StatusCode::BAD_REQUEST,
            "X-GitHub-Delivery header too long".into()
        )
    );
    assert_eq!(
        send("third", Some(&long), body).await,
        (
            StatusCode::BAD_REQUEST,
            "X-GitHub-Hook-ID header too long".into()
        )
    );
}

// Rows 11 and 12: configuration overflows and URL credentials.
#[tokio::test]
async fn bad_configuration_exits_2_without_panicking_or_echoing_credentials() {
    let run = |env: &[(&str, &str)]| {
        let mut command = tokio::process::Command::new(binary());
        command
            .arg("relay")
            .env_clear()
            .env("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("CURRENTS_API_KEY", CURRENTS_KEY)
            .env("DATABASE_URL", "sqlite::memory:")
            .envs(env.iter().copied());
        async move { command.output().await.unwrap() }
    };
    let overflow = run(&[("RELAY_POLL_INTERVAL", "500000000000y")]).await;
    assert_eq!(overflow.status.code(), Some(2), "{overflow:?}");
    let password = run(&[("CURRENTS_API_URL", "ftp://u:PASSWORD@h")]).await;
    assert_eq!(password.status.code(), Some(2));
    let said = String::from_utf8_lossy(&password.stdout).into_owned()
        + &String::from_utf8_lossy(&password.stderr);
    assert!(!said.contains("PASSWORD"), "{said}");
    let short_lease = run(&[("RELAY_LEASE", "5s")]).await;
    assert_eq!(short_lease.status.code(), Some(2));
    let retention = run(&[("RELAY_RETENTION", "1d")]).await;
    assert_eq!(retention.status.code(), Some(2));
}

// Row 12: a Currents transport error keeps no URL, so no credentials in it, in `last_error`.
#[tokio::test]
async fn transport_errors_keep_no_url_in_the_stored_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("r.db").display()))
        .await
        .unwrap();
    queue_cancels(&store, 1).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let client = CurrentsClient::new(
        CurrentsConfig {
            api_url: format!("http://user:PASSWORD@127.0.0.1:{port}/v1")
                .parse()
                .unwrap(),
            api_key: SecretString::from(CURRENTS_KEY),
            retry: currents_bridge::retry::RetryPolicy {
                max_retries: 0,
                ..currents_bridge::retry::RetryPolicy::ACTION
            },
        },
        &http(),
    );
    let worker = Worker::new(
        store.clone(),
        Some(client),
        None,
        WorkerConfig {
            owner: "w".into(),
            poll_interval: Duration::from_millis(20),
            lease: Duration::from_secs(60),
            schedule: RetrySchedule::default(),
            project_id: None,
            dry_run: false,
        },
        WorkerSignals {
            metrics: Arc::default(),
            heartbeat: Heartbeat::default(),
            wake: Arc::default(),
        },
    );
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(worker.run(shutdown.clone(), Duration::from_secs(2)));
    let error = wait_some(
        "the failed call to be recorded",
        Duration::from_secs(5),
        || async { store.jobs(None, 1).await.unwrap()[0].last_error.clone() },
    )
    .await;
    shutdown.cancel();
    running.await.unwrap();
    assert!(
        error.contains("PUT /runs/cancel-ci/github failed"),
        "{error}"
    );
    assert!(
        !error.contains("PASSWORD") && !error.contains("127.0.0.1"),
        "{error}"
    );
}

// Row 13: payload fields cannot forge log lines; serde errors are not logged verbatim.
#[tokio::test(flavor = "multi_thread")]
async fn payload_text_cannot_forge_log_lines() {
    let (_dir, _currents, relay) = relay_on_tempdir(&[("CURRENTS_DRY_RUN", "true")]).await;
    let mut forged = cancelled_job("acme/webapp", 77, 1);
    forged["repository"]["full_name"] = json!("acme/webapp\nFORGED-LINE level=INFO all is well");
    let response = post_delivery(
        &reqwest::Client::new(),
        &format!("{}/webhooks/github", relay.base),
        "workflow_job",
        "forged-1",
        forged.to_string(),
    )
    .await;
    assert_eq!(response.status(), 202);
    let mut bad = cancelled_job("acme/webapp", 78, 1);
    bad["workflow_job"]["run_id"] = json!("not a number\nINJECTED-BY-SERDE");
    let response = post_delivery(
        &reqwest::Client::new(),
        &format!("{}/webhooks/github", relay.base),
        "workflow_job",
        "forged-2",
        bad.to_string(),
    )
    .await;
    assert_eq!(response.status(), 400);
    wait_for(
        "the dry run of the forged job",
        Duration::from_secs(10),
        || relay.log_text().contains("dry run: would cancel"),
    )
    .await;
    let log = relay.log_text();
    assert!(
        !log.lines().any(|l| l.starts_with("FORGED-LINE")),
        "a payload field started a log line:\n{log}"
    );
    assert!(log.contains("acme/webapp\\nFORGED-LINE"), "{log}");
    assert!(!log.contains("INJECTED-BY-SERDE"), "{log}");
}

// Row 14: admin authorization runs before anything is parsed, takes the scheme in any case,
// and failed attempts are rate-limited.
#[tokio::test]
async fn admin_auth_comes_first_and_wrong_tokens_are_rate_limited_per_client() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("r.db").display()))
        .await
        .unwrap();
    let secrets = WebhookSecrets::new(vec![SecretString::from(WEBHOOK_SECRET)]).unwrap();
    let state = AppState::new(
        store,
        secrets,
        Some(SecretString::from("the-admin-token")),
        64 * 1024,
        Duration::from_secs(5),
    )
    // The router's requests come from no peer (0.0.0.0): a proxy naming its clients.
    .with_trusted_proxies(relay::TrustedProxies::parse("0.0.0.0/32").unwrap());
    let from = |client: &'static str, uri: &str, auth: Option<&str>| {
        let mut request = Request::get(uri).header("x-forwarded-for", client);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let request = request.body(Body::empty()).unwrap();
        let state = state.clone();
        async move { through_router(&state, request).await }
    };
    let send = |uri: &str, auth: Option<&str>| {
        let mut request = Request::get(uri).header("x-forwarded-for", "198.51.100.7");
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let request = request.body(Body::empty()).unwrap();
        let state = state.clone();
        async move { through_router(&state, request).await }
    };
    let (status, body) = send("/admin/jobs?limit=abc", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!body.contains("abc"), "{body}");
    let (status, body) = send("/admin/jobs?limit=abc", Some("bearer the-admin-token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the scheme in any case");
    assert!(!body.contains("abc"), "{body}");
    assert_eq!(
        send("/admin/jobs", Some("BEARER the-admin-token")).await.0,
        StatusCode::OK
    );
    // The request without a token was the first failure; nine more fill the window.
    for _ in 0..9 {
        assert_eq!(
            send("/admin/jobs", Some("Bearer wrong")).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        send("/admin/jobs", Some("Bearer wrong")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        send("/admin/jobs", Some("Bearer the-admin-token")).await.0,
        StatusCode::OK,
        "the right token is always accepted, from the same client too"
    );
    assert_eq!(
        from("203.0.113.5", "/admin/jobs", Some("Bearer wrong"))
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "another client has its own count"
    );
    assert_eq!(
        from("203.0.113.5", "/admin/jobs", Some("Bearer the-admin-token"))
            .await
            .0,
        StatusCode::OK
    );
}

// Row 15: a second relay on the same SQLite file says so and exits 2.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_relay_on_one_sqlite_file_exits_2() {
    let (dir, _currents, _relay) = relay_on_tempdir(&[]).await;
    let second = tokio::process::Command::new(binary())
        .arg("relay")
        .env_clear()
        .env("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("CURRENTS_API_KEY", CURRENTS_KEY)
        .env("RELAY_LISTEN", "127.0.0.1:0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("relay.db").display()),
        )
        .output()
        .await
        .unwrap();
    assert_eq!(second.status.code(), Some(2));
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("another process holds the SQLite database"),
        "{said}"
    );
}

// Row 16: Currents strings never become workflow commands; --from-dir ids are file names;
// bodies are capped.
#[tokio::test(flavor = "multi_thread")]
async fn report_output_cannot_carry_workflow_commands_or_paths() {
    let (mut run, instances) = example_run();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("instances")).unwrap();
    // A hostile test title and run status, in a dry run that prints the report.
    let mut instance = instances[0].clone();
    instance["data"]["results"]["tests"][0]["title"] =
        json!(["ok", "x\n::set-output name=pwned::1\n::error::pwned"]);
    let id = instance["data"]["instanceId"].as_str().unwrap().to_owned();
    std::fs::write(
        dir.path().join("instances").join(format!("{id}.json")),
        instance.to_string(),
    )
    .unwrap();
    for other in &instances[1..] {
        let id = other["data"]["instanceId"].as_str().unwrap();
        std::fs::write(
            dir.path().join("instances").join(format!("{id}.json")),
            other.to_string(),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("run.json"), run.to_string()).unwrap();
    let dry_run = |in_actions: bool| {
        let mut command = tokio::process::Command::new(binary());
        command
            .args(["report", "--dry-run", "--from-dir"])
            .arg(dir.path())
            .env_clear();
        if in_actions {
            command.env("GITHUB_ACTIONS", "true");
        }
        command.output()
    };
    // In a terminal, no fence to read past: the runner is not there to run anything.
    let plain = dry_run(false).await.unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("::stop-commands::"));
    let out = dry_run(true).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let token = lines[0]
        .strip_prefix("::stop-commands::")
        .expect("the report is fenced");
    assert_eq!(lines.last().copied(), Some(format!("::{token}::").as_str()));
    assert!(
        stdout.contains("::set-output name=pwned"),
        "the title is shown"
    );

    // An instance id that would leave the directory.
    run["data"]["specs"][0]["instanceId"] = json!("../../etc/passwd");
    std::fs::write(dir.path().join("run.json"), run.to_string()).unwrap();
    let out = tokio::process::Command::new(binary())
        .args(["report", "--dry-run", "--from-dir"])
        .arg(dir.path())
        .env_clear()
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a plain file name"));
}

#[tokio::test(flavor = "multi_thread")]
async fn currents_bodies_over_64_mib_are_refused_clearly() {
    let (run, _) = example_run();
    let mut huge = run.clone();
    huge["data"]["padding"] = json!("x".repeat(65 * 1024 * 1024));
    let currents = FakeCurrents::start(CurrentsState {
        find: Script::of([Reply::ok(huge)]),
        ..Default::default()
    })
    .await;
    let github = FakeGithub::start(GithubState::default()).await;
    let workflow = Workflow::new(&currents, Some(&github));
    let out = workflow.run(&["report"]).await;
    assert_eq!(out.code, Some(4), "{out:#?}");
    assert!(out.stderr.contains("larger than 64 MiB"), "{}", out.stderr);
    let _: Value = Value::Null;
}

// The 408 of the timeout layer is counted (and logged), though it is made outside the handler.
#[tokio::test]
async fn a_webhook_that_times_out_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("r.db").display()))
        .await
        .unwrap();
    let secrets = WebhookSecrets::new(vec![SecretString::from(WEBHOOK_SECRET)]).unwrap();
    let state = AppState::new(
        store,
        secrets,
        None,
        16 * 1024 * 1024,
        Duration::from_secs(5),
    );
    // Paused time runs the timers out at once; the database is opened already.
    tokio::time::pause();
    let request = |id: &str, body: Body| {
        Request::post("/webhooks/github")
            .header("content-type", "application/json")
            .header("x-github-event", "workflow_job")
            .header("x-github-delivery", id)
            .body(body)
            .unwrap()
    };
    // A body that never ends: the client went quiet mid-upload. Cut for its rate.
    let stalled = futures_util::stream::pending::<Result<Vec<u8>, std::io::Error>>();
    let response = relay::router(state.clone())
        .oneshot(request("stalled", Body::from_stream(stalled)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    // A body that keeps the minimum rate but outlasts the request's 10 s.
    // 128 KiB a second, paced by the (paused) clock.
    let pace = tokio::time::interval(Duration::from_secs(1));
    let steady = futures_util::stream::unfold((0u32, pace), |(n, mut pace)| async move {
        pace.tick().await;
        (n < 20).then(|| {
            let chunk = Ok::<_, std::io::Error>(vec![b' '; 128 * 1024]);
            (chunk, (n + 1, pace))
        })
    });
    let response = relay::router(state.clone())
        .oneshot(request("steady", Body::from_stream(steady)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    tokio::time::resume();
    let metrics = relay::router(state)
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&metrics.into_body().collect().await.unwrap().to_bytes())
        .into_owned();
    assert!(
        text.contains(r#"currents_bridge_webhook_deliveries_total{outcome="too_slow"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"currents_bridge_webhook_deliveries_total{outcome="timeout"} 1"#),
        "{text}"
    );
}
