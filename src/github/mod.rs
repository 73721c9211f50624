//! The GitHub side: the Checks API, acting as a GitHub App, the Actions runtime (outputs, job summary, workflow
//! commands) and the event that triggered the workflow.

pub mod app;
mod checks;
mod comments;
pub mod event;
pub mod runtime;

pub use checks::{
    ANNOTATIONS_PER_REQUEST, CheckConclusion, CheckRun, CheckRunId, CheckRunOutput, CheckRunUpdate,
    CheckStatus, GithubClient, GithubConfig, GithubError, NewCheckRun, Repository,
};
pub use comments::{CommentMode, IssueComment, MAX_COMMENT_CHARS, marker, sticky_comment};
