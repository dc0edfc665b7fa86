//! Custom executors keep Azure Orkestra's contract: an image written for it gets the arguments it
//! got there. A group written in Azure Orkestra's style is admitted and planned; each custom leaf of
//! its forward, reverse and rollback Workflows is run as Argo would run it (parameters substituted,
//! the container's command, args and env) with `executor-contract`, a program that checks exactly
//! those arguments. No cluster needed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use base64::Engine;
use orkestra_shared::admission::check;
use orkestra_shared::crd::{ApplicationGroup, ApplicationGroupSpec};
use orkestra_shared::plan::argo::{Template, Workflow};
use orkestra_shared::plan::{self, Direction, PlanConfig, Resolved};
use orkestra_shared::policy::Policy;
use orkestra_tests::argo::substitute;
use serde_json::{Value, json};

const PROGRAM: &str = env!("CARGO_BIN_EXE_executor-contract");
const FIXTURE: &str = include_str!("../fixtures/upstream-style.yaml");

/// The upstream-style fixture, admitted (and defaulted) by the webhook's rules; `edit` changes it
/// first.
fn admitted(edit: impl FnOnce(&mut Value)) -> ApplicationGroup {
    let mut object: Value = serde_norway::from_str(FIXTURE).unwrap();
    edit(&mut object);
    check(&object, &Policy::default()).expect("the upstream-style group is admitted")
}

/// A custom leaf as a task of the Workflow calls it, with the values of its parameters.
struct Step {
    leaf: Template,
    parameters: Vec<(String, String)>,
}

/// Every custom leaf the Workflow runs: entry → application DAGs → executor DAGs → leaves, each
/// task's arguments substituted from its caller's parameters, as Argo passes them down.
fn custom_steps(workflow: &Workflow) -> Vec<Step> {
    fn walk(workflow: &Workflow, name: &str, parameters: &[(String, String)], out: &mut Vec<Step>) {
        let template = workflow
            .spec
            .templates
            .iter()
            .find(|t| t.name == name)
            .unwrap();
        if template.container.is_some() {
            if name.starts_with("custom-") {
                out.push(Step {
                    leaf: template.clone(),
                    parameters: parameters.to_vec(),
                });
            }
            return;
        }
        let declared = declared(template);
        for task in template.tasks() {
            let passed: Vec<(String, String)> = task
                .arguments
                .iter()
                .flat_map(|a| &a.parameters)
                .map(|p| {
                    let value = p.value.as_deref().unwrap_or_default();
                    let value = substitute(value, &declared, parameters)
                        .unwrap_or_else(|err| panic!("template {name}, task {}: {err}", task.name));
                    (p.name.clone(), value)
                })
                .collect();
            walk(workflow, &task.template, &passed, out);
        }
    }
    let mut out = Vec::new();
    walk(workflow, &workflow.spec.entrypoint, &[], &mut out);
    out
}

/// The input parameters `template` declares.
fn declared(template: &Template) -> Vec<&str> {
    template
        .inputs
        .iter()
        .flat_map(|inputs| &inputs.parameters)
        .map(|p| p.name.as_str())
        .collect()
}

/// What the executor of an application must receive.
struct Expected {
    release: &'static str,
    action: &'static str,
    data: Option<Value>,
    timeout: &'static str,
}

fn expected(application: &str, action: &'static str) -> Expected {
    match application {
        "ambassador" => Expected {
            release: "ambassador",
            action,
            data: None,
            timeout: "10m",
        },
        "bookinfo" => Expected {
            release: "bookinfo",
            action,
            data: Some(json!({"greeting": "hello", "retries": 3})),
            timeout: "5m",
        },
        other => panic!("no expectations for {other}"),
    }
}

/// The application of a custom leaf (`custom-<application>-<executor>`).
fn application_of(step: &Step) -> &'static str {
    ["ambassador", "bookinfo"]
        .into_iter()
        .find(|app| step.leaf.name.starts_with(&format!("custom-{app}-")))
        .unwrap()
}

/// Runs the step's container as the pod would: its command (the image's entrypoint, this
/// program, when none) and args with the parameters substituted (then changed by `tamper`), and
/// its env. Ok(stdout) when the program accepted its arguments, Err(stderr) otherwise.
fn run(
    step: &Step,
    expected: &Expected,
    tamper: impl FnOnce(&mut Vec<String>),
) -> Result<String, String> {
    let container = step.leaf.container.as_ref().unwrap();
    let declared = declared(&step.leaf);
    let resolve = |text: &str| {
        substitute(text, &declared, &step.parameters)
            .unwrap_or_else(|err| panic!("leaf {}: {err}", step.leaf.name))
    };
    let mut argv: Vec<String> = container.command.clone().unwrap_or_default();
    argv.extend(container.args.iter().flatten().map(|arg| resolve(arg)));
    tamper(&mut argv);
    let args = match argv.first().map(String::as_str) {
        Some("executor-contract") => &argv[1..],
        Some(other) if container.command.is_some() => panic!("unknown command {other}"),
        _ => &argv[..],
    };
    let data = expected
        .data
        .as_ref()
        .map(Value::to_string)
        .unwrap_or_default();
    let mut command = Command::new(PROGRAM);
    command
        .args(args)
        .env_clear()
        .env("EXPECT_RELEASE", expected.release)
        .env("EXPECT_ACTION", expected.action)
        .env("EXPECT_DATA", data)
        .env("EXPECT_TIMEOUT", expected.timeout);
    for var in container.env.iter().flatten() {
        command.env(&var.name, resolve(var.value.as_deref().unwrap_or_default()));
    }
    let output = command.output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    if output.status.success() {
        Ok(text(&output.stdout))
    } else {
        Err(text(&output.stderr))
    }
}

