//! Leaf templates: the containers that run one step (the HelmRelease executor, Keptn, a custom
//! executor image), and what a chart task calls.

use crate::plan::argo::{Container, Inputs, Parameter, Template};

/// What a chart task calls: a leaf or an executor DAG, how it takes the HelmRelease, and the
/// argument besides the HelmRelease, timeout and action that a leaf takes (keptn's `params`, a
/// custom executor's `data`).
#[derive(Debug, Clone)]
pub struct ExecutorCall {
    pub template: String,
    pub release: ReleaseInputs,
    pub argument: Option<Parameter>,
}

/// The input parameter carrying the HelmRelease by reference (`configmap:…`, see
/// `plan::release_store`): what the controller image's leaves take.
pub const BY_REFERENCE: &str = "helmrelease";
/// The input parameter carrying the HelmRelease inline, base64 of its JSON: what custom
/// executors take (`--spec`).
pub const INLINE: &str = "spec";

/// Which forms of the HelmRelease a template takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReleaseInputs {
    /// [`BY_REFERENCE`].
    pub by_reference: bool,
    /// [`INLINE`].
    pub inline: bool,
}

impl ReleaseInputs {
    /// What the controller image's leaves take.
    pub const REFERENCE: Self = Self {
        by_reference: true,
        inline: false,
    };
    /// What a custom executor's leaf takes.
    pub const INLINE: Self = Self {
        by_reference: false,
        inline: true,
    };

    /// What a template calling templates that take `self` and `other` takes.
    pub fn union(self, other: Self) -> Self {
        Self {
            by_reference: self.by_reference || other.by_reference,
            inline: self.inline || other.inline,
        }
    }

    /// The names of the parameters taken.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        [(self.by_reference, BY_REFERENCE), (self.inline, INLINE)]
            .into_iter()
            .filter_map(|(taken, name)| taken.then_some(name))
    }
}

/// Name of the container of the controller image's leaves (as Azure Orkestra named its own).
const EXECUTOR_CONTAINER: &str = "executor";

/// `--action A --helmrelease H --timeout T` (+ `--<extra> X`) from the template's inputs.
fn leaf_args(extra: &[&str]) -> Vec<String> {
    ["action", BY_REFERENCE, "timeout"]
        .iter()
        .chain(extra)
        .flat_map(|p| [format!("--{p}"), input(p)])
        .collect()
}

/// Argo's reference to the template input `name`.
pub fn input(name: &str) -> String {
    format!("{{{{inputs.parameters.{name}}}}}")
}

/// A leaf of the controller image: a container that runs one step with the task's HelmRelease (by
/// reference), timeout and action, and `params` when `with_params`. `args` go before the
/// parameters' flags.
pub fn leaf(
    name: String,
    image: String,
    command: Vec<String>,
    mut args: Vec<String>,
    with_params: bool,
) -> Template {
    let extra: &[&str] = if with_params { &["params"] } else { &[] };
    let inputs: Vec<&str> = [BY_REFERENCE, "timeout", "action"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    args.extend(leaf_args(extra));
    Template {
        name,
        inputs: Some(Inputs::named(&inputs)),
        dag: None,
        active_deadline_seconds: None,
        container: Some(Container {
            name: EXECUTOR_CONTAINER.to_owned(),
            image: Some(image),
            command: Some(command).filter(|c| !c.is_empty()),
            args: Some(args),
            ..Container::default()
        }),
    }
}
