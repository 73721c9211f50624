//! The `currents-bridge` binary: parse the command line, set up logging, run the command, and
//! map its outcome to the exit codes of the public contract.

// The top-level error goes to stdout as a workflow command (an annotation in Actions).
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

/// The static musl build's allocator: musl's own takes one lock for every allocation, which
/// the relay's threads then queue on.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use currents_bridge::action;
use currents_bridge::cli::{Cli, Command};
use currents_bridge::exit::Exit;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse_from(currents_bridge::cli::entrypoint_args(std::env::args_os()));
    init_logging(&cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Usage.code());
        }
    };
    let result: anyhow::Result<Exit> = runtime.block_on(async {
        match cli.command {
            Command::Report(args) => action::report(args.into_config()?).await,
            Command::Cancel(args) => action::cancel(args.into_config()?).await,
            Command::Relay(mut args) => match args.register_config() {
                Some(config) => {
                    let created =
                        currents_bridge::relay::register_currents_webhook(config?).await?;
                    println!(
                        "Created Currents webhook {} for {}: run events now reach the relay.",
                        currents_bridge::log_safe::LogSafe(&created.hook_id),
                        currents_bridge::log_safe::LogSafe(
                            created.url.as_deref().unwrap_or("the URL given")
                        )
                    );
                    Ok(Exit::Success)
                }
                None => currents_bridge::relay::run(args.into_config()?).await,
            },
            Command::Run(args) => action::run(args.into_config()?).await,
            Command::Noop => Ok(Exit::Success),
        }
    });
    // Leave the runtime first: abort paths may have tasks still winding down.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(error) => {
            // The error with its causes, on one line (`{:#}`: "what was done: why: why").
            let message = format!("{error:#}");
            // A workflow command makes the error an annotation in Actions; a shell shows it as is.
            println!(
                "::error::{}",
                currents_bridge::github::runtime::escape_data(&message)
            );
            eprintln!("error: {message}");
            ExitCode::from(currents_bridge::exit::exit_of(&error).code())
        }
    }
}

/// Logs go to stderr, filtered by `CURRENTS_BRIDGE_LOG` (default `info`), coloured only on a
/// terminal. The relay logs JSON lines with `--log-format json`; in Actions the runner stamps
/// each line with the time, so the steps log none.
fn init_logging(command: &Command) {
    let filter =
        EnvFilter::try_from_env("CURRENTS_BRIDGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match command {
        Command::Relay(args) if args.json_logs() => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        Command::Relay(_) => builder.with_ansi(colour).init(),
        _ => builder
            .with_ansi(colour)
            .with_target(false)
            .without_time()
            .init(),
    }
}
