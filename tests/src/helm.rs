//! The Helm CLI the chart tests run: the real `helm` that `tests/chart/prereqs` builds from the Go
//! module proxy, found through the pointer file that script writes
//! (`$ORKESTRA_CACHE_DIR/helm/current`). A missing pointer runs the script once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::Context as _;
use serde::Deserialize as _;

use crate::cluster::repo_root;

/// The API versions the chart requires (`prerequisites.check`), for `helm template`, which has no
/// cluster to ask.
pub const PREREQUISITE_API_VERSIONS: &[&str] = &[
    "argoproj.io/v1alpha1/Workflow",
    "helm.toolkit.fluxcd.io/v2/HelmRelease",
    "source.toolkit.fluxcd.io/v1/HelmRepository",
];

/// A Helm CLI with a private home (config, cache, data): no repository or plugin of the machine's
/// user leaks into a test, and tests do not share state.
#[derive(Debug)]
pub struct Helm {
    bin: PathBuf,
    home: tempfile::TempDir,
}

/// What one `helm` run printed.
#[derive(Debug)]
pub struct HelmOutput {
    /// Exit status 0.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for HelmOutput {
    fn from(out: Output) -> Self {
        Self {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Helm {
    /// The `helm` of `tests/chart/prereqs` (which is run when its pointer file is missing).
    pub fn find() -> anyhow::Result<Helm> {
        Ok(Helm {
            bin: crate::prebuilt::pointed("helm/current", "tests/chart/prereqs", &[])?,
            home: tempfile::tempdir()?,
        })
    }

    /// The chart under test: `chart/` of this repository.
    pub fn chart() -> PathBuf {
        repo_root().join("chart")
    }

    /// `helm` with its private home; add arguments and run it.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        let home = self.home.path();
        cmd.env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_DATA_HOME", home.join("data"))
            .env_remove("HELM_NAMESPACE")
            .env_remove("HELM_KUBECONTEXT");
        cmd
    }

    /// Runs `helm ARGS…`.
    pub fn run<I, S>(&self, args: I) -> anyhow::Result<HelmOutput>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let out = self.command().args(args).output().context("running helm")?;
        Ok(out.into())
    }

    /// Runs `helm ARGS…` against the cluster of `kubeconfig`.
    pub fn run_on<I, S>(&self, kubeconfig: &Path, args: I) -> anyhow::Result<HelmOutput>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let out = self
            .command()
            .env("KUBECONFIG", kubeconfig)
            .args(args)
            .output()
            .context("running helm")?;
        Ok(out.into())
    }

    /// `helm template RELEASE chart/ --namespace NAMESPACE` with the prerequisite API versions and
    /// `--set` of each `key=value`: the rendered objects, or the error Helm printed.
    pub fn template(
        &self,
        release: &str,
        namespace: &str,
        sets: &[&str],
    ) -> anyhow::Result<Result<Vec<serde_json::Value>, String>> {
        let mut args: Vec<String> = vec![
            "template".into(),
            release.into(),
            Self::chart().display().to_string(),
            "--namespace".into(),
            namespace.into(),
        ];
        for version in PREREQUISITE_API_VERSIONS {
            args.extend(["--api-versions".into(), (*version).into()]);
        }
        for set in sets {
            args.extend(["--set".into(), (*set).into()]);
        }
        let out = self.run(&args)?;
        if !out.success {
            return Ok(Err(out.stderr));
        }
        Ok(Ok(documents(&out.stdout)?))
    }
}

/// A Helm release as `helm list -o json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct HelmListed {
    /// The release name.
    pub name: String,
    /// `<chart>-<version>`.
    pub chart: String,
    /// The revision, as Helm prints it (a number).
    pub revision: String,
    /// `deployed`, `failed`, `pending-install`, `uninstalling`, …
    pub status: String,
    /// When its last revision was written (nanosecond precision: orders installs).
    pub updated: String,
}

impl Helm {
    /// `helm list --all` in `namespace` of the cluster of `kubeconfig`: every Helm release,
    /// whatever its state, by name.
    pub fn list(&self, kubeconfig: &Path, namespace: &str) -> anyhow::Result<Vec<HelmListed>> {
        let out = self.run_on(kubeconfig, ["list", "--all", "-o", "json", "-n", namespace])?;
        if !out.success {
            anyhow::bail!("helm list -n {namespace}: {}", out.stderr);
        }
        let mut releases: Vec<HelmListed> =
            serde_json::from_str(&out.stdout).context("helm list's JSON")?;
        releases.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(releases)
    }
}

/// The objects of a multi-document YAML stream (empty documents skipped).
pub fn documents(yaml: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for document in serde_norway::Deserializer::from_str(yaml) {
        let value = serde_norway::Value::deserialize(document).context("rendered YAML")?;
        if value.is_null() {
            continue;
        }
        out.push(serde_norway::from_value(value).context("rendered YAML as JSON")?);
    }
    Ok(out)
}
