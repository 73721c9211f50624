//! Untrusted text cannot escape its element in any rendering: hostile strings in every field
//! Currents sends (titles, messages, spec paths, ids, media and attachment URLs, branch names,
//! group and framework names) are put into the example run, and each rendering (the check's
//! summary and text, the job summary, the pull request comment, the pointer summary, the
//! annotations) is parsed as GitHub Flavored Markdown (comrak, with autolinks, tables,
//! footnotes, math and alerts on) and compared with the same run under benign strings: the
//! same blocks, no image, no HTML but ours, no math, no footnote, no more links (so no
//! autolink), every link target an http(s) URL, and no text that GitHub would turn into a
//! mention or an issue link.

use std::collections::HashMap;
use std::time::SystemTime;

use comrak::nodes::{AstNode, NodeValue};
use comrak::{Arena, Options, parse_document};
use currents_bridge::currents::models::{Action, TestResult};
use currents_bridge::currents::{History, Instance, InstanceId, Run, TestHistory};
use currents_bridge::report::{self, Report};
use proptest::prelude::*;
use serde_json::Value;

use crate::support::example_run;

/// Pieces that try to break out of an element, one at a time or together.
const HOSTILE: &[&str] = &[
    "x) ![pixel](https://attacker.example/p.png) @octocat [y",
    "@acme/team",
    "$x^2$",
    "$$\nE=mc^2\n$$",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<!-- --> <sub>",
    "\n# heading\n",
    "\n\n- item\n",
    "\n> [!WARNING]\n> alert",
    "| a | b |\n|---|---|",
    "`",
    "```\ncode",
    "~~~",
    "**bold** _em_ ~~del~~",
    "[link](javascript:alert(1))",
    "[ref]: https://evil.example",
    "https://evil.example/x",
    "www.evil.example",
    "mail@evil.example",
    "fixes #123 and acme/webapp#4",
    "&lt;b&gt; &#64;octocat &amp;",
    "[^1]\n\n[^1]: footnote",
    "- [ ] task",
    "\\",
    "\r\n\r\n",
    "\u{202E}rtl \u{7} bell \u{1b}[31m",
    ":+1:",
    "    indented code",
    "---",
    "1. one",
];

/// URLs that try to be something else.
const HOSTILE_URLS: &[&str] = &[
    "https://fs.currents.dev/o/a.png?sig=x) ![p](https://evil.example/p.png",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://evil.example/a b\"<>`",
    "HTTPS://Evil.Example/(x)",
    "//evil.example/x",
    "not a url at all",
];

/// String fields holding text or ids from Currents (enum-like fields keep their values).
const TEXT_KEYS: &[&str] = &[
    "spec",
    "title",
    "message",
    "stack",
    "frame",
    "name",
    "filename",
    "branch",
    "version",
    "groupId",
    "testId",
    "instanceId",
    "runId",
    "exception",
    "displayError",
    "osName",
    "osVersion",
    "browserName",
    "browserVersion",
    "sha",
];
const URL_KEYS: &[&str] = &["screenshotURL", "videoUrl", "traceURL", "readUrl"];

/// Replaces every untrusted string in `value`: text with `text(original)`, URLs with `url`.
fn poison(value: &mut Value, key: &str, text: &dyn Fn(&str) -> String, url: &str) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                poison(v, k, text, url);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| poison(v, key, text, url)),
        Value::String(s) if URL_KEYS.contains(&key) => *s = url.to_owned(),
        Value::String(s) if TEXT_KEYS.contains(&key) => *s = text(s),
        _ => {}
    }
}

