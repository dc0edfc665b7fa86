//! `orkestra-controller plan FILE`: prints the Workflow, the ConfigMaps holding the HelmReleases it
//! passes by reference, and the HelmReleases the controller would create for an ApplicationGroup,
//! without a cluster.
//!
//! The group is read from the first ApplicationGroup document of a YAML or JSON file, defaulted and
//! validated exactly as admission does (an invalid group is refused with every problem and its
//! field path). Nothing is staged, so HelmReleases carry the spec's version constraints and only
//! the listed subcharts. The rollback direction reads the last good spec from the object's
//! `orkestra.azure.microsoft.com/last-successful-appgroup` annotation, as the controller does.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use orkestra_shared::admission;
use orkestra_shared::crd::{ApplicationGroup, ApplicationGroupSpec};
use orkestra_shared::names::LAST_SUCCESSFUL_ANNOTATION;
use orkestra_shared::plan::{self, Direction, Plan, PlanConfig, Resolved, render};

use crate::plan_config_args::PlanConfigArgs;
use orkestra_shared::policy::Policy;
use serde::Deserialize as _;
use serde_json::Value;

/// Which workflow to print.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectionArg {
    /// Install or upgrade, dependencies first.
    Forward,
    /// Tear down, dependents first.
    Reverse,
    /// Back to the spec in the last-successful-appgroup annotation.
    Rollback,
}

/// How to print the plan.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The Workflow, then the ConfigMaps it reads the HelmReleases from, then each HelmRelease,
    /// as YAML documents.
    Yaml,
    /// A JSON list: the Workflow, then its ConfigMaps, then each HelmRelease.
    Json,
    /// The DAG as a Graphviz digraph.
    Dot,
    /// The DAG as a Mermaid flowchart.
    Mermaid,
}

/// Arguments of the `plan` subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct PlanArgs {
    /// YAML or JSON file; its first ApplicationGroup document is planned.
    pub file: PathBuf,

    /// Which workflow to plan.
    #[arg(long, value_enum, default_value_t = DirectionArg::Forward)]
    pub direction: DirectionArg,

    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Yaml)]
    pub output: Output,

    /// Policy file (YAML) to validate against; the default policy when absent.
    #[arg(long, env = "ORKESTRA_POLICY")]
    pub policy: Option<PathBuf>,

    /// Workflow settings.
    #[command(flatten)]
    pub workflow: PlanConfigArgs,
}

/// Runs the `plan` subcommand: prints the plan to stdout.
pub fn run(args: PlanArgs) -> anyhow::Result<()> {
    let PlanArgs {
        file,
        direction,
        output,
        policy,
        workflow,
    } = args;
    let policy = match &policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Policy::from_yaml(&text)?
        }
        None => Policy::default(),
    };
    let config = workflow.into_config();
    let object = read_first_group(&file)?;
    let group = admission::check(&object, &policy).map_err(|errors| {
        let mut message = format!("{}: the ApplicationGroup is invalid:", file.display());
        for error in errors {
            let _ = write!(message, "\n  {error}");
        }
        anyhow::anyhow!(message)
    })?;
    let plan = plan_group(&group, direction, &config)?;
    print!("{}", format_plan(&plan, output)?);
    Ok(())
}

/// Plans a checked, defaulted group.
fn plan_group(
    group: &ApplicationGroup,
    direction: DirectionArg,
    config: &PlanConfig,
) -> anyhow::Result<Plan> {
    let name = group.metadata.name.as_deref().unwrap_or_default();
    let generation = group.metadata.generation.unwrap_or(1);
    let resolved = Resolved::default();
    let last_good: ApplicationGroupSpec;
    let direction = match direction {
        DirectionArg::Forward => Direction::Forward,
        DirectionArg::Reverse => Direction::Reverse,
        DirectionArg::Rollback => {
            let annotation = group
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(LAST_SUCCESSFUL_ANNOTATION))
                .with_context(|| {
                    format!("cannot plan a rollback of {name}: it has no {LAST_SUCCESSFUL_ANNOTATION} annotation (no forward workflow has succeeded yet)")
                })?;
            let mut spec: ApplicationGroupSpec = serde_json::from_str(annotation)
                .with_context(|| format!("the {LAST_SUCCESSFUL_ANNOTATION} annotation of {name} is not a JSON ApplicationGroup spec"))?;
            orkestra_shared::defaults::apply(&mut spec);
            last_good = spec;
            Direction::Rollback {
                last_good: &last_good,
                last_good_resolved: &resolved,
            }
        }
    };
    plan::build(name, generation, &group.spec, &resolved, direction, config)
        .with_context(|| format!("cannot plan the {} workflow of {name}", direction.label()))
}

fn format_plan(plan: &Plan, output: Output) -> anyhow::Result<String> {
    Ok(match output {
        Output::Yaml => {
            let mut out = format!("---\n{}", serde_norway::to_string(&plan.workflow)?);
            for store in &plan.release_stores {
                out.push_str("---\n");
                out.push_str(&serde_norway::to_string(store)?);
            }
            for release in &plan.helm_releases {
                out.push_str("---\n");
                out.push_str(&serde_norway::to_string(release)?);
            }
            out
        }
        Output::Json => {
            let mut objects = vec![serde_json::to_value(&plan.workflow)?];
            for store in &plan.release_stores {
                objects.push(serde_json::to_value(store)?);
            }
            for release in &plan.helm_releases {
                objects.push(serde_json::to_value(release)?);
            }
            serde_json::to_string_pretty(&objects)? + "\n"
        }
        Output::Dot => render::dot(&plan.workflow),
        Output::Mermaid => render::mermaid(&plan.workflow),
    })
}

/// The first ApplicationGroup document of a YAML (or JSON) file, as JSON.
fn read_first_group(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    for (i, document) in serde_norway::Deserializer::from_str(&text).enumerate() {
        let value = serde_norway::Value::deserialize(document)
            .with_context(|| format!("{}: document {} is not YAML", path.display(), i + 1))?;
        let value: Value = serde_json::to_value(&value).with_context(|| {
            format!(
                "{}: document {} cannot be read as JSON",
                path.display(),
                i + 1
            )
        })?;
        if value.get("kind").and_then(Value::as_str) == Some("ApplicationGroup") {
            return Ok(value);
        }
    }
    bail!("{} holds no ApplicationGroup document", path.display())
}
