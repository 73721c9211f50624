//! currents-bridge: connect the Currents test dashboard (currents.dev) with GitHub.
//!
//! The binary (`src/main.rs`) is a thin shell over this library. Each module owns one job; see
//! `DESIGN.md` in the project's shared folder for the contract and the data flow:
//!
//! - [`cli`] parses flags and the environment into validated, typed configuration. No other
//!   module reads the environment.
//! - [`ci_build_id`] derives the Currents ciBuildId of a GitHub workflow run.
//! - [`http`] is the one HTTP client (pool, timeouts, proxy, body cap) under both APIs, and
//!   [`retry`] the one retry policy for their calls.
//! - [`currents`] talks to the Currents REST API.
//! - [`report`] turns a Currents run into a [`report::Report`] and renders it; it knows nothing
//!   of HTTP.
//! - [`github`] talks to GitHub: the Checks API and the Actions runtime files and commands.
//! - [`action`] wires the above into the `report` and `cancel` commands.
//! - [`exit`] holds the exit codes and the top-level error of every command; [`shutdown`] the
//!   stop signals. Both are neutral, so neither the action nor the relay depends on the other.
//! - [`relay`] receives GitHub webhooks and forwards cancels to Currents through [`store`].
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
