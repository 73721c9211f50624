//! Markdown renderings of a [`Report`]: the check run's output and the job summary.
//!
//! Failures come first, each a self-contained block with its fences closed, added while they
//! fit the byte budget; the rest are counted in a note, and listed compactly in the check's
//! `text`. A final [`truncate_markdown`] guarantees the limit whatever the input.

use std::fmt::Write as _;

use super::text::{
    code_block, code_span, escape_markdown, link, truncate_bytes, truncate_markdown,
};
use super::verdicts::{self, Style};
use super::{Conclusion, Report, SpecProblem, TestReport};
use crate::github::MAX_CHECK_OUTPUT_BYTES;
use crate::github::runtime::MAX_JOB_SUMMARY_BYTES;

/// The most of one error shown in a summary: the message and its "Expected/Received" lines
/// fit; a 50 KB stack does not crowd out the other failures (it stays in the annotation).
const MAX_ERROR_BYTES: usize = 3_000;

/// The most failures in the job summary's verdict table (the blocks below show each).
const MAX_TABLE_ROWS: usize = 50;

/// The flaky list takes at most this much of a summary, so failures keep the room.
const MAX_FLAKY_BYTES: usize = 12_000;

/// What the check run shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutput {
    /// `2 failed, 1 flaky, 9 passed, 1 skipped`.
    pub title: String,
    pub summary: String,
    /// The full list of failed tests, when the summary had no room for all of them.
    pub text: Option<String>,
}

/// The check run's output.
pub fn check_output(report: &Report) -> CheckOutput {
    let (summary, shown) = render_body(report, MAX_CHECK_OUTPUT_BYTES, false);
    let text =
        (shown < report.failures.len()).then(|| all_failures(report, MAX_CHECK_OUTPUT_BYTES));
    CheckOutput {
        title: title(report),
        summary,
        text,
    }
}

/// What a check run shows while its Currents run is still in progress (App mode): the specs
/// complete so far and a link to follow the run.
pub fn in_progress_output(run: &crate::currents::Run) -> CheckOutput {
    let (done, all) = run.spec_progress();
    let url = crate::currents::run_url(&run.run_id);
    CheckOutput {
        title: format!("Running: {done} of {all} specs complete"),
        summary: format!(
            "The Currents run is in progress: {done} of {all} specs complete.\n\n{}",
            link("Follow it on the Currents dashboard", &url)
        ),
        text: None,
    }
}

/// What a check run shows once Currents no longer has its run (deleted, or past its
/// retention): it is completed as `neutral`, so that no required check waits for it forever.
pub fn gone_output(run_id: &crate::currents::RunId) -> CheckOutput {
    CheckOutput {
        title: "The Currents run no longer exists".to_owned(),
        summary: format!(
            "Currents no longer has run {}: it was deleted, or its data retention ended before the run was reported. This check is closed as neutral; re-run the workflow to test again.",
            escape_markdown(run_id.as_str())
        ),
        text: None,
    }
}

/// The job summary: a heading, the verdicts' table, then the same body, within `room` bytes (a step summary takes
/// at most [`MAX_JOB_SUMMARY_BYTES`]; earlier steps may have used some).
pub fn job_summary(report: &Report, check_url: Option<&str>, room: usize) -> String {
    let mut heading = format!(
        "## {} Currents: {}\n\n",
        icon(report.conclusion),
        title(report)
    );
    if let Some(url) = check_url {
        let _ = writeln!(heading, "{}\n", link("View the check run", url));
    }
    let room = room.min(MAX_JOB_SUMMARY_BYTES);
    let (body, _) = render_body(report, room.saturating_sub(heading.len()), true);
    truncate_bytes(&(heading + &body), room).to_owned()
}

/// The named check's summary when the report itself is in the job's check run (`both` mode):
/// the headline, with Currents' link, and where to find the rest.
pub fn pointer_summary(report: &Report, job_check_url: &str) -> String {
    format!(
        "**{} {}** · {}\n\nThe full report, with its annotations, is in {}.\n",
        icon(report.conclusion),
        title(report),
        run_link(report),
        link("the job's check run", job_check_url)
    )
}

