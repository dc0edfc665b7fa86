//! Defaults the mutating webhook fills in, and nothing else. Applying them twice changes nothing.

use crate::crd::{ApplicationGroupSpec, Executor, ExecutorType};

mod patch;
pub use patch::{Presence, defaults_patch};

/// Chart version when none is given: the newest in the repository.
pub const CHART_VERSION: &str = "*";
/// Helm action timeout when none is given (Flux's and Azure Orkestra's default).
pub const RELEASE_TIMEOUT: &str = "5m";
/// HelmRelease reconcile interval when none is given (Azure Orkestra's default).
pub const RELEASE_INTERVAL: &str = "5m";
/// Name of the executor an application gets when it lists none.
pub const EXECUTOR_NAME: &str = "helmrelease";

/// The executor an application runs when it lists none: install the chart through a HelmRelease.
pub fn default_executor() -> Executor {
    Executor {
        name: EXECUTOR_NAME.to_owned(),
        executor_type: ExecutorType::Helmrelease,
        ..Executor::default()
    }
}

/// Fills every default into `spec`. Dependency lists need no work here: they are always serialized,
/// so a missing list comes out as `[]`.
pub fn apply(spec: &mut ApplicationGroupSpec) {
    for app in &mut spec.applications {
        let chart = &mut app.spec.chart;
        if chart.version.as_deref().is_none_or(str::is_empty) {
            chart.version = Some(CHART_VERSION.to_owned());
        }
        let release = &mut app.spec.release;
        release
            .timeout
            .get_or_insert_with(|| RELEASE_TIMEOUT.to_owned());
        release
            .interval
            .get_or_insert_with(|| RELEASE_INTERVAL.to_owned());
        if app.spec.workflow.is_empty() {
            app.spec.workflow.push(default_executor());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::Application;

    #[test]
    fn every_default_is_filled_once() {
        let mut spec = ApplicationGroupSpec {
            applications: vec![Application::default()],
            interval: None,
        };
        apply(&mut spec);
        let once = spec.clone();
        apply(&mut spec);
        assert_eq!(spec, once);
        let app = &spec.applications[0].spec;
        assert_eq!(app.chart.version.as_deref(), Some("*"));
        assert_eq!(app.release.timeout.as_deref(), Some("5m"));
        assert_eq!(app.release.interval.as_deref(), Some("5m"));
        assert_eq!(app.workflow, vec![default_executor()]);
    }

    #[test]
    fn given_values_are_kept() {
        let mut spec = ApplicationGroupSpec {
            applications: vec![Application::default()],
            interval: None,
        };
        spec.applications[0].spec.chart.version = Some("^1.2".into());
        spec.applications[0].spec.release.timeout = Some("10m".into());
        apply(&mut spec);
        assert_eq!(
            spec.applications[0].spec.chart.version.as_deref(),
            Some("^1.2")
        );
        assert_eq!(
            spec.applications[0].spec.release.timeout.as_deref(),
            Some("10m")
        );
    }
}
