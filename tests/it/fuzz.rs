//! Hostile input, generated: property tests over the three places where network input
//! enters the binary. A bounded number of cases runs with the suite (proptest's default, 256
//! per property); run longer with `PROPTEST_CASES=100000 cargo test --release --test fuzz`.
//!
//! - the webhook route: arbitrary events, headers and bodies, mostly with valid signatures,
//!   must get one of the contract's statuses with a fixed reason, never a 5xx or a panic;
//! - the Currents model parser: arbitrary JSON and mutated fixtures must parse or fail
//!   cleanly, and whatever parses must render;
//! - the renderers: arbitrary Unicode titles and error messages must always give output GitHub
//!   accepts (byte limits, balanced fences, nothing above U+FFFF in annotations).

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use currents_bridge::currents::models::{Instance, Run, from_envelope_or_bare};
use currents_bridge::relay::{self, AppState, WebhookSecrets};
use currents_bridge::report::{
    self, ErrorReport, MediaLink, Report, TestReport, text::fences_balanced,
};
use currents_bridge::store::Store;
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::sample::Index;
use secrecy::SecretString;
use serde_json::Value;
use tower::ServiceExt;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        // Values the parsers branch on.
        prop::sample::select(vec![
            "COMPLETE",
            "in_progress",
            "cancelled",
            "failed",
            "passed",
            "completed",
            ""
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::hash_map("[a-zA-Z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer in `value`.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        _ => {}
    }
}

/// `value` with the nodes chosen by `edits` replaced.
fn mutate(mut value: Value, edits: &[(Index, Value)]) -> Value {
    for (index, replacement) in edits {
        let mut all = Vec::new();
        pointers(&value, String::new(), &mut all);
        if all.is_empty() {
            break;
        }
        if let Some(node) = value.pointer_mut(&all[index.index(all.len())]) {
            *node = replacement.clone();
        }
    }
    value
}

// ---------------------------------------------------------------------------------------------
// The webhook route.

static RELAY: LazyLock<(tokio::runtime::Runtime, AppState, tempfile::TempDir)> =
    LazyLock::new(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("fuzz.db").display());
        let store = runtime.block_on(Store::connect(&url)).unwrap();
        let secrets = WebhookSecrets::new(vec![SecretString::from(WEBHOOK_SECRET)]).unwrap();
        let state = AppState::new(store, secrets, None, 16 * 1024, Duration::from_secs(5));
        (runtime, state, dir)
    });

const REASONS: [&str; 13] = [
    "cancel queued",
    "duplicate delivery",
    "pong",
    "nothing to do",
    "invalid signature",
    "missing X-GitHub-Event header",
    "missing X-GitHub-Delivery header",
    "missing payload field",
    "unparsable payload",
    "unreadable body",
    "payload too large",
    "unsupported content type",
    "storage unavailable",
];

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    let examples = [
        "workflow_job.completed.json",
        "workflow_job.in_progress.json",
        "workflow_run.completed.json",
        "ping.json",
    ]
    .map(webhook_example)
    .to_vec();
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (
            prop::sample::select(examples),
            prop::collection::vec((any::<Index>(), json_value()), 0..4)
        )
            .prop_map(|(example, edits)| mutate(example, &edits).to_string().into_bytes()),
        // Cancelled events with arbitrary ids.
        (any::<i64>(), any::<i64>(), "[ -~]{0,30}").prop_map(|(id, attempt, repo)| {
            let mut e = cancelled_job("a/b", 1, 1);
            e["workflow_job"]["run_id"] = id.into();
            e["workflow_job"]["run_attempt"] = attempt.into();
            e["repository"]["full_name"] = repo.into();
            e.to_string().into_bytes()
        }),
    ]
}

proptest! {
    #[test]
    fn the_webhook_route_answers_every_input_within_the_contract(
        event in prop_oneof![prop::sample::select(vec!["workflow_job", "workflow_run", "ping", "push"]).prop_map(String::from), "[ -~]{0,20}"],
        delivery in proptest::option::weighted(0.9, "[ -~]{1,40}"),
        content_type in proptest::option::weighted(0.9, prop::sample::select(vec!["application/json", "application/x-www-form-urlencoded", "application/json; charset=utf-8", "text/plain", "application/jsonx"])),
        body in body_strategy(),
        signature in prop_oneof![4 => Just(None), 1 => Just(Some(String::new())), 1 => "[ -~]{0,80}".prop_map(Some)],
        form_wrap in any::<bool>(),
    ) {
        let (runtime, state, _) = &*RELAY;
        let body = if form_wrap && content_type == Some("application/x-www-form-urlencoded") {
            url::form_urlencoded::Serializer::new(String::new()).append_pair("payload", &String::from_utf8_lossy(&body)).finish().into_bytes()
        } else {
            body
        };
        // Mostly a valid signature over whatever the body is.
        let signature = signature.unwrap_or_else(|| relay::verify::sign(WEBHOOK_SECRET, &body));
        let mut request = Request::post("/webhooks/github");
        if let Some(ct) = content_type { request = request.header("content-type", ct); }
        request = request.header("x-github-event", event.as_str()).header("x-hub-signature-256", signature.as_str());
        if let Some(d) = &delivery { request = request.header("x-github-delivery", d.as_str()); }
        let request = request.body(Body::from(body)).unwrap();
        let (status, reason) = runtime.block_on(async {
            let response = relay::router(state.clone()).oneshot(request).await.unwrap();
            let status = response.status();
            (status, String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).into_owned())
        });
        prop_assert!(
            [StatusCode::OK, StatusCode::ACCEPTED, StatusCode::BAD_REQUEST, StatusCode::UNAUTHORIZED,
             StatusCode::PAYLOAD_TOO_LARGE, StatusCode::UNSUPPORTED_MEDIA_TYPE].contains(&status),
            "status {status}"
        );
        prop_assert!(REASONS.contains(&reason.as_str()), "reason {reason:?} is not a fixed one");
    }
}

