//! Every admission rule, seen as a user sees it: the field path and the message.

#![allow(clippy::expect_used)] // a failed expectation is the test failure

use orkestra_shared::admission::{check, mutate, validate};
use orkestra_shared::field_error::FieldError;
use orkestra_shared::policy::Policy;
use serde_json::{Value, json};

fn app(name: &str, dependencies: &[&str]) -> Value {
    json!({
        "name": name,
        "dependencies": dependencies,
        "spec": {
            "chart": {"url": "https://charts.example.com", "name": name, "version": "1.0.0"},
            "release": {"targetNamespace": "apps"}
        }
    })
}

fn group(apps: Vec<Value>) -> Value {
    json!({
        "apiVersion": "orkestra.azure.microsoft.com/v1alpha1",
        "kind": "ApplicationGroup",
        "metadata": {"name": "shop"},
        "spec": {"applications": apps}
    })
}

fn errors_of(object: &Value) -> Vec<String> {
    errors_with(object, &Policy::default())
}

fn errors_with(object: &Value, policy: &Policy) -> Vec<String> {
    match check(object, policy) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(FieldError::to_string).collect(),
    }
}

/// Applies `edit` to a valid two-application group and returns the errors.
fn errors_after(edit: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut object = group(vec![app("db", &[]), app("web", &["db"])]);
    edit(&mut object);
    errors_of(&object)
}

#[test]
fn a_valid_group_passes() {
    assert_eq!(errors_after(|_| {}), Vec::<String>::new());
}

#[test]
fn a_secret_reference_without_namespace_passes_as_in_azure_orkestra() {
    let errors = errors_after(|o| {
        o["spec"]["applications"][0]["spec"]["chart"]["authSecretRef"] = json!({"name": "creds"})
    });
    assert_eq!(errors, Vec::<String>::new());
}

#[test]
fn executors_as_azure_orkestra_writes_them_pass_without_type_and_with_any_params() {
    let errors = errors_after(|o| {
        o["spec"]["applications"][0]["spec"]["workflow"] =
            json!([{"name": "install", "dependencies": [], "params": null}])
    });
    assert_eq!(errors, Vec::<String>::new());
    for params in [json!("text"), json!([1, 2]), json!(3), json!({"a": 1})] {
        let errors = errors_after(|o| {
            o["spec"]["applications"][0]["spec"]["workflow"] = json!([
                {"name": "install", "type": "helmrelease"},
                {"name": "custom", "type": "custom", "image": "example.com/step:1",
                 "dependencies": ["install"], "params": params}])
        });
        assert_eq!(errors, Vec::<String>::new(), "params {params}");
    }
    let mut object = group(vec![app("db", &[])]);
    object["spec"]["applications"][0]["spec"]["workflow"] = json!([{"name": "install"}]);
    let checked = check(&object, &Policy::default()).expect("valid");
    assert_eq!(
        checked.spec.applications[0].spec.workflow[0].executor_type,
        orkestra_shared::crd::ExecutorType::Helmrelease
    );
}

#[test]
fn a_keptn_executor_is_accepted_with_a_warning_that_its_step_fails() {
    let mut object = group(vec![app("db", &[])]);
    object["spec"]["applications"][0]["spec"]["workflow"] = json!([
        {"name": "install", "type": "helmrelease"},
        {"name": "gate", "type": "keptn", "dependencies": ["install"]}]);
    let verdict = validate(&object, None::<&Value>, &Policy::default());
    assert_eq!(verdict.errors, Vec::<FieldError>::new());
    assert_eq!(verdict.warnings.len(), 1, "{:?}", verdict.warnings);
    assert!(
        verdict.warnings[0]
            .starts_with("application \"db\", executor \"gate\": keptn steps fail in this version"),
        "{:?}",
        verdict.warnings
    );
}

#[test]
fn values_from_with_split_subcharts_is_accepted_with_a_warning_that_it_reaches_the_parent_only() {
    let mut object = group(vec![app("shop", &[])]);
    let spec = &mut object["spec"]["applications"][0]["spec"];
    spec["release"]["valuesFrom"] = json!([{"kind": "Secret", "name": "shop-values"}]);
    spec["subcharts"] = json!([{"name": "db"}]);
    let verdict = validate(&object, None::<&Value>, &Policy::default());
    assert_eq!(verdict.errors, Vec::<FieldError>::new());
    assert_eq!(
        verdict.warnings,
        [
            "application \"shop\": valuesFrom reaches only the HelmRelease of its own chart, not those \
          of its split subcharts: put a split subchart's values under its key in `values`"
        ]
    );
}

