//! The GitHub Actions runtime: step outputs (`GITHUB_OUTPUT`), the job summary
//! (`GITHUB_STEP_SUMMARY`) and workflow commands on stdout (`::warning::`, `::group::`, …).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// GitHub's limit for one step's `$GITHUB_STEP_SUMMARY` (the runner skips a larger upload).
pub const MAX_JOB_SUMMARY_BYTES: usize = 1024 * 1024;

/// The runtime files of this step; `None` outside Actions (a shell), where writes are skipped.
#[derive(Debug, Clone, Default)]
pub struct Runtime {
    pub output_file: Option<PathBuf>,
    pub summary_file: Option<PathBuf>,
    /// `GITHUB_ACTIONS=true`: the runner reads stdout for workflow commands.
    pub in_actions: bool,
}

impl Runtime {
    /// The same step, writing no files (a dry run).
    pub fn without_files(&self) -> Self {
        Self {
            in_actions: self.in_actions,
            ..Self::default()
        }
    }

    /// Untrusted text for stdout: inside Actions fenced ([`verbatim`]), so that none of it
    /// runs as a workflow command; in a terminal as it is, without a fence to read past.
    pub fn show(&self, text: &str) -> String {
        if self.in_actions {
            verbatim(text)
        } else {
            text.to_owned()
        }
    }

    /// Appends step outputs. A value with a line break uses the heredoc form with a random
    /// delimiter, so no value can forge another output.
    pub fn set_outputs(&self, outputs: &[(&str, String)]) -> io::Result<()> {
        let Some(path) = &self.output_file else {
            return Ok(());
        };
        let mut text = String::new();
        for (name, value) in outputs {
            if value.contains(['\n', '\r']) {
                let delimiter = format!("ghadelimiter_{:016x}", fastrand::u64(..));
                text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
            } else {
                text.push_str(&format!("{name}={value}\n"));
            }
        }
        append(path, &text)
    }

    /// The bytes this step's summary may still take: the runner accepts 1 MiB per step, and
    /// earlier steps of the job may have written to it.
    pub fn summary_room(&self) -> usize {
        let existing = self
            .summary_file
            .as_deref()
            .and_then(|path| std::fs::metadata(path).ok())
            .map_or(0, |m| m.len() as usize);
        MAX_JOB_SUMMARY_BYTES.saturating_sub(existing + 1)
    }

    /// Appends Markdown rendered within [`Self::summary_room`] to the job summary. Anything
    /// beyond the room is dropped at a line break, so the runner never skips the upload.
    pub fn append_summary(&self, markdown: &str) -> io::Result<()> {
        let Some(path) = &self.summary_file else {
            return Ok(());
        };
        let room = self.summary_room();
        let markdown = if markdown.len() <= room {
            markdown
        } else {
            let mut end = room;
            while !markdown.is_char_boundary(end) {
                end -= 1;
            }
            markdown[..end]
                .rfind('\n')
                .map_or("", |cut| &markdown[..=cut])
        };
        append(path, &format!("{markdown}\n"))
    }
}

fn append(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())
}

/// Escapes a workflow command's message (actions/runner `ActionCommand.cs`).
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::warning::message`.
pub fn warning(message: &str) -> String {
    format!("::warning::{}", escape_data(message))
}

/// `::notice::message`.
pub fn notice(message: &str) -> String {
    format!("::notice::{}", escape_data(message))
}

/// `::error::message`.
pub fn error(message: &str) -> String {
    format!("::error::{}", escape_data(message))
}

/// `::error file=…,line=…,title=…::message`: an annotation without the Checks API.
pub fn file_error(file: &str, line: u32, title: &str, message: &str) -> String {
    format!(
        "::error file={},line={line},title={}::{}",
        escape_property(file),
        escape_property(title),
        escape_data(message)
    )
}

/// `::group::title`; close it with [`END_GROUP`].
pub fn group(title: &str) -> String {
    format!("::group::{}", escape_data(title))
}

pub const END_GROUP: &str = "::endgroup::";

/// Text from elsewhere (Currents strings, rendered Markdown) printed so that the runner runs
/// none of it as a workflow command: between `::stop-commands::TOKEN` and `::TOKEN::`, with a
/// token the text cannot know, as GitHub documents for untrusted output.
pub fn verbatim(text: &str) -> String {
    let token = loop {
        let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        if !text.contains(&token) {
            break token;
        }
    };
    format!("::stop-commands::{token}\n{text}\n::{token}::")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbatim_text_is_fenced_by_a_token_it_does_not_contain() {
        let text = "title\n::set-output name=x::y\n::error::pwned";
        let fenced = verbatim(text);
        let lines: Vec<&str> = fenced.lines().collect();
        let token = lines[0].strip_prefix("::stop-commands::").unwrap();
        assert_eq!(token.len(), 32);
        assert_eq!(lines.last().unwrap(), &format!("::{token}::"));
        assert!(!text.contains(token));
        assert_eq!(&lines[1..lines.len() - 1].join("\n"), text);
    }

    #[test]
    fn escaping_follows_the_runner() {
        assert_eq!(escape_data("50% done\nnext\r"), "50%25 done%0Anext%0D");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(
            file_error("tests/a.ts", 4, "t: x, y", "line1\nline2"),
            "::error file=tests/a.ts,line=4,title=t%3A x%2C y::line1%0Aline2"
        );
    }

    #[test]
    fn outputs_use_heredocs_for_multiline_values() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime {
            output_file: Some(dir.path().join("out")),
            ..Runtime::default()
        };
        runtime
            .set_outputs(&[("a", "1".into()), ("b", "x\ny".into())])
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join("out")).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("a=1"));
        let opener = lines.next().unwrap();
        let delimiter = opener.strip_prefix("b<<").unwrap();
        assert_eq!(lines.collect::<Vec<_>>(), vec!["x", "y", delimiter]);
    }

    #[test]
    fn summary_is_capped_at_one_mebibyte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary");
        let runtime = Runtime {
            summary_file: Some(path.clone()),
            ..Runtime::default()
        };
        runtime
            .append_summary(&"line of text\n".repeat(200_000))
            .unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() <= 1024 * 1024);
    }
}
