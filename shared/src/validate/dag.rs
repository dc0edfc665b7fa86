//! Rules every dependency list follows: applications in a group, subcharts of a chart, executors of
//! an application.

use rustc_hash::{FxHashMap, FxHashSet};
use std::fmt::Display;

use crate::crd::{Application, Dag, Executor};
use crate::field_error::FieldError;
use crate::graph::{DependencyGraph, format_cycle};
use crate::names::is_dns1123_label;

/// Something listed by name, with the names of what it depends on.
pub(super) trait Node {
    fn name(&self) -> &str;
    fn dependencies(&self) -> &[String];
}

impl Node for Application {
    fn name(&self) -> &str {
        &self.name
    }
    fn dependencies(&self) -> &[String] {
        &self.dependencies
    }
}

impl Node for Dag {
    fn name(&self) -> &str {
        &self.name
    }
    fn dependencies(&self) -> &[String] {
        &self.dependencies
    }
}

impl Node for Executor {
    fn name(&self) -> &str {
        &self.name
    }
    fn dependencies(&self) -> &[String] {
        &self.dependencies
    }
}

/// Checks dependency lists, keeping its tables between lists: one group has a list of applications
/// and one list of subcharts and one of executors per application, so reuse saves thousands of
/// allocations on large groups.
#[derive(Debug, Default)]
pub(super) struct DagCheck<'a> {
    /// Name → index of its first valid occurrence.
    first_index: FxHashMap<&'a str, usize>,
    /// Dependencies already seen on the current node.
    seen: FxHashSet<&'a str>,
    /// `(node, dependency)` index pairs of the valid dependencies.
    edges: Vec<(usize, usize)>,
}

impl<'a> DagCheck<'a> {
    /// Checks names (DNS-1123 labels, unique) and dependencies (known, not self, not repeated, no
    /// cycles) of the nodes listed at `path` (`spec.applications`), calling each node a `kind`.
    pub(super) fn check<N: Node>(
        &mut self,
        path: impl Display,
        kind: &str,
        nodes: &'a [N],
        errors: &mut Vec<FieldError>,
    ) {
        // NB: admission runs on every apply of groups with thousands of nodes: paths are only
        // formatted for errors, and the cycle search only runs when an order is impossible.
        self.first_index.clear();
        self.first_index.reserve(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let name = node.name();
            let name_path = || format!("{path}[{i}].name");
            if name.is_empty() {
                errors.push(FieldError::new(
                    name_path(),
                    format!("{kind} name is required"),
                ));
            } else if !is_dns1123_label(name) {
                errors.push(FieldError::new(name_path(), label_message(kind, name)));
            } else if let Some(first) = self.first_index.get(name) {
                errors.push(FieldError::new(
                    name_path(),
                    format!("duplicate {kind} name {name:?} (also {path}[{first}])"),
                ));
            } else {
                self.first_index.insert(name, i);
            }
        }

        self.edges.clear();
        for (i, node) in nodes.iter().enumerate() {
            self.seen.clear();
            for (j, dependency) in node.dependencies().iter().enumerate() {
                let dependency_path = || format!("{path}[{i}].dependencies[{j}]");
                if dependency == node.name() {
                    errors.push(FieldError::new(
                        dependency_path(),
                        format!("{kind} {:?} depends on itself", node.name()),
                    ));
                } else if let Some(&target) = self.first_index.get(dependency.as_str()) {
                    if self.seen.insert(dependency.as_str()) {
                        self.edges.push((i, target));
                    } else {
                        errors.push(FieldError::new(
                            dependency_path(),
                            format!("duplicate dependency {dependency:?}"),
                        ));
                    }
                } else {
                    errors.push(FieldError::new(
                        dependency_path(),
                        format!("unknown {kind} {dependency:?}: it is not in {path}"),
                    ));
                }
            }
        }

        if has_order(nodes.len(), &mut self.edges) {
            return;
        }
        let graph = DependencyGraph::new(nodes.iter().map(|n| (n.name(), n.dependencies().iter())));
        for cycle in graph.cycles() {
            errors.push(FieldError::new(
                path.to_string(),
                format!("dependency cycle: {}", format_cycle(&cycle)),
            ));
        }
    }
}

/// True when the `(node, dependency)` edges over `count` nodes admit an order with every node after
/// its dependencies, i.e. there is no cycle. Reorders `edges`.
fn has_order(count: usize, edges: &mut [(usize, usize)]) -> bool {
    // Lists are usually written dependencies first: then the given order is one.
    if edges.iter().all(|&(node, dependency)| dependency < node) {
        return true;
    }
    // Kahn's algorithm: take nodes whose dependencies are all taken; a cycle leaves nodes behind.
    edges.sort_unstable_by_key(|&(_, dependency)| dependency);
    let mut dependents_start = vec![0usize; count + 1];
    for &(_, dependency) in edges.iter() {
        dependents_start[dependency + 1] += 1;
    }
    for i in 0..count {
        dependents_start[i + 1] += dependents_start[i];
    }
    let mut pending = vec![0usize; count];
    for &(node, _) in edges.iter() {
        pending[node] += 1;
    }
    let mut ready: Vec<usize> = (0..count).filter(|&n| pending[n] == 0).collect();
    let mut taken = 0;
    while let Some(dependency) = ready.pop() {
        taken += 1;
        for &(node, _) in &edges[dependents_start[dependency]..dependents_start[dependency + 1]] {
            pending[node] -= 1;
            if pending[node] == 0 {
                ready.push(node);
            }
        }
    }
    taken == count
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_exists_exactly_when_there_is_no_cycle() {
        assert!(has_order(3, &mut [(1, 0), (2, 1)]));
        assert!(has_order(3, &mut [(0, 2), (0, 1), (1, 2)]));
        assert!(!has_order(3, &mut [(0, 1), (1, 2), (2, 0)]));
        assert!(!has_order(4, &mut [(3, 0), (1, 2), (2, 1)]));
        assert!(has_order(0, &mut []));
    }
}