/// The most fixed tests listed.
const MAX_FIXED_LISTED: usize = 50;

/// `[Run {id} on Currents](run URL)`.
pub(super) fn run_link(report: &Report) -> String {
    link(
        &format!(
            "Run {} on Currents",
            escape_markdown(report.run_id.as_str())
        ),
        &report.run_url,
    )
}

pub(super) fn title(report: &Report) -> String {
    let headline = report.totals.headline_with_new(report.new_failures());
    match report.conclusion {
        Conclusion::Cancelled => format!("Cancelled: {headline}"),
        Conclusion::TimedOut => format!("Timed out: {headline}"),
        _ => headline,
    }
}

pub(super) fn icon(conclusion: Conclusion) -> &'static str {
    match conclusion {
        Conclusion::Success => "✅",
        Conclusion::Failure => "❌",
        Conclusion::Cancelled => "🚫",
        Conclusion::TimedOut => "⏱️",
        Conclusion::Neutral => "ℹ️",
    }
}

/// The body within `limit` bytes, and how many failures it shows in full; with `table`, the
/// verdicts' table after the head.
fn render_body(report: &Report, limit: usize, table: bool) -> (String, usize) {
    let mut head = head(report);
    if table {
        head.push_str(&verdicts::table(report, MAX_TABLE_ROWS));
    }
    let tail = tail(report);
    let mut out = head;
    let mut shown = 0;

    if !report.failures.is_empty() {
        let _ = write!(out, "### ❌ Failed tests ({})\n\n", report.failures.len());
        // Room for the note about left-out failures.
        let note_room = 200;
        for failure in &report.failures {
            let block = failure_block(failure, verdict_label(report, failure));
            if out.len() + block.len() + tail.len() + note_room > limit {
                break;
            }
            out.push_str(&block);
            shown += 1;
        }
        let omitted = report.failures.len() - shown;
        if omitted > 0 {
            let _ = write!(
                out,
                "_{omitted} more failed test{} not shown here: see the full list below the summary, or {}._\n\n",
                if omitted == 1 { " is" } else { "s are" },
                link("the run on Currents", &report.run_url)
            );
        }
    }
    out.push_str(&tail);
    let note = format!(
        "_Report cut to fit GitHub's limit; see {}._",
        link("the run on Currents", &report.run_url)
    );
    (truncate_markdown(&out, limit, &note), shown)
}

fn head(report: &Report) -> String {
    let mut out = format!(
        "**{} {}** · {}\n\n",
        icon(report.conclusion),
        title(report),
        run_link(report)
    );
    let mut facts: Vec<String> = Vec::new();
    if let Some(framework) = &report.framework {
        facts.push(escape_markdown(framework));
    }
    if let Some(ms) = report.duration_ms.filter(|ms| *ms > 0.0) {
        let seconds = std::time::Duration::from_secs((ms / 1000.0).round() as u64);
        facts.push(format!("⏱ {}", humantime::format_duration(seconds)));
    }
    if let Some(branch) = report.branch.as_deref().filter(|b| !b.is_empty()) {
        facts.push(format!("branch {}", escape_markdown(branch)));
    }
    if let Some(sha) = report.commit_sha.as_deref().filter(|s| !s.is_empty()) {
        facts.push(format!(
            "commit {}",
            escape_markdown(truncate_bytes(sha, 7))
        ));
    }
    if !facts.is_empty() {
        out.push_str(&facts.join(" · "));
        out.push_str("\n\n");
    }
    out.push_str(&comparison_line(report));
    if let Some(note) = verdicts::not_looked_up(report) {
        out.push_str(&note);
    }
    if report.failures.is_empty() && report.spec_problems.is_empty() && report.totals.failed == 0 {
        out.push_str("No test failed.\n\n");
    }
    out
}

