//! Leaf templates: the containers that run one step (the HelmRelease executor, Keptn, a custom
//! executor image), and what a chart task calls.

use crate::plan::argo::{Container, Inputs, Parameter, Template};

/// What a chart task calls: a leaf or an executor DAG, and the argument besides the HelmRelease,
/// timeout and action that a leaf takes (keptn's `params`, a custom executor's `data`).
#[derive(Debug, Clone)]
pub struct ExecutorCall {
    pub template: String,
    pub argument: Option<Parameter>,
}

/// Name of the container of the controller image's leaves (as Azure Orkestra named its own).
const EXECUTOR_CONTAINER: &str = "executor";

/// `--action A --helmrelease H --timeout T` (+ `--<extra> X`) from the template's inputs.
fn leaf_args(extra: &[&str]) -> Vec<String> {
    ["action", "helmrelease", "timeout"]
        .iter()
        .chain(extra)
        .flat_map(|p| [format!("--{p}"), input(p)])
        .collect()
}

/// Argo's reference to the template input `name`.
pub fn input(name: &str) -> String {
    format!("{{{{inputs.parameters.{name}}}}}")
}

/// A leaf of the controller image: a container that runs one step with the task's HelmRelease,
/// timeout and action, and `params` when `with_params`. `args` go before the parameters' flags.
pub fn leaf(
    name: String,
    image: String,
    command: Vec<String>,
    mut args: Vec<String>,
    with_params: bool,
) -> Template {
    let extra: &[&str] = if with_params { &["params"] } else { &[] };
    let inputs: Vec<&str> = ["helmrelease", "timeout", "action"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    args.extend(leaf_args(extra));
    Template {
        name,
        inputs: Some(Inputs::named(&inputs)),
        dag: None,
        container: Some(Container {
            name: EXECUTOR_CONTAINER.to_owned(),
            image: Some(image),
            command: Some(command).filter(|c| !c.is_empty()),
            args: Some(args),
            ..Container::default()
        }),
    }
}
