//! The `--helmrelease` argument, in either of its forms, checked completely before anything is
//! written to the cluster:
//! - a reference, `configmap:<namespace>/<name>/<key>@sha256:<digest>`: what
//!   `orkestra_shared::plan` passes (see `plan::release_store`); the key's value is the HelmRelease
//!   as JSON, read with the step's service account (`configmaps` get in the Workflow's namespace),
//!   and used only when its SHA-256 is the digest (the Workflow, not the ConfigMap, says what runs);
//! - the HelmRelease itself, base64 (standard alphabet, padded) of its JSON, as Workflows of
//!   earlier versions passed it.

use base64::Engine as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use orkestra_shared::names::is_dns1123_label;
use orkestra_shared::plan::ReleaseRef;
use orkestra_shared::plan::flux::{API_VERSION, HelmRelease, KIND};
use serde_json::Value;

use super::error::ExecutorError;
use super::limit::Limit;

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

impl Target {
    /// What messages call it: `HelmRelease <namespace>/<name>`.
    pub fn subject(&self) -> String {
        format!("HelmRelease {}/{}", self.namespace, self.name)
    }
}

/// `--helmrelease` as given: the HelmRelease, or where to read it.
#[derive(Debug, Clone, PartialEq)]
pub enum Given {
    /// The HelmRelease itself.
    Inline(Target),
    /// A key of a ConfigMap holding it.
    Reference(ReleaseRef),
}

impl Given {
    /// Reads `--helmrelease`: a reference when it is one, the base64 HelmRelease otherwise.
    pub fn parse(text: &str) -> Result<Self, ExecutorError> {
        match ReleaseRef::parse(text.trim()) {
            Some(Ok(reference)) => Ok(Self::Reference(reference)),
            Some(Err(problem)) => Err(ExecutorError::Input(format!("--helmrelease {problem}"))),
            None => decode(text).map(Self::Inline),
        }
    }

    /// What messages call it before it is read.
    pub fn subject(&self) -> String {
        match self {
            Self::Inline(target) => target.subject(),
            Self::Reference(reference) => format!(
                "the HelmRelease in key {} of ConfigMap {}/{}",
                reference.key, reference.namespace, reference.config_map
            ),
        }
    }

    /// The HelmRelease, read from its ConfigMap when given by reference.
    pub async fn resolve(
        self,
        client: &kube::Client,
        limit: &Limit,
    ) -> Result<Target, ExecutorError> {
        let reference = match self {
            Self::Inline(target) => return Ok(target),
            Self::Reference(reference) => reference,
        };
        let ReleaseRef {
            namespace,
            config_map,
            key,
            ..
        } = &reference;
        let found = limit
            .bounded(
                "its ConfigMap is read",
                Api::<ConfigMap>::namespaced(client.clone(), namespace).get_opt(config_map),
            )
            .await?
            .map_err(|e| ExecutorError::api(format!("reading ConfigMap {namespace}/{config_map}"), e))?
            .ok_or_else(|| {
                ExecutorError::Input(format!(
                    "--helmrelease {reference}: ConfigMap {namespace}/{config_map} does not exist (the controller \
                     writes it before the Workflow, and it goes with the ApplicationGroup)"
                ))
            })?;
        let json = found
            .data
            .as_ref()
            .and_then(|data| data.get(key))
            .ok_or_else(|| {
                ExecutorError::Input(format!(
                    "--helmrelease {reference}: ConfigMap {namespace}/{config_map} has no key {key:?}"
                ))
            })?;
        reference
            .verify(json.as_bytes())
            .map_err(|problem| ExecutorError::Input(format!("--helmrelease: {problem}")))?;
        check(json.as_bytes(), &format!("--helmrelease {reference}"))
    }
}

/// Decodes and checks the base64 form of `--helmrelease`.
fn decode(encoded: &str) -> Result<Target, ExecutorError> {
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
    check(&bytes, "--helmrelease")
}

/// Reads and checks the JSON of a HelmRelease; `what` names where it came from in messages.
fn check(json: &[u8], what: &str) -> Result<Target, ExecutorError> {
    let bad = |problem: String| ExecutorError::Input(format!("{what} {problem}"));
    let object: Value =
        serde_json::from_slice(json).map_err(|e| bad(format!("is not JSON: {e}")))?;
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
    fn a_reference_is_read_as_one() {
        let given = Given::parse(&format!(
            "configmap:orkestra/shop-releases-0/0-db@sha256:{}",
            "0".repeat(64)
        ))
        .unwrap();
        assert_eq!(
            given.subject(),
            "the HelmRelease in key 0-db of ConfigMap orkestra/shop-releases-0"
        );
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
            (
                "configmap:orkestra/only-a-name",
                "has no @sha256:<digest> of its HelmRelease".to_owned(),
            ),
        ];
        for (input, expected) in cases {
            let err = Given::parse(input).unwrap_err();
            assert_eq!(err.exit_code(), super::super::error::EXIT_INPUT);
            assert!(err.to_string().contains(&expected), "{input:?}: {err}");
        }
    }
}
