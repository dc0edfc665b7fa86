//! What staging reports per application and subchart, ready for the group's status.

use std::collections::BTreeMap;

use orkestra_shared::crd::{ApplicationStatus, ChartStatus};
use serde::Serialize;

use crate::staging::error::ApplicationError;

/// Where a chart ended up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushedChart {
    /// `oci://host/path/name` or the ChartMuseum download URL.
    pub reference: String,
    /// The OCI tag (or version for ChartMuseum).
    pub tag: String,
    /// The OCI manifest digest (or the archive digest for ChartMuseum), `sha256:…`.
    pub digest: String,
    /// Bytes actually uploaded (0 when everything was already there).
    pub pushed_bytes: u64,
}

/// The staging outcome of one chart (an application's own, or a split subchart).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StagedChart {
    /// Name of the chart in the staging repository (for subcharts, the staged name).
    pub chart: String,
    /// The resolved chart version.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// A split subchart's values key in its parent: the parent's Chart.yaml dependency `alias`,
    /// else the chart's name. The plan moves the release values under this key to the
    /// subchart's HelmRelease. `None` for an application's own chart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values_key: Option<String>,
    /// True once the chart is in the staging repository.
    pub staged: bool,
    /// Where it was pushed: `oci://host/path/name` or a ChartMuseum URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// OCI manifest digest (ChartMuseum: archive digest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Bytes uploaded for this chart; 0 when it was already staged.
    pub pushed_bytes: u64,
    /// Why staging failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error's category (see `StagingError::category`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_category: Option<String>,
}

impl StagedChart {
    pub(crate) fn named(chart: &str) -> Self {
        Self {
            chart: chart.to_owned(),
            ..Self::default()
        }
    }

    pub(crate) fn fail(&mut self, err: &ApplicationError) {
        self.error = Some(err.to_string());
        self.error_category = Some(err.source.category().to_owned());
        self.staged = false;
    }

    pub(crate) fn pushed(&mut self, pushed: PushedChart) {
        self.staged = true;
        self.reference = Some(pushed.reference);
        self.digest = Some(pushed.digest);
        self.pushed_bytes = pushed.pushed_bytes;
    }

    /// The status fields this chart contributes (`conditions` are the HelmRelease's, not ours).
    pub fn to_status(&self) -> ChartStatus {
        ChartStatus {
            error: self.error.clone().unwrap_or_default(),
            version: self.version.clone(),
            staged: self.staged,
            conditions: Vec::new(),
        }
    }
}

/// The staging outcome of one application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStaging {
    /// The application's name.
    pub name: String,
    /// Its own chart.
    #[serde(flatten)]
    pub chart: StagedChart,
    /// Split subcharts by their name in `spec.subcharts`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub subcharts: BTreeMap<String, StagedChart>,
}

impl ApplicationStaging {
    /// True when the chart and every listed subchart are staged.
    pub fn is_staged(&self) -> bool {
        self.chart.staged && self.subcharts.values().all(|s| s.staged)
    }

    /// The first error's category, for metrics and backoff; `None` when staging succeeded.
    pub fn error_category(&self) -> Option<&str> {
        self.chart.error_category.as_deref().or_else(|| {
            self.subcharts
                .values()
                .find_map(|s| s.error_category.as_deref())
        })
    }

    /// The first error message, if any.
    pub fn error(&self) -> Option<&str> {
        self.chart
            .error
            .as_deref()
            .or_else(|| self.subcharts.values().find_map(|s| s.error.as_deref()))
    }

    /// Bytes uploaded for the application and its subcharts.
    pub fn pushed_bytes(&self) -> u64 {
        self.chart.pushed_bytes + self.subcharts.values().map(|s| s.pushed_bytes).sum::<u64>()
    }

    /// The application's entry in `status.applications` (HelmRelease conditions left empty).
    pub fn to_status(&self) -> ApplicationStatus {
        ApplicationStatus {
            name: self.name.clone(),
            chart: self.chart.to_status(),
            subcharts: self
                .subcharts
                .iter()
                .map(|(k, v)| (k.clone(), v.to_status()))
                .collect(),
        }
    }
}
