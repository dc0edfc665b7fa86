//! Checking raw objects against a CRD's openAPIV3Schema, as the API server would, before they are
//! read into typed structs: so offline checks report the same type errors `kubectl apply` shows.

use jsonschema::error::ValidationErrorKind;
use kube::CustomResourceExt;
use serde_json::{Map, Value};
use std::sync::OnceLock;

use crate::crd::ApplicationGroup;
use crate::field_error::FieldError;

/// A compiled openAPIV3Schema.
#[derive(Debug)]
pub struct OpenApiValidator {
    validator: jsonschema::Validator,
    /// The openAPIV3Schema as given (with Kubernetes' `nullable`), for pruning nulls.
    openapi: Value,
}

impl OpenApiValidator {
    /// Compiles an openAPIV3Schema. With `reject_unknown_fields`, a field the schema does not
    /// declare is an error (the API server would silently drop it; users want to hear of typos).
    pub fn new(openapi: &Value, reject_unknown_fields: bool) -> Result<Self, String> {
        let mut schema = to_json_schema(openapi, reject_unknown_fields);
        // Every CRD root implicitly has these; generated schemas leave them out.
        if let Some(Value::Object(properties)) = schema.get_mut("properties") {
            properties
                .entry("apiVersion")
                .or_insert(serde_json::json!({"type": "string"}));
            properties
                .entry("kind")
                .or_insert(serde_json::json!({"type": "string"}));
            properties
                .entry("metadata")
                .or_insert(serde_json::json!({"type": "object"}));
        }
        let validator =
            jsonschema::validator_for(&schema).map_err(|e| format!("invalid schema: {e}"))?;
        Ok(Self {
            validator,
            openapi: openapi.clone(),
        })
    }

    /// `instance` without the nulls the API server prunes before it validates a custom resource:
    /// a `null` in a field whose schema is neither `nullable` nor has a default is dropped, as if the
    /// field were not written (apiextensions-apiserver's `PruneNonNullableNullsWithoutDefaults`),
    /// and one in a field with a default becomes the default (its defaulting, which follows).
    pub fn without_pruned_nulls(&self, instance: &Value) -> Value {
        let mut pruned = instance.clone();
        prune_nulls(&self.openapi, &mut pruned);
        pruned
    }

    /// True when `instance` has no violation (much cheaper than collecting them).
    pub fn is_valid(&self, instance: &Value) -> bool {
        self.validator.is_valid(instance)
    }

    /// Every violation in `instance`, each with its field path.
    pub fn errors(&self, instance: &Value) -> Vec<FieldError> {
        // NB: collecting errors costs far more than a yes/no answer; valid objects are the common case.
        if self.validator.is_valid(instance) {
            return Vec::new();
        }
        let mut errors = Vec::new();
        for error in self.validator.iter_errors(instance) {
            let path = field_path(error.instance_path().as_str());
            match error.kind() {
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    errors.extend(
                        unexpected
                            .iter()
                            .map(|field| FieldError::new(join(&path, field), "unknown field")),
                    );
                }
                _ => errors.push(FieldError::new(
                    if path.is_empty() {
                        "<root>".to_owned()
                    } else {
                        path
                    },
                    error.masked_with("value").to_string(),
                )),
            }
        }
        errors.sort();
        errors.dedup();
        errors
    }
}

/// The validator for ApplicationGroup objects, from the CRD generated from our own types.
pub fn application_group() -> &'static OpenApiValidator {
    static VALIDATOR: OnceLock<OpenApiValidator> = OnceLock::new();
    VALIDATOR.get_or_init(|| compile(|schema| schema))
}

/// The validator for an ApplicationGroup's `status` alone.
pub fn application_group_status() -> &'static OpenApiValidator {
    static VALIDATOR: OnceLock<OpenApiValidator> = OnceLock::new();
    VALIDATOR.get_or_init(|| compile(|schema| &schema["properties"]["status"]))
}

/// Compiles the part `pick` chooses of the CRD's openAPIV3Schema.
fn compile(pick: impl FnOnce(&Value) -> &Value) -> OpenApiValidator {
    let crd = serde_json::to_value(ApplicationGroup::crd()).unwrap_or_default();
    let schema = pick(&crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]);
    // NB: the schema is generated from our own types at build time; failing to compile it is a
    // programming error that the crate's tests catch, so fall back to accepting everything.
    OpenApiValidator::new(schema, true).unwrap_or_else(|_| OpenApiValidator {
        validator: jsonschema::validator_for(&Value::Bool(true)).unwrap_or_else(|_| unreachable!()),
        openapi: Value::Bool(true),
    })
}