fn planned(group: &ApplicationGroup, direction: Direction<'_>) -> Workflow {
    let name = group.metadata.name.as_deref().unwrap();
    plan::build(
        name,
        1,
        &group.spec,
        &Resolved::default(),
        direction,
        &PlanConfig::default(),
    )
    .unwrap()
    .workflow
}

/// Each application's action in one direction.
type Actions = fn(&str) -> &'static str;

/// A change to a step's command line.
type Tamper = Box<dyn FnOnce(&mut Vec<String>)>;

/// Plans the forward, reverse and rollback Workflows and runs each of their custom steps.
fn every_custom_step_gets_the_contract(group: &ApplicationGroup) {
    let mut last_good: ApplicationGroupSpec = group.spec.clone();
    last_good.applications.retain(|a| a.name == "ambassador");
    let resolved = Resolved::default();
    let directions: [(Direction<'_>, Actions); 3] = [
        (Direction::Forward, |_| "install"),
        (Direction::Reverse, |_| "delete"),
        (
            Direction::Rollback {
                last_good: &last_good,
                last_good_resolved: &resolved,
            },
            // The rollback removes the application the failed spec added and reinstalls the rest.
            |app| {
                if app == "bookinfo" {
                    "delete"
                } else {
                    "install"
                }
            },
        ),
    ];
    for (direction, action) in directions {
        let steps = custom_steps(&planned(group, direction));
        assert_eq!(
            steps.len(),
            2,
            "{}: one step per custom executor",
            direction.label()
        );
        for step in &steps {
            let app = application_of(step);
            let outcome = run(step, &expected(app, action(app)), |_| {});
            assert!(
                outcome.is_ok(),
                "{} {}: {}",
                direction.label(),
                step.leaf.name,
                outcome.unwrap_err()
            );
        }
    }
}

#[test]
fn container_images_get_azure_orkestras_arguments_with_data_and_without_params() {
    every_custom_step_gets_the_contract(&admitted(|_| {}));
}

#[test]
fn string_images_get_azure_orkestras_arguments_too() {
    let group = admitted(|o| {
        o["spec"]["applications"][1]["spec"]["workflow"][1]["image"] = json!("example.com/check:1");
    });
    let steps = custom_steps(&planned(&group, Direction::Forward));
    let check = steps
        .iter()
        .find(|s| s.leaf.name == "custom-bookinfo-check")
        .unwrap();
    let container = check.leaf.container.as_ref().unwrap();
    assert_eq!(container.image.as_deref(), Some("example.com/check:1"));
    assert_eq!(container.name, "check", "named after the executor");
    every_custom_step_gets_the_contract(&group);
}

#[test]
fn every_field_of_the_container_reaches_the_step() {
    let group = admitted(|_| {});
    let steps = custom_steps(&planned(&group, Direction::Forward));
    let smoke = steps[0].leaf.container.as_ref().unwrap();
    assert_eq!(smoke.name, "smoke");
    assert_eq!(smoke.image.as_deref(), Some("example.com/smoke:1"));
    assert_eq!(smoke.command, Some(vec!["executor-contract".to_owned()]));
    assert_eq!(
        smoke.args.as_ref().unwrap()[0],
        "--verbose",
        "the user's args come first"
    );
    assert_eq!(smoke.env.as_ref().unwrap()[0].name, "EXPECT_LEADING");
    let limits = smoke.resources.as_ref().unwrap().limits.as_ref().unwrap();
    assert_eq!(limits["memory"].0, "64Mi");
}

#[test]
fn a_wrong_argument_fails_the_program_naming_it() {
    let group = admitted(|_| {});
    let steps = custom_steps(&planned(&group, Direction::Forward));
    let step = steps
        .iter()
        .find(|s| application_of(s) == "bookinfo")
        .unwrap();
    let install = || expected("bookinfo", "install");
    assert!(
        run(step, &install(), |_| {}).is_ok(),
        "the untouched step passes"
    );

    let replace_after = |flag: &'static str, value: String| {
        move |argv: &mut Vec<String>| {
            let at = argv.iter().position(|a| a == flag).unwrap();
            argv[at + 1] = value;
        }
    };
    let workflow_spec = base64::engine::general_purpose::STANDARD
        .encode(r#"{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow"}"#);
    let cases: Vec<(Tamper, Expected, &str)> = vec![
        (
            Box::new(replace_after("--interval", "5s".into())),
            install(),
            "wrong: --interval is \"5s\", expected \"1s\"",
        ),
        (
            Box::new(|_: &mut Vec<String>| {}),
            expected("bookinfo", "delete"),
            "wrong: --action is \"install\", expected \"delete\"",
        ),
        (
            Box::new(replace_after("--spec", workflow_spec)),
            install(),
            "expected a HelmRelease of helm.toolkit.fluxcd.io/v2",
        ),
        (
            Box::new(replace_after("--data", String::new())),
            install(),
            "wrong: --data decodes to None",
        ),
        (
            Box::new(|argv: &mut Vec<String>| {
                argv.retain(|a| a != "--timeout" && a != "5m");
            }),
            install(),
            "wrong: --timeout is missing",
        ),
    ];
    for (tamper, expected, message) in cases {
        let problem = run(step, &expected, tamper).expect_err(message);
        assert!(problem.contains(message), "{message}: {problem}");
    }
}
