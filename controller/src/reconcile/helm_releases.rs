//! The HelmReleases of a group (found by OWNER_LABEL, in any namespace) and their conditions,
//! copied into `status.applications[]` and its `subcharts` map, and whether each one the current
//! spec deploys is ready.
//!
//! "Ready" is read as the executor reads it ([`crate::helm_release_status::observe`]): Flux observed
//! the release's current generation and says `Ready=True`. The releases judged are those the
//! current spec deploys (each application's release and its split subcharts' releases, as the
//! status lists them); one that does not exist is not ready.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use orkestra_shared::crd::{ApplicationGroupSpec, ApplicationStatus};
use orkestra_shared::names::{self, OWNER_LABEL};
use orkestra_shared::plan;

use super::context::Context;
use super::error::Error;
use crate::helm_release_status::{Observation, observe};

/// Namespace of a release whose target namespace is empty (the plan's default).
const DEFAULT_NAMESPACE: &str = "default";

/// At most this many releases are named in a status message (the rest are counted).
const MAX_NAMED: usize = 5;

/// The HelmRelease kind.
pub fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
        "helmreleases",
    )
}

/// What the controller keeps of one HelmRelease.
#[derive(Debug, Clone)]
pub struct Release {
    /// Its `status.conditions`.
    pub conditions: Vec<Condition>,
    /// Whether Flux reports it ready at its current generation.
    pub observation: Observation,
}

/// A group's HelmReleases by (namespace, name).
pub type Releases = BTreeMap<(String, String), Release>;

/// Lists the group's HelmReleases.
pub async fn list(ctx: &Context, group: &str) -> Result<Releases, Error> {
    Ok(objects(ctx, group)
        .await?
        .into_iter()
        .map(release)
        .collect())
}

/// The group's HelmReleases as the API server has them.
pub async fn objects(ctx: &Context, group: &str) -> Result<Vec<DynamicObject>, Error> {
    let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &api_resource());
    let selector = format!("{OWNER_LABEL}={}", plan::owner_label_value(group));
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::kube(format!("listing the HelmReleases of {group}")))?;
    Ok(list.items)
}

fn release(object: DynamicObject) -> ((String, String), Release) {
    let conditions: Vec<Condition> = object
        .data
        .pointer("/status/conditions")
        .cloned()
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default();
    let observation = observe(&serde_json::json!({
        "metadata": {"generation": object.metadata.generation},
        "spec": object.data.get("spec"),
        "status": object.data.get("status"),
    }));
    let key = (
        object.metadata.namespace.unwrap_or_default(),
        object.metadata.name.unwrap_or_default(),
    );
    (
        key,
        Release {
            conditions,
            observation,
        },
    )
}

/// The (namespace, name) of every HelmRelease the spec deploys for the applications in the
/// status, with the index of the application and the subchart (`None`: the application's own).
fn expected<'a>(
    applications: &'a [ApplicationStatus],
    spec: &ApplicationGroupSpec,
) -> Vec<(usize, Option<&'a str>, (String, String))> {
    let mut out = Vec::new();
    for (index, status) in applications.iter().enumerate() {
        let Some(app) = spec.applications.iter().find(|a| a.name == status.name) else {
            continue;
        };
        let namespace = match app.spec.release.target_namespace.as_str() {
            "" => DEFAULT_NAMESPACE,
            ns => ns,
        };
        out.push((
            index,
            None,
            (namespace.to_owned(), names::release_name(&app.name)),
        ));
        for sub in status.subcharts.keys() {
            out.push((
                index,
                Some(sub.as_str()),
                (
                    namespace.to_owned(),
                    names::subchart_release_name(&app.name, sub),
                ),
            ));
        }
    }
    out
}

/// Copies the conditions into `applications` (each release found by the name the plan gives it).
pub fn fill(
    applications: &mut [ApplicationStatus],
    spec: &ApplicationGroupSpec,
    releases: &Releases,
) {
    let found: Vec<(usize, Option<String>, Vec<Condition>)> = expected(applications, spec)
        .into_iter()
        .map(|(index, sub, key)| {
            let conditions = releases
                .get(&key)
                .map(|r| r.conditions.clone())
                .unwrap_or_default();
            (index, sub.map(str::to_owned), conditions)
        })
        .collect();
    for (index, sub, conditions) in found {
        let Some(status) = applications.get_mut(index) else {
            continue;
        };
        match sub {
            None => status.chart.conditions = conditions,
            Some(sub) => {
                if let Some(chart) = status.subcharts.get_mut(&sub) {
                    chart.conditions = conditions;
                }
            }
        }
    }
}

/// How the releases the spec deploys stand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Releases ready at their current generation.
    pub ready: usize,
    /// Releases the spec deploys.
    pub total: usize,
    /// Those not ready, each as `namespace/name (why)`, in status order.
    pub not_ready: Vec<String>,
    /// Of those, the ones Flux reports failed.
    pub failed: usize,
}

