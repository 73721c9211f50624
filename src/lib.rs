//! currents-bridge: connect the Currents test dashboard (currents.dev) with GitHub.
//!
//! The binary (`src/main.rs`) is a thin shell over this library. Each module owns one job; the
//! map of how they fit and how each command flows through them is `docs/architecture.md`:
//!
//! - [`cli`] parses flags and the environment into validated, typed configuration. No other
//!   module reads the environment.
//! - [`ci_build_id`] derives the Currents ciBuildId of a GitHub workflow run.
//! - [`http`] is the one HTTP client (pool, timeouts, proxy, body cap) under both APIs,
//!   [`retry`] the one retry policy for their calls, and [`api`] what their errors share.
//! - [`currents`] talks to the Currents REST API.
//! - [`report`] turns a Currents run into a [`report::Publication`] (the one pipeline of
//!   everything published) and renders it; it knows nothing of HTTP.
//! - [`github`] talks to GitHub: check runs, comments, acting as an App, the Actions runtime
//!   files and commands, the workflow's event.
//! - [`action`] wires the above into the `report`, `cancel` and `run` commands.
//! - [`relay`] receives GitHub's and Currents' webhooks, stores them in [`store`], and runs the
//!   jobs they queue: cancels, and App mode's checks.
//! - [`exit`] holds the exit codes and maps every command's error to one; it sits at the edge,
//!   beside `main`, and is the only module that knows the error types of every domain.
//!   [`shutdown`] holds the stop signals, which the steps and the relay share.
#![forbid(unsafe_code)]

pub mod action;
pub mod api;
pub mod ci_build_id;
pub mod cli;
pub mod currents;
pub mod exit;
pub mod github;
pub mod http;
mod ids;
pub mod log_safe;
pub mod media;
pub mod relay;
pub mod report;
pub mod retry;
pub mod shutdown;
pub mod store;
