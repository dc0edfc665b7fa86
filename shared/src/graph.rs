//! Dependency graphs: applications in a group, subcharts of a chart, executors of an application.
//!
//! Edges point from a node to the nodes it depends on. Unknown dependencies are left out (validation
//! reports them); the graph itself never fails to build.

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;

use crate::crd::ApplicationGroupSpec;

/// A dependency graph over named nodes, in the order the nodes were given.
#[derive(Debug, Clone, Default)]
pub struct DependencyGraph {
    graph: DiGraph<String, ()>,
    index: FxHashMap<String, NodeIndex>,
}

impl DependencyGraph {
    /// Builds the graph from `(name, dependencies)` pairs. A repeated name keeps its first node; a
    /// dependency on an unknown name, on itself, or a repeated dependency adds no edge.
    pub fn new<'a, I, D>(nodes: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, D)>,
        D: IntoIterator<Item = &'a String>,
    {
        let nodes: Vec<(&str, D)> = nodes.into_iter().collect();
        let mut graph = DiGraph::with_capacity(nodes.len(), nodes.len() * 3);
        let mut index = FxHashMap::default();
        index.reserve(nodes.len());
        for (name, _) in &nodes {
            index
                .entry((*name).to_owned())
                .or_insert_with(|| graph.add_node((*name).to_owned()));
        }
        let mut seen = FxHashSet::default();
        for (name, dependencies) in nodes {
            let from = index[name];
            if graph[from] != name || !seen.insert(from) {
                continue; // a repeated name: its first occurrence defines the node
            }
            for dependency in dependencies {
                if let Some(&to) = index.get(dependency.as_str())
                    && to != from
                    && graph.find_edge(from, to).is_none()
                {
                    graph.add_edge(from, to, ());
                }
            }
        }
        Self { graph, index }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// True when the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// True when a node of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Node names, in the order they were given.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.graph.node_indices().map(|n| self.graph[n].as_str())
    }

    /// The known dependencies of `name`, in the order they were given.
    pub fn dependencies_of(&self, name: &str) -> Vec<&str> {
        self.neighbours(name, Direction::Outgoing)
    }

    /// The nodes that depend on `name`, in the order they were given.
    pub fn dependents_of(&self, name: &str) -> Vec<&str> {
        self.neighbours(name, Direction::Incoming)
    }

    fn neighbours(&self, name: &str, direction: Direction) -> Vec<&str> {
        let Some(&node) = self.index.get(name) else {
            return Vec::new();
        };
        let mut found: Vec<NodeIndex> = self.graph.neighbors_directed(node, direction).collect();
        found.sort_unstable(); // petgraph lists neighbours newest first
        found.into_iter().map(|n| self.graph[n].as_str()).collect()
    }

    /// Every edge as `(node, dependency)`.
    pub fn edges(&self) -> impl Iterator<Item = (&str, &str)> {
        self.graph.raw_edges().iter().map(|e| {
            (
                self.graph[e.source()].as_str(),
                self.graph[e.target()].as_str(),
            )
        })
    }

    /// The nodes `keep` selects, in their order, each depending on the kept nodes it reaches
    /// directly or through nodes left out: `a -> k -> b` with `k` left out keeps `a -> b`. What a
    /// Workflow acting on some applications of a spec must still order.
    pub fn restricted_to(&self, keep: impl Fn(&str) -> bool) -> Self {
        let kept: Vec<NodeIndex> = self
            .graph
            .node_indices()
            .filter(|&n| keep(&self.graph[n]))
            .collect();
        let mut graph = DiGraph::with_capacity(kept.len(), kept.len() * 2);
        let mut index = FxHashMap::default();
        let mut renamed = FxHashMap::default();
        for &node in &kept {
            let name = self.graph[node].clone();
            let new = graph.add_node(name.clone());
            index.insert(name, new);
            renamed.insert(node, new);
        }
        for &node in &kept {
            let from = renamed[&node];
            let mut stack: Vec<NodeIndex> = self.graph.neighbors(node).collect();
            let mut seen = FxHashSet::default();
            let mut reached = Vec::new();
            while let Some(next) = stack.pop() {
                if !seen.insert(next) {
                    continue;
                }
                match renamed.get(&next) {
                    Some(&to) => reached.push(to),
                    None => stack.extend(self.graph.neighbors(next)),
                }
            }
            reached.sort_unstable();
            reached.dedup();
            for to in reached.into_iter().filter(|&to| to != from) {
                graph.add_edge(from, to, ());
            }
        }
        Self { graph, index }
    }

    /// The graph with every edge turned around: what teardown follows (dependents first).
    pub fn reversed(&self) -> Self {
        let mut graph = self.graph.clone();
        graph.reverse();
        Self {
            graph,
            index: self.index.clone(),
        }
    }

