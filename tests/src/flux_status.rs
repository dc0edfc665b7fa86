//! **Plays Flux's helm-controller** (`helm.toolkit.fluxcd.io/v2`) where no Flux runs (the shared
//! cluster): what it writes to a HelmRelease's status when an attempt at `generation` ends. These
//! fields, written together as helm-controller v2 writes them (one status patch):
//! `status.observedGeneration`, `status.lastAttemptedGeneration` and the `Ready` condition,
//! stamped with the same `observedGeneration`. A stale verdict is one about an older generation
//! than the object's (its spec changed since), never a generation Flux did not see. Real Flux
//! runs in the rollout and executor_flux tests (`Cluster::with_engines`).

use anyhow::Context as _;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::json;

/// Flux's verdict on one attempt: the `Ready` condition's status, reason and message.
#[derive(Debug, Clone, Copy)]
pub struct Verdict<'a> {
    /// `True`, `False` or `Unknown`.
    pub ready: &'a str,
    /// helm-controller's reason (`InstallSucceeded`, `UpgradeFailed`, …).
    pub reason: &'a str,
    /// Its message.
    pub message: &'a str,
}

/// Writes `verdict` on the HelmRelease `name` as the end of helm-controller's attempt at
/// `generation`.
pub async fn report(
    releases: &Api<DynamicObject>,
    name: &str,
    generation: i64,
    verdict: Verdict<'_>,
) -> anyhow::Result<()> {
    let status = json!({"status": {
        "observedGeneration": generation,
        "lastAttemptedGeneration": generation,
        "conditions": [{
            "type": "Ready", "status": verdict.ready, "reason": verdict.reason,
            "message": verdict.message, "observedGeneration": generation,
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }],
    }});
    releases
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .with_context(|| format!("writing the status of HelmRelease {name}"))?;
    Ok(())
}
