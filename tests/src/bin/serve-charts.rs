//! `serve-charts --dir DIR [--listen ADDR]`: builds the fixture charts into DIR as a Helm
//! repository (index.yaml + archives) and serves it over HTTP until interrupted. Prints the URL.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use orkestra_tests::chart_repo::{ChartRepo, RepoOptions};
use orkestra_tests::charts::{standard_fixtures, write_repo};

/// Serve Orkestra's fixture charts as a Helm repository.
#[derive(Parser, Debug)]
struct Args {
    /// Directory to build the repository into.
    #[arg(long)]
    dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8879")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args { dir, listen } = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    write_repo(&dir, &standard_fixtures())?;
    let repo = ChartRepo::start(
        &dir,
        RepoOptions {
            listen: Some(listen),
            ..RepoOptions::default()
        },
    )
    .await?;
    println!("{}", repo.url);
    tokio::signal::ctrl_c().await?;
    drop(repo);
    Ok(())
}
