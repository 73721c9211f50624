//! Snapshots of the Markdown rendered for the example run, and rendering properties over
//! hostile titles and messages.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use currents_bridge::currents::models::{Instance, Run, from_envelope_or_bare};
use currents_bridge::report::{self, text::fences_balanced};

fn example_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/playwright-failed")
}

fn example() -> report::Report {
    example_with_run(&std::fs::read(example_dir().join("run.json")).unwrap())
}

/// The example's report, from `run` (the run's JSON) and the example's instances.
fn example_with_run(run: &[u8]) -> report::Report {
    let dir = example_dir();
    let run: Run = from_envelope_or_bare(run).unwrap();
    let mut instances = HashMap::new();
    for entry in std::fs::read_dir(dir.join("instances")).unwrap() {
        let instance: Instance =
            from_envelope_or_bare(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        instances.insert(instance.instance_id.clone(), instance);
    }
    // A fixed fetch time keeps the expiry note stable.
    let fetched_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_787_236_205);
    report::build(&run, &instances, &HashMap::new(), fetched_at)
}

#[test]
fn example_check_summary() {
    let output = report::check_output(&example());
    assert_eq!(output.title, "2 failed, 1 flaky, 9 passed, 1 skipped");
    assert_eq!(output.text, None, "everything fits in the summary");
    insta::assert_snapshot!("example_check_summary", output.summary);
}

#[test]
fn example_job_summary() {
    let summary = report::job_summary(
        &example(),
        Some("https://github.com/acme/webapp/runs/1"),
        currents_bridge::github::runtime::MAX_JOB_SUMMARY_BYTES,
    );
    insta::assert_snapshot!("example_job_summary", summary);
}

#[test]
fn example_annotations() {
    let annotations = report::annotations(&example(), "");
    insta::assert_snapshot!(
        "example_annotations",
        serde_json::to_string_pretty(&annotations).unwrap()
    );
}

#[test]
fn hostile_titles_and_errors_render_within_limits() {
    let mut report = example();
    let template = report.failures[0].clone();
    let nasty = [
        "```",
        "````` \n``",
        "| table | break |",
        "<script>alert(1)</script>",
        "😀👩‍💻🎉",
        "\u{202e}rtl",
        "# heading",
        "[link](javascript:x)",
    ];
    report.failures = (0..400)
        .map(|n| {
            let mut t = template.clone();
            let bit = nasty[n % nasty.len()];
            t.title = vec![format!("{bit} suite {n}"), bit.repeat(n % 50 + 1)];
            if let Some(e) = t.error.as_mut() {
                e.message = format!("{bit}\n{}", bit.repeat(n * 7 % 400));
            }
            t
        })
        .collect();
    let output = report::check_output(&report);
    assert!(output.summary.len() <= currents_bridge::github::MAX_CHECK_OUTPUT_BYTES);
    assert!(fences_balanced(&output.summary));
    let text = output.text.expect("the rest are listed");
    assert!(text.len() <= currents_bridge::github::MAX_CHECK_OUTPUT_BYTES);
    let job = report::job_summary(
        &report,
        None,
        currents_bridge::github::runtime::MAX_JOB_SUMMARY_BYTES,
    );
    assert!(job.len() <= currents_bridge::github::runtime::MAX_JOB_SUMMARY_BYTES);
    assert!(fences_balanced(&job));
    for a in report::annotations(&report, "e2e") {
        assert!(a.title.chars().count() <= 255);
        assert!(a.message.len() <= 64_000);
        assert!(
            [&a.path, &a.title, &a.message]
                .iter()
                .all(|f| f.chars().all(|c| (c as u32) <= 0xFFFF))
        );
    }
}

/// The example against a base-branch run in which the second failure fails too, the first does
/// not, and a checkout test that passes here failed.
fn compared_example() -> report::Report {
    let mut report = example();
    let mut base = example();
    base.run_id = currents_bridge::currents::RunId::new("b0b0b0b0b0b0b0b0");
    base.run_url = "https://app.currents.dev/run/b0b0b0b0b0b0b0b0".into();
    let also = base.failures[1].clone();
    let mut fixed = base.failures[0].clone();
    fixed.title = vec!["checkout".into(), "shows the cart summary".into()];
    fixed.test_url = "https://app.currents.dev/run/b0b0b0b0b0b0b0b0/test/fixed".into();
    base.failures = vec![also, fixed];
    report::compare(&mut report, Some(&base), "main");
    report::triage(&mut report, &without_history());
    report
}

/// Triage from the base run alone (`--triage off`).
fn without_history() -> report::TriageInput<'static> {
    report::TriageInput {
        history: None,
        rules: None,
        commit: None,
        threshold: report::FlakyThreshold::default(),
        now: std::time::SystemTime::UNIX_EPOCH,
    }
}

