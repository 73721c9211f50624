//! SIGINT and SIGTERM. In the action's container the binary is PID 1, which gets no default
//! signal actions: without handlers it would ignore the runner's SIGINT and SIGTERM until the
//! runner kills it. The first signal starts the abort; a second one exits at once.

use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;

use super::Exit;

/// Resolves when the first SIGINT or SIGTERM arrives.
#[derive(Debug, Clone)]
pub(crate) struct Interrupt(Arc<Notify>);

impl Interrupt {
    /// Installs the handlers. Must be called inside the Tokio runtime.
    pub(crate) fn install() -> std::io::Result<Self> {
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let notify = Arc::new(Notify::new());
        let first = notify.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = sigint.recv() => println!("Received SIGINT: stopping."),
                _ = sigterm.recv() => println!("Received SIGTERM: stopping."),
            }
            // notify_one keeps a permit when nobody waits yet, so the signal is not lost.
            first.notify_one();
            tokio::select! {
                _ = sigint.recv() => {}
                _ = sigterm.recv() => {}
            }
            eprintln!("Received a second signal: exiting now.");
            std::process::exit(i32::from(Exit::Interrupted.code()));
        });
        Ok(Self(notify))
    }

    pub(crate) async fn received(&self) {
        self.0.notified().await;
    }
}
