//! The engines Orkestra drives, built by `tests/cluster/prereqs --with-engines` from their Go
//! modules (tests/cluster/lib/build-engines.sh): Flux source-controller and helm-controller, their
//! CRDs of the same tags, ChartMuseum and Argo's CLI.

use std::path::{Path, PathBuf};

/// The directory holding the engine binaries.
#[derive(Clone, Debug)]
pub struct Engines {
    dir: PathBuf,
}

impl Engines {
    /// The engines of `tests/cluster/prereqs --with-engines` (run once when missing).
    pub fn find() -> anyhow::Result<Engines> {
        let dir = crate::prebuilt::pointed(
            "engines/current",
            "tests/cluster/prereqs",
            &["--with-engines"],
        )?;
        Ok(Engines { dir })
    }

    /// The path of engine `name` (`source-controller`, `helm-controller`, `chartmuseum`, `argo`).
    pub fn binary(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The directory (binaries and Flux's CRDs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
