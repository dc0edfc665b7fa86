//! The admission router in-process: every defaulting and validation rule as a user sees it through
//! `/mutate` and `/validate` (the rules themselves are orkestra-shared's; these prove they surface).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use orkestra_shared::policy::Policy;
use orkestra_webhook::handlers::{AdmissionState, router};
use orkestra_webhook::limits::Limits;
use orkestra_webhook::metrics::Metrics;
use orkestra_webhook::policy_watch::PolicyStore;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

/// The username the controller writes groups as (the chart's ServiceAccount).
const CONTROLLER: &str = "system:serviceaccount:orkestra:ork-orkestra-controller";

async fn call_with(policy: Policy, path: &str, body: Body) -> (StatusCode, Value) {
    let state = AdmissionState {
        policy: Arc::new(PolicyStore::with(policy)),
        metrics: Arc::new(Metrics::new()),
        secret_access: None,
        controller_username: Some(CONTROLLER.into()),
    };
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let response = router(state, &Limits::default())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn call(path: &str, review: &Value) -> Value {
    let (status, answer) = call_with(
        Policy::default(),
        path,
        Body::from(serde_json::to_vec(review).unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["response"].clone()
}

/// The denial message's lines; empty when allowed.
async fn denial(review: &Value) -> Vec<String> {
    let response = call("/validate", review).await;
    if response["allowed"] == true {
        return Vec::new();
    }
    response["status"]["message"]
        .as_str()
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn assert_denied_at(lines: &[String], path: &str, words: &[&str]) {
    let line = lines
        .iter()
        .find(|line| line.starts_with(&format!("{path}: ")))
        .unwrap_or_else(|| panic!("no error at {path} in {lines:#?}"));
    for word in words {
        assert!(
            line.to_lowercase().contains(&word.to_lowercase()),
            "{line:?} lacks {word:?}"
        );
    }
}

fn defaulted(object: &Value, response: &Value) -> Value {
    let mut object = object.clone();
    if let Some(patch) = response.get("patch") {
        assert_eq!(response["patchType"], "JSONPatch");
        // The wire form the Kubernetes API documents: base64 text.
        let text = patch.as_str().expect("response.patch is base64 text");
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text).unwrap();
        let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
        json_patch::patch(&mut object, &patch).unwrap();
    }
    object
}

fn bare_app(name: &str) -> Value {
    json!({"name": name, "spec": {"chart": {"url": "https://charts.example.com", "name": name}, "release": {"targetNamespace": name}}})
}

#[tokio::test]
async fn mutate_fills_every_default_and_nothing_else() {
    let object = group("bookinfo", vec![bare_app("web")]);
    let response = call("/mutate", &create(object.clone())).await;
    assert_eq!(response["allowed"], true);
    let after = defaulted(&object, &response);
    let app = &after["spec"]["applications"][0];
    assert_eq!(app["spec"]["chart"]["version"], "*");
    assert_eq!(app["spec"]["release"]["timeout"], "5m");
    assert_eq!(app["spec"]["release"]["interval"], "5m");
    assert_eq!(app["dependencies"], json!([]));
    assert_eq!(
        app["spec"]["workflow"],
        json!([{"name": "helmrelease", "type": "helmrelease", "dependencies": []}])
    );
    // What the user wrote is untouched.
    assert_eq!(app["spec"]["chart"]["url"], "https://charts.example.com");
    assert_eq!(app["spec"]["release"]["targetNamespace"], "web");
    assert_eq!(after["metadata"], object["metadata"]);
}

#[tokio::test]
async fn mutate_keeps_what_the_user_set_and_is_idempotent() {
    let mut object = group("bookinfo", vec![bare_app("web")]);
    object["spec"]["applications"][0]["spec"]["chart"]["version"] = json!("^1.2");
    object["spec"]["applications"][0]["spec"]["release"]["timeout"] = json!("10m");
    let once = defaulted(&object, &call("/mutate", &create(object.clone())).await);
    assert_eq!(
        once["spec"]["applications"][0]["spec"]["chart"]["version"],
        "^1.2"
    );
    assert_eq!(
        once["spec"]["applications"][0]["spec"]["release"]["timeout"],
        "10m"
    );
    let again = call("/mutate", &create(once.clone())).await;
    assert_eq!(again["allowed"], true);
    assert_eq!(
        defaulted(&once, &again),
        once,
        "a defaulted object needs no further patch"
    );
}

#[tokio::test]
async fn a_valid_group_is_allowed() {
    let object = group(
        "bookinfo",
        vec![
            app("db", &[]),
            app("api", &["db"]),
            app("web", &["api", "db"]),
        ],
    );
    assert_eq!(denial(&create(object)).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_dependency_cycle_is_denied_with_the_cycle() {
    let object = group(
        "bookinfo",
        vec![app("a", &["c"]), app("b", &["a"]), app("c", &["b"])],
    );
    let lines = denial(&create(object)).await;
    let line = lines
        .iter()
        .find(|l| l.contains("->"))
        .unwrap_or_else(|| panic!("no cycle in {lines:#?}"));
    assert!(line.starts_with("spec.applications"), "{line}");
    for name in ["a", "b", "c"] {
        assert!(line.contains(name), "{line}");
    }
}

#[tokio::test]
async fn duplicate_application_names_are_denied() {
    let object = group("bookinfo", vec![app("web", &[]), app("web", &[])]);
    assert_denied_at(
        &denial(&create(object)).await,
        "spec.applications[1].name",
        &["web"],
    );
}

#[tokio::test]
async fn an_unknown_dependency_is_denied() {
    let object = group("bookinfo", vec![app("web", &["db"])]);
    assert_denied_at(
        &denial(&create(object)).await,
        "spec.applications[0].dependencies[0]",
        &["db"],
    );
}

#[tokio::test]
async fn a_bad_chart_url_is_denied() {
    let mut object = group("bookinfo", vec![app("web", &[])]);
    object["spec"]["applications"][0]["spec"]["chart"]["url"] = json!("ftp//charts example");
    assert_denied_at(
        &denial(&create(object)).await,
        "spec.applications[0].spec.chart.url",
        &[],
    );
}

#[tokio::test]
async fn a_forbidden_namespace_is_denied_by_the_default_policy() {
    let mut object = group("bookinfo", vec![app("web", &[])]);
    object["spec"]["applications"][0]["spec"]["release"]["targetNamespace"] = json!("kube-system");
    assert_denied_at(
        &denial(&create(object)).await,
        "spec.applications[0].spec.release.targetNamespace",
        &["kube-system"],
    );
}

#[tokio::test]
async fn a_configured_policy_restricts_chart_repositories() {
    let policy =
        Policy::from_yaml("allowedChartRepositories: [\"https://charts.internal/\"]\n").unwrap();
    let body = serde_json::to_vec(&create(group("bookinfo", vec![app("web", &[])]))).unwrap();
    let (status, answer) = call_with(policy, "/validate", Body::from(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["response"]["allowed"], false);
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("spec.applications[0].spec.chart.url"),
        "{message}"
    );
}

#[tokio::test]
async fn every_error_is_listed_one_per_line() {
    let mut object = group("bookinfo", vec![app("web", &["db"]), app("web", &[])]);
    object["spec"]["applications"][0]["spec"]["release"]["targetNamespace"] = json!("kube-system");
    let lines = denial(&create(object)).await;
    assert!(lines.len() >= 3, "{lines:#?}");
    assert_denied_at(&lines, "spec.applications[0].dependencies[0]", &["db"]);
    assert_denied_at(&lines, "spec.applications[1].name", &[]);
    assert_denied_at(
        &lines,
        "spec.applications[0].spec.release.targetNamespace",
        &[],
    );
}

#[tokio::test]
async fn an_update_moving_an_application_warns() {
    let old = group("bookinfo", vec![app("web", &[])]);
    let mut new = old.clone();
    new["spec"]["applications"][0]["spec"]["release"]["targetNamespace"] = json!("web-2");
    let response = call("/validate", &review("UPDATE", Some(new), Some(old))).await;
    assert_eq!(response["allowed"], true);
    let warnings = response["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("no warnings: {response}"));
    assert!(
        warnings.iter().any(|w| w.as_str().unwrap().contains("web")),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn an_update_whose_workflow_with_the_dropped_applications_exceeds_argos_limits_is_denied() {
    // Deployed last: 150 applications; now 100 others. The update's forward Workflow uninstalls
    // the 150 before it installs the 100: 252 templates, 250 tasks in its entry DAG. The webhook
    // reads the last deployed spec from the group's annotation.
    let apps = |prefix: &str, n: usize| -> Vec<Value> {
        (0..n).map(|i| app(&format!("{prefix}-{i}"), &[])).collect()
    };
    let mut old = group("big", apps("old", 150));
    let mut new = group("big", apps("new", 100));
    let update = |new: &Value, old: &Value| review("UPDATE", Some(new.clone()), Some(old.clone()));
    assert_eq!(denial(&update(&new, &old)).await, Vec::<String>::new());
    let recorded = json!({"orkestra.azure.microsoft.com/last-successful-appgroup":
        json!({"applications": apps("old", 150)}).to_string()});
    // NB: the controller recorded it when the 150 were deployed; the user's update keeps it.
    old["metadata"]["annotations"] = recorded.clone();
    new["metadata"]["annotations"] = recorded;
    let lines = denial(&update(&new, &old)).await;
    let needs =
        "spec.applications: with the applications it drops uninstalled, its forward Workflow needs";
    assert_eq!(
        lines,
        [
            format!(
                "{needs} 252 workflow templates, over Argo Workflows' limit of 200 templates per \
                 Workflow: split it into smaller groups"
            ),
            format!(
                "{needs} 250 tasks in one DAG, over Argo Workflows' limit of 200 tasks per DAG \
                 template: split it into smaller groups or charts"
            ),
        ]
    );
}

#[tokio::test]
async fn a_create_gets_no_update_warnings() {
    let response = call(
        "/validate",
        &create(group("bookinfo", vec![app("web", &[])])),
    )
    .await;
    assert_eq!(response["allowed"], true);
    assert!(response.get("warnings").is_none(), "{response}");
}

#[tokio::test]
async fn dry_run_is_answered_the_same() {
    let object = group("bookinfo", vec![app("web", &["db"])]);
    let mut dry = create(object.clone());
    dry["request"]["dryRun"] = json!(true);
    assert_eq!(
        call("/validate", &dry).await,
        call("/validate", &create(object.clone())).await
    );
    let mut dry = create(group("bookinfo", vec![bare_app("web")]));
    dry["request"]["dryRun"] = json!(true);
    assert_eq!(
        call("/mutate", &dry).await,
        call("/mutate", &create(group("bookinfo", vec![bare_app("web")]))).await
    );
}

#[tokio::test]
async fn the_status_subresource_and_deletes_are_not_reviewed() {
    let broken = group("bookinfo", vec![app("web", &["db"])]);
    let mut status = create(broken.clone());
    status["request"]["subResource"] = json!("status");
    assert_eq!(call("/validate", &status).await["allowed"], true);
    let delete = review("DELETE", None, Some(broken));
    assert_eq!(call("/validate", &delete).await["allowed"], true);
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_gets_413() {
    let chunk = axum::body::Bytes::from(vec![b' '; 1024 * 1024]);
    // No Content-Length: the limit applies while the body streams in.
    let stream = futures::stream::iter((0..4).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let (status, _) = call_with(Policy::default(), "/validate", Body::from_stream(stream)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn other_methods_are_refused() {
    let state = AdmissionState {
        policy: Arc::new(PolicyStore::with(Policy::default())),
        metrics: Arc::new(Metrics::new()),
        secret_access: None,
        controller_username: None,
    };
    let response = router(state, &Limits::default())
        .oneshot(Request::get("/validate").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// The last-successful annotation records the spec a rollback installs and that an update
/// compares with to uninstall what it drops. A user who could set it would have the controller
/// uninstall any HelmRelease, or install charts from anywhere with any Secret, past every rule and
/// policy (none of which read it): only the controller may set it.
#[tokio::test]
async fn only_the_controller_sets_the_last_successful_annotation() {
    let key = "orkestra.azure.microsoft.com/last-successful-appgroup";
    let forged = json!({"applications": [{"name": "coredns", "spec": {
        "chart": {"url": "https://attacker.example/charts", "name": "x", "version": "1.0.0",
                  "authSecretRef": {"name": "team-b-credentials"}},
        "release": {"targetNamespace": "kube-system"}}}]})
    .to_string();
    let plain = group("bookinfo", vec![app("web", &[])]);
    let mut recorded = plain.clone();
    recorded["metadata"]["annotations"] = json!({ key: forged });
    let refusal = orkestra_webhook::review::recorded_spec_refusal();
    assert!(
        refusal.starts_with(&format!("metadata.annotations[{key}]: ")),
        "{refusal}"
    );

    let by = |mut review: Value, username: &str| {
        review["request"]["userInfo"]["username"] = json!(username);
        review
    };
    let update = |new: &Value, old: &Value| review("UPDATE", Some(new.clone()), Some(old.clone()));
    // A user may not set it, on creation or by an update.
    let refused = vec![refusal];
    assert_eq!(denial(&create(recorded.clone())).await, refused);
    assert_eq!(denial(&update(&recorded, &plain)).await, refused);
    let mut changed = recorded.clone();
    changed["metadata"]["annotations"][key] = json!(json!({"applications": []}).to_string());
    assert_eq!(denial(&update(&changed, &recorded)).await, refused);
    // Keeping what the controller wrote, or dropping it, is the user's to do.
    assert!(denial(&update(&recorded, &recorded)).await.is_empty());
    assert!(denial(&update(&plain, &recorded)).await.is_empty());
    // The controller sets it.
    assert!(
        denial(&by(update(&recorded, &plain), CONTROLLER))
            .await
            .is_empty()
    );
}
