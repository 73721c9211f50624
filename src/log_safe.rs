//! Untrusted text in a log line: control characters (line breaks, escape sequences) are shown
//! escaped, so a payload field cannot forge a log line or drive a terminal. Everything else is
//! shown as is, so JSON logs, which escape for themselves, read naturally.

use std::fmt::{self, Write};

/// Displays the text with its control characters escaped (`\n`, `\u{1b}`).
#[derive(Debug, Clone, Copy)]
pub struct LogSafe<'a>(pub &'a str);

impl fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            LogSafe("acme/web\napp\r\u{1b}[31m é").to_string(),
            "acme/web\\napp\\r\\u{1b}[31m é"
        );
    }
}
