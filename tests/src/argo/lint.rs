//! `argo lint --offline`: Argo's own validation of a Workflow (the CLI that
//! `tests/cluster/prereqs --with-engines` builds from the Go module proxy), as `argo submit` runs
//! it before submitting.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::engines::Engines;

/// Lints `workflow` (a Workflow as JSON) with the real `argo lint --offline`; `Err` carries Argo's
/// message.
pub fn lint(workflow: &serde_json::Value) -> anyhow::Result<()> {
    lint_all(std::slice::from_ref(workflow))
}

/// Lints every Workflow of `workflows` with one run of `argo lint --offline` (starting one costs
/// ~0.2 s; a small Workflow then a few ms, one with 200-task DAGs about 2 s). `Err` carries
/// Argo's messages, each naming its file `<index in workflows>-<name>.json` and the Workflow.
pub fn lint_all(workflows: &[serde_json::Value]) -> anyhow::Result<()> {
    if workflows.is_empty() {
        return Ok(());
    }
    let engines = Engines::find()?;
    let dir = tempfile::tempdir()?;
    let mut files: Vec<PathBuf> = Vec::with_capacity(workflows.len());
    for (i, workflow) in workflows.iter().enumerate() {
        let name = workflow["metadata"]["name"].as_str().unwrap_or("unnamed");
        // NB: names go into a path; a Workflow name is a DNS subdomain, anything else is replaced.
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let file = dir.path().join(format!("{i:04}-{name}.json"));
        std::fs::write(&file, serde_json::to_vec(workflow)?)?;
        files.push(file);
    }
    let out = Command::new(engines.binary("argo"))
        .args([
            "lint",
            "--offline",
            "--kinds",
            "workflows",
            "--output",
            "simple",
        ])
        .args(&files)
        // NB: offline lint needs no cluster; an unset KUBECONFIG keeps it from reading one.
        .env("KUBECONFIG", "/dev/null")
        .output()
        .context("running argo lint")?;
    if !out.status.success() {
        let what = match workflows {
            [one] => format!("the Workflow {}", one["metadata"]["name"]),
            many => format!("{} Workflows, among them", many.len()),
        };
        bail!(
            "argo lint --offline refused {what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// The smallest Workflow Argo accepts, and one calling a template it lacks.
    fn workflow(name: &str, template: &str) -> serde_json::Value {
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": name},
            "spec": {
                "entrypoint": "entry",
                "templates": [
                    {"name": "entry", "dag": {"tasks": [{"name": "a", "template": template}]}},
                    {"name": "leaf", "container": {"image": "example.com/leaf:1"}},
                ],
            },
        })
    }

    #[test]
    fn a_batch_names_the_workflow_argo_refuses() {
        let good = workflow("good", "leaf");
        super::lint_all(&[good.clone(), good.clone()]).expect("two valid Workflows");
        let message = super::lint_all(&[good, workflow("bad", "missing")])
            .expect_err("an undefined template")
            .to_string();
        assert!(
            message.contains("0001-bad.json")
                && message.contains("template name 'missing' undefined"),
            "{message}"
        );
        assert!(!message.contains("0000-good.json"), "{message}");
    }
}