#[test]
fn the_example_group_is_valid() {
    let example: Value =
        serde_norway::from_str(include_str!("../../examples/bookinfo.yaml")).expect("example");
    assert_eq!(errors_of(&example), Vec::<String>::new());
}

#[test]
fn each_rule_names_the_field_and_the_problem() {
    type Edit = fn(&mut Value);
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "duplicate names",
            |o| o["spec"]["applications"][1]["name"] = json!("db"),
            "spec.applications[1].name: duplicate application name \"db\" (also spec.applications[0])",
        ),
        (
            "unknown dependency",
            |o| o["spec"]["applications"][1]["dependencies"] = json!(["cache"]),
            "spec.applications[1].dependencies[0]: unknown application \"cache\": it is not in spec.applications",
        ),
        (
            "self dependency",
            |o| o["spec"]["applications"][0]["dependencies"] = json!(["db"]),
            "spec.applications[0].dependencies[0]: application \"db\" depends on itself",
        ),
        (
            "duplicate dependency",
            |o| o["spec"]["applications"][1]["dependencies"] = json!(["db", "db"]),
            "spec.applications[1].dependencies[1]: duplicate dependency \"db\"",
        ),
        (
            "two-node cycle",
            |o| o["spec"]["applications"][0]["dependencies"] = json!(["web"]),
            "spec.applications: dependency cycle: db -> web -> db",
        ),
        (
            "invalid name",
            |o| o["spec"]["applications"][0]["name"] = json!("Db_1"),
            "spec.applications[0].name: invalid application name \"Db_1\" (4 characters): use at most 63 lower case letters, digits and '-', starting and ending with a letter or digit",
        ),
        (
            "bad URL",
            |o| o["spec"]["applications"][0]["spec"]["chart"]["url"] = json!("not a url"),
            "spec.applications[0].spec.chart.url: invalid chart repository URL \"not a url\": relative URL without a base",
        ),
        (
            "bad scheme",
            |o| o["spec"]["applications"][0]["spec"]["chart"]["url"] = json!("ftp://x.example.com"),
            "spec.applications[0].spec.chart.url: unsupported scheme \"ftp\" in \"ftp://x.example.com\": use an http(s) Helm repository or an oci:// registry",
        ),
        (
            "chart name leaving the registry path (oci:// charts are fetched over https, which reads '\\' as '/')",
            |o| o["spec"]["applications"][0]["spec"]["chart"]["name"] = json!("x\\..\\..\\other"),
            "spec.applications[0].spec.chart.name: invalid chart name \"x\\\\..\\\\..\\\\other\": a chart name has no '/', '\\', '%', ':' or spaces",
        ),
        (
            "bad version",
            |o| o["spec"]["applications"][0]["spec"]["chart"]["version"] = json!("latest"),
            "spec.applications[0].spec.chart.version: invalid chart version \"latest\"",
        ),
        (
            "bad duration",
            |o| o["spec"]["applications"][0]["spec"]["release"]["timeout"] = json!("10 minutes"),
            "spec.applications[0].spec.release.timeout: invalid duration \"10 minutes\"",
        ),
        (
            "bad group interval",
            |o| o["spec"]["interval"] = json!("5"),
            "spec.interval: invalid duration \"5\"",
        ),
        (
            "bad namespace",
            |o| o["spec"]["applications"][0]["spec"]["release"]["targetNamespace"] = json!("My_NS"),
            "spec.applications[0].spec.release.targetNamespace: invalid namespace \"My_NS\"",
        ),
        (
            "forbidden namespace",
            |o| {
                o["spec"]["applications"][0]["spec"]["release"]["targetNamespace"] =
                    json!("kube-system")
            },
            "spec.applications[0].spec.release.targetNamespace: namespace \"kube-system\" is forbidden by the cluster policy",
        ),
        (
            "custom executor without image",
            |o| {
                o["spec"]["applications"][0]["spec"]["workflow"] = json!([
                {"name": "helmrelease", "type": "helmrelease"}, {"name": "smoke", "type": "custom", "dependencies": ["helmrelease"]}])
            },
            "spec.applications[0].spec.workflow[1].image: a custom executor needs an image",
        ),
        (
            "executor cycle",
            |o| {
                o["spec"]["applications"][0]["spec"]["workflow"] = json!([
                {"name": "helmrelease", "type": "helmrelease", "dependencies": ["smoke"]},
                {"name": "smoke", "type": "custom", "image": "smoke:1", "dependencies": ["helmrelease"]}])
            },
            "spec.applications[0].spec.workflow: dependency cycle: helmrelease -> smoke -> helmrelease",
        ),
        (
            "subchart cycle",
            |o| {
                o["spec"]["applications"][0]["spec"]["subcharts"] = json!([
                {"name": "a", "dependencies": ["c"]}, {"name": "b", "dependencies": ["a"]}, {"name": "c", "dependencies": ["b"]}])
            },
            "spec.applications[0].spec.subcharts: dependency cycle: a -> c -> b -> a",
        ),
        (
            "keptn params",
            |o| {
                o["spec"]["applications"][0]["spec"]["workflow"] = json!([
                {"name": "helmrelease", "type": "helmrelease"},
                {"name": "gate", "type": "keptn", "dependencies": ["helmrelease"], "params": {"data": {"configmapRef": {"name": "k"}}}}])
            },
            "spec.applications[0].spec.workflow[1].params.data.configmapRef: \"namespace\" is a required property",
        ),
        (
            "release name collision",
            |o| {
                o["spec"]["applications"][0]["spec"]["subcharts"] = json!([{"name": "web"}]);
                o["spec"]["applications"][1]["name"] = json!("db-web");
                o["spec"]["applications"][1]["dependencies"] = json!([]);
            },
            "spec.applications[1].name: HelmRelease name \"db-web\" in namespace \"apps\" is also generated for spec.applications[0].spec.subcharts[0].name",
        ),
        (
            "secret ref without name",
            |o| {
                o["spec"]["applications"][0]["spec"]["chart"]["authSecretRef"] =
                    json!({"namespace": "orkestra"})
            },
            "spec.applications[0].spec.chart.authSecretRef.name: the credentials Secret's name is required",
        ),
        (
            "wrong type",
            |o| o["spec"]["applications"][0]["dependencies"] = json!(5),
            "spec.applications[0].dependencies: value is not of type \"array\"",
        ),
        (
            "unknown field",
            |o| o["spec"]["applications"][0]["spec"]["chart"]["tag"] = json!("1"),
            "spec.applications[0].spec.chart.tag: unknown field",
        ),
        (
            "missing chart",
            |o| {
                o["spec"]["applications"][0]["spec"]
                    .as_object_mut()
                    .map(|s| s.remove("chart"));
            },
            "spec.applications[0].spec: \"chart\" is a required property",
        ),
        (
            "empty list",
            |o| o["spec"]["applications"] = json!([]),
            "spec.applications: value has less than 1 item",
        ),
        (
            "wrong kind",
            |o| o["kind"] = json!("Application"),
            "kind: expected \"ApplicationGroup\", found \"Application\"",
        ),
        (
            "wrong apiVersion",
            |o| o["apiVersion"] = json!("orkestra.azure.microsoft.com/v1"),
            "apiVersion: expected \"orkestra.azure.microsoft.com/v1alpha1\", found \"orkestra.azure.microsoft.com/v1\"",
        ),
        (
            "bad group name",
            |o| o["metadata"]["name"] = json!("Shop!"),
            "metadata.name: invalid group name \"Shop!\"",
        ),
    ];
    for (case, edit, expected) in cases {
        let errors = errors_after(edit);
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "{case}: expected an error starting with\n  {expected}\ngot\n  {errors:#?}"
        );
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let object = group(vec![
        app("a", &["b", "ghost"]),
        app("b", &["c"]),
        app("c", &["a"]),
        app("a", &[]),
    ]);
    let errors = errors_of(&object);
    assert!(
        errors.contains(&"spec.applications: dependency cycle: a -> b -> c -> a".to_owned()),
        "{errors:#?}"
    );
    assert!(errors.iter().any(|e| {
        e.starts_with("spec.applications[0].dependencies[1]: unknown application \"ghost\"")
    }));
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("spec.applications[3].name: duplicate application name \"a\""))
    );
}

