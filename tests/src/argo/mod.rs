//! Argo Workflows in the tests: its own validation ([`lint`], the real `argo lint --offline`), and
//! what Argo does to a leaf template before its container runs ([`substitute`]). Argo's
//! workflow-controller itself runs for real on the engines cluster (`Cluster::with_engines`).

pub mod lint;

pub use lint::{lint, lint_all};

/// `args` with Argo's `{{inputs.parameters.NAME}}` replaced by the values in `parameters`.
pub fn substitute<'a>(
    args: impl IntoIterator<Item = &'a str>,
    parameters: &[(String, String)],
) -> Vec<String> {
    args.into_iter()
        .map(|arg| {
            let mut arg = arg.to_owned();
            for (name, value) in parameters {
                arg = arg.replace(&format!("{{{{inputs.parameters.{name}}}}}"), value);
            }
            arg
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn input_parameters_are_replaced_and_the_rest_kept() {
        let parameters = [("action".to_owned(), "delete".to_owned())];
        assert_eq!(
            super::substitute(
                ["--action", "{{inputs.parameters.action}}", "{{x}}"],
                &parameters
            ),
            ["--action", "delete", "{{x}}"]
        );
    }
}