/// How the run compares with the base branch: the counts by verdict and the fixed tests.
pub(super) fn comparison_line(report: &Report) -> String {
    let Some(comparison) = &report.comparison else {
        return String::new();
    };
    let branch = code_span(&comparison.branch);
    let counts = verdicts::counts(report).unwrap_or_default();
    match &comparison.base {
        Some(base) => format!(
            "Compared with {} of {branch}: {counts}; {} fixed.\n\n",
            link(
                &format!("run {}", escape_markdown(base.run_id.as_str())),
                &base.run_url
            ),
            base.fixed.len()
        ),
        None if report.triage.as_ref().is_some_and(|t| t.days.is_some()) => {
            format!(
                "No completed Currents run of {branch} to compare with; from its history: {counts}.\n\n"
            )
        }
        None => format!("No completed Currents run of {branch} to compare with.\n\n"),
    }
}

/// `**🆕 New**: last passed on `main` …`, for a triaged failure.
fn verdict_label(report: &Report, test: &TestReport) -> Option<String> {
    let verdict = test.verdict?;
    let history = verdicts::history(report, test, Style::Markdown).unwrap_or_default();
    Some(format!("**{}**: {history}", verdicts::badge(verdict)))
}

fn failure_block(test: &TestReport, verdict: Option<String>) -> String {
    let mut out = format!(
        "#### {} › {}\n\n",
        escape_markdown(&test.spec),
        escape_markdown(&test.title_path())
    );
    if let Some(verdict) = verdict {
        out.push_str(&verdict);
        out.push_str("\n\n");
    }
    if let Some(error) = &test.error {
        let mut shown = truncate_bytes(&error.message, MAX_ERROR_BYTES).to_owned();
        if shown.len() < error.message.len() {
            shown.push_str("\n…");
        }
        if let Some(line) = &error.failing_line {
            shown.push_str("\n\n");
            shown.push_str(truncate_bytes(line, 500));
        }
        out.push_str(&code_block(&shown));
        out.push('\n');
    }
    out.push_str(&links_line(test, true));
    out.push_str("\n\n");
    out
}

fn links_line(test: &TestReport, with_attempt: bool) -> String {
    let mut parts = vec![link("Open in Currents", &test.test_url)];
    if with_attempt && test.attempts > 1 {
        parts.push(format!("attempt {} of {}", test.attempt, test.attempts));
    }
    parts.extend(
        test.media
            .iter()
            .map(|m| link(&escape_markdown(&m.label), &m.url)),
    );
    parts.join(" · ")
}

pub(super) fn spec_problem_line(problem: &SpecProblem) -> String {
    format!(
        "- **{}**: {} · {}\n",
        escape_markdown(&problem.spec),
        escape_markdown(truncate_bytes(&problem.message, 1_000)),
        link("Open in Currents", &problem.spec_url)
    )
}

/// Fixed tests, what passed on re-run, spec errors, flaky tests, the per-group table and the
/// media note.
fn tail(report: &Report) -> String {
    [
        fixed_section(report),
        verdicts::rerun_section(report, MAX_FIXED_LISTED),
        spec_errors_section(report),
        flaky_section(report),
        groups_table(report),
        media_note(report),
    ]
    .concat()
}

/// Base failures that pass here.
fn fixed_section(report: &Report) -> String {
    let mut out = String::new();
    let Some(comparison) = &report.comparison else {
        return out;
    };
    let Some(base) = comparison.base.as_ref().filter(|b| !b.fixed.is_empty()) else {
        return out;
    };
    let branch = code_span(&comparison.branch);
    let _ = write!(
        out,
        "### ✅ Fixed ({}): failing on {branch}, passing here\n\n",
        base.fixed.len(),
    );
    for test in base.fixed.iter().take(MAX_FIXED_LISTED) {
        let _ = writeln!(
            out,
            "- {} › {} · {}",
            escape_markdown(&test.spec),
            escape_markdown(&test.title_path),
            link(&format!("on {branch}"), &test.test_url)
        );
    }
    if base.fixed.len() > MAX_FIXED_LISTED {
        let _ = writeln!(
            out,
            "- _and {} more, see {}_",
            base.fixed.len() - MAX_FIXED_LISTED,
            link("the base run", &base.run_url)
        );
    }
    out.push('\n');
    out
}

