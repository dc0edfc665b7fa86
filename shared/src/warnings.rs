//! Warnings shown by kubectl as admission warnings: risky changes in an update, and what will
//! fail although it is accepted.

use std::collections::HashMap;

use crate::crd::{Application, ApplicationGroupSpec, ExecutorType};
use crate::validate::effective_namespace;
use crate::version::VersionConstraint;

/// Why a keptn step fails: said at admission and by the step itself.
pub const KEPTN_UNSUPPORTED: &str = "keptn steps fail in this version of Orkestra: Keptn cannot run \
     with it and Keptn's v1 line is no longer maintained (the executor is accepted so that Azure \
     Orkestra's groups still apply)";

/// A warning for each keptn executor of `spec`: the group is accepted, but those steps will fail.
pub fn keptn_warnings(spec: &ApplicationGroupSpec) -> Vec<String> {
    spec.applications
        .iter()
        .flat_map(|app| {
            app.spec
                .workflow
                .iter()
                .filter(|e| e.executor_type == ExecutorType::Keptn)
                .map(move |e| {
                    format!(
                        "application {:?}, executor {:?}: {KEPTN_UNSUPPORTED}",
                        app.name, e.name
                    )
                })
        })
        .collect()
}

/// A warning for each application that splits subcharts and takes `valuesFrom`: the referenced
/// documents reach its own chart's HelmRelease only (a document cannot be split by subchart key as
/// `values` is).
pub fn values_from_warnings(spec: &ApplicationGroupSpec) -> Vec<String> {
    spec.applications
        .iter()
        .filter(|app| !app.spec.release.values_from.is_empty() && !app.spec.subcharts.is_empty())
        .map(|app| {
            format!(
                "application {:?}: valuesFrom reaches only the HelmRelease of its own chart, not those \
                 of its split subcharts: put a split subchart's values under its key in `values`",
                app.name
            )
        })
        .collect()
}

/// What a user should know before `old` becomes `new`. Changes that are not risky say nothing.
pub fn update_warnings(old: &ApplicationGroupSpec, new: &ApplicationGroupSpec) -> Vec<String> {
    let before: HashMap<&str, &Application> = old
        .applications
        .iter()
        .map(|a| (a.name.as_str(), a))
        .collect();
    let kept: std::collections::HashSet<&str> =
        new.applications.iter().map(|a| a.name.as_str()).collect();
    let mut warnings = Vec::new();
    for app in &new.applications {
        let Some(previous) = before.get(app.name.as_str()) else {
            continue;
        };
        let (from, to) = (
            effective_namespace(&previous.spec.release),
            effective_namespace(&app.spec.release),
        );
        if from != to {
            warnings.push(format!(
                "application {:?} moves from namespace {from:?} to {to:?}: its release in {from:?} is uninstalled \
                 and installed anew in {to:?}",
                app.name
            ));
        }
        if let (Some(was), Some(now)) = (major(previous), major(app))
            && now > was
        {
            warnings.push(format!(
                    "application {:?}: chart {:?} jumps from major version {was} to {now}; read the chart's upgrade \
                     notes before applying",
                    app.name, app.spec.chart.name
                ));
        }
    }
    for app in &old.applications {
        if !kept.contains(app.name.as_str()) {
            warnings.push(format!(
                "application {:?} is removed from the group: its release will be uninstalled",
                app.name
            ));
        }
    }
    warnings
}

fn major(app: &Application) -> Option<u64> {
    VersionConstraint::parse(app.spec.chart.version.as_deref().unwrap_or("*"))
        .ok()?
        .lowest_major()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(apps: &[(&str, &str, &str)]) -> ApplicationGroupSpec {
        let mut spec = ApplicationGroupSpec::default();
        for (name, namespace, version) in apps {
            let mut app = Application {
                name: (*name).into(),
                ..Application::default()
            };
            app.spec.release.target_namespace = (*namespace).into();
            app.spec.chart.version = Some((*version).into());
            spec.applications.push(app);
        }
        spec
    }

    #[test]
    fn risky_changes_are_named() {
        let old = spec(&[("a", "one", "1.2.0"), ("b", "x", "*"), ("c", "x", "^1")]);
        let new = spec(&[("a", "two", "1.3.0"), ("b", "x", "*"), ("c", "x", "2.0.1")]);
        let warnings = update_warnings(&old, &new);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("\"a\" moves from namespace \"one\" to \"two\""));
        assert!(warnings[1].contains("jumps from major version 1 to 2"));
    }

    #[test]
    fn removed_applications_are_named_and_unchanged_groups_say_nothing() {
        let old = spec(&[("a", "x", "1.0.0"), ("gone", "x", "1.0.0")]);
        let new = spec(&[("a", "x", "1.0.0")]);
        assert_eq!(
            update_warnings(&old, &new),
            vec![
                "application \"gone\" is removed from the group: its release will be uninstalled"
                    .to_owned()
            ]
        );
        assert!(update_warnings(&new, &new).is_empty());
    }
}