#[test]
fn example_compared_with_the_base_branch() {
    let report = compared_example();
    assert_eq!(report.new_failures(), Some(1));
    let output = report::check_output(&report);
    assert_eq!(
        output.title,
        "2 failed (1 new), 1 flaky, 9 passed, 1 skipped"
    );
    assert_eq!(
        report.failures[0].verdict,
        Some(report::Verdict::New),
        "new failures come first"
    );
    let annotations = report::annotations(&report, "");
    assert!(
        annotations[0].title.starts_with("New: "),
        "{}",
        annotations[0].title
    );
    assert!(
        annotations[1].title.starts_with("Known: "),
        "{}",
        annotations[1].title
    );
    assert!(
        output
            .summary
            .contains("### ✅ Fixed (1): failing on `main`, passing here")
    );
    insta::assert_snapshot!("example_compared_check_summary", output.summary);
}

/// The fixed list names only what is known to have passed here: by name in a spec whose details
/// were read, or as a spec whose counters say every test passed.
#[test]
fn only_base_failures_that_passed_here_are_fixed() {
    let failing = |spec: &str, title: &[&str]| {
        let mut t = example().failures[0].clone();
        t.spec = spec.into();
        t.title = title.iter().map(|&s| s.to_owned()).collect();
        t
    };
    let mut base = example();
    base.failures = vec![
        // Read here test by test: two passed, one is not in the spec any more.
        failing("tests/login.spec.ts", &["login", "signs in with SSO"]),
        failing("tests/checkout.spec.ts", &["checkout", "removes an item"]),
        failing("tests/login.spec.ts", &["login", "was renamed"]),
        // Not read test by test, and one of its tests was skipped here.
        failing("tests/search.spec.ts", &["search", "finds by SKU"]),
        // Not run here at all.
        failing("tests/gone.spec.ts", &["gone", "anything"]),
    ];
    let fixed_titles = |report: &report::Report| -> Vec<String> {
        let base = report.comparison.as_ref().unwrap().base.as_ref().unwrap();
        base.fixed.iter().map(|t| t.title_path.clone()).collect()
    };
    let mut report = example();
    report::compare(&mut report, Some(&base), "main");
    assert_eq!(
        fixed_titles(&report),
        ["login › signs in with SSO", "checkout › removes an item"]
    );

    // The same run with nothing skipped in the search spec: all its tests passed.
    let mut run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(example_dir().join("run.json")).unwrap()).unwrap();
    let search = run["data"]["specs"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["spec"] == "tests/search.spec.ts")
        .unwrap();
    search["results"]["stats"]["skipped"] = 0.into();
    search["results"]["stats"]["passes"] = 3.into();
    let mut report = example_with_run(&serde_json::to_vec(&run).unwrap());
    report::compare(&mut report, Some(&base), "main");
    assert_eq!(
        fixed_titles(&report),
        [
            "login › signs in with SSO",
            "checkout › removes an item",
            "search › finds by SKU"
        ]
    );
}

#[test]
fn without_a_base_run_the_report_says_so_in_one_line() {
    let mut report = example();
    report::compare(&mut report, None, "main");
    assert_eq!(report.new_failures(), None);
    let output = report::check_output(&report);
    assert_eq!(output.title, "2 failed, 1 flaky, 9 passed, 1 skipped");
    let lines: Vec<&str> = output
        .summary
        .lines()
        .filter(|l| l.contains("main"))
        .collect();
    assert_eq!(
        lines,
        vec!["No completed Currents run of `main` to compare with."]
    );
    assert!(
        report::annotations(&report, "")
            .iter()
            .all(|a| !a.title.starts_with("New"))
    );
}

#[test]
fn example_pull_request_comment() {
    let report = compared_example();
    let body = report::pr_comment(
        &report,
        "<!-- currents-bridge:comment:0123456789abcdef -->",
        Some("https://github.com/acme/webapp/runs/1"),
    );
    assert!(body.len() <= 65_536);
    assert!(body.starts_with("<!-- currents-bridge:comment:0123456789abcdef -->\n"));
    insta::assert_snapshot!("example_pr_comment", body);
}

#[test]
fn a_comment_stays_within_githubs_limit_and_shows_twenty_failures() {
    let mut report = example();
    let template = report.failures[0].clone();
    report.failures = (0..500)
        .map(|n| {
            let mut t = template.clone();
            t.title = vec![format!("case {n} {}", "x".repeat(400))];
            t
        })
        .collect();
    let body = report::pr_comment(&report, "<!-- m -->", None);
    assert!(body.chars().count() <= 65_536);
    assert_eq!(body.lines().filter(|l| l.starts_with("- **")).count(), 20);
    assert!(body.contains("- _and 480 more in the check run_"));
}
