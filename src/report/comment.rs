//! The sticky pull request comment: short, failures first, with links to the rest.

use std::fmt::Write as _;

use super::markdown::{comparison_line, icon, run_link, spec_problem_line, title};
use super::text::{code_span, escape_markdown, link, truncate_bytes, truncate_markdown};
use super::{Report, TestReport, verdicts};

/// Failures a pull request comment shows; the check has the rest.
const MAX_COMMENT_FAILURES: usize = 20;
/// The most of one error a comment shows: its first line or two.
const MAX_COMMENT_ERROR_CHARS: usize = 300;
/// GitHub's limit for a comment (65,536 characters), in bytes, which is never more.
const MAX_COMMENT_BYTES: usize = 65_536;

/// The sticky pull request comment: `marker` (an HTML comment that finds it again) first, then
/// the headline, links to the check run and the Currents run, the comparison, and up to 20
/// failures: as a table of verdicts when they were triaged (new ones first), else with their
/// error heads; then what passed on re-run.
pub fn pr_comment(report: &Report, marker: &str, check_url: Option<&str>) -> String {
    let mut out = format!("{marker}\n");
    let _ = write!(
        out,
        "### {} Currents: {}\n\n",
        icon(report.conclusion),
        title(report)
    );
    out.push_str(&links(report, check_url));
    out.push_str(&comparison_line(report));
    if report.failures.is_empty() && report.spec_problems.is_empty() {
        out.push_str(if report.totals.failed == 0 {
            "No test failed.\n"
        } else {
            "The failed tests have no detail; see the check run.\n"
        });
    }
    if report.triage.is_some() {
        out.push_str(&verdicts::table(report, MAX_COMMENT_FAILURES));
    } else {
        for test in report.failures.iter().take(MAX_COMMENT_FAILURES) {
            out.push_str(&failure_line(test));
        }
        if report.failures.len() > MAX_COMMENT_FAILURES {
            let _ = writeln!(
                out,
                "- _and {} more in the check run_",
                report.failures.len() - MAX_COMMENT_FAILURES
            );
        }
    }
    if let Some(note) = verdicts::not_looked_up(report) {
        out.push_str(&note);
    }
    out.push_str(&verdicts::rerun_section(report, MAX_COMMENT_FAILURES));
    for problem in report.spec_problems.iter().take(5) {
        out.push_str(&spec_problem_line(problem));
    }
    let note = format!(
        "_Comment cut to fit GitHub's limit; see {}._",
        link("the run on Currents", &report.run_url)
    );
    truncate_markdown(&out, MAX_COMMENT_BYTES - 1, &note)
}

/// The check run, the Currents run and the commit.
fn links(report: &Report, check_url: Option<&str>) -> String {
    let mut links = vec![run_link(report)];
    if let Some(url) = check_url {
        links.insert(0, link("The check run", url));
    }
    if let Some(sha) = report.commit_sha.as_deref().filter(|s| !s.is_empty()) {
        links.push(format!(
            "commit {}",
            escape_markdown(truncate_bytes(sha, 7))
        ));
    }
    format!("{}\n\n", links.join(" · "))
}

/// One failure (untriaged): its spec and title, the head of its error, its Currents link.
fn failure_line(test: &TestReport) -> String {
    let error = test
        .error
        .as_ref()
        .map(|e| {
            format!(
                ": {}",
                code_span(&verdicts::error_head(&e.message, MAX_COMMENT_ERROR_CHARS))
            )
        })
        .unwrap_or_default();
    format!(
        "- **{} › {}**{error} · {}\n",
        escape_markdown(&test.spec),
        escape_markdown(&test.title_path()),
        link("Currents", &test.test_url)
    )
}