#[test]
fn policy_limits_repositories_and_group_size() {
    let policy = Policy::from_yaml(
        "allowedChartRepositories: [https://internal.example.com/]\nmaxApplications: 1",
    )
    .expect("policy");
    let errors = errors_with(&group(vec![app("db", &[]), app("web", &["db"])]), &policy);
    assert!(errors.contains(
        &"spec.applications: 2 applications exceed the cluster policy's limit of 1".to_owned()
    ));
    assert!(errors.iter().any(|e| e.starts_with(
        "spec.applications[0].spec.chart.url: chart repository \"https://charts.example.com\" is not allowed by the cluster policy"
    )));
}

#[test]
fn groups_beyond_the_engine_limits_are_denied_naming_the_limit() {
    let apps: Vec<Value> = (0..199).map(|i| app(&format!("app-{i}"), &[])).collect();
    let policy = Policy {
        max_applications: 10_000,
        ..Policy::default()
    };
    let errors = errors_with(&group(apps), &policy);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("over Argo Workflows' limit of 200 templates per Workflow")),
        "{errors:#?}"
    );
    let mut one = app("big", &[]);
    one["spec"]["subcharts"] =
        Value::Array((0..200).map(|i| json!({"name": format!("s{i}")})).collect());
    let errors = errors_of(&group(vec![one]));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("over Argo Workflows' limit of 200 tasks per DAG template")),
        "{errors:#?}"
    );
}

