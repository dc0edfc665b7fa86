//! Rules every dependency list follows: applications in a group, subcharts of a chart, executors of
//! an application.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::field_error::FieldError;
use crate::graph::{DependencyGraph, format_cycle};
use crate::names::is_dns1123_label;

/// A named node and its dependencies, as written in the spec.
pub(super) struct Node<'a> {
    pub name: &'a str,
    pub dependencies: &'a [String],
}

/// Checks names (DNS-1123 labels, unique) and dependencies (known, not self, not repeated, no
/// cycles) of the nodes listed at `path` (`spec.applications`), calling each node a `kind`.
pub(super) fn check(path: &str, kind: &str, nodes: &[Node<'_>], errors: &mut Vec<FieldError>) {
    // NB: admission runs on every apply of groups with thousands of nodes: paths are only formatted
    // for errors, and the graph is only built when there are edges that could close a cycle.
    let mut first_index: FxHashMap<&str, usize> = FxHashMap::default();
    first_index.reserve(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let name_path = || format!("{path}[{i}].name");
        if node.name.is_empty() {
            errors.push(FieldError::new(
                name_path(),
                format!("{kind} name is required"),
            ));
        } else if !is_dns1123_label(node.name) {
            errors.push(FieldError::new(name_path(), label_message(kind, node.name)));
        } else if let Some(first) = first_index.get(node.name) {
            errors.push(FieldError::new(
                name_path(),
                format!(
                    "duplicate {kind} name {:?} (also {path}[{first}])",
                    node.name
                ),
            ));
        } else {
            first_index.insert(node.name, i);
        }
    }

    let mut has_edges = false;
    let mut seen = FxHashSet::default();
    for (i, node) in nodes.iter().enumerate() {
        seen.clear();
        for (j, dependency) in node.dependencies.iter().enumerate() {
            let dependency_path = || format!("{path}[{i}].dependencies[{j}]");
            if dependency == node.name {
                errors.push(FieldError::new(
                    dependency_path(),
                    format!("{kind} {:?} depends on itself", node.name),
                ));
            } else if !first_index.contains_key(dependency.as_str()) {
                errors.push(FieldError::new(
                    dependency_path(),
                    format!("unknown {kind} {dependency:?}: it is not in {path}"),
                ));
            } else if !seen.insert(dependency.as_str()) {
                errors.push(FieldError::new(
                    dependency_path(),
                    format!("duplicate dependency {dependency:?}"),
                ));
            } else {
                has_edges = true;
            }
        }
    }

    if !has_edges {
        return;
    }
    let graph = DependencyGraph::new(nodes.iter().map(|n| (n.name, n.dependencies.iter())));
    for cycle in graph.cycles() {
        errors.push(FieldError::new(
            path,
            format!("dependency cycle: {}", format_cycle(&cycle)),
        ));
    }
}

/// Why `name` is not a valid name for a `kind`.
pub(super) fn label_message(kind: &str, name: &str) -> String {
    let shown: String = name.chars().take(70).collect();
    let ellipsis = if name.chars().count() > 70 { "…" } else { "" };
    format!(
        "invalid {kind} name {shown:?}{ellipsis} ({} characters): use at most 63 lower case letters, digits \
         and '-', starting and ending with a letter or digit",
        name.chars().count()
    )
}
