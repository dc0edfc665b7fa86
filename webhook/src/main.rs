use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The process-wide default for any rustls user; the server itself also names ring explicitly.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    orkestra_webhook::run(orkestra_webhook::args::Args::parse())
}
