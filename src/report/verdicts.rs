//! How verdicts read, written once for every rendering: the badge, the line of history behind
//! each, the compact table of the job summary and the comment, and the plain text of the
//! annotations. Currents' strings (branch, rule names, authors, dates) are escaped here like
//! titles are.

use std::fmt::Write as _;

use super::text::{code_span, escape_markdown, link, table_cell, truncate_chars};
use super::{Evidence, Report, TestReport, Verdict};

/// The badge of a verdict in Markdown.
pub(super) fn badge(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::New => "🆕 New",
        Verdict::Known => "📌 Known",
        Verdict::Flaky => "🎲 Flaky",
        Verdict::Quarantined => "🛡️ Quarantined",
    }
}

/// The word of a verdict in plain text (annotations take nothing above U+FFFF).
pub(super) fn word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::New => "New",
        Verdict::Known => "Known",
        Verdict::Flaky => "Flaky",
        Verdict::Quarantined => "Quarantined",
    }
}

/// Markdown or plain text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    Markdown,
    Plain,
}

impl Style {
    /// Untrusted text: escaped in Markdown, as is in plain text.
    fn text(self, s: &str) -> String {
        let s = truncate_chars(s, 200);
        match self {
            Self::Markdown => escape_markdown(&s),
            Self::Plain => s,
        }
    }

    /// A branch name: a code span in Markdown.
    fn branch(self, s: &str) -> String {
        let s = truncate_chars(s, 200);
        match self {
            Self::Markdown => code_span(&s),
            Self::Plain => s,
        }
    }
}

/// `2026-08-20` of an ISO 8601 time (the whole text when it is not one).
fn date(at: &str) -> &str {
    at.get(..10).filter(|d| d.len() == 10).unwrap_or(at)
}

/// The line behind a failure's verdict: "last passed on `main` 2026-08-19 (8a7b6c5)",
/// "failing on `main` since 2026-08-18 (3 runs)", "flaky on `main`: 12% of 41 runs (30 d)",
/// "quarantined by rule … until …". `None` for a test that was not triaged.
pub(super) fn history(report: &Report, test: &TestReport, style: Style) -> Option<String> {
    let triage = report.triage.as_ref()?;
    let verdict = test.verdict?;
    let branch = style.branch(&triage.branch);
    let e = &test.history;
    Some(match verdict {
        Verdict::Quarantined => rule_line(e, style),
        Verdict::Known => match &e.failing_since {
            Some(streak) => format!(
                "failing on {branch} since {} ({}{} run{})",
                style.text(date(&streak.since)),
                streak.runs,
                if streak.at_least { "+" } else { "" },
                if streak.runs == 1 { "" } else { "s" }
            ),
            None => format!("failing in the latest run of {branch}"),
        },
        Verdict::Flaky => flaky_line(e, &branch, triage.days)?,
        Verdict::New => match &e.last_passed {
            Some(seen) => {
                let commit = seen
                    .commit
                    .as_deref()
                    .map(|c| format!(" ({})", style.text(&c.chars().take(7).collect::<String>())))
                    .unwrap_or_default();
                format!(
                    "last passed on {branch} {}{commit}",
                    style.text(date(&seen.at))
                )
            }
            None => match (e.results_read, triage.days) {
                (Some(0), Some(days)) => format!("no result on {branch} in {days} days"),
                _ => format!("not failing on {branch}"),
            },
        },
    })
}

fn rule_line(e: &Evidence, style: Style) -> String {
    let Some(rule) = &e.rule else {
        return "quarantined".to_owned();
    };
    let mut line = format!("quarantined by rule {}", style.text(&rule.name));
    if let Some(by) = &rule.by {
        let _ = write!(line, " (by {})", style.text(by));
    }
    match &rule.until {
        Some(until) => {
            let _ = write!(line, " until {}", style.text(date(until)));
        }
        None => line.push_str(", no expiry"),
    }
    line
}

fn flaky_line(e: &Evidence, branch: &str, days: Option<u32>) -> Option<String> {
    let f = e.flakiness.as_ref()?;
    let days = days.map(|d| format!(" ({d} d)")).unwrap_or_default();
    Some(format!(
        "flaky on {branch}: {:.0}% of {} run{}{days}",
        f.rate * 100.0,
        f.runs,
        if f.runs == 1 { "" } else { "s" }
    ))
}