fn spec_errors_section(report: &Report) -> String {
    if report.spec_problems.is_empty() {
        return String::new();
    }
    let mut out = format!("### ⚠️ Spec errors ({})\n\n", report.spec_problems.len());
    for problem in &report.spec_problems {
        out.push_str(&spec_problem_line(problem));
    }
    out.push('\n');
    out
}

/// Tests that passed after a failed attempt, within [`MAX_FLAKY_BYTES`].
fn flaky_section(report: &Report) -> String {
    if report.flaky.is_empty() {
        return String::new();
    }
    let mut out = format!("### 🔁 Flaky tests ({})\n\n", report.flaky.len());
    let start = out.len();
    for (n, test) in report.flaky.iter().enumerate() {
        let rate = verdicts::flaky_rate(report, test)
            .map(|r| format!(" · {r}"))
            .unwrap_or_default();
        let line = format!(
            "- {} › {} · passed after attempt {} failed{rate} · {}\n",
            escape_markdown(&test.spec),
            escape_markdown(&test.title_path()),
            test.attempt,
            links_line(test, false)
        );
        if out.len() - start + line.len() > MAX_FLAKY_BYTES {
            let _ = writeln!(
                out,
                "- _and {} more, see {}_",
                report.flaky.len() - n,
                link("the run on Currents", &report.run_url)
            );
            break;
        }
        out.push_str(&line);
    }
    out.push('\n');
    out
}

fn groups_table(report: &Report) -> String {
    if report.groups.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "### Results by group\n\n| Group | Platform | Passed | Failed | Flaky | Skipped | Pending | Specs |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for g in &report.groups {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {}/{} |",
            escape_markdown(&g.group_id),
            escape_markdown(&g.platform),
            g.totals.passed,
            g.totals.failed,
            g.totals.flaky,
            g.totals.skipped,
            g.totals.pending,
            g.specs_complete,
            g.specs_overall
        );
    }
    out.push('\n');
    out
}

/// How long the media links last.
fn media_note(report: &Report) -> String {
    let has_media = report
        .failures
        .iter()
        .chain(&report.flaky)
        .any(|t| !t.media.is_empty());
    if !has_media {
        String::new()
    } else if report.media_via_relay {
        "<sub>Screenshot, video, trace and attachment links open through the relay, which has Currents sign them afresh: they work as long as Currents keeps the media.</sub>\n".to_owned()
    } else {
        format!(
            "<sub>Screenshot, video, trace and attachment links are signed by Currents and expire 2 h after this report fetched the run ({}). The Currents links do not expire.</sub>\n",
            humantime::format_rfc3339_seconds(report.fetched_at)
        )
    }
}

/// Every failed test on one line each, for the check's `text`.
fn all_failures(report: &Report, limit: usize) -> String {
    let mut out = format!("### All failed tests ({})\n\n", report.failures.len());
    for (n, test) in report.failures.iter().enumerate() {
        let mark = test
            .verdict
            .map(|v| format!("{} · ", verdicts::badge(v)))
            .unwrap_or_default();
        let line = format!(
            "- {mark}{} › {} · {}\n",
            escape_markdown(&test.spec),
            escape_markdown(&test.title_path()),
            link("Open in Currents", &test.test_url)
        );
        if out.len() + line.len() + 200 > limit {
            let _ = writeln!(
                out,
                "\n_{} more failed tests are not listed: see {}._",
                report.failures.len() - n,
                link("the run on Currents", &report.run_url)
            );
            break;
        }
        out.push_str(&line);
    }
    out
}
