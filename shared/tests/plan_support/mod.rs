//! Builders of defaulted group specs for the plan's tests and benchmark, and proptest
//! strategies of random ones ([`strategies`]).
#![allow(dead_code)]

pub mod strategies;

use orkestra_shared::crd::{
    Application, ApplicationGroupSpec, ApplicationSpec, ChartRef, Dag, Executor, ExecutorType,
    Release,
};
use orkestra_shared::plan::argo::{Template, Workflow};
use orkestra_shared::plan::{Resolved, ResolvedApplication, ResolvedSubchart};
use serde_json::Value;

/// A defaulted application of chart `chart` depending on `dependencies`.
pub fn app(name: &str, chart: &str, dependencies: &[&str]) -> Application {
    Application {
        name: name.to_owned(),
        dependencies: strings(dependencies),
        spec: Box::new(ApplicationSpec {
            chart: ChartRef {
                url: "https://charts.example.com".into(),
                name: chart.to_owned(),
                version: Some("*".into()),
                auth_secret_ref: None,
            },
            release: Release {
                interval: Some("5m".into()),
                target_namespace: name.to_owned(),
                timeout: Some("5m".into()),
                ..Release::default()
            },
            subcharts: Vec::new(),
            workflow: vec![executor("helmrelease", ExecutorType::Helmrelease, &[])],
        }),
    }
}

/// An executor.
pub fn executor(name: &str, executor_type: ExecutorType, dependencies: &[&str]) -> Executor {
    Executor {
        name: name.to_owned(),
        dependencies: strings(dependencies),
        executor_type,
        image: (executor_type == ExecutorType::Custom)
            .then(|| format!("example.com/{name}:1").into()),
        params: (executor_type != ExecutorType::Helmrelease)
            .then(|| serde_json::json!({"check": name})),
    }
}

/// A subchart entry.
pub fn subchart(name: &str, dependencies: &[&str]) -> Dag {
    Dag {
        name: name.to_owned(),
        dependencies: strings(dependencies),
    }
}

/// A group of applications.
pub fn group(applications: Vec<Application>) -> ApplicationGroupSpec {
    ApplicationGroupSpec {
        applications,
        interval: None,
    }
}

/// The bookinfo example of the design: an umbrella chart with ordered subcharts, values with a
/// global section, and a custom executor after the HelmRelease one.
pub fn bookinfo() -> ApplicationGroupSpec {
    let ambassador = app("ambassador", "ambassador", &[]);
    let mut bookinfo = app("bookinfo", "bookinfo", &["ambassador"]);
    bookinfo.spec.subcharts = vec![
        subchart("productpage", &["reviews"]),
        subchart("reviews", &["details", "ratings"]),
        subchart("details", &[]),
        subchart("ratings", &[]),
    ];
    bookinfo.spec.release.values = Some(
        serde_json::json!({
            "global": {"domain": "example.com"},
            "productpage": {"replicas": 2},
            "reviews": {"version": "v3"},
            "ingress": {"enabled": true},
        })
        .into(),
    );
    bookinfo.spec.workflow = vec![
        executor("helmrelease", ExecutorType::Helmrelease, &[]),
        executor("smoke", ExecutorType::Custom, &["helmrelease"]),
        executor("quality", ExecutorType::Keptn, &["helmrelease"]),
    ];
    group(vec![ambassador, bookinfo])
}

/// `count` applications in layers of 10, each depending on two of the layer before, each with
/// `subcharts` subcharts in a chain: the largest group the workflow engine's limits allow is
/// `large(190, 5)`.
pub fn large(count: usize, subcharts: usize) -> ApplicationGroupSpec {
    let names: Vec<String> = (0..count).map(|i| format!("application-{i:03}")).collect();
    let applications = (0..count)
        .map(|i| {
            let dependencies: Vec<&str> = if i >= 10 {
                let layer = i / 10 * 10 - 10;
                vec![
                    names[layer + i % 10].as_str(),
                    names[layer + (i + 3) % 10].as_str(),
                ]
            } else {
                Vec::new()
            };
            let mut application = app(&names[i], &format!("chart-{}", i % 7), &dependencies);
            application.spec.subcharts = (0..subcharts)
                .map(|s| {
                    let name = format!("sub{s}");
                    let previous = format!("sub{}", s.wrapping_sub(1));
                    let dependencies = [previous.as_str()];
                    subchart(&name, if s == 0 { &[] } else { &dependencies })
                })
                .collect();
            application.spec.release.values = Some(
                Value::Object(
                    (0..subcharts)
                        .map(|s| (format!("sub{s}"), serde_json::json!({"replicas": s})))
                        .collect(),
                )
                .into(),
            );
            application
        })
        .collect();
    group(applications)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// What staging would learn about the `bookinfo` application: chart 1.2.3, its subcharts
/// `reviews` 0.4.0 and `mongodb` 10.0.0, with the values keys given (aliases).
pub fn bookinfo_resolved(reviews_key: Option<&str>, mongodb_key: Option<&str>) -> Resolved {
    let subchart = |version: &str, key: Option<&str>| ResolvedSubchart {
        version: Some(version.into()),
        values_key: key.map(Into::into),
    };
    let mut resolved = Resolved::default();
    resolved.applications.insert(
        "bookinfo".into(),
        ResolvedApplication {
            version: Some("1.2.3".into()),
            subcharts: [
                ("reviews".into(), subchart("0.4.0", reviews_key)),
                ("mongodb".into(), subchart("10.0.0", mongodb_key)),
            ]
            .into(),
        },
    );
    resolved
}

/// The template of `workflow` named `name`; panics naming it when there is none.
pub fn template<'w>(workflow: &'w Workflow, name: &str) -> &'w Template {
    workflow
        .spec
        .templates
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no template {name}"))
}
