//! `orkestra-controller`: parses the command line, installs the TLS crypto provider, dispatches.

use clap::{Parser, Subcommand};
use orkestra_controller::staging;

mod plan_command;
mod plan_config_args;
mod run_command;

/// Orkestra's controller for ApplicationGroups.
#[derive(Parser, Debug)]
#[command(name = "orkestra-controller", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Stage the charts of ApplicationGroup file(s) into a staging repository, without a cluster.
    Stage(Box<staging::cli::StageArgs>),
    /// Print the Workflow and HelmReleases planned for an ApplicationGroup file, without a cluster.
    Plan(plan_command::PlanArgs),
    /// Run the reconciler: watch ApplicationGroups, stage, submit Workflows, write status.
    Run(Box<run_command::RunArgs>),
    /// Run one workflow step: install or delete a HelmRelease and wait for Flux (in workflow pods).
    Executor(orkestra_controller::executor::ExecutorArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // NB: ring, not aws-lc: the product carries no C crypto library. Err only if already set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Stage(args) => staging::cli::run(*args).await,
        Command::Plan(args) => plan_command::run(args),
        Command::Run(args) => run_command::run(*args).await,
        Command::Executor(args) => orkestra_controller::executor::main(args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