/// The example's report with every untrusted string poisoned, compared with a base run (its
/// failures marked) on branch `branch`, with media links through a relay when `relay`.
fn report_of(text: &dyn Fn(&str) -> String, url: &str, branch: &str) -> Report {
    let (mut run, mut instances) = example_run();
    poison(&mut run, "", text, url);
    instances.iter_mut().for_each(|i| poison(i, "", text, url));
    let run: Run = serde_json::from_value(run["data"].clone()).unwrap();
    let instances: HashMap<InstanceId, Instance> = instances
        .into_iter()
        .map(|i| {
            let instance: Instance = serde_json::from_value(i["data"].clone()).unwrap();
            (instance.instance_id.clone(), instance)
        })
        .collect();
    let none = HashMap::new();
    let mut report = report::build(&run, &instances, &none, SystemTime::UNIX_EPOCH);
    // A base run failing the first failure only: one new, one known, one fixed-looking.
    let mut base = report.clone();
    base.failures.truncate(1);
    report::compare(&mut report, Some(&base), branch);
    // Triage with Currents' own strings poisoned too: the coupon test quarantined by a rule,
    // the other failing on the branch since a date, the flaky test with its rate.
    let history = history_of(&report, text, branch);
    let rules = vec![rule(text)];
    report::triage(
        &mut report,
        &report::TriageInput {
            history: Some(&history),
            rules: Some(&rules),
            commit: run.meta.commit.as_ref(),
            threshold: report::FlakyThreshold::default(),
            now: SystemTime::UNIX_EPOCH,
        },
    );
    // The previous attempt failed a test that passes here.
    let mut previous = base.clone();
    previous.run_id = currents_bridge::currents::RunId::new(text("b0b0b0b0"));
    let passing = instances
        .values()
        .flat_map(|i| i.results.iter().flat_map(|r| &r.tests))
        .find(|t| {
            t.title
                .last()
                .is_some_and(|n| n.starts_with("shows the cart summary"))
        })
        .unwrap();
    previous.failures[0].title = passing.title.clone();
    report::rerun(
        &mut report,
        &previous,
        Some("https://github.com/acme/webapp/runs/41"),
    );
    report
}

fn history_of(report: &Report, text: &dyn Fn(&str) -> String, branch: &str) -> History {
    let result: TestResult = serde_json::from_value(serde_json::json!({
        "createdAt": text("2026-08-20T14:02:14.010Z"), "status": "failed",
        "commit": {"sha": text("8a7b6c5d4e"), "branch": branch}
    }))
    .unwrap();
    let key = |t: &report::TestReport| (t.spec.clone(), t.title.clone());
    let mut tests = HashMap::new();
    tests.insert(
        key(&report.failures[1]),
        TestHistory {
            metrics: None,
            results: Some(vec![result]),
        },
    );
    for flaky in &report.flaky {
        let metrics = serde_json::from_value(
            serde_json::json!({"executions": 41, "flaky": 5, "flakinessRate": 0.12}),
        )
        .unwrap();
        tests.insert(
            key(flaky),
            TestHistory {
                metrics: Some(metrics),
                results: None,
            },
        );
    }
    History {
        branch: branch.to_owned(),
        days: 30,
        tests,
        not_looked_up: 3,
        missing: Vec::new(),
    }
}

fn rule(text: &dyn Fn(&str) -> String) -> Action {
    serde_json::from_value(serde_json::json!({
        "actionId": text("66b2f1c4e8a9d70012ab34cd"), "name": text("Quarantine coupons"),
        "createdBy": text("jane@acme.example"), "expiresAfter": text("2999-09-03T15:00:00.000Z"),
        "status": "active", "action": [{"op": "quarantine"}],
        "matcher": {"op": "AND", "cond": [{"type": "titlePath", "op": "inc", "value": ["coupon"]}]}
    }))
    .unwrap()
}

/// What a Markdown document is made of, apart from its text.
#[derive(Debug, Default, PartialEq, Eq)]
struct Shape {
    /// Block-level nodes in document order.
    blocks: Vec<String>,
    links: usize,
    images: usize,
    math: usize,
    footnotes: usize,
    html: Vec<String>,
    bad_urls: Vec<String>,
    /// Text GitHub would turn into a mention or an issue reference.
    references: Vec<String>,
}

fn shape(markdown: &str) -> Shape {
    let arena = Arena::new();
    let mut options = Options::default();
    options.extension.table = true;
    options.extension.strikethrough = true;
    options.extension.autolink = true;
    options.extension.tasklist = true;
    options.extension.footnotes = true;
    options.extension.math_dollars = true;
    options.extension.alerts = true;
    let root = parse_document(&arena, markdown, &options);
    let mut shape = Shape::default();
    for node in root.descendants() {
        visit(node, &mut shape);
    }
    shape
}

fn visit<'a>(node: &'a AstNode<'a>, shape: &mut Shape) {
    let value = &node.data.borrow().value;
    match value {
        NodeValue::Link(link) => {
            shape.links += 1;
            let ok =
                url::Url::parse(&link.url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                shape.bad_urls.push(link.url.clone());
            }
        }
        NodeValue::Image(_) => shape.images += 1,
        NodeValue::Math(_) => shape.math += 1,
        NodeValue::FootnoteReference(_) | NodeValue::FootnoteDefinition(_) => shape.footnotes += 1,
        NodeValue::HtmlInline(html) => shape.html.push(html.clone()),
        NodeValue::HtmlBlock(html) => shape.html.push(html.literal.trim().to_owned()),
        NodeValue::Text(text) => {
            let chars: Vec<char> = text.chars().collect();
            for pair in chars.windows(2) {
                if matches!(pair[0], '@' | '#') && pair[1].is_ascii_alphanumeric() {
                    shape.references.push(text.to_string());
                }
            }
        }
        value if value.block() => shape.blocks.push(block_name(value)),
        _ => {}
    }
}

