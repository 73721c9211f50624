//! Benchmark: the relay (release build, SQLite) against adnanh/webhook set up to verify the same
//! signature, each under 10 s of wrk over 16 connections sending signed non-cancel deliveries
//! with a unique delivery id each. While wrk loads the relay, the bench also sends cancel
//! deliveries and times each one from send to the fake Currents receiving its cancel.
//! Run it with `bench/relay.sh`, which installs wrk and webhook when missing.
// A benchmark reports on stdout.
#![allow(clippy::print_stdout)]

// The integration tests' fakes; a bench uses only some of them.
#[allow(dead_code, unused_imports)]
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::*;

const DURATION: &str = "10s";
const CONNECTIONS: &str = "16";
const CANCELS: u64 = 100;
const TARGET_RATIO: f64 = 2.0;
const TARGET_P99_MS: f64 = 10.0;
const TARGET_IDLE_RSS_MB: f64 = 20.0;

fn main() {
    tokio::runtime::Runtime::new()
        .expect("a Tokio runtime")
        .block_on(bench());
}

/// A loopback port that was free a moment ago (the peer, adnanh/webhook, needs a port named
/// in advance).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024.0
}

/// A wrk script that posts `body`, signed, with a unique `X-GitHub-Delivery` per request.
fn wrk_script(dir: &Path, body: &str) -> String {
    let signature = currents_bridge::relay::verify::sign(WEBHOOK_SECRET, body.as_bytes());
    let script = format!(
        r#"
local counter = 0
local thread_id = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "workflow_job"
wrk.headers["X-GitHub-Hook-ID"] = "4242"
wrk.headers["X-Hub-Signature-256"] = "{signature}"
function request()
  counter = counter + 1
  wrk.headers["X-GitHub-Delivery"] = "bench-" .. thread_id .. "-" .. counter
  return wrk.format()
end
"#
    );
    let path = dir.join("deliveries.lua");
    std::fs::write(&path, script).unwrap();
    path.display().to_string()
}

struct WrkResult {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    requests: u64,
}