impl Readiness {
    /// True when every release the spec deploys is ready.
    pub fn all_ready(&self) -> bool {
        self.not_ready.is_empty()
    }

    /// The releases not ready, at most [`MAX_NAMED`] of them named: `a/x (why), a/y (why) and 3
    /// more`.
    pub fn describe_not_ready(&self) -> String {
        let mut text = self
            .not_ready
            .iter()
            .take(MAX_NAMED)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if self.not_ready.len() > MAX_NAMED {
            text.push_str(&format!(" and {} more", self.not_ready.len() - MAX_NAMED));
        }
        text
    }
}

/// Which of the releases the spec deploys (for the applications in the status) are ready.
pub fn readiness(
    applications: &[ApplicationStatus],
    spec: &ApplicationGroupSpec,
    releases: &Releases,
) -> Readiness {
    let mut out = Readiness::default();
    for (_, _, key) in expected(applications, spec) {
        out.total += 1;
        let why = match releases.get(&key) {
            None => "not created yet".to_owned(),
            Some(Release {
                observation: Observation::Ready,
                ..
            }) => {
                out.ready += 1;
                continue;
            }
            Some(Release {
                observation: Observation::Failed { reason, .. },
                ..
            }) => {
                out.failed += 1;
                format!("failed: {reason}")
            }
            Some(Release { conditions, .. }) => {
                match conditions.iter().find(|c| c.type_ == "Ready") {
                    None => "no Ready condition yet".to_owned(),
                    Some(c) if c.status == "True" => {
                        "its current generation is not observed by Flux yet".to_owned()
                    }
                    Some(c) => format!("Ready={} {}", c.status, c.reason),
                }
            }
        };
        out.not_ready.push(format!("{}/{} ({why})", key.0, key.1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(name: &str, generation: i64, status: serde_json::Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": "ns", "generation": generation},
            "spec": {}, "status": status,
        }))
        .unwrap()
    }

    fn ready(status: &str, reason: &str) -> serde_json::Value {
        json!({"type": "Ready", "status": status, "reason": reason, "message": "",
               "lastTransitionTime": "2026-01-01T00:00:00Z"})
    }

    fn spec() -> ApplicationGroupSpec {
        serde_json::from_value(json!({"applications": [
            {"name": "a", "spec": {"chart": {"url": "https://c", "name": "a"}, "release": {"targetNamespace": "ns"}}},
            {"name": "b", "spec": {"chart": {"url": "https://c", "name": "b"}, "release": {"targetNamespace": "ns"}}},
            {"name": "c", "spec": {"chart": {"url": "https://c", "name": "c"}, "release": {"targetNamespace": "ns"}}},
        ]}))
        .unwrap()
    }

    fn statuses() -> Vec<ApplicationStatus> {
        ["a", "b", "c"]
            .iter()
            .map(|n| ApplicationStatus {
                name: (*n).to_owned(),
                ..ApplicationStatus::default()
            })
            .collect()
    }

    #[test]
    fn only_releases_ready_at_their_current_generation_count_and_missing_ones_are_named() {
        let releases: Releases = [
            object(
                "a",
                2,
                json!({"observedGeneration": 2, "conditions": [ready("True", "UpgradeSucceeded")]}),
            ),
            object(
                "b",
                3,
                json!({"observedGeneration": 2, "conditions": [ready("True", "UpgradeSucceeded")]}),
            ),
        ]
        .into_iter()
        .map(release)
        .collect();
        let readiness = readiness(&statuses(), &spec(), &releases);
        assert_eq!((readiness.ready, readiness.total), (1, 3));
        assert_eq!(
            readiness.describe_not_ready(),
            "ns/b (its current generation is not observed by Flux yet), ns/c (not created yet)"
        );
        assert!(!readiness.all_ready());
    }

    #[test]
    fn a_terminal_failure_is_named_with_its_reason_and_long_lists_are_cut() {
        let releases: Releases = [object(
            "a",
            1,
            json!({"observedGeneration": 1, "conditions": [ready("False", "UpgradeFailed")]}),
        )]
        .into_iter()
        .map(release)
        .collect();
        let readiness = readiness(&statuses(), &spec(), &releases);
        assert!(readiness.not_ready[0].starts_with("ns/a (failed: UpgradeFailed)"));
        assert_eq!(readiness.failed, 1);
        let many = Readiness {
            ready: 0,
            total: 7,
            not_ready: (0..7).map(|i| format!("ns/r{i} (x)")).collect(),
            failed: 0,
        };
        assert!(many.describe_not_ready().ends_with("ns/r4 (x) and 2 more"));
    }
}
