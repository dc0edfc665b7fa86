//! Argo Workflows in the tests: its own validation ([`lint`], the real `argo lint --offline`), and
//! what Argo does to a leaf template before its container runs ([`substitute`]). Argo's
//! workflow-controller itself runs for real on the engines cluster (`Cluster::with_engines`).

pub mod lint;

pub use lint::{lint, lint_all};

/// **Plays Argo's parameter substitution** in one string of a template (an argument, an env
/// value), as the workflow-controller does before the template runs: each
/// `{{inputs.parameters.NAME}}` of a parameter the template declares (`declared`) becomes the value
/// its caller passed (`parameters`). A reference left over (a parameter the template does not
/// declare, or one not passed) is an error, as Argo fails such a Workflow ("failed to resolve
/// {{inputs.parameters.NAME}}"). Other `{{…}}` expressions are kept.
pub fn substitute(
    text: &str,
    declared: &[&str],
    parameters: &[(String, String)],
) -> Result<String, String> {
    let mut out = text.to_owned();
    for (name, value) in parameters
        .iter()
        .filter(|(name, _)| declared.contains(&name.as_str()))
    {
        out = out.replace(&format!("{{{{inputs.parameters.{name}}}}}"), value);
    }
    match out.find("{{inputs.parameters.") {
        Some(at) => {
            let end = out[at..].find("}}").map_or(out.len(), |end| at + end + 2);
            Err(format!("failed to resolve {}", &out[at..end]))
        }
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn declared_input_parameters_are_replaced_and_the_rest_kept() {
        let parameters = [("action".to_owned(), "delete".to_owned())];
        let declared = ["action"];
        let arg = |text| super::substitute(text, &declared, &parameters);
        assert_eq!(
            arg("--action={{inputs.parameters.action}}").unwrap(),
            "--action=delete"
        );
        assert_eq!(arg("{{x}}").unwrap(), "{{x}}");
        assert_eq!(
            arg("{{inputs.parameters.spec}}").unwrap_err(),
            "failed to resolve {{inputs.parameters.spec}}"
        );
        let undeclared = super::substitute("{{inputs.parameters.action}}", &[], &parameters);
        assert!(undeclared.is_err(), "{undeclared:?}");
    }
}
