//! Per-test check-run annotations, within GitHub's limits: a title of at most 255 characters,
//! a message and raw details of at most 64 KB each, and no characters above U+FFFF.

use super::text::{restrict_unicode, truncate_bytes, truncate_chars};
use super::verdicts::{self, Style};
use super::{Report, TestReport};
use crate::github::{
    Annotation, AnnotationLevel, MAX_ANNOTATION_MESSAGE_BYTES as MAX_MESSAGE_BYTES,
    MAX_ANNOTATION_TITLE_CHARS as MAX_TITLE_CHARS,
};

/// The most annotations one report sends: 20 requests of 50. More would not be read, and
/// GitHub's secondary rate limit allows about 80 content-creating requests a minute.
pub const MAX_ANNOTATIONS: usize = 1_000;

/// Failures (level `failure`), then spec errors (`failure`, line 1), then flaky tests
/// (`warning`), at most [`MAX_ANNOTATIONS`]. `path_prefix` makes spec paths
/// repository-relative (`--path-prefix`).
pub fn annotations(report: &Report, path_prefix: &str) -> Vec<Annotation> {
    let failures = report.failures.iter().map(|t| {
        let message = t
            .error
            .as_ref()
            .map_or_else(|| "Test failed".to_owned(), |e| e.message.clone());
        let title = match t.verdict {
            Some(verdict) => format!("{}: {}", verdicts::word(verdict), t.title_path()),
            None => t.title_path(),
        };
        // The verdict's history leads the message: "Failing on main since …".
        let message = match verdicts::history(report, t, Style::Plain) {
            Some(history) => format!("{}\n\n{message}", capitalized(&history)),
            None => message,
        };
        test_annotation(
            report.media_via_relay,
            t,
            path_prefix,
            AnnotationLevel::Failure,
            &title,
            &message,
        )
    });
    let problems = report.spec_problems.iter().map(|p| {
        annotation(
            join_path(path_prefix, &p.spec),
            1,
            AnnotationLevel::Failure,
            &format!("{} failed", p.spec),
            &p.message,
            Some(format!("Currents: {}", p.spec_url)),
        )
    });
    let flaky = report.flaky.iter().map(|t| {
        let cause = t
            .error
            .as_ref()
            .map_or(String::new(), |e| format!(":\n{}", e.message));
        let message = format!(
            "Flaky: passed after attempt {} of {} failed{cause}",
            t.attempt, t.attempts
        );
        test_annotation(
            report.media_via_relay,
            t,
            path_prefix,
            AnnotationLevel::Warning,
            &format!("Flaky: {}", t.title_path()),
            &message,
        )
    });
    failures
        .chain(problems)
        .chain(flaky)
        .take(MAX_ANNOTATIONS)
        .collect()
}

fn test_annotation(
    via_relay: bool,
    test: &TestReport,
    prefix: &str,
    level: AnnotationLevel,
    title: &str,
    message: &str,
) -> Annotation {
    let mut details = Vec::new();
    if let Some(error) = &test.error {
        details.extend(error.frame.clone());
        details.extend(error.stack.clone());
    }
    let mut links = vec![format!("Currents: {}", test.test_url)];
    links.extend(test.media.iter().map(|m| {
        if m.source.is_some() && via_relay {
            format!("{}: {}", m.label, m.url)
        } else {
            format!("{} (expires 2 h after the report): {}", m.label, m.url)
        }
    }));
    details.push(links.join("\n"));
    annotation(
        join_path(prefix, &test.spec),
        test.line.unwrap_or(1),
        level,
        title,
        message,
        Some(details.join("\n\n")),
    )
}

fn annotation(
    path: String,
    line: u32,
    level: AnnotationLevel,
    title: &str,
    message: &str,
    raw_details: Option<String>,
) -> Annotation {
    let clean = |text: &str, max: usize| truncate_bytes(&restrict_unicode(text), max).to_owned();
    // GitHub counts lines from 1; a line of 0 fails the whole request.
    let line = line.max(1);
    // A title is one line and a path is a path: control characters have no place in either.
    let one_line = |text: &str| text.replace(char::is_control, " ");
    Annotation {
        path: restrict_unicode(&path.replace(char::is_control, "")),
        start_line: line,
        end_line: line,
        annotation_level: level,
        title: truncate_chars(&restrict_unicode(&one_line(title)), MAX_TITLE_CHARS),
        message: clean(
            if message.trim().is_empty() {
                "Test failed"
            } else {
                message
            },
            MAX_MESSAGE_BYTES,
        ),
        raw_details: raw_details.map(|d| clean(&d, MAX_MESSAGE_BYTES)),
    }
}

/// `prefix` + `spec`, with `./` and leading `/` removed: GitHub shows an annotation in the diff
/// only for a repository-relative path.
fn join_path(prefix: &str, spec: &str) -> String {
    let clean = |p: &str| {
        p.trim_start_matches("./")
            .trim_start_matches('/')
            .to_owned()
    };
    let prefix = clean(prefix);
    let spec = clean(spec);
    if prefix.is_empty() {
        spec
    } else {
        format!("{}/{spec}", prefix.trim_end_matches('/'))
    }
}

/// `text` with its first letter upper-case.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_repository_relative() {
        assert_eq!(join_path("", "tests/a.spec.ts"), "tests/a.spec.ts");
        assert_eq!(join_path("e2e", "tests/a.spec.ts"), "e2e/tests/a.spec.ts");
        assert_eq!(
            join_path("./e2e/", "./tests/a.spec.ts"),
            "e2e/tests/a.spec.ts"
        );
        assert_eq!(join_path("/", "/abs.ts"), "abs.ts");
    }

    #[test]
    fn fields_respect_github_limits() {
        let title = "🎉".repeat(300);
        let message = "é".repeat(40_000);
        let a = annotation(
            "p".into(),
            1,
            AnnotationLevel::Failure,
            &title,
            &message,
            Some("😀".repeat(30_000)),
        );
        assert!(a.title.chars().count() <= MAX_TITLE_CHARS);
        assert!(a.message.len() <= MAX_MESSAGE_BYTES);
        let details = a.raw_details.unwrap();
        assert!(details.len() <= MAX_MESSAGE_BYTES);
        for field in [&a.title, &a.message, &details] {
            assert!(field.chars().all(|c| (c as u32) <= 0xFFFF));
        }
    }
}
