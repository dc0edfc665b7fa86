//! Where a release goes.

use crate::crd::Release;

/// Namespace a release without `targetNamespace` goes to.
pub const DEFAULT_TARGET_NAMESPACE: &str = "default";

/// The namespace a release is installed into (and its HelmRelease created in).
pub fn effective_namespace(release: &Release) -> &str {
    if release.target_namespace.is_empty() {
        DEFAULT_TARGET_NAMESPACE
    } else {
        &release.target_namespace
    }
}
