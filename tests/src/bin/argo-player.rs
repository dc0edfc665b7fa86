//! `argo-player --cluster-dir DIR --namespace NS --program WORD=PATH… --log-dir LOGS`: plays Argo's
//! workflow-controller ([`orkestra_tests::argo::ArgoPlayer`], which says exactly what it plays) for
//! the Workflows of namespace NS of the cluster `tests/cluster/up --dir DIR` started, until
//! interrupted. `./demo` runs it; the tests start the player in process.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use orkestra_tests::Cluster;
use orkestra_tests::argo::ArgoPlayer;

/// Play Argo's workflow-controller for one namespace.
#[derive(Parser, Debug)]
struct Args {
    /// The state directory of `tests/cluster/up --dir DIR`.
    #[arg(long)]
    cluster_dir: PathBuf,
    /// The namespace whose Workflows it runs.
    #[arg(long)]
    namespace: String,
    /// `WORD=PATH`: a leaf container whose command starts with WORD runs PATH (repeatable).
    #[arg(long = "program", value_parser = parse_program)]
    programs: Vec<(String, PathBuf)>,
    /// Where each step's output goes (one file per step).
    #[arg(long)]
    log_dir: PathBuf,
}

fn parse_program(text: &str) -> Result<(String, PathBuf), String> {
    let (word, path) = text
        .split_once('=')
        .ok_or_else(|| format!("--program {text:?}: expected WORD=PATH"))?;
    Ok((word.to_owned(), PathBuf::from(path)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cluster = Cluster::from_dir(&args.cluster_dir)?;
    let programs: Vec<(&str, &std::path::Path)> = args
        .programs
        .iter()
        .map(|(word, path)| (word.as_str(), path.as_path()))
        .collect();
    let player = ArgoPlayer::start(&cluster, &args.namespace, &programs, &args.log_dir)
        .await
        .context("starting the Argo player")?;
    println!(
        "playing Argo for the Workflows of namespace {}",
        args.namespace
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    drop(player);
    Ok(())
}
