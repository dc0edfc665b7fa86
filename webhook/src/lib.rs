//! `orkestra-webhook`: the admission server for ApplicationGroups (`serve`) and the offline checker
//! (`check`). The rules themselves live in `orkestra-shared`; this crate is transport.

pub mod admin;
pub mod args;
pub mod cert_info;
pub mod cert_resolver;
pub mod check;
pub mod handlers;
pub mod limits;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod policy_watch;
pub mod review;
pub mod secret_access;
pub mod serve;
pub mod tls;
pub mod wire;

use args::{Args, Command};
use std::process::ExitCode;

/// Runs a parsed command line; the process exit code.
pub fn run(args: Args) -> ExitCode {
    let Args { command } = args;
    match command {
        Command::Check(check) => ExitCode::from(check::run(check)),
        Command::Serve(serve) => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("orkestra-webhook: cannot start the runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve::run(serve)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "orkestra-webhook failed");
                    eprintln!("orkestra-webhook: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
