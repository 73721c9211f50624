//! Run + instances → [`Report`].

use std::collections::HashMap;
use std::time::SystemTime;

use super::attempt_media::media;
use super::text::strip_ansi;
use super::{
    Conclusion, ErrorReport, GroupSummary, Passes, Report, SpecProblem, TestReport, Totals,
};
use crate::currents::models::{
    Group, Instance, InstanceId, InstanceResults, Platform, Run, Spec, Test, TestCounts, TestError,
    TestState,
};
use crate::currents::{dashboard_url, run_url};

/// Builds the report of `run`. `instances` holds the fetched details of the specs that have
/// failures or flaky tests; `unavailable` says why a spec's details are missing (a failed
/// fetch), and such specs are reported as spec problems rather than dropped.
pub fn build(
    run: &Run,
    instances: &HashMap<InstanceId, Instance>,
    unavailable: &HashMap<InstanceId, String>,
    fetched_at: SystemTime,
) -> Report {
    let mut tests = Tests::default();
    for spec in &run.specs {
        tests.add_spec(run, spec, instances, unavailable);
    }
    let is_timeout = run.timeout.as_ref().is_some_and(|t| t.is_timeout);
    Report {
        run_id: run.run_id.clone(),
        project_id: run.project_id.clone(),
        run_url: run_url(&run.run_id),
        completion: run.completion_state.clone(),
        status: run.status.clone(),
        conclusion: Conclusion::of(&run.completion_state, &run.status, is_timeout),
        totals: totals(run),
        groups: run.groups.iter().map(group_summary).collect(),
        failures: tests.failures,
        flaky: tests.flaky,
        spec_problems: tests.spec_problems,
        framework: framework(run),
        branch: run.meta.commit.as_ref().and_then(|c| c.branch.clone()),
        commit_sha: run.meta.commit.as_ref().and_then(|c| c.sha.clone()),
        duration_ms: run.duration_ms,
        fetched_at,
        passes: tests.passes,
        comparison: None,
        media_via_relay: false,
        triage: None,
        rerun: None,
    }
}

/// What a run's specs say of its tests, gathered spec by spec.
#[derive(Default)]
struct Tests {
    failures: Vec<TestReport>,
    flaky: Vec<TestReport>,
    spec_problems: Vec<SpecProblem>,
    passes: Passes,
}

impl Tests {
    /// A spec: its failed and flaky tests from its instance, or, without the instance, a spec
    /// problem; a spec that needs no details counts as passed whole when nothing was skipped.
    fn add_spec(
        &mut self,
        run: &Run,
        spec: &Spec,
        instances: &HashMap<InstanceId, Instance>,
        unavailable: &HashMap<InstanceId, String>,
    ) {
        if !spec.needs_details() {
            if spec
                .results
                .as_ref()
                .is_some_and(|r| r.stats.skipped == 0 && r.stats.pending == 0)
            {
                self.passes.whole_spec(&spec.spec);
            }
            return;
        }
        let spec_url = dashboard_url(&["run", run.run_id.as_str(), "i", spec.instance_id.as_str()]);
        let results = instances
            .get(&spec.instance_id)
            .and_then(|i| i.results.as_ref());
        let Some(results) = results else {
            let reason = unavailable
                .get(&spec.instance_id)
                .map_or("its test details were not available", String::as_str);
            let (failed, flaky) = spec
                .results
                .as_ref()
                .map_or((0, 0), |r| (r.stats.failures, r.stats.flaky.max(r.flaky)));
            self.problem(
                spec,
                format!("{failed} failed and {flaky} flaky test(s) without detail: {reason}"),
                spec_url,
            );
            return;
        };
        if let Some(exception) = non_empty(results.exception.as_deref()) {
            self.problem(
                spec,
                strip_ansi(exception).trim().to_owned(),
                spec_url.clone(),
            );
        }
        for test in &results.tests {
            if test.is_failed() {
                self.failures
                    .push(test_report(spec, results, test, &spec_url, true));
            } else if test.is_flaky() {
                self.flaky
                    .push(test_report(spec, results, test, &spec_url, false));
            }
            if test.final_state() == Some(&TestState::Passed) {
                self.passes.test(&spec.spec, &test.title);
            }
        }
    }

