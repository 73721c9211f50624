//! What the buttons of App mode's checks did, said where reviewers look: a block at the top of
//! the check's summary and under the first line of the pull request comment, rewritten whole
//! each time (between two hidden markers), so that it is the same however often it is shown.
//! Logins are written so that they notify no one, and every reason is escaped.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::text::{code_span, escape_markdown, truncate_bytes, truncate_chars, truncate_markdown};

const OPEN: &str = "<!-- currents-bridge:taken -->";
const CLOSE: &str = "<!-- /currents-bridge:taken -->";

/// One thing a button did, or why it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub what: TakenWhat,
    /// The login of who clicked.
    pub by: String,
    pub at: SystemTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakenWhat {
    /// A Currents Action quarantines `tests` tests for `days` days.
    Quarantined {
        tests: usize,
        days: u64,
        rule: String,
    },
    /// That Action was disabled.
    Unquarantined { rule: String },
    /// The failed jobs run again, as attempt `attempt`.
    Rerun { attempt: String },
    /// The one who clicked `button` may not.
    Refused { button: &'static str, why: String },
    /// GitHub or Currents refused what `button` asked.
    Failed { button: &'static str, why: String },
}

/// `2026-12-04 10:02 UTC`.
fn minute(at: SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(at).to_string();
    format!("{} {} UTC", &text[..10], &text[11..16])
}

fn line(taken: &Taken) -> String {
    let by = escape_markdown(&format!("@{}", truncate_chars(&taken.by, 60)));
    let at = minute(taken.at);
    let why = |why: &str| escape_markdown(&truncate_chars(why, 300));
    match &taken.what {
        TakenWhat::Quarantined { tests, days, rule } => format!(
            "🛡️ Quarantined {tests} test{} for {days} day{} by {by}, {at} · rule {} on Currents",
            if *tests == 1 { "" } else { "s" },
            if *days == 1 { "" } else { "s" },
            code_span(truncate_bytes(rule, 64))
        ),
        TakenWhat::Unquarantined { rule } => format!(
            "↩️ Quarantine undone by {by}, {at} · rule {} disabled on Currents",
            code_span(truncate_bytes(rule, 64))
        ),
        TakenWhat::Rerun { attempt } => format!(
            "🔁 Re-ran the failed jobs by {by}, {at}: {}",
            escape_markdown(&truncate_chars(attempt, 40))
        ),
        TakenWhat::Refused {
            button,
            why: reason,
        } => {
            format!("⛔ {button} refused for {by}, {at}: {}", why(reason))
        }
        TakenWhat::Failed {
            button,
            why: reason,
        } => {
            format!("⚠️ {button} by {by} failed, {at}: {}", why(reason))
        }
    }
}

/// The block for `taken`, oldest first; empty when nothing was taken.
pub fn taken_block(taken: &[Taken]) -> String {
    if taken.is_empty() {
        return String::new();
    }
    let mut out = format!("{OPEN}\n**From this check**\n\n");
    for t in taken {
        let _ = writeln!(out, "- {}", line(t));
    }
    let _ = write!(out, "\n{CLOSE}\n\n");
    out
}

/// `markdown` with its block replaced by `block`: at the top, or after the first line (a
/// comment's marker) when `after_first_line`; cut to `limit` bytes, the block kept whole.
pub fn with_taken(markdown: &str, block: &str, after_first_line: bool, limit: usize) -> String {
    let without = match (markdown.find(OPEN), markdown.find(CLOSE)) {
        (Some(start), Some(end)) if end > start => {
            let rest = markdown[end + CLOSE.len()..].trim_start_matches('\n');
            format!("{}{rest}", &markdown[..start])
        }
        _ => markdown.to_owned(),
    };
    let (head, body) = match without.split_once('\n') {
        Some((first, rest)) if after_first_line => (format!("{first}\n"), rest.to_owned()),
        _ => (String::new(), without),
    };
    let room = limit.saturating_sub(head.len() + block.len());
    let body = truncate_markdown(&body, room, "_Cut to fit GitHub's limit._");
    format!("{head}{block}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> SystemTime {
        humantime::parse_rfc3339("2026-12-04T10:02:33Z").unwrap()
    }

    #[test]
    fn blocks_replace_each_other_and_keep_the_first_line() {
        let taken = |what| Taken {
            what,
            by: "alice".into(),
            at: at(),
        };
        let one = taken_block(&[taken(TakenWhat::Rerun {
            attempt: "attempt 2".into(),
        })]);
        assert!(
            one.contains(
                "🔁 Re-ran the failed jobs by @\u{200d}alice, 2026-12-04 10:02 UTC: attempt 2"
            ),
            "{one}"
        );
        let comment = "<!-- marker -->\n### Currents\n\nbody\n";
        let first = with_taken(comment, &one, true, 65_536);
        assert!(
            first.starts_with("<!-- marker -->\n<!-- currents-bridge:taken -->"),
            "{first}"
        );
        let two = taken_block(&[
            taken(TakenWhat::Quarantined {
                tests: 3,
                days: 7,
                rule: "66b2".into(),
            }),
            taken(TakenWhat::Refused {
                button: "Quarantine flaky",
                why: "needs write access; has read".into(),
            }),
        ]);
        let second = with_taken(&first, &two, true, 65_536);
        assert_eq!(second.matches(OPEN).count(), 1, "{second}");
        assert!(second.contains("Quarantined 3 tests for 7 days"));
        assert!(!second.contains("Re-ran"));
        assert!(second.ends_with("### Currents\n\nbody\n"), "{second}");
        // A summary: the block on top; a full one is cut below it.
        let summary = "x".repeat(100);
        let cut = with_taken(&summary, &two, false, 200 + two.len());
        assert!(cut.starts_with("<!-- currents-bridge:taken -->") && cut.len() <= 200 + two.len());
    }

    #[test]
    fn reasons_and_logins_cannot_mention_or_link() {
        let block = taken_block(&[Taken {
            what: TakenWhat::Failed {
                button: "Quarantine flaky",
                why: "@team see https://evil.example [x](javascript:1) <img>".into(),
            },
            by: "mallory".into(),
            at: at(),
        }]);
        assert!(
            !block.contains("@team") && !block.contains("@mallory"),
            "{block}"
        );
        assert!(
            !block.contains("https://evil") && !block.contains("<img>"),
            "{block}"
        );
    }
}
