//! The sticky pull request comment: short, failures first, with links to the rest.

use std::fmt::Write as _;

use super::markdown::{icon, run_link, spec_problem_line, title};
use super::text::{code_span, escape_markdown, link, truncate_bytes, truncate_markdown};
use super::{Novelty, Report, TestReport};

/// Failures a pull request comment shows; the check has the rest.
const MAX_COMMENT_FAILURES: usize = 20;
/// The most of one error a comment shows: its first line or two.
const MAX_COMMENT_ERROR_CHARS: usize = 300;
/// GitHub's limit for a comment (65,536 characters), in bytes, which is never more.
const MAX_COMMENT_BYTES: usize = 65_536;

/// The sticky pull request comment: `marker` (an HTML comment that finds it again) first, then
/// the headline, the comparison, up to 20 failures (new ones first) with their error heads, the
/// fixed tests' count, and links to the check run and the Currents run.
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
    for test in report.failures.iter().take(MAX_COMMENT_FAILURES) {
        out.push_str(&failure_line(report, test));
    }
    if report.failures.len() > MAX_COMMENT_FAILURES {
        let _ = writeln!(
            out,
            "- _and {} more in the check run_",
            report.failures.len() - MAX_COMMENT_FAILURES
        );
    }
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

/// How the run compares with the base branch's, when it was compared.
fn comparison_line(report: &Report) -> String {
    let mut out = String::new();
    if let Some(comparison) = &report.comparison {
        let branch = code_span(&comparison.branch);
        match &comparison.base {
            Some(base) => {
                let new = report.new_failures().unwrap_or(0);
                let _ = write!(
                    out,
                    "Against {}: **{new} new**, {} also failing there, {} fixed.\n\n",
                    link(&branch, &base.run_url),
                    report.failures.len() - new,
                    base.fixed.len()
                );
            }
            None => {
                let _ = write!(out, "No completed run of {branch} to compare with.\n\n");
            }
        }
    }
    out
}

/// One failure: new or not, its spec and title, the head of its error, its Currents link.
fn failure_line(report: &Report, test: &TestReport) -> String {
    let mark = match report.novelty(test) {
        Some(Novelty::New) => "🆕 ",
        _ => "",
    };
    let error = test
        .error
        .as_ref()
        .map(|e| {
            let head: String = e
                .message
                .lines()
                .filter(|l| !l.trim().is_empty())
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            let head: String = head.chars().take(MAX_COMMENT_ERROR_CHARS).collect();
            format!(": {}", code_span(&head))
        })
        .unwrap_or_default();
    format!(
        "- {mark}**{} › {}**{error} · {}\n",
        escape_markdown(&test.spec),
        escape_markdown(&test.title_path()),
        link("Currents", &test.test_url)
    )
}
