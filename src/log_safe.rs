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

/// Displays an error with its causes, `what: why: why`, as `anyhow`'s `{:#}` does: the typed
/// errors keep their causes as sources, and a log line or a stored `last_error` wants them all.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
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

    #[test]
    fn chains_show_every_cause() {
        let error =
            crate::store::StoreError::Migrate(sqlx::migrate::MigrateError::VersionMissing(3));
        assert_eq!(
            Chain(&error).to_string(),
            "cannot migrate the database: migration 3 was previously applied but is missing in the resolved migrations"
        );
    }
}
