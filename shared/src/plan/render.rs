//! Pictures of a planned Workflow: Graphviz `dot` and Mermaid flowcharts.
//!
//! One box per application (the entry DAG's tasks) holding its chart tasks; arrows run from a task
//! to the tasks that wait for it, so they read in execution order. Executor DAGs are not drawn:
//! every chart task of an application runs the same executors.

use std::collections::HashMap;
use std::fmt::Write;

use super::argo::{DagTask, Template, Workflow};
use super::workflow::ENTRY;

/// One application box: the entry task and its template's tasks.
struct Group<'a> {
    task: &'a DagTask,
    tasks: &'a [DagTask],
}

fn groups(workflow: &Workflow) -> Vec<Group<'_>> {
    let templates: HashMap<&str, &Template> = workflow
        .spec
        .templates
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let entry = templates.get(ENTRY).map_or(&[][..], |t| t.tasks());
    entry
        .iter()
        .map(|task| Group {
            task,
            tasks: templates
                .get(task.template.as_str())
                .map_or(&[][..], |t| t.tasks()),
        })
        .collect()
}

/// The arrows between application boxes: (the box waited for, the box that waits), by index.
fn group_edges<'a>(groups: &'a [Group<'a>]) -> impl Iterator<Item = (usize, usize)> + 'a {
    let index: HashMap<&str, usize> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.task.name.as_str(), i))
        .collect();
    groups.iter().enumerate().flat_map(move |(i, group)| {
        let dependencies: Vec<usize> = group
            .task
            .dependencies
            .iter()
            .filter_map(|d| index.get(d.as_str()).copied())
            .collect();
        dependencies
            .into_iter()
            .map(move |dependency| (dependency, i))
    })
}

/// A `dot` digraph; render with `dot -Tsvg`.
pub fn dot(workflow: &Workflow) -> String {
    let groups = groups(workflow);
    let name = workflow.metadata.name.as_deref().unwrap_or_default();
    let mut out =
        format!("digraph {name:?} {{\n  compound=true;\n  rankdir=LR;\n  node [shape=box];\n");
    for (i, group) in groups.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_{i} {{\n    label={:?};",
            group.task.name
        );
        let _ = writeln!(out, "    g{i}_anchor [shape=point, style=invis];");
        for task in group.tasks {
            let _ = writeln!(
                out,
                "    {:?} [label={:?}];",
                node_id(i, &task.name),
                task.name
            );
            for dependency in &task.dependencies {
                let _ = writeln!(
                    out,
                    "    {:?} -> {:?};",
                    node_id(i, dependency),
                    node_id(i, &task.name)
                );
            }
        }
        out.push_str("  }\n");
    }
    for (dependency, i) in group_edges(&groups) {
        let _ = writeln!(
            out,
            "  g{dependency}_anchor -> g{i}_anchor [ltail=cluster_{dependency}, lhead=cluster_{i}];"
        );
    }
    out.push_str("}\n");
    out
}

/// A Mermaid flowchart (renders in GitHub Markdown inside a ```mermaid block).
pub fn mermaid(workflow: &Workflow) -> String {
    let groups = groups(workflow);
    let mut out = String::from("flowchart LR\n");
    for (i, group) in groups.iter().enumerate() {
        let _ = writeln!(out, "  subgraph g{i}[\"{}\"]", group.task.name);
        let ids: HashMap<&str, usize> = group
            .tasks
            .iter()
            .enumerate()
            .map(|(j, t)| (t.name.as_str(), j))
            .collect();
        for (j, task) in group.tasks.iter().enumerate() {
            let _ = writeln!(out, "    g{i}t{j}[\"{}\"]", task.name);
        }
        for (j, task) in group.tasks.iter().enumerate() {
            for dependency in task.dependencies.iter().filter_map(|d| ids.get(d.as_str())) {
                let _ = writeln!(out, "    g{i}t{dependency} --> g{i}t{j}");
            }
        }
        out.push_str("  end\n");
    }
    for (dependency, i) in group_edges(&groups) {
        let _ = writeln!(out, "  g{dependency} --> g{i}");
    }
    out
}

fn node_id(group: usize, task: &str) -> String {
    format!("g{group}/{task}")
}
