//! What the builder refuses to emit: a Workflow Argo would refuse (a cycle, a name it does not
//! take) or HelmReleases Flux would have fight over one Helm release.

use std::collections::HashMap;

use crate::graph::{DependencyGraph, format_cycle};
use crate::plan::error::PlanError;
use crate::plan::flux::HelmRelease;
use crate::plan::naming::is_valid_argo_name;

/// Refuses two HelmReleases with one name in one namespace (`owners[i]` is the application of
/// `releases[i]`): Flux would have them fight over one Helm release.
pub(super) fn check_collisions(releases: &[HelmRelease], owners: &[&str]) -> Result<(), PlanError> {
    let mut seen: HashMap<(&str, &str), usize> = HashMap::with_capacity(releases.len());
    for (i, release) in releases.iter().enumerate() {
        if let Some(first) = seen.insert((release.namespace(), release.name()), i) {
            let describe = |j: usize| {
                format!(
                    "chart {} of application {}",
                    releases[j].spec.chart.spec.chart,
                    owners.get(j).unwrap_or(&"?")
                )
            };
            return Err(PlanError::ReleaseCollision {
                namespace: release.namespace().to_owned(),
                name: release.name().to_owned(),
                first: describe(first),
                second: describe(i),
            });
        }
    }
    Ok(())
}

pub(super) fn check_acyclic(graph: &DependencyGraph, scope: &str) -> Result<(), PlanError> {
    match graph.cycles().first() {
        Some(cycle) => Err(PlanError::Cycle {
            scope: scope.to_owned(),
            cycle: format_cycle(cycle),
        }),
        None => Ok(()),
    }
}

pub(super) fn check_argo_name(what: &str, name: &str) -> Result<(), PlanError> {
    if is_valid_argo_name(name) {
        Ok(())
    } else {
        Err(PlanError::InvalidName {
            what: what.into(),
            name: name.into(),
        })
    }
}
