//! Whose a HelmRelease is: the group named by its owner label. A step writes or deletes only a
//! release of its own group, or one that does not exist yet. Two groups may plan the same
//! HelmRelease (an application `redis` without a `targetNamespace` in both lands in
//! `default/redis`), and a forced apply would otherwise hand the first group's release to the
//! second, which would uninstall it when it is deleted. A HelmRelease someone made by hand (no
//! owner label) is not taken over either.
//!
//! The label is read just before the write: a release another group creates in between is still
//! taken over (the API offers no "apply only if the label is X" for server-side apply).

use kube::api::{Api, DynamicObject};
use orkestra_shared::names::OWNER_LABEL;

use super::error::ExecutorError;
use super::input::Target;
use super::limit::Limit;

/// What the step found under the target's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// No such HelmRelease.
    Nothing,
    /// One of the target's group (or the target names no group: a Workflow of another tool).
    Ours,
    /// One of another group (its owner label), or of nobody's (`None`: no owner label).
    Theirs(Option<String>),
}

/// Looks at the HelmRelease the step is about to write or delete.
pub async fn look(
    api: &Api<DynamicObject>,
    target: &Target,
    limit: &Limit,
) -> Result<Found, ExecutorError> {
    let existing = limit
        .retried("the HelmRelease is read", || api.get_opt(&target.name))
        .await?
        .map_err(|e| ExecutorError::api(format!("reading {}", target.subject()), e))?;
    let Some(existing) = existing else {
        return Ok(Found::Nothing);
    };
    let Some(ours) = target.object["metadata"]["labels"][OWNER_LABEL].as_str() else {
        return Ok(Found::Ours);
    };
    let theirs = existing
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(OWNER_LABEL));
    Ok(match theirs {
        Some(theirs) if theirs == ours => Found::Ours,
        other => Found::Theirs(other.cloned()),
    })
}

/// The error of an install that found another's release under its target's name.
pub fn taken(target: &Target, owner: Option<&str>) -> ExecutorError {
    ExecutorError::Taken {
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        owner: whose(owner),
    }
}

/// "belongs to group …" or "was not made by Orkestra …", of the owner label found.
pub fn whose(owner: Option<&str>) -> String {
    match owner {
        Some(group) => format!("belongs to group {group:?} ({OWNER_LABEL})"),
        None => format!("was not made by Orkestra (it has no {OWNER_LABEL} label)"),
    }
}
