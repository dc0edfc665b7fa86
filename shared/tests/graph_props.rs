//! Properties of the dependency graph and of defaulting, over random groups.

#![allow(clippy::expect_used)] // a failed expectation is the test failure

use orkestra_shared::admission::{check, mutate};
use orkestra_shared::graph::DependencyGraph;
use orkestra_shared::policy::Policy;
use proptest::prelude::*;
use serde_json::json;

/// Random dependency lists over `n` nodes named n0..n{n-1}; cycles allowed.
fn random_graph() -> impl Strategy<Value = Vec<Vec<usize>>> {
    (1usize..12)
        .prop_flat_map(|n| proptest::collection::vec(proptest::collection::vec(0..n, 0..4), n))
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("n{i}")).collect()
}

/// Reference: a node is on a cycle when it can reach itself through one or more edges.
fn has_cycle_brute_force(edges: &[Vec<usize>]) -> bool {
    (0..edges.len()).any(|start| {
        let mut seen = vec![false; edges.len()];
        let mut stack: Vec<usize> = edges[start]
            .iter()
            .copied()
            .filter(|&d| d != start)
            .collect();
        while let Some(node) = stack.pop() {
            if node == start {
                return true;
            }
            if !std::mem::replace(&mut seen[node], true) {
                stack.extend(edges[node].iter().copied().filter(|&d| d != node));
            }
        }
        false
    })
}

proptest! {
    #[test]
    fn cycle_detection_agrees_with_brute_force(edges in random_graph()) {
        let names = names(edges.len());
        let deps: Vec<Vec<String>> = edges.iter().map(|d| d.iter().map(|&i| names[i].clone()).collect()).collect();
        let graph = DependencyGraph::new(names.iter().map(String::as_str).zip(deps.iter().map(|d| d.iter())));
        let cycles = graph.cycles();
        prop_assert_eq!(!cycles.is_empty(), has_cycle_brute_force(&edges));
        prop_assert_eq!(graph.topological_order().is_err(), !cycles.is_empty());
        for cycle in &cycles {
            // Each reported cycle is a real closed path along dependency edges.
            prop_assert_eq!(cycle.first(), cycle.last());
            for pair in cycle.windows(2) {
                prop_assert!(graph.dependencies_of(&pair[0]).contains(&pair[1].as_str()));
            }
        }
        if let Ok(order) = graph.topological_order() {
            let position = |name: &str| order.iter().position(|n| *n == name);
            for (node, dependency) in graph.edges() {
                prop_assert!(position(dependency) < position(node));
            }
        }
    }

    #[test]
    fn validation_reports_a_cycle_exactly_when_there_is_one(edges in random_graph(), reversed in any::<bool>()) {
        // Validation has its own cycle check (an order search that needs no graph); it must agree too,
        // whether the list is written dependencies first or last.
        let names = names(edges.len());
        let mut apps: Vec<_> = edges.iter().enumerate().map(|(i, deps)| json!({
            "name": names[i],
            "dependencies": deps.iter().map(|&d| names[d].clone()).collect::<Vec<_>>(),
            "spec": {"chart": {"url": "https://c.example.com", "name": "c"}, "release": {}}
        })).collect();
        if reversed {
            apps.reverse();
        }
        let object = json!({"apiVersion": "orkestra.azure.microsoft.com/v1alpha1", "kind": "ApplicationGroup",
            "metadata": {"name": "g"}, "spec": {"applications": apps}});
        let errors = check(&object, &Policy::default()).err().unwrap_or_default();
        let reported = errors.iter().any(|e| e.message.starts_with("dependency cycle"));
        prop_assert_eq!(reported, has_cycle_brute_force(&edges), "{:?}", errors);
    }

    #[test]
    fn defaulting_is_idempotent(
        versions in proptest::collection::vec(proptest::option::of("[0-9]\\.[0-9]\\.[0-9]"), 1..6),
        timeouts in proptest::collection::vec(proptest::option::of("[1-9][0-9]?[smh]"), 6),
        with_executors in proptest::collection::vec(any::<bool>(), 6),
    ) {
        let apps: Vec<_> = versions.iter().enumerate().map(|(i, version)| {
            let mut app = json!({"name": format!("a{i}"), "spec": {
                "chart": {"url": "https://c.example.com", "name": "c"}, "release": {}}});
            if let Some(v) = version { app["spec"]["chart"]["version"] = json!(v); }
            if let Some(t) = &timeouts[i] { app["spec"]["release"]["timeout"] = json!(t); }
            if with_executors[i] { app["spec"]["workflow"] = json!([{"name": "x", "type": "helmrelease"}]); }
            app
        }).collect();
        let mut object = json!({"apiVersion": "orkestra.azure.microsoft.com/v1alpha1", "kind": "ApplicationGroup",
            "metadata": {"name": "g"}, "spec": {"applications": apps}});
        let patch = mutate(&object).expect("valid shape");
        json_patch::patch(&mut object, &patch).expect("patch applies");
        let again = mutate(&object).expect("valid shape");
        prop_assert!(again.0.is_empty(), "second patch not empty: {:?}", again);
    }
}
