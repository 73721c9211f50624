//! The integration tests, as one binary (as svix does): the fakes in `support` compile once,
//! and every module below shares them.
//!
//! Tests that need something this machine may not have (PostgreSQL, Prism, a Docker engine)
//! are `#[ignore = "needs …"]`: `cargo test` reports them as ignored, and `.ci/run` runs them
//! with `--include-ignored` after starting what they need. Run alone, one of them fails, never
//! skips, when what it needs is missing.

mod support;

mod action;
mod app;
mod app_trust;
mod buttons;
mod cancel;
mod conformance;
mod fixtures;
mod fuzz;
mod hardening;
mod install;
mod markdown_safety;
mod media;
mod placement;
mod relay;
mod relay_crash;
mod render;
mod report;
mod run_command;
mod store;
mod triage;
