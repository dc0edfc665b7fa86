//! Leaf templates: the containers that run one step (the HelmRelease executor, Keptn, a custom
//! executor image), and what a chart task calls.

use crate::plan::argo::{Container, Inputs, Template};

/// What a chart task calls: a leaf or an executor DAG, and the `params` argument a leaf takes.
#[derive(Debug, Clone)]
pub struct ExecutorCall {
    pub template: String,
    pub params: Option<String>,
}

/// `--action A --helmrelease H --timeout T` (+ `--<extra> X`) from the template's inputs.
fn leaf_args(extra: &[&str]) -> Vec<String> {
    ["action", "helmrelease", "timeout"]
        .iter()
        .chain(extra)
        .flat_map(|p| [format!("--{p}"), format!("{{{{inputs.parameters.{p}}}}}")])
        .collect()
}

/// A leaf template: a container that runs one step with the task's HelmRelease, timeout and action,
/// and `params` when `with_params`. `args` go before the parameters' flags.
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
            image,
            command,
            args,
        }),
    }
}