    /// One cycle for every group of nodes that depend on each other, each as the path that closes it
    /// (`["a", "b", "c", "a"]`: a depends on b, b on c, c on a). Self-dependencies are not edges and
    /// so never reported here.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut cycles: Vec<Vec<String>> = tarjan_scc(&self.graph)
            .into_iter()
            .filter(|component| component.len() > 1)
            .map(|component| self.shortest_cycle_through(&component))
            .collect();
        cycles.sort_by_key(|cycle| cycle.first().and_then(|name| self.index.get(name)).copied());
        cycles
    }

    /// The shortest cycle through the earliest node of a strongly connected component.
    fn shortest_cycle_through(&self, component: &[NodeIndex]) -> Vec<String> {
        let members: FxHashSet<NodeIndex> = component.iter().copied().collect();
        let start = component.iter().copied().min().unwrap_or_default();
        let mut parent: FxHashMap<NodeIndex, NodeIndex> = FxHashMap::default();
        let mut queue = VecDeque::from([start]);
        let mut last = start;
        'search: while let Some(node) = queue.pop_front() {
            let mut next: Vec<NodeIndex> = self
                .graph
                .neighbors(node)
                .filter(|n| members.contains(n))
                .collect();
            next.sort_unstable();
            for n in next {
                if n == start {
                    last = node;
                    break 'search;
                }
                if let std::collections::hash_map::Entry::Vacant(slot) = parent.entry(n) {
                    slot.insert(node);
                    queue.push_back(n);
                }
            }
        }
        let mut path = vec![start];
        let mut node = last;
        while node != start {
            path.push(node);
            node = parent[&node];
        }
        path[1..].reverse();
        path.push(start);
        path.into_iter().map(|n| self.graph[n].clone()).collect()
    }

    /// Node names with every node after all of its dependencies (among ready nodes, the earliest given goes first), or the
    /// cycles that make such an order impossible.
    pub fn topological_order(&self) -> Result<Vec<&str>, Vec<Vec<String>>> {
        let mut pending: Vec<usize> = self
            .graph
            .node_indices()
            .map(|n| self.graph.neighbors(n).count())
            .collect();
        let mut ready: std::collections::BTreeSet<NodeIndex> = self
            .graph
            .node_indices()
            .filter(|n| pending[n.index()] == 0)
            .collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(node) = ready.pop_first() {
            order.push(self.graph[node].as_str());
            for dependent in self.graph.neighbors_directed(node, Direction::Incoming) {
                pending[dependent.index()] -= 1;
                if pending[dependent.index()] == 0 {
                    ready.insert(dependent);
                }
            }
        }
        if order.len() == self.len() {
            Ok(order)
        } else {
            Err(self.cycles())
        }
    }
}

/// Applications present in `current` but not in `last_good`: what a rollback to `last_good` must
/// uninstall, in the order given in `current`.
pub fn added_applications<'a>(
    current: &'a ApplicationGroupSpec,
    last_good: &ApplicationGroupSpec,
) -> Vec<&'a str> {
    let kept: FxHashSet<&str> = last_good
        .applications
        .iter()
        .map(|app| app.name.as_str())
        .collect();
    current
        .applications
        .iter()
        .map(|app| app.name.as_str())
        .filter(|name| !kept.contains(name))
        .collect()
}

/// Renders a cycle as `a -> b -> c -> a`.
pub fn format_cycle(cycle: &[String]) -> String {
    cycle.join(" -> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restricted_graph_keeps_the_order_through_the_nodes_left_out() {
        // a -> k -> b, c -> k, d alone; k and c left out.
        let full = graph(&[
            ("a", &["k"]),
            ("k", &["b"]),
            ("b", &[]),
            ("c", &["k"]),
            ("d", &[]),
        ]);
        let kept = full.restricted_to(|n| n != "k" && n != "c");
        assert_eq!(kept.names().collect::<Vec<_>>(), ["a", "b", "d"]);
        assert_eq!(kept.edges().collect::<Vec<_>>(), [("a", "b")]);
        assert_eq!(kept.dependents_of("b"), ["a"]);
        // Nothing left out: the same edges.
        let all = full.restricted_to(|_| true);
        let mut edges: Vec<_> = all.edges().collect();
        edges.sort_unstable();
        assert_eq!(edges, [("a", "k"), ("c", "k"), ("k", "b")]);
    }

    fn graph(spec: &[(&str, &[&str])]) -> DependencyGraph {
        let owned: Vec<(String, Vec<String>)> = spec
            .iter()
            .map(|(n, d)| ((*n).to_owned(), d.iter().map(|s| (*s).to_owned()).collect()))
            .collect();
        DependencyGraph::new(owned.iter().map(|(n, d)| (n.as_str(), d.iter())))
    }

    #[test]
    fn order_puts_dependencies_first_and_breaks_ties_by_input_order() {
        let g = graph(&[
            ("app", &["db", "cache"]),
            ("db", &[]),
            ("cache", &["db"]),
            ("ingress", &[]),
        ]);
        assert_eq!(
            g.topological_order().ok(),
            Some(vec!["db", "cache", "app", "ingress"])
        );
    }

    #[test]
    fn reversed_order_tears_down_dependents_first() {
        let g = graph(&[("app", &["db"]), ("db", &[])]);
        assert_eq!(
            g.reversed().topological_order().ok(),
            Some(vec!["app", "db"])
        );
    }

    #[test]
    fn cycles_are_reported_as_the_path_that_closes_them() {
        let g = graph(&[
            ("a", &["b"]),
            ("b", &["c"]),
            ("c", &["a"]),
            ("d", &["e"]),
            ("e", &["d"]),
            ("f", &[]),
        ]);
        assert_eq!(
            g.cycles()
                .iter()
                .map(|c| format_cycle(c))
                .collect::<Vec<_>>(),
            vec!["a -> b -> c -> a", "d -> e -> d"]
        );
        assert!(g.topological_order().is_err());
    }

    #[test]
    fn unknown_and_repeated_dependencies_add_no_edges() {
        let g = graph(&[("a", &["ghost", "b", "b"]), ("b", &[])]);
        assert_eq!(g.edges().collect::<Vec<_>>(), vec![("a", "b")]);
        assert_eq!(g.dependents_of("b"), vec!["a"]);
    }
}