#[test]
fn a_rollback_beyond_the_engine_limits_is_denied_before_it_is_needed() {
    // The last deployed spec: 60 applications with a custom step each (3 templates apiece).
    let stepped: Vec<Value> = (0..60)
        .map(|i| {
            let mut app = app(&format!("app-{i}"), &[]);
            app["spec"]["workflow"] = json!([{"name": "helmrelease", "type": "helmrelease"},
                {"name": "smoke", "type": "custom", "image": "smoke:1", "dependencies": ["helmrelease"]}]);
            app
        })
        .collect();
    let last_good = json!({"applications": stepped}).to_string();
    // The update: the same 60 without their steps, and 60 more. Its own Workflow has 122
    // templates; rolling it back means the 60 added uninstalled and the 60 with their steps
    // installed again: 242, over Argo's 200.
    let apps: Vec<Value> = (0..120).map(|i| app(&format!("app-{i}"), &[])).collect();
    let mut update = group(apps);
    let policy = Policy {
        max_applications: 10_000,
        ..Policy::default()
    };
    assert_eq!(errors_with(&update, &policy), Vec::<String>::new());
    update["metadata"]["annotations"] =
        json!({"orkestra.azure.microsoft.com/last-successful-appgroup": last_good});
    assert_eq!(
        errors_with(&update, &policy),
        [
            "spec.applications: a rollback to its last successful spec (the added applications uninstalled, then \
          the last spec installed) needs 242 workflow templates, over Argo Workflows' limit of 200 templates \
          per Workflow: split it into smaller groups"
        ]
    );

    // Dropping applications: they are uninstalled in the update's own forward Workflow.
    let mut shrunk = group((100..230).map(|i| app(&format!("app-{i}"), &[])).collect());
    shrunk["metadata"]["annotations"] =
        json!({"orkestra.azure.microsoft.com/last-successful-appgroup": last_good});
    let errors = errors_with(&shrunk, &policy);
    assert!(
        errors.len() == 1
            && errors[0].contains(
                "with the applications it drops uninstalled, its forward Workflow needs 312"
            ),
        "{errors:#?}"
    );
}