    fn problem(&mut self, spec: &Spec, message: String, spec_url: String) {
        self.spec_problems.push(SpecProblem {
            spec: spec.spec.clone(),
            group_id: spec.group_id.clone(),
            message,
            spec_url,
        });
    }
}

fn group_summary(g: &Group) -> GroupSummary {
    GroupSummary {
        group_id: g.group_id.clone(),
        platform: g.platform.as_ref().map(platform).unwrap_or_default(),
        totals: counts(&g.tests),
        specs_complete: g.instances.as_ref().map_or(0, |i| i.complete),
        specs_overall: g.instances.as_ref().map_or(0, |i| i.overall),
    }
}

/// Totals over the groups, which carry the run's counters; over the specs when a response
/// has no groups.
fn totals(run: &Run) -> Totals {
    let mut totals = Totals::default();
    let all: Vec<&TestCounts> = if run.groups.is_empty() {
        run.specs
            .iter()
            .filter_map(|s| s.results.as_ref().map(|r| &r.stats))
            .collect()
    } else {
        run.groups.iter().map(|g| &g.tests).collect()
    };
    for c in all {
        let t = counts(c);
        totals.tests += t.tests;
        totals.passed += t.passed;
        totals.failed += t.failed;
        totals.flaky += t.flaky;
        totals.skipped += t.skipped;
        totals.pending += t.pending;
    }
    totals
}

fn counts(c: &TestCounts) -> Totals {
    Totals {
        tests: c.overall.max(c.tests),
        passed: c.passes,
        failed: c.failures,
        flaky: c.flaky,
        skipped: c.skipped,
        pending: c.pending,
    }
}