/// A flaky test's rate on the base branch, for the flaky list: "flaky on `main`: …".
pub(super) fn flaky_rate(report: &Report, test: &TestReport) -> Option<String> {
    let triage = report.triage.as_ref()?;
    flaky_line(
        &test.history,
        &Style::Markdown.branch(&triage.branch),
        triage.days,
    )
}

/// The counts by verdict: "**1 new**, 1 known, 1 flaky, 0 quarantined".
pub(super) fn counts(report: &Report) -> Option<String> {
    report.triage.as_ref()?;
    let parts: Vec<String> = Verdict::ALL
        .into_iter()
        .map(|v| {
            let n = report.with_verdict(v).unwrap_or(0);
            if v == Verdict::New {
                format!("**{n} new**")
            } else {
                format!("{n} {}", v.as_str())
            }
        })
        .collect();
    Some(parts.join(", "))
}

/// The compact table of the job summary and the comment: verdict, test, history, link; the
/// first `max` failures.
pub(super) fn table(report: &Report, max: usize) -> String {
    if report.triage.is_none() || report.failures.is_empty() {
        return String::new();
    }
    let mut out = String::from("| Verdict | Test | History | |\n| --- | --- | --- | --- |\n");
    for test in report.failures.iter().take(max) {
        let verdict = test.verdict.map_or("", badge);
        let error = test
            .error
            .as_ref()
            .map(|e| format!(" · {}", code_span(&error_head(&e.message, 120))))
            .unwrap_or_default();
        let title = format!(
            "**{} › {}**{error}",
            escape_markdown(&test.spec),
            escape_markdown(&test.title_path())
        );
        let history = history(report, test, Style::Markdown).unwrap_or_default();
        let _ = writeln!(
            out,
            "| {verdict} | {} | {} | {} |",
            table_cell(&title),
            table_cell(&history),
            table_cell(&link("Currents", &test.test_url))
        );
    }
    if report.failures.len() > max {
        let _ = writeln!(
            out,
            "| | _and {} more in the check run_ | | |",
            report.failures.len() - max
        );
    }
    out.push('\n');
    out
}

/// The first lines of an error, on one line, at most `max` characters.
pub(super) fn error_head(message: &str, max: usize) -> String {
    let head = message
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    head.chars().take(max).collect()
}

/// What triage could not do, for the reader: how many failed tests were not looked up.
pub(super) fn not_looked_up(report: &Report) -> Option<String> {
    let n = report.triage.as_ref()?.not_looked_up;
    (n > 0).then(|| {
        format!(
            "_{n} more failed test{} {} not looked up in the history: it is read for the first {} by rank._\n\n",
            if n == 1 { "" } else { "s" },
            if n == 1 { "was" } else { "were" },
            crate::currents::MAX_HISTORY_LOOKUPS
        )
    })
}

/// The previous attempt's failures that pass now: "passed on re-run: likely flaky".
pub(super) fn rerun_section(report: &Report, max: usize) -> String {
    let Some(rerun) = report.rerun.as_ref() else {
        return String::new();
    };
    let check = rerun
        .previous_check
        .as_deref()
        .map(|url| format!(" · {}", link("its check", url)))
        .unwrap_or_default();
    let previous = link(
        &format!(
            "the previous attempt (run {})",
            escape_markdown(rerun.run_id.as_str())
        ),
        &rerun.run_url,
    );
    if rerun.passed_now.is_empty() {
        return if check.is_empty() {
            String::new()
        } else {
            format!("🔁 A re-run of {previous}{check}.\n\n")
        };
    }
    let mut out = format!(
        "### 🔁 Passed on re-run ({}): likely flaky\n\nFailed in {previous}{check}, passed in this attempt.\n\n",
        rerun.passed_now.len(),
    );
    for test in rerun.passed_now.iter().take(max) {
        let _ = writeln!(
            out,
            "- {} › {} · {}",
            escape_markdown(&test.spec),
            escape_markdown(&test.title_path),
            link("failed there", &test.test_url)
        );
    }
    if rerun.passed_now.len() > max {
        let _ = writeln!(out, "- _and {} more_", rerun.passed_now.len() - max);
    }
    out.push('\n');
    out
}
