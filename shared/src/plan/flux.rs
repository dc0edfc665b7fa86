//! The subset of Flux's `HelmRelease` (helm.toolkit.fluxcd.io/v2) that the plan emits, and how an
//! application's release settings become one HelmRelease per chart.
//!
//! Values are split the way Helm would have routed them inside the umbrella chart: the parent
//! keeps the user's values minus the sections of the subcharts that were split out (it no longer
//! renders them), and each split subchart gets its own section as its root values, with the
//! parent's `global` merged under `global` (the subchart's own `global` keys win, as Helm's
//! coalescing gives the more specific value precedence).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::crd::ValuesReference;

/// API version of Flux's HelmRelease.
pub const API_VERSION: &str = "helm.toolkit.fluxcd.io/v2";
/// Kind of Flux's HelmRelease.
pub const KIND: &str = "HelmRelease";

/// A Flux HelmRelease.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HelmRelease {
    /// Always [`API_VERSION`].
    pub api_version: String,
    /// Always [`KIND`].
    pub kind: String,
    /// Name, namespace and labels.
    pub metadata: ObjectMeta,
    /// What to release and how.
    pub spec: HelmReleaseSpec,
}

impl HelmRelease {
    /// Name of the object (and of the Helm release).
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    /// Namespace of the object (and of the Helm release).
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or_default()
    }
}

/// The spec of a HelmRelease.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HelmReleaseSpec {
    /// Name of the Helm release.
    pub release_name: String,
    /// The chart, from a HelmRepository.
    pub chart: HelmChartTemplate,
    /// How often Flux reconciles the release.
    pub interval: String,
    /// Timeout of each Helm operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Values for the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Value>,
    /// Secrets and ConfigMaps holding further values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<ValuesReference>,
    /// Helm install settings, as the user gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<Value>,
    /// Helm upgrade settings, as the user gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Value>,
    /// Helm rollback settings, as the user gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Value>,
    /// Helm uninstall settings, as the user gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uninstall: Option<Value>,
}

/// `spec.chart` of a HelmRelease.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartTemplate {
    /// The chart and its source.
    pub spec: HelmChartTemplateSpec,
}

/// `spec.chart.spec` of a HelmRelease.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartTemplateSpec {
    /// Name of the chart in the source.
    pub chart: String,
    /// Exact version or semver range.
    pub version: String,
    /// The source holding the chart.
    pub source_ref: SourceRef,
}

/// A reference to a Flux source (the staging repository).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    /// Kind of the source. NB: `spec.chart.spec.sourceRef` only accepts HelmRepository,
    /// GitRepository and Bucket; an OCI staging registry is a HelmRepository of `type: oci`.
    pub kind: String,
    /// Name of the source object.
    pub name: String,
    /// Namespace of the source object.
    pub namespace: String,
}

impl Default for SourceRef {
    fn default() -> Self {
        Self {
            kind: "HelmRepository".into(),
            name: super::DEFAULT_STAGING_SOURCE_NAME.into(),
            namespace: super::DEFAULT_STAGING_SOURCE_NAMESPACE.into(),
        }
    }
}

/// The parent chart's values: the user's values without the sections of split subcharts (`keys`).
/// `None` when nothing is left, so the HelmRelease carries no empty `values`.
pub fn parent_values(values: Option<&Value>, keys: &[&str]) -> Option<Value> {
    match values? {
        Value::Object(map) => {
            let kept: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| !keys.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        other => Some(other.clone()),
    }
}

/// A split subchart's values: the parent's section for it (`values[key]`), with the parent's
/// `global` merged in. `None` when both are absent.
pub fn subchart_values(values: Option<&Value>, key: &str) -> Option<Value> {
    let values = values?;
    let section = values.get(key).filter(|v| v.is_object()).cloned();
    let global = values.get("global").filter(|v| v.is_object());
    match (section, global) {
        (None, None) => None,
        (Some(section), None) => Some(section),
        (section, Some(global)) => {
            let mut out = match section {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            };
            let mut merged = global.clone();
            if let Some(own) = out.get("global") {
                merge(&mut merged, own);
            }
            out.insert("global".into(), merged);
            Some(Value::Object(out))
        }
    }
}

/// Merges `overlay` into `base`: maps key by key, anything else replaces.
fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_parent_loses_the_sections_of_split_subcharts_only() {
        let values = json!({"global": {"env": "prod"}, "reviews": {"replicas": 2}, "image": "x"});
        assert_eq!(
            parent_values(Some(&values), &["reviews", "ratings"]),
            Some(json!({"global": {"env": "prod"}, "image": "x"}))
        );
        assert_eq!(
            parent_values(Some(&json!({"reviews": {}})), &["reviews"]),
            None
        );
        assert_eq!(parent_values(None, &["reviews"]), None);
    }

    #[test]
    fn a_subchart_gets_its_section_and_the_global_values() {
        let values = json!({"global": {"env": "prod", "tier": 1}, "reviews": {"replicas": 2, "global": {"tier": 2}}});
        assert_eq!(
            subchart_values(Some(&values), "reviews"),
            Some(json!({"replicas": 2, "global": {"env": "prod", "tier": 2}}))
        );
        assert_eq!(
            subchart_values(Some(&values), "ratings"),
            Some(json!({"global": {"env": "prod", "tier": 1}}))
        );
        assert_eq!(
            subchart_values(Some(&json!({"image": "x"})), "ratings"),
            None
        );
    }
}
