//! The GitHub side: the Checks API, the Actions runtime (outputs, job summary, workflow
//! commands) and the event that triggered the workflow.

mod checks;
pub mod event;
pub mod runtime;

pub use checks::{
    CheckConclusion, CheckRun, CheckRunId, CheckRunOutput, CheckStatus, GithubClient, GithubConfig,
    GithubError, NewCheckRun, Repository,
};
