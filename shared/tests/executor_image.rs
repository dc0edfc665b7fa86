//! An executor's `image` as admission sees it: a container object (Azure Orkestra's form) or a
//! string shorthand, and precise errors for anything else.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use orkestra_shared::admission::{check, mutate};
use orkestra_shared::executor_image::ExecutorImage;
use orkestra_shared::field_error::FieldError;
use orkestra_shared::policy::Policy;
use serde_json::{Value, json};

/// A group whose one application runs a helmrelease executor and then a custom one with `image`.
fn group(image: Value) -> Value {
    json!({
        "apiVersion": "orkestra.azure.microsoft.com/v1alpha1",
        "kind": "ApplicationGroup",
        "metadata": {"name": "shop"},
        "spec": {"applications": [{
            "name": "web",
            "spec": {
                "chart": {"url": "https://charts.example.com", "name": "web", "version": "1.0.0"},
                "release": {"targetNamespace": "apps"},
                "workflow": [
                    {"name": "install"},
                    {"name": "smoke", "type": "custom", "dependencies": ["install"], "image": image}
                ]
            }
        }]}
    })
}

fn errors_of(image: Value) -> Vec<String> {
    match check(&group(image), &Policy::default()) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(FieldError::to_string).collect(),
    }
}

const AT: &str = "spec.applications[0].spec.workflow[1].image";

#[test]
fn a_container_object_and_a_string_are_both_accepted() {
    let container = json!({"name": "smoke", "image": "example.com/smoke:1", "command": ["/smoke"],
        "args": ["--verbose"], "env": [{"name": "LEVEL", "value": "2"}],
        "resources": {"limits": {"cpu": 1, "memory": "64Mi"}}});
    for image in [
        container,
        json!({"image": "example.com/smoke:1"}),
        json!("example.com/smoke:1"),
    ] {
        assert_eq!(errors_of(image.clone()), Vec::<String>::new(), "{image}");
    }
}

/// A null optional field (YAML's `args:` left empty) is no field, as the API server read Azure
/// Orkestra's typed Container; a required one stays required.
#[test]
fn null_container_fields_read_as_absent() {
    let image = json!({"image": "example.com/smoke:1", "args": null,
        "env": [{"name": "LEVEL", "value": null}]});
    assert_eq!(errors_of(image.clone()), Vec::<String>::new());
    let container = ExecutorImage::from(image).container().unwrap();
    assert_eq!(container.args, None);
    assert_eq!(container.env.unwrap()[0].value, None);

    let nameless = json!({"image": "example.com/smoke:1", "env": [{"name": null}]});
    assert_eq!(
        errors_of(nameless),
        [format!("{AT}.env[0]: \"name\" is a required property")]
    );
}

#[test]
fn defaulting_leaves_the_image_as_written() {
    for image in [
        json!({"image": "example.com/smoke:1"}),
        json!("example.com/smoke:1"),
    ] {
        let patch = serde_json::to_value(mutate(&group(image.clone())).unwrap()).unwrap();
        let touched = patch
            .as_array()
            .unwrap()
            .iter()
            .filter(|op| op["path"].as_str().unwrap().contains("/image"))
            .count();
        assert_eq!(touched, 0, "{image}: {patch}");
    }
}

#[test]
fn bad_images_are_refused_naming_the_field() {
    let cases: Vec<(Value, Vec<String>)> = vec![
        (
            json!(5),
            vec![format!(
                "{AT}: expected an image reference (a string such as \"example.com/step:1\") or a \
                 container (an object with image, command, args, env, …), found a number"
            )],
        ),
        (
            json!(["example.com/smoke:1"]),
            vec![format!(
                "{AT}: expected an image reference (a string such as \"example.com/step:1\") or a \
                 container (an object with image, command, args, env, …), found an array"
            )],
        ),
        (
            json!({"image": "example.com/smoke:1", "args": "--verbose"}),
            vec![format!("{AT}.args: value is not of type \"array\"")],
        ),
        (
            json!({"image": 7}),
            vec![format!("{AT}.image: value is not of type \"string\"")],
        ),
        (
            json!({"image": "example.com/smoke:1", "env": [{"name": "A", "value": 1}]}),
            vec![format!(
                "{AT}.env[0].value: value is not of type \"string\""
            )],
        ),
        (
            json!({"image": "example.com/smoke:1", "comand": ["/smoke"]}),
            vec![format!("{AT}.comand: unknown field")],
        ),
        (
            json!({"name": "smoke"}),
            vec![format!("{AT}: a custom executor needs an image")],
        ),
        (
            json!(""),
            vec![format!("{AT}: a custom executor needs an image")],
        ),
        (
            json!({"name": "Smoke Test", "image": "example.com/smoke:1"}),
            vec![format!(
                "{AT}.name: invalid container name \"Smoke Test\": use a DNS-1123 label (lower \
                 case letters, digits and '-')"
            )],
        ),
        (
            json!({"image": "example.com/smoke 1"}),
            vec![format!("{AT}.image: invalid image \"example.com/smoke 1\"")],
        ),
        (
            json!("example.com/smoke 1"),
            vec![format!("{AT}: invalid image \"example.com/smoke 1\"")],
        ),
    ];
    for (image, expected) in cases {
        assert_eq!(errors_of(image.clone()), expected, "{image}");
    }
}
