//! The GitHub side: the one client core (`client.rs`), check runs, pull request comments,
//! acting as a GitHub App, which GitHub a remote points at, the Actions runtime (outputs, job
//! summary, workflow commands) and the event that triggered the workflow.

pub mod app;
mod checks;
mod client;
mod comments;
pub mod event;
mod remote;
mod repo;
pub mod runtime;

pub use checks::{
    ANNOTATIONS_PER_REQUEST, Annotation, AnnotationLevel, CheckButton, CheckConclusion, CheckRun,
    CheckRunId, CheckRunOutput, CheckRunUpdate, CheckStatus, MAX_ANNOTATION_MESSAGE_BYTES,
    MAX_ANNOTATION_TITLE_CHARS, MAX_BUTTON_DESCRIPTION_CHARS, MAX_BUTTON_IDENTIFIER_CHARS,
    MAX_BUTTON_LABEL_CHARS, MAX_CHECK_BUTTONS, MAX_CHECK_OUTPUT_BYTES, NewCheckRun, buttons,
};
pub use client::{GithubClient, GithubConfig, GithubError, Permission, Repository};
pub use comments::{
    ACTIONS_BOT, CommentMode, CommentUser, IssueComment, MAX_COMMENT_CHARS, PullRequest, Sticky,
    amend_sticky, marker, sticky_comment,
};
pub use remote::{GithubServer, repository_of};
pub use repo::{RepoRole, WorkflowRun};
