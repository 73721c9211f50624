//! Stop signals, shared by the Actions commands and the relay.
//!
//! On Unix these are SIGINT and SIGTERM: the runner sends SIGINT when a step is cancelled,
//! then SIGTERM 7.5 s later, and container platforms send SIGTERM. In the action's container
//! the binary is PID 1, which gets no default signal actions, so without handlers it would
//! ignore both until the runner kills it. On Windows the only signal is Ctrl+C (or Ctrl+Break),
//! which is what the runner sends to a cancelled step there.

use std::io;

/// Which stop signal arrived, for the log line that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Interrupt,
    Terminate,
}

impl StopSignal {
    /// The signal's usual name (`SIGINT`, `SIGTERM`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }
}

/// A source of stop signals. Install it once, early: a signal that arrives before the handlers
/// exist takes the platform's default action (or, as PID 1 in a container, is lost).
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installs the handlers. Must be called inside the Tokio runtime.
    pub fn install() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Waits for the next stop signal.
    pub async fn recv(&mut self) -> StopSignal {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => StopSignal::Interrupt,
                _ = self.terminate.recv() => StopSignal::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => StopSignal::Interrupt,
                // No handler could be installed: never resolve rather than stop at once.
                Err(_) => std::future::pending().await,
            }
        }
    }
}
