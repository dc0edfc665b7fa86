//! `argo lint --offline`: Argo's own validation of a Workflow (the CLI that
//! `tests/cluster/prereqs --with-engines` builds from the Go module proxy), as `argo submit` runs
//! it before submitting.

use std::io::Write as _;
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::engines::Engines;

/// Lints `workflow` (a Workflow as JSON) with the real `argo lint --offline`; `Err` carries Argo's
/// message.
pub fn lint(workflow: &serde_json::Value) -> anyhow::Result<()> {
    let engines = Engines::find()?;
    let mut file = tempfile::Builder::new().suffix(".json").tempfile()?;
    file.write_all(serde_json::to_string(workflow)?.as_bytes())?;
    let out = Command::new(engines.binary("argo"))
        .args([
            "lint",
            "--offline",
            "--kinds",
            "workflows",
            "--output",
            "simple",
        ])
        .arg(file.path())
        // NB: offline lint needs no cluster; an unset KUBECONFIG keeps it from reading one.
        .env("KUBECONFIG", "/dev/null")
        .output()
        .context("running argo lint")?;
    if !out.status.success() {
        bail!(
            "argo lint --offline refused the Workflow {}: {}{}",
            workflow["metadata"]["name"],
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