// ---------------------------------------------------------------------------------------------
// The Currents model parser, and everything downstream of it.

fn render_within_limits(run: &Run, instances: &[Instance]) -> Result<(), TestCaseError> {
    let instances: HashMap<_, _> = instances
        .iter()
        .map(|i| (i.instance_id.clone(), i.clone()))
        .collect();
    let report = report::build(run, &instances, &HashMap::new(), SystemTime::UNIX_EPOCH);
    check_renderings(&report)
}

fn check_renderings(report: &Report) -> Result<(), TestCaseError> {
    let output = report::check_output(report);
    prop_assert!(output.summary.len() <= currents_bridge::github::MAX_CHECK_OUTPUT_BYTES);
    prop_assert!(fences_balanced(&output.summary), "unbalanced summary");
    if let Some(text) = &output.text {
        prop_assert!(text.len() <= currents_bridge::github::MAX_CHECK_OUTPUT_BYTES);
        prop_assert!(fences_balanced(text));
    }
    let job = report::job_summary(
        report,
        Some("https://github.com/a/b/runs/1"),
        currents_bridge::github::runtime::MAX_JOB_SUMMARY_BYTES,
    );
    prop_assert!(job.len() <= currents_bridge::github::runtime::MAX_JOB_SUMMARY_BYTES);
    prop_assert!(fences_balanced(&job), "unbalanced job summary");
    for a in report::annotations(report, "e2e/") {
        prop_assert!(a.title.chars().count() <= 255);
        prop_assert!(a.message.len() <= 64_000 && !a.message.is_empty());
        prop_assert!(a.raw_details.as_ref().is_none_or(|d| d.len() <= 64_000));
        prop_assert!(a.start_line >= 1 && a.end_line >= a.start_line);
        for field in [
            Some(&a.path),
            Some(&a.title),
            Some(&a.message),
            a.raw_details.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(
                field.chars().all(|c| (c as u32) <= 0xFFFF),
                "4-byte character in an annotation"
            );
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_json_never_breaks_the_parsers(value in json_value(), bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for input in [value.to_string().into_bytes(), bytes] {
            let run = from_envelope_or_bare::<Run>(&input);
            let _ = from_envelope_or_bare::<Instance>(&input);
            let _ = serde_json::from_slice::<currents_bridge::currents::models::ApiError>(&input);
            if let Ok(run) = run {
                render_within_limits(&run, &[])?;
            }
        }
    }

    #[test]
    fn mutated_fixtures_parse_or_fail_cleanly_and_render(
        which in 0usize..3,
        run_edits in prop::collection::vec((any::<Index>(), json_value()), 1..5),
        instance_edits in prop::collection::vec((any::<Index>(), json_value()), 0..5),
    ) {
        let (run, instance) = [
            ("run-playwright-failed.json", "instance-playwright-failed.json"),
            ("run-cypress-failed.json", "instance-cypress-failed.json"),
            ("run-playwright-in-progress.json", "instance-playwright-failed.json"),
        ][which];
        let run = mutate(fixture(run), &run_edits).to_string();
        let instance = mutate(fixture(instance), &instance_edits).to_string();
        if let (Ok(run), instance) = (from_envelope_or_bare::<Run>(run.as_bytes()), from_envelope_or_bare::<Instance>(instance.as_bytes())) {
            render_within_limits(&run, &instance.into_iter().collect::<Vec<_>>())?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The renderers.

fn test_report() -> impl Strategy<Value = TestReport> {
    let text = || {
        prop_oneof![
            any::<String>(),
            "[`|*#<>\\[\\]()\\n\\r😀👩‍💻🎉 a-zé中]{0,300}"
        ]
    };
    (
        text(),
        prop::collection::vec(text(), 0..4),
        proptest::option::of((text(), proptest::option::of(text()), text())),
        1usize..5,
        any::<u32>(),
    )
        .prop_map(|(spec, title, error, attempts, line)| TestReport {
            spec,
            group_id: "g".into(),
            title,
            test_url: "https://app.currents.dev/run/r/i/i/test/t".into(),
            attempt: attempts,
            attempts,
            error: error.map(|(message, failing_line, stack)| ErrorReport {
                message,
                failing_line,
                frame: Some(stack.clone()),
                stack: Some(stack),
            }),
            media: vec![MediaLink {
                label: "screenshot".into(),
                url: "https://fs.currents.dev/x.png?Signature=a".into(),
                source: None,
            }],
            line: (line > 0).then_some(line % 100_000),
            test_id: "t".into(),
            tags: Vec::new(),
            verdict: None,
            history: Default::default(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases.min(64), ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_titles_and_errors_render_as_github_accepts(
        failures in prop::collection::vec(test_report(), 0..300),
        flaky in prop::collection::vec(test_report(), 0..40),
        run_id in any::<String>(),
    ) {
        let (run, instances) = example_run();
        let run: Run = serde_json::from_value(run["data"].clone()).unwrap();
        let instances: Vec<Instance> = instances.iter().map(|i| serde_json::from_value(i["data"].clone()).unwrap()).collect();
        let instances: HashMap<_, _> = instances.into_iter().map(|i| (i.instance_id.clone(), i)).collect();
        let mut report = report::build(&run, &instances, &HashMap::new(), SystemTime::UNIX_EPOCH);
        report.run_id = currents_bridge::currents::RunId::new(run_id);
        report.failures = failures;
        report.flaky = flaky;
        check_renderings(&report)?;
    }
}
