//! One HelmRelease per chart of an application: its own chart and each split subchart.
//!
//! - name: [`names::release_name`] / [`names::subchart_release_name`]; the Helm release name too;
//! - namespace: the release's target namespace, `default` when empty;
//! - chart: the application's chart, or [`names::staged_chart_name`] for a subchart, from the
//!   staging repository; version: the resolved one when staging reported it, else the spec's
//!   constraint (parent) or `*` (subchart: the spec's constraint is the parent's);
//! - values: split as described in `flux`; valuesFrom and the Helm action settings as given.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::config::PlanConfig;
use super::error::PlanError;
use super::flux::{self, HelmChartTemplate, HelmChartTemplateSpec, HelmRelease, HelmReleaseSpec};
use super::resolved::ResolvedApplication;
use crate::crd::Application;
use crate::free_form::FreeForm;
use crate::names;

/// Namespace of a release whose target namespace is empty (Flux's and Helm's default).
const DEFAULT_NAMESPACE: &str = "default";
/// Interval and timeout when the spec has none (the defaulter's value).
pub const DEFAULT_DURATION: &str = "5m";

/// The charts of one application, as the plan deploys them.
#[derive(Debug)]
pub struct Charts<'a> {
    /// Value of the owner label.
    pub owner: &'a str,
    pub config: &'a PlanConfig,
    pub app: &'a Application,
    pub resolved: Option<&'a ResolvedApplication>,
    /// Split subcharts: listed, then discovered.
    pub subcharts: &'a [(&'a str, &'a [String])],
    /// The application's release values, read once for all of its charts.
    pub values: Option<Value>,
}

impl Charts<'_> {
    /// The key of a subchart's values in the parent's values.
    fn values_key(&self, subchart: &str) -> String {
        self.resolved
            .and_then(|r| r.subcharts.get(subchart))
            .and_then(|s| s.values_key.clone())
            .unwrap_or_else(|| subchart.to_owned())
    }

    /// The HelmRelease of the application's own chart (`subchart` None) or of a split subchart.
    pub fn helm_release(&self, subchart: Option<&str>) -> Result<HelmRelease, PlanError> {
        let app = self.app;
        let release = &app.spec.release;
        let parent_chart = &app.spec.chart.name;
        // NB: a referenced values document cannot be split across releases as `values` is (by
        // subchart key), so `valuesFrom` reaches only the application's own chart; admission warns.
        let (name, chart, version, values, values_from) = match subchart {
            None => {
                let keys: Vec<String> = self
                    .subcharts
                    .iter()
                    .map(|(s, _)| self.values_key(s))
                    .collect();
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                let version = self
                    .resolved
                    .and_then(|r| r.version.clone())
                    .or_else(|| app.spec.chart.version.clone());
                let values = flux::parent_values(self.values.as_ref(), &keys);
                (
                    names::release_name(&app.name),
                    parent_chart.clone(),
                    version,
                    values,
                    release.values_from.clone(),
                )
            }
            Some(sub) => {
                let version = self
                    .resolved
                    .and_then(|r| r.subcharts.get(sub))
                    .and_then(|s| s.version.clone());
                let values = flux::subchart_values(self.values.as_ref(), &self.values_key(sub));
                (
                    names::subchart_release_name(&app.name, sub),
                    names::staged_chart_name(parent_chart, sub),
                    version,
                    values,
                    Vec::new(),
                )
            }
        };
        let namespace = if release.target_namespace.is_empty() {
            DEFAULT_NAMESPACE.to_owned()
        } else {
            release.target_namespace.clone()
        };
        if !names::is_dns1123_label(&name) {
            return Err(PlanError::InvalidName {
                what: "HelmRelease".into(),
                name,
            });
        }
        if !names::is_dns1123_label(&namespace) {
            return Err(PlanError::InvalidName {
                what: "namespace".into(),
                name: namespace,
            });
        }
        Ok(HelmRelease {
            api_version: flux::API_VERSION.into(),
            kind: flux::KIND.into(),
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace),
                labels: Some(BTreeMap::from([
                    (names::OWNER_LABEL.to_owned(), self.owner.to_owned()),
                    (
                        names::HERITAGE_LABEL.to_owned(),
                        names::HERITAGE_VALUE.to_owned(),
                    ),
                    (
                        names::CHART_LABEL.to_owned(),
                        names::bounded_name(&[&chart], names::MAX_LABEL_LEN),
                    ),
                ])),
                ..Default::default()
            },
            spec: HelmReleaseSpec {
                release_name: name,
                chart: HelmChartTemplate {
                    spec: HelmChartTemplateSpec {
                        chart,
                        version: version.unwrap_or_else(|| "*".into()),
                        source_ref: self.config.staging_source.clone(),
                    },
                },
                interval: release
                    .interval
                    .clone()
                    .unwrap_or_else(|| DEFAULT_DURATION.into()),
                timeout: release.timeout.clone(),
                values,
                values_from,
                install: release.install.as_ref().map(FreeForm::to_value),
                upgrade: release.upgrade.as_ref().map(FreeForm::to_value),
                rollback: release.rollback.as_ref().map(FreeForm::to_value),
                uninstall: release.uninstall.as_ref().map(FreeForm::to_value),
            },
        })
    }
}
