//! The process exit codes of the public contract, and the top-level error of a command, which
//! knows its exit code. Neutral ground: the Actions commands and the relay both return these.

use crate::cli::ConfigError;
use crate::currents::CurrentsError;
use crate::github::GithubError;

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
    /// Stopped by SIGINT or SIGTERM.
    Interrupted = 130,
}

impl Exit {
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// Why a command failed. Every message is one line that says which call or input, what went
/// wrong and what to do; none contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Unreadable or invalid local input (`--from-dir` files, runtime files).
    #[error("{0}")]
    Input(String),
    /// The run did not appear, or did not complete, in time.
    #[error("{0}")]
    RunUnavailable(String),
    #[error(transparent)]
    Currents(#[from] CurrentsError),
    #[error(transparent)]
    Github(#[from] GithubError),
}

impl CommandError {
    pub fn exit(&self) -> Exit {
        match self {
            Self::Config(_) | Self::Input(_) => Exit::Usage,
            Self::RunUnavailable(_) => Exit::RunUnavailable,
            Self::Currents(_) | Self::Github(_) => Exit::ApiFailed,
        }
    }
}
