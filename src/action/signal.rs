//! The report step's abort trigger: the first stop signal starts the abort (cancel the
//! Currents run, complete the check as cancelled); a second one exits at once, since the
//! runner kills the step 2.5 s after its SIGTERM anyway.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::exit::Exit;
use crate::shutdown::StopSignals;

/// Resolves when the first stop signal arrives.
#[derive(Debug, Clone)]
pub(crate) struct Interrupt(Arc<Notify>);

impl Interrupt {
    /// Installs the handlers. Must be called inside the Tokio runtime.
    pub(crate) fn install() -> std::io::Result<Self> {
        let mut signals = StopSignals::install()?;
        let notify = Arc::new(Notify::new());
        let first = notify.clone();
        tokio::spawn(async move {
            let signal = signals.recv().await;
            println!("Received {}: stopping.", signal.name());
            // notify_one keeps a permit when nobody waits yet, so the signal is not lost.
            first.notify_one();
            signals.recv().await;
            eprintln!("Received a second signal: exiting now.");
            std::process::exit(i32::from(Exit::Interrupted.code()));
        });
        Ok(Self(notify))
    }

    pub(crate) async fn received(&self) {
        self.0.notified().await;
    }
}