/// Drops, recursively, the nulls of fields that are not nullable and have no default, and puts
/// the default in place of those that have one (what the API server's defaulting does next).
fn prune_nulls(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(fields) => {
            let field_schema = |field: &str| {
                schema
                    .get("properties")
                    .and_then(|properties| properties.get(field))
                    .or_else(|| schema.get("additionalProperties").filter(|s| s.is_object()))
            };
            let non_nullable = |field: &str| {
                field_schema(field).filter(|s| s.get("nullable") != Some(&Value::Bool(true)))
            };
            fields.retain(|field, child| {
                !(child.is_null()
                    && non_nullable(field).is_some_and(|s| s.get("default").is_none()))
            });
            for (field, child) in fields.iter_mut() {
                if child.is_null()
                    && let Some(default) = non_nullable(field).and_then(|s| s.get("default"))
                {
                    *child = default.clone();
                }
                if let Some(child_schema) = field_schema(field) {
                    prune_nulls(child_schema, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    prune_nulls(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

/// Rewrites Kubernetes' OpenAPI dialect into JSON Schema: `nullable` admits null, and (optionally)
/// objects with declared properties admit no others unless they preserve unknown fields.
fn to_json_schema(schema: &Value, reject_unknown_fields: bool) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), to_json_schema_child(k, v, reject_unknown_fields)))
                .collect();
            if map.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::String(kind)) = map.get("type")
            {
                out.insert(
                    "type".into(),
                    Value::Array(vec![Value::String(kind.clone()), "null".into()]),
                );
            }
            let preserves =
                map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if reject_unknown_fields && map.contains_key("properties") && !preserves {
                out.entry("additionalProperties")
                    .or_insert(Value::Bool(false));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn to_json_schema_child(key: &str, value: &Value, reject_unknown_fields: bool) -> Value {
    match (key, value) {
        // Maps of schemas: property names are not schemas themselves.
        ("properties" | "definitions" | "patternProperties", Value::Object(children)) => {
            Value::Object(
                children
                    .iter()
                    .map(|(k, v)| (k.clone(), to_json_schema(v, reject_unknown_fields)))
                    .collect(),
            )
        }
        ("items" | "additionalProperties" | "not", child @ Value::Object(_)) => {
            to_json_schema(child, reject_unknown_fields)
        }
        ("allOf" | "anyOf" | "oneOf", Value::Array(children)) => Value::Array(
            children
                .iter()
                .map(|c| to_json_schema(c, reject_unknown_fields))
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// `/spec/applications/0/name` → `spec.applications[0].name`.
pub fn field_path(pointer: &str) -> String {
    let mut path = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{segment}]"));
        } else {
            path = join(&path, &segment);
        }
    }
    path
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_become_kubectl_field_paths() {
        assert_eq!(
            field_path("/spec/applications/2/dependencies/0"),
            "spec.applications[2].dependencies[0]"
        );
        assert_eq!(field_path(""), "");
    }

    #[test]
    fn wrong_types_and_unknown_fields_are_reported_with_their_paths() {
        let object = json!({
            "apiVersion": "orkestra.azure.microsoft.com/v1alpha1",
            "kind": "ApplicationGroup",
            "metadata": {"name": "g"},
            "spec": {"applications": [{"name": "a", "dependencies": 5, "colour": "red",
                "spec": {"chart": {"url": "https://x", "name": "a"}, "release": {"values": {"free": {"form": 1}}}}}]}
        });
        let errors = application_group().errors(&object);
        let paths: Vec<_> = errors.iter().map(|e| e.to_string()).collect();
        assert!(
            paths.iter().any(|e| e
                .starts_with("spec.applications[0].dependencies: value is not of type \"array\"")),
            "{paths:?}"
        );
        assert!(
            paths.contains(&"spec.applications[0].colour: unknown field".to_owned()),
            "{paths:?}"
        );
        assert_eq!(errors.len(), 2, "values keep unknown fields: {paths:?}");
    }

    #[test]
    fn an_empty_application_list_is_refused() {
        let object = json!({"apiVersion": "orkestra.azure.microsoft.com/v1alpha1", "kind": "ApplicationGroup",
            "metadata": {"name": "g"}, "spec": {"applications": []}});
        let errors = application_group().errors(&object);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "spec.applications");
    }
}
