//! The `--helmrelease` argument: base64 (standard alphabet, padded) of the HelmRelease as JSON, as
//! `orkestra_shared::plan` encodes it into each workflow task. Checked completely before anything
//! is written to the cluster.

use base64::Engine as _;
use orkestra_shared::names::is_dns1123_label;
use orkestra_shared::plan::flux::{API_VERSION, HelmRelease, KIND};
use serde_json::Value;

use super::error::ExecutorError;

/// Longest object name the API server accepts (a DNS-1123 subdomain).
const MAX_NAME_LEN: usize = 253;

/// A HelmRelease to act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`: the release's target namespace.
    pub namespace: String,
    /// The object as given (applied as is: fields this version does not know are kept).
    pub object: Value,
}

/// Decodes and checks `--helmrelease`.
pub fn decode(encoded: &str) -> Result<Target, ExecutorError> {
    let bad = |what: String| ExecutorError::Input(format!("--helmrelease {what}"));
    // NB: Argo substitutes the parameter verbatim; stray whitespace or line breaks are not ours.
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if compact.is_empty() {
        return Err(bad("is empty".into()));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| bad(format!("is not base64: {e}")))?;
    let object: Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("is not JSON: {e}")))?;
    if !object.is_object() {
        return Err(bad("is not a JSON object".into()));
    }
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if api_version != API_VERSION || kind != KIND {
        return Err(bad(format!(
            "is a {kind:?} of {api_version:?}, not a {KIND} of {API_VERSION}"
        )));
    }
    // The typed view checks the shape the plan emits (spec.chart.spec.sourceRef, interval, …).
    let typed: HelmRelease = serde_json::from_value(object.clone())
        .map_err(|e| bad(format!("is not a valid HelmRelease: {e}")))?;
    let (name, namespace) = (typed.name().to_owned(), typed.namespace().to_owned());
    if name.is_empty() {
        return Err(bad("has no metadata.name".into()));
    }
    if namespace.is_empty() {
        return Err(bad(format!("{name} has no metadata.namespace")));
    }
    if !is_object_name(&name) {
        return Err(bad(format!("has an invalid metadata.name {name:?}")));
    }
    if !is_dns1123_label(&namespace) {
        return Err(bad(format!(
            "has an invalid metadata.namespace {namespace:?}"
        )));
    }
    Ok(Target {
        name,
        namespace,
        object,
    })
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
fn is_object_name(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN && name.split('.').all(is_dns1123_label)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encode(value: &Value) -> String {
        base64::engine::general_purpose::STANDARD.encode(value.to_string())
    }

    fn release() -> Value {
        json!({
            "apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": "app", "namespace": "team"},
            "spec": {"releaseName": "app", "interval": "5m", "futureField": 1,
                "chart": {"spec": {"chart": "app", "version": "1.0.0",
                    "sourceRef": {"kind": "HelmRepository", "name": "staging", "namespace": "orkestra"}}}},
        })
    }

    #[test]
    fn a_planned_release_decodes_with_every_field_kept() {
        let target = decode(&encode(&release())).unwrap();
        assert_eq!(
            (target.name.as_str(), target.namespace.as_str()),
            ("app", "team")
        );
        assert_eq!(target.object, release());
    }

    #[test]
    fn bad_input_is_refused_with_the_reason() {
        let mut wrong_kind = release();
        wrong_kind["kind"] = json!("Workflow");
        let mut no_namespace = release();
        no_namespace["metadata"] = json!({"name": "app"});
        let mut bad_name = release();
        bad_name["metadata"]["name"] = json!("App_1");
        let mut no_chart = release();
        no_chart["spec"] = json!({"interval": "5m"});
        let cases = [
            ("", "is empty".to_owned()),
            ("%%%", "is not base64".to_owned()),
            (
                &base64::engine::general_purpose::STANDARD.encode("{nope"),
                "is not JSON".to_owned(),
            ),
            (&encode(&json!([1])), "not a JSON object".to_owned()),
            (&encode(&wrong_kind), "not a HelmRelease".to_owned()),
            (
                &encode(&no_namespace),
                "has no metadata.namespace".to_owned(),
            ),
            (&encode(&bad_name), "invalid metadata.name".to_owned()),
            (&encode(&no_chart), "not a valid HelmRelease".to_owned()),
        ];
        for (input, expected) in cases {
            let err = decode(input).unwrap_err();
            assert_eq!(err.exit_code(), super::super::error::EXIT_INPUT);
            assert!(err.to_string().contains(&expected), "{input:?}: {err}");
        }
    }
}
