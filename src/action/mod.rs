//! The Actions commands: `report`, `cancel` and `run`, wiring the Currents client, the report
//! builder and the GitHub side together, and the signal handling they share.

// stdout is the Actions runtime's channel: this module writes workflow commands and the log.
#![allow(clippy::print_stdout)]

mod cancel;
mod report;
mod run;
mod signal;

pub use cancel::cancel;
pub use report::report;
pub use run::run;