async fn wrk(script: &str, url: &str) -> WrkResult {
    let out = tokio::process::Command::new("wrk")
        .args([
            "-t",
            "2",
            "-c",
            CONNECTIONS,
            "-d",
            DURATION,
            "--latency",
            "-s",
            script,
            url,
        ])
        .output()
        .await
        .expect("wrk is installed (bench/relay.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let find = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_owned())
    };
    let ms = |v: String| {
        let (n, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
        let n: f64 = n.parse().unwrap_or(f64::NAN);
        match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            _ => f64::NAN,
        }
    };
    WrkResult {
        rps: find("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        p50_ms: find("50%").map(ms).unwrap_or(f64::NAN),
        p99_ms: find("99%").map(ms).unwrap_or(f64::NAN),
        non_2xx: find("Non-2xx or 3xx responses:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        requests: text
            .lines()
            .find(|l| l.contains("requests in"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    }
}

async fn bench() {
    let dir = tempfile::tempdir().unwrap();
    let body = webhook_example("workflow_job.in_progress.json").to_string();
    let script = wrk_script(dir.path(), &body);

    // The relay, on SQLite, with a fake Currents in this process.
    let currents = FakeCurrents::start(CurrentsState {
        cancel: Script::of([Reply::ok(fixture("cancel-ci-github-200.json"))]),
        ..Default::default()
    })
    .await;
    let relay_port = free_port();
    let mut relay = tokio::process::Command::new(binary())
        .arg("relay")
        .env_clear()
        .env("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("relay.db").display()),
        )
        .env("RELAY_LISTEN", format!("127.0.0.1:{relay_port}"))
        .env("CURRENTS_API_URL", currents.url())
        .env("CURRENTS_API_KEY", CURRENTS_KEY)
        .env("CURRENTS_BRIDGE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let relay_url = format!("http://127.0.0.1:{relay_port}/webhooks/github");
    wait_until_ready(&format!("http://127.0.0.1:{relay_port}/healthz")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = rss_mb(relay.id().unwrap());

    // Cancels sent while wrk runs, spread over its 10 s.
    let sender = {
        let url = relay_url.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut sent = HashMap::new();
            tokio::time::sleep(Duration::from_millis(500)).await;
            for run in 0..CANCELS {
                let run_id = 700_000 + run;
                let payload = cancelled_job("acme/webapp", run_id, 1).to_string();
                let at = Instant::now();
                let response = post_delivery(
                    &client,
                    &url,
                    "workflow_job",
                    &format!("cancel-{run}"),
                    payload,
                )
                .await;
                assert_eq!(response.status(), 202);
                sent.insert(run_id.to_string(), at);
                tokio::time::sleep(Duration::from_millis(85)).await;
            }
            sent
        })
    };
    let relay_result = wrk(&script, &relay_url).await;
    let sent = sender.await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut latencies: Vec<f64> = currents
        .requests_to("/v1/runs/cancel-ci/github")
        .iter()
        .filter_map(|r| {
            sent.get(r.json()["githubRunId"].as_str()?)
                .map(|at| (r.at - *at).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    assert_eq!(
        latencies.len(),
        CANCELS as usize,
        "every cancel reached Currents"
    );
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    relay.start_kill().ok();

    // The peer: adnanh/webhook verifying the same signature, answering 401 on a mismatch.
    let hooks = dir.path().join("hooks.json");
    std::fs::write(
        &hooks,
        serde_json::json!([{
            "id": "github",
            "execute-command": "/bin/true",
            "trigger-rule-mismatch-http-response-code": 401,
            "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": WEBHOOK_SECRET,
                                        "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}}
        }])
        .to_string(),
    )
    .unwrap();
    let peer_port = free_port();
    let mut peer = tokio::process::Command::new("webhook")
        .args([
            "-hooks",
            &hooks.display().to_string(),
            "-ip",
            "127.0.0.1",
            "-port",
            &peer_port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("webhook is installed (bench/relay.sh installs it)");
    let peer_url = format!("http://127.0.0.1:{peer_port}/hooks/github");
    wait_until_ready(&format!("http://127.0.0.1:{peer_port}/")).await;
    // The peer really verifies: a bad signature is refused.
    let refused = reqwest::Client::new()
        .post(&peer_url)
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            "sha256=0000000000000000000000000000000000000000000000000000000000000000",
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    // webhook 2.8 answers a bad signature with 500 (an error while evaluating the rule).
    assert!(
        !refused.status().is_success(),
        "the peer must verify signatures"
    );
    let accepted = reqwest::Client::new()
        .post(&peer_url)
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            currents_bridge::relay::verify::sign(WEBHOOK_SECRET, body.as_bytes()),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert!(
        accepted.status().is_success(),
        "the peer accepts a good signature: {}",
        accepted.status()
    );
    let peer_result = wrk(&script, &peer_url).await;
    peer.start_kill().ok();

    let ratio = relay_result.rps / peer_result.rps;
    println!(
        "relay benchmark: wrk -t2 -c{CONNECTIONS} -d{DURATION}, signed non-cancel deliveries, unique delivery ids"
    );
    println!("                       requests/s   p50 ms   p99 ms   non-2xx   requests");
    for (name, r) in [
        ("currents-bridge relay", &relay_result),
        ("adnanh/webhook 2.8", &peer_result),
    ] {
        println!(
            "  {name:<21} {:>10.0} {:>8.2} {:>8.2} {:>9} {:>10}",
            r.rps, r.p50_ms, r.p99_ms, r.non_2xx, r.requests
        );
    }
    println!("  ratio relay/peer      {ratio:>10.2}x  (target >= {TARGET_RATIO}x)");
    println!(
        "  relay p99             {:>10.2} ms (target <= {TARGET_P99_MS} ms)",
        relay_result.p99_ms
    );
    println!("  relay idle RSS        {idle_rss:>10.1} MB (target <= {TARGET_IDLE_RSS_MB} MB)");
    println!(
        "  received -> Currents cancel, {CANCELS} cancels under load: p50 {:.1} ms, p99 {:.1} ms",
        pct(0.5),
        pct(0.99)
    );
    let ok = ratio >= TARGET_RATIO
        && relay_result.p99_ms <= TARGET_P99_MS
        && relay_result.non_2xx == 0
        && idle_rss <= TARGET_IDLE_RSS_MB;
    println!("  {}", if ok { "PASS" } else { "MISS" });
}
