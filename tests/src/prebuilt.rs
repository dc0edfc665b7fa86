//! Programs that a prerequisites script builds from the Go module proxy and names in a pointer
//! file under the cache directory (`tests/chart/prereqs`: Helm; `tests/cluster/prereqs
//! --with-engines`: Flux, ChartMuseum, Argo's CLI). A missing pointer runs its script once.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::cluster::repo_root;

/// The path that pointer file `pointer` (relative to the cache directory) names, after running
/// `script ARGS…` (relative to the repository) when the pointer is missing.
pub fn pointed(pointer: &str, script: &str, args: &[&str]) -> anyhow::Result<PathBuf> {
    let pointer = cache_dir().join(pointer);
    if !pointer.is_file() {
        let script = repo_root().join(script);
        let status = Command::new(&script)
            .args(args)
            .status()
            .with_context(|| format!("running {}", script.display()))?;
        if !status.success() {
            bail!("{} {} failed ({status})", script.display(), args.join(" "));
        }
    }
    let path = PathBuf::from(
        std::fs::read_to_string(&pointer)
            .with_context(|| format!("reading {}", pointer.display()))?
            .trim(),
    );
    if !path.exists() {
        bail!(
            "{} names {}, which is missing: run {script} {}",
            pointer.display(),
            path.display(),
            args.join(" ")
        );
    }
    Ok(path)
}

/// `$ORKESTRA_CACHE_DIR`, else `$XDG_CACHE_HOME/orkestra`, else `~/.cache/orkestra`, as the scripts
/// of tests/cluster/lib/common.sh compute it.
fn cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("ORKESTRA_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let cache = var("XDG_CACHE_HOME").map_or_else(
        || PathBuf::from(var("HOME").unwrap_or_else(|| "/root".into())).join(".cache"),
        PathBuf::from,
    );
    cache.join("orkestra")
}
