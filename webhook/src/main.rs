use clap::Parser;
use std::process::ExitCode;

// Reviews allocate many small JSON nodes on every runtime thread; under load glibc's malloc was the
// largest item in the server's profile (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The process-wide default for any rustls user; the server itself also names ring explicitly.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    orkestra_webhook::run(orkestra_webhook::args::Args::parse())
}
