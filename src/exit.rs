//! The process exit codes of the public contract, and how a command's error maps to one.
//! It sits at the edge, beside `main`: the commands return `anyhow::Result<Exit>` with
//! `.context()` saying what was being done, and [`exit_of`] finds the first typed cause among
//! the domains' errors, so it is the one module that imports every domain's error type.

use crate::cli::ConfigError;
use crate::currents::{CurrentsError, WaitError};
use crate::github::GithubError;
use crate::store::StoreError;

/// The process exit codes, part of the public contract (DESIGN.md, README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Done; failed tests included unless `--fail-on-test-failures`.
    Success = 0,
    /// Tests failed and `--fail-on-test-failures` is set.
    TestsFailed = 1,
    /// A usage or configuration error.
    Usage = 2,
    /// The run was not found, or not complete within `--wait-timeout`.
    RunUnavailable = 3,
    /// An API call failed after its retries.
    ApiFailed = 4,
    /// The machine failed the command: a runtime file that cannot be written, a port that cannot
    /// be bound, a database that stops answering. Nothing about the input is wrong.
    Environment = 5,
    /// Stopped by SIGINT or SIGTERM.
    Interrupted = 130,
}

impl Exit {
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// Local input that is there but wrong (a `--from-dir` file, a missing `GITHUB_SHA`): exit 2,
/// like a bad flag.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// The exit code for `error`: its first cause with a known kind decides; anything else (I/O,
/// the HTTP server) is the environment's failure.
pub fn exit_of(error: &anyhow::Error) -> Exit {
    for cause in error.chain() {
        if cause.is::<ConfigError>() || cause.is::<InputError>() {
            return Exit::Usage;
        }
        if let Some(wait) = cause.downcast_ref::<WaitError>() {
            return match wait {
                WaitError::Source(_) => continue,
                _ => Exit::RunUnavailable,
            };
        }
        if cause.is::<CurrentsError>() || cause.is::<GithubError>() {
            return Exit::ApiFailed;
        }
        if let Some(store) = cause.downcast_ref::<StoreError>() {
            return if store.is_configuration() {
                Exit::Usage
            } else {
                Exit::Environment
            };
        }
    }
    Exit::Environment
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn the_first_typed_cause_decides() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "read-only");
        let error = anyhow::Error::new(io).context("cannot write GITHUB_OUTPUT");
        assert_eq!(exit_of(&error), Exit::Environment, "I/O is not usage");
        let error = anyhow::Error::new(InputError("run.json is not a run".into()))
            .context("reading --from-dir");
        assert_eq!(exit_of(&error), Exit::Usage);
        let error: anyhow::Error = Err::<(), _>(StoreError::Locked("x.db".into()))
            .context("DATABASE_URL")
            .unwrap_err();
        assert_eq!(exit_of(&error), Exit::Usage);
        let error = anyhow::Error::new(StoreError::Closed);
        assert_eq!(exit_of(&error), Exit::Environment);
        let wait = WaitError::NeverAppeared {
            what: "x".into(),
            wait: "1m".into(),
        };
        assert_eq!(exit_of(&anyhow::Error::new(wait)), Exit::RunUnavailable);
    }
}
