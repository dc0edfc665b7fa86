//! What staging learned about the charts, which the plan uses in place of the spec's constraints.

use std::collections::BTreeMap;

/// What staging learned about the charts; [`Resolved::default`] knows nothing (each HelmRelease
/// then carries the spec's version constraint and only listed subcharts are planned).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// Per application name.
    pub applications: BTreeMap<String, ResolvedApplication>,
}

impl Resolved {
    /// What the group's status records of staging: each application's resolved version and its
    /// split subcharts (with their versions). Values keys (aliases) are not in the status, so
    /// subchart values are looked up under the subchart's name.
    pub fn from_status(applications: &[crate::crd::ApplicationStatus]) -> Self {
        let version = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        let applications = applications
            .iter()
            .map(|app| {
                let subcharts = app
                    .subcharts
                    .iter()
                    .map(|(name, chart)| {
                        (
                            name.clone(),
                            ResolvedSubchart {
                                version: version(&chart.version),
                                values_key: None,
                            },
                        )
                    })
                    .collect();
                (
                    app.name.clone(),
                    ResolvedApplication {
                        version: version(&app.chart.version),
                        subcharts,
                    },
                )
            })
            .collect();
        Self { applications }
    }
}

/// What staging learned about one application's chart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedApplication {
    /// The chart version the constraint resolved to.
    pub version: Option<String>,
    /// Split subcharts by name: those listed in the spec, and any others staging split out of the
    /// umbrella chart ("discovered": planned without dependencies, before the parent).
    pub subcharts: BTreeMap<String, ResolvedSubchart>,
}

/// What staging learned about one split subchart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedSubchart {
    /// The subchart's own version (its Chart.yaml). Unknown → `*`: the spec's constraint is the
    /// parent's, not the subchart's.
    pub version: Option<String>,
    /// The key of its values in the parent (the dependency's alias); the subchart name when unknown.
    pub values_key: Option<String>,
}
