//! Proptest strategies of random acyclic, defaulted groups, for the plan's properties
//! (shared/tests/plan_props.rs) and Argo's lint of what it plans (tests/tests/plan_lint.rs).

use orkestra_shared::crd::{ApplicationGroupSpec, ExecutorType};
use proptest::prelude::*;

use super::{app, executor, group, subchart};

/// (name, [indices of earlier nodes it depends on]) lists: acyclic by construction.
pub fn dag(max: usize) -> impl Strategy<Value = Vec<Vec<usize>>> {
    (1..=max).prop_flat_map(|n| {
        (0..n)
            .map(|i| proptest::sample::subsequence((0..i).collect::<Vec<_>>(), 0..=i.min(3)))
            .collect::<Vec<_>>()
    })
}

/// `count` distinct names of up to 63 characters.
pub fn names(count: usize) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,58}[a-z0-9])?", count).prop_map(|prefixes| {
        prefixes
            .into_iter()
            .enumerate()
            .map(|(i, p)| format!("{}{i}", &p[..p.len().min(60)]))
            .collect()
    })
}

pub fn executor_type() -> impl Strategy<Value = ExecutorType> {
    prop_oneof![
        Just(ExecutorType::Helmrelease),
        Just(ExecutorType::Keptn),
        Just(ExecutorType::Custom)
    ]
}

prop_compose! {
    /// A group of up to 12 applications in random order, each with up to 4 subcharts and up to
    /// 3 executors of random types, all with random acyclic dependencies.
    pub fn application_group()(apps in dag(12))(
        names in names(apps.len()),
        subcharts in proptest::collection::vec(dag(4).prop_map(Some).boxed().prop_union(Just(None).boxed()), apps.len()),
        executors in proptest::collection::vec(dag(3), apps.len()),
        types in proptest::collection::vec(proptest::collection::vec(executor_type(), 3), apps.len()),
        order in Just((0..apps.len()).collect::<Vec<_>>()).prop_shuffle(),
        apps in Just(apps),
    ) -> ApplicationGroupSpec {
        let mut applications: Vec<_> = apps.iter().enumerate().map(|(i, deps)| {
            let deps: Vec<&str> = deps.iter().map(|&d| names[d].as_str()).collect();
            let mut a = app(&names[i], &format!("chart{}", i % 3), &deps);
            if let Some(subs) = &subcharts[i] {
                a.spec.subcharts = subs.iter().enumerate().map(|(s, deps)| {
                    let deps: Vec<String> = deps.iter().map(|d| format!("s{d}")).collect();
                    subchart(&format!("s{s}"), &deps.iter().map(String::as_str).collect::<Vec<_>>())
                }).collect();
            }
            a.spec.workflow = executors[i].iter().enumerate().map(|(e, deps)| {
                let deps: Vec<String> = deps.iter().map(|d| format!("e{d}")).collect();
                executor(&format!("e{e}"), types[i][e], &deps.iter().map(String::as_str).collect::<Vec<_>>())
            }).collect();
            a
        }).collect();
        applications = order.iter().map(|&i| applications[i].clone()).collect();
        group(applications)
    }
}