#[test]
fn hostile_input_gets_errors_not_panics() {
    let long = "a".repeat(300);
    let errors = errors_after(|o| o["spec"]["applications"][0]["name"] = json!(long));
    assert!(
        errors.iter().any(|e| e.contains("(300 characters)")),
        "{errors:#?}"
    );

    // NB: serde_json and serde_norway refuse nesting deeper than 128 when parsing text, so deeper
    // objects never reach validation; this is as deep as real input gets.
    let mut deep = json!("leaf");
    for _ in 0..120 {
        deep = json!({ "x": deep });
    }
    let errors = errors_after(|o| {
        o["spec"]["applications"][0]["spec"]["release"]["values"] = json!({ "deep": deep })
    });
    assert!(
        errors.is_empty(),
        "deep values are the chart's business: {errors:#?}"
    );

    for not_a_group in [json!(null), json!([]), json!("text"), json!({"spec": 1})] {
        assert!(!errors_of(&not_a_group).is_empty());
    }
}

#[test]
fn mutation_fills_every_default_and_nothing_else() {
    let mut object = group(vec![json!({
        "name": "web",
        "spec": {"chart": {"url": "oci://registry.example.com/charts", "name": "web"}, "release": {}}
    })]);
    object["spec"]["applications"][0]["spec"]["subcharts"] = json!([{"name": "api"}]);
    let patch = mutate(&object).expect("patch");
    let mut defaulted = object.clone();
    json_patch::patch(&mut defaulted, &patch).expect("applies");
    let app = &defaulted["spec"]["applications"][0];
    assert_eq!(app["dependencies"], json!([]));
    assert_eq!(app["spec"]["chart"]["version"], "*");
    assert_eq!(app["spec"]["release"]["timeout"], "5m");
    assert_eq!(app["spec"]["release"]["interval"], "5m");
    assert_eq!(
        app["spec"]["subcharts"],
        json!([{"name": "api", "dependencies": []}])
    );
    assert_eq!(
        app["spec"]["workflow"],
        json!([{"name": "helmrelease", "type": "helmrelease", "dependencies": []}])
    );
    assert_eq!(
        defaulted["metadata"], object["metadata"],
        "metadata untouched"
    );

    let again = mutate(&defaulted).expect("patch");
    assert!(again.0.is_empty(), "defaulting is idempotent: {again:?}");
}

#[test]
fn updates_warn_about_risky_changes() {
    let old = group(vec![app("db", &[]), app("web", &["db"])]);
    let mut new = old.clone();
    new["spec"]["applications"][0]["spec"]["release"]["targetNamespace"] = json!("data");
    let verdict = validate(&new, Some(&old), &Policy::default());
    assert!(verdict.allowed());
    assert_eq!(verdict.warnings, vec![
        "application \"db\" moves from namespace \"apps\" to \"data\": its release in \"apps\" is uninstalled and installed anew in \"data\"".to_owned()
    ]);
}

#[test]
fn an_update_that_keeps_the_spec_is_not_judged_again_by_a_stricter_policy() {
    let old = group(vec![app("db", &[]), app("web", &["db"])]);
    let stricter = Policy {
        forbidden_namespaces: vec!["apps".into()],
        ..Policy::default()
    };
    // What the controller writes, and what a deletion's last step is: metadata only.
    let mut finalizer_removed = old.clone();
    finalizer_removed["metadata"]["finalizers"] = json!([]);
    finalizer_removed["metadata"]["annotations"] = json!({"note": "metadata only"});
    let verdict = validate(&finalizer_removed, Some(&old), &stricter);
    assert_eq!(verdict.errors, Vec::<FieldError>::new());

    // A change of the spec is judged by today's policy, whole.
    let mut changed = old.clone();
    changed["spec"]["applications"][1]["spec"]["chart"]["version"] = json!("1.2.3");
    let errors: Vec<String> = validate(&changed, Some(&old), &stricter)
        .errors
        .iter()
        .map(FieldError::to_string)
        .collect();
    assert_eq!(
        errors,
        [0, 1].map(|i| format!(
            "spec.applications[{i}].spec.release.targetNamespace: namespace \"apps\" is forbidden by the cluster policy"
        ))
    );
    // So is an object that does not conform, whatever the old one was.
    let mut broken = old.clone();
    broken["metadata"]["labels"] = json!({"a": "b"});
    broken["spec"]["applications"][0]["dependencies"] = json!("db");
    assert!(!validate(&broken, Some(&old), &Policy::default()).allowed());
}