fn block_name(value: &NodeValue) -> String {
    match value {
        NodeValue::Heading(h) => format!("h{}", h.level),
        other => {
            let debug = format!("{other:?}");
            debug
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or_default()
                .to_owned()
        }
    }
}

/// Our own HTML: the comment's marker and the `<sub>` of the media note.
fn ours(html: &str) -> bool {
    html.starts_with("<!-- currents-bridge:comment:")
        || html == "<sub>"
        || html == "</sub>"
        || (html.starts_with("<sub>") && html.ends_with("</sub>"))
}

/// Every rendering of `report`, by name.
fn renderings(report: &Report) -> Vec<(&'static str, String)> {
    let output = report::check_output(report);
    let check_url = "https://github.com/acme/webapp/runs/1";
    let marker = currents_bridge::github::marker("Currents", "Xk9Pq2");
    vec![
        ("check summary", output.summary),
        ("check text", output.text.unwrap_or_default()),
        (
            "job summary",
            report::job_summary(
                report,
                Some(check_url),
                currents_bridge::github::runtime::MAX_JOB_SUMMARY_BYTES,
            ),
        ),
        (
            "comment",
            report::pr_comment(report, &marker, Some(check_url)),
        ),
        ("pointer", report::pointer_summary(report, check_url)),
    ]
}

fn assert_contained(hostile: &str, url: &str) {
    let poisoned = |s: &str| format!("{s}{hostile}");
    let benign = |s: &str| format!("{s}x");
    let bad = report_of(&poisoned, url, &format!("main{hostile}"));
    let good = report_of(&benign, "https://fs.currents.dev/o/a.png", "main");
    // Currents' triage strings are rendered, so they are tested too.
    let summary = report::job_summary(&good, None, usize::MAX);
    for shown in [
        "quarantined by rule",
        "failing on",
        "Passed on re-run",
        "flaky on",
        "not looked up",
    ] {
        assert!(summary.contains(shown), "{shown:?} in {summary}");
    }
    for ((name, hostile_md), (_, benign_md)) in renderings(&bad).into_iter().zip(renderings(&good))
    {
        let (bad, good) = (shape(&hostile_md), shape(&benign_md));
        let context = || format!("{name} with {hostile:?} and {url:?}:\n{hostile_md}");
        assert_eq!(bad.blocks, good.blocks, "a new block: {}", context());
        assert!(bad.links <= good.links, "a link of its own: {}", context());
        assert_eq!(
            (bad.images, bad.math, bad.footnotes),
            (0, 0, 0),
            "{}",
            context()
        );
        assert!(bad.bad_urls.is_empty(), "{:?}: {}", bad.bad_urls, context());
        assert!(
            bad.html.iter().all(|h| ours(h)),
            "{:?}: {}",
            bad.html,
            context()
        );
        assert!(
            bad.references.is_empty(),
            "{:?}: {}",
            bad.references,
            context()
        );
    }
    for annotation in report::annotations(&bad, "") {
        assert!(
            !annotation.title.chars().any(char::is_control),
            "{annotation:?}"
        );
        assert!(
            !annotation.path.chars().any(char::is_control),
            "{annotation:?}"
        );
    }
}

#[test]
fn each_hostile_piece_stays_inside_its_element() {
    for hostile in HOSTILE {
        for url in HOSTILE_URLS {
            assert_contained(hostile, url);
        }
    }
}

fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(HOSTILE).prop_map(str::to_owned),
        "[ -~]{0,12}",
        prop::sample::select(
            &[
                '@', '#', '$', '`', '<', '>', '[', ']', '(', ')', '!', '|', '\n', '*', '_', '\\',
                ':', '/', '.'
            ][..]
        )
        .prop_map(String::from),
    ];
    prop::collection::vec(piece, 1..6).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn hostile_strings_stay_inside_their_elements(
        hostile in hostile_text(),
        url in prop::sample::select(HOSTILE_URLS),
    ) {
        assert_contained(&hostile, url);
    }
}