fn platform(p: &Platform) -> String {
    let os = [p.os_name.as_deref(), p.os_version.as_deref()];
    let browser = [p.browser_name.as_deref(), p.browser_version.as_deref()];
    let join = |parts: [Option<&str>; 2]| {
        parts
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    [join(browser), join(os)]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

fn framework(run: &Run) -> Option<String> {
    let fw = run.meta.framework.as_ref();
    let kind = fw
        .and_then(|f| f.kind.as_deref())
        .or(run.cypress_version.as_ref().map(|_| "cypress"))?;
    let name = match kind.to_ascii_lowercase().as_str() {
        "pw" | "playwright" => "Playwright",
        "cypress" | "cy" => "Cypress",
        "jest" => "Jest",
        "vitest" => "Vitest",
        "postman" => "Postman",
        _ => kind,
    };
    let version = fw
        .and_then(|f| f.version.as_deref())
        .or(run.cypress_version.as_deref());
    Some(match version {
        Some(v) if !v.is_empty() => format!("{name} {v}"),
        _ => name.to_owned(),
    })
}

fn test_report(
    spec: &Spec,
    results: &InstanceResults,
    test: &Test,
    spec_url: &str,
    failed: bool,
) -> TestReport {
    // The attempt whose error and media tell the story: the last failed one.
    let index = test
        .attempts
        .iter()
        .rposition(|a| a.state == TestState::Failed)
        .unwrap_or(test.attempts.len().saturating_sub(1));
    let attempt = test.attempts.get(index);
    let error = attempt.and_then(|a| a.error.as_ref());
    let mut error_report = error.map(error_report);
    if error_report.is_none() && failed {
        error_report = non_empty(test.display_error.as_deref()).map(|text| ErrorReport {
            message: head_of_stack(&strip_ansi(text)),
            failing_line: None,
            frame: None,
            stack: Some(strip_ansi(text)),
        });
    }
    TestReport {
        spec: spec.spec.clone(),
        group_id: spec.group_id.clone(),
        title: test.title.clone(),
        test_url: url::Url::parse(spec_url).map_or_else(
            |_| spec_url.to_owned(),
            |base| crate::http::endpoint(&base, &["test", &test.test_id]).to_string(),
        ),
        attempt: index + 1,
        attempts: test.attempts.len().max(1),
        error: error_report,
        media: media(&spec.instance_id, results, test, index, attempt),
        line: error.and_then(|e| line_in_spec(e, &spec.spec)),
        test_id: test.test_id.clone(),
        tags: test.tags.clone(),
        verdict: None,
        history: Default::default(),
    }
}

fn error_report(error: &TestError) -> ErrorReport {
    let stack = non_empty(error.stack.as_deref()).map(strip_ansi);
    let message = non_empty(error.message.as_deref()).map(strip_ansi);
    let name = non_empty(error.name.as_deref());
    let head = stack
        .as_deref()
        .map(head_of_stack)
        .filter(|h| !h.is_empty());
    let message = match (head, message) {
        // The stack's head repeats the message and adds "Expected/Received" lines.
        (Some(head), Some(msg)) if head.contains(msg.lines().next().unwrap_or_default()) => head,
        (_, Some(msg)) => match name {
            Some(name) if !msg.starts_with(name) => format!("{name}: {msg}"),
            _ => msg,
        },
        (Some(head), None) => head,
        (None, None) => name.unwrap_or("Error").to_owned(),
    };
    let frame = error
        .code_frame
        .as_ref()
        .and_then(|f| non_empty(f.frame.as_deref()))
        .map(strip_ansi);
    ErrorReport {
        failing_line: frame.as_deref().and_then(failing_line),
        message,
        frame,
        stack,
    }
}

/// The lines of a stack before its first `at …` frame.
fn head_of_stack(stack: &str) -> String {
    stack
        .lines()
        .take_while(|l| !l.trim_start().starts_with("at "))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

/// The code-frame line marked with `>`: `> 42 |   await expect(…)`.
fn failing_line(frame: &str) -> Option<String> {
    frame
        .lines()
        .find(|l| l.trim_start().starts_with('>'))
        .map(|l| l.trim().to_owned())
}

/// The code frame's line, when its file is the spec itself (not a helper or page object).
fn line_in_spec(error: &TestError, spec: &str) -> Option<u32> {
    let frame = error.code_frame.as_ref()?;
    let spec = spec.trim_start_matches("./");
    let points_into_spec = [
        &frame.file,
        &frame.relative_file,
        &frame.original_file,
        &frame.absolute_file,
    ]
    .into_iter()
    .flatten()
    .any(|file| {
        let file = file.trim_start_matches("./");
        file == spec || file.ends_with(&format!("/{spec}")) || spec.ends_with(&format!("/{file}"))
    });
    points_into_spec.then_some(frame.line?).filter(|&l| l > 0)
}

pub(super) fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_line_is_the_marked_one() {
        let frame = " 40 |   a();\n> 42 |   expect(x);\n    |   ^";
        assert_eq!(failing_line(frame).as_deref(), Some("> 42 |   expect(x);"));
        assert_eq!(failing_line("no marker"), None);
    }

    #[test]
    fn line_only_when_the_frame_points_into_the_spec() {
        let error = |file: &str| TestError {
            code_frame: Some(crate::currents::models::CodeFrame {
                line: Some(42),
                file: Some(file.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            line_in_spec(
                &error("/home/runner/work/w/w/tests/a.spec.ts"),
                "tests/a.spec.ts"
            ),
            Some(42)
        );
        assert_eq!(
            line_in_spec(
                &error("/home/runner/work/w/w/tests/pages/cart.ts"),
                "tests/a.spec.ts"
            ),
            None
        );
        assert_eq!(
            line_in_spec(&error("/x/other-tests/a.spec.ts"), "tests/a.spec.ts"),
            None
        );
    }

    #[test]
    fn stack_head_stops_at_frames() {
        assert_eq!(
            head_of_stack("Error: x\n\nExpected: 1\n    at foo (a.ts:1:1)\n    at bar"),
            "Error: x\n\nExpected: 1"
        );
    }
}
