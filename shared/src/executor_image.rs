//! The `image` of an executor: a container, as in Azure Orkestra (`corev1.Container`), or an image
//! reference as a shorthand for `{image: "…"}`.
//!
//! A structural CRD schema cannot say "a string or an object", so the CRD keeps the field as written
//! (`x-kubernetes-preserve-unknown-fields`) and the webhook checks it here, naming every problem
//! with its field path. The field is stored and re-serialized exactly as the user wrote it, so
//! defaulting never rewrites it.

use k8s_openapi::api::core::v1::Container;
use schemars::generate::SchemaSettings;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::OnceLock;

use crate::field_error::FieldError;
use crate::schema::OpenApiValidator;

/// The image an executor runs, as written: a string, or a container object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(transparent)]
pub struct ExecutorImage(Value);

impl ExecutorImage {
    /// The image as written.
    pub fn written(&self) -> &Value {
        &self.0
    }

    /// The container to run: the shorthand as `{image: "…"}`, or the object as a Container. The
    /// errors' paths are relative to the field (`<root>` for the field itself, `env[0].name`):
    /// see [`FieldError::nested_in`].
    pub fn container(&self) -> Result<Container, Vec<FieldError>> {
        match &self.0 {
            Value::String(image) => Ok(Container {
                image: Some(image.clone()),
                ..Container::default()
            }),
            object @ Value::Object(_) => {
                // NB: as the API server read Azure Orkestra's typed Container: a null optional
                // field (YAML's `args:` left empty) is no field.
                let schema = container_schema();
                let object = schema.without_pruned_nulls(object);
                let errors = schema.errors(&object);
                if !errors.is_empty() {
                    return Err(errors);
                }
                Container::deserialize(&object)
                    .map_err(|e| vec![FieldError::new("<root>", e.to_string())])
            }
            other => Err(vec![FieldError::new(
                "<root>",
                format!(
                    "expected an image reference (a string such as \"example.com/step:1\") or a \
                     container (an object with image, command, args, env, …), found {}",
                    kind_of(other)
                ),
            )]),
        }
    }
}

impl From<&str> for ExecutorImage {
    fn from(image: &str) -> Self {
        Self(Value::String(image.to_owned()))
    }
}

impl From<String> for ExecutorImage {
    fn from(image: String) -> Self {
        Self(Value::String(image))
    }
}

impl From<Value> for ExecutorImage {
    fn from(written: Value) -> Self {
        Self(written)
    }
}

impl schemars::JsonSchema for ExecutorImage {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ExecutorImage".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // NB: no type: a structural schema cannot allow both a string and an object, so the value
        // is kept as written and checked by the webhook (`ExecutorImage::container`).
        schemars::json_schema!({
            "x-kubernetes-preserve-unknown-fields": true,
        })
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Kubernetes' Container schema (k8s-openapi's), unknown fields refused. `name` is optional here:
/// the executor's name stands in for it.
fn container_schema() -> &'static OpenApiValidator {
    static SCHEMA: OnceLock<OpenApiValidator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let generator = SchemaSettings::openapi3()
            .with(|s| {
                s.inline_subschemas = true;
                s.meta_schema = None;
            })
            .into_generator();
        let mut schema =
            serde_json::to_value(generator.into_root_schema_for::<Container>()).unwrap_or_default();
        if let Value::Object(fields) = &mut schema {
            fields.remove("required");
        }
        OpenApiValidator::new(&schema, true)
            .unwrap_or_else(|e| unreachable!("k8s-openapi's Container schema: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(written: Value) -> Vec<String> {
        ExecutorImage::from(written)
            .container()
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_string_is_a_container_with_that_image() {
        let container = ExecutorImage::from("example.com/step:1")
            .container()
            .unwrap();
        assert_eq!(container.image.as_deref(), Some("example.com/step:1"));
        assert_eq!(
            container,
            Container {
                image: container.image.clone(),
                ..Container::default()
            }
        );
    }

    #[test]
    fn an_object_keeps_every_container_field() {
        let written = json!({"name": "smoke", "image": "example.com/smoke:1", "command": ["/smoke"],
            "args": ["--verbose"], "env": [{"name": "LEVEL", "value": "2"}],
            "resources": {"limits": {"cpu": 1, "memory": "64Mi"}}, "imagePullPolicy": "Always"});
        let container = ExecutorImage::from(written.clone()).container().unwrap();
        assert_eq!(container.name, "smoke");
        assert_eq!(container.command, Some(vec!["/smoke".to_owned()]));
        assert_eq!(container.env.unwrap()[0].value.as_deref(), Some("2"));
        let limits = container.resources.unwrap().limits.unwrap();
        assert_eq!(limits["cpu"].0, "1");
        let image = ExecutorImage::from(written.clone());
        assert_eq!(
            serde_json::to_value(&image).unwrap(),
            written,
            "kept as written"
        );
    }

    #[test]
    fn wrong_shapes_are_named_with_their_field() {
        assert_eq!(
            problems(json!(5)),
            [
                "<root>: expected an image reference (a string such as \"example.com/step:1\") or a \
              container (an object with image, command, args, env, …), found a number"
            ]
        );
        let errors = problems(json!({"image": "x", "args": "--verbose", "env": [{"value": 1}]}));
        assert!(errors.iter().any(|e| e.starts_with("args: ")), "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("env[0]")), "{errors:?}");
        assert_eq!(
            problems(json!({"image": "x", "comand": []})),
            ["comand: unknown field"]
        );
    }
}
