//! Rules for one application: its chart, its release and its executors.

use serde_json::Value;
use std::sync::OnceLock;

use super::app_field::AppField;
use super::dag::DagCheck;
use super::memo::Memo;
use super::namespace::effective_namespace;
use crate::crd::{Application, Executor, ExecutorType};
use crate::duration;
use crate::field_error::FieldError;
use crate::names::is_dns1123_label;
use crate::policy::Policy;
use crate::schema::OpenApiValidator;
use crate::version::VersionConstraint;

/// What one group's applications share while they are checked: tables and results that many
/// applications would otherwise compute again (most use a handful of repositories and versions).
#[derive(Debug)]
pub(super) struct Shared<'a> {
    pub dags: DagCheck<'a>,
    /// Chart URL → what is wrong with it, if anything.
    pub url_problems: Memo<'a, Option<String>>,
    /// Chart version → why it is not a version constraint, if it is not.
    pub version_problems: Memo<'a, Option<String>>,
}

impl Shared<'_> {
    /// Tables for a group of `count` applications. Versions are often all different; a group uses
    /// few repositories, so that table starts small.
    pub fn for_applications(count: usize) -> Self {
        Self {
            dags: DagCheck::default(),
            url_problems: Memo::default(),
            version_problems: Memo::with_capacity(count),
        }
    }
}

/// Checks application `index` of the group.
pub(super) fn check<'a>(
    index: usize,
    app: &'a Application,
    policy: &Policy,
    shared: &mut Shared<'a>,
    errors: &mut Vec<FieldError>,
) {
    check_chart(index, app, policy, shared, errors);
    check_release(index, app, policy, errors);
    shared.dags.check(
        AppField(index, "spec.subcharts"),
        "subchart",
        &app.spec.subcharts,
        errors,
    );
    check_executors(index, app, &mut shared.dags, errors);
}

fn check_chart<'a>(
    index: usize,
    app: &'a Application,
    policy: &Policy,
    shared: &mut Shared<'a>,
    errors: &mut Vec<FieldError>,
) {
    let chart = &app.spec.chart;
    let path = AppField(index, "spec.chart");
    let url_problem = shared.url_problems.get_or_insert_with(&chart.url, || {
        chart_url_problem(&chart.url).or_else(|| {
            (!policy.allows_repository(&chart.url)).then(|| {
                format!(
                    "chart repository {:?} is not allowed by the cluster policy; allowed: {}",
                    chart.url,
                    policy
                        .allowed_chart_repositories
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
    });
    if let Some(problem) = url_problem {
        errors.push(FieldError::new(format!("{path}.url"), problem.clone()));
    }
    if chart.name.is_empty() {
        errors.push(FieldError::new(
            format!("{path}.name"),
            "chart name is required",
        ));
    } else if chart.name.contains(['/', '\\', '%', ' ', ':']) || chart.name.starts_with('.') {
        // NB: the name is a segment of the registry path for oci:// charts: `\` is read as `/`
        // and `%2e` as `.` once that path is in an https URL.
        errors.push(FieldError::new(
            format!("{path}.name"),
            format!(
                "invalid chart name {:?}: a chart name has no '/', '\\', '%', ':' or spaces",
                chart.name
            ),
        ));
    }
    if let Some(version) = &chart.version
        && let Some(problem) = shared
            .version_problems
            .get_or_insert_with(version, || VersionConstraint::check(version).err())
    {
        errors.push(FieldError::new(format!("{path}.version"), problem.clone()));
    }
    // NB: a reference without namespace is Azure Orkestra's form too; it names a Secret in the
    // controller's --secret-namespace.
    if let Some(secret) = &chart.auth_secret_ref {
        if secret.name.as_deref().is_none_or(str::is_empty) {
            errors.push(FieldError::new(
                format!("{path}.authSecretRef.name"),
                "the credentials Secret's name is required",
            ));
        }
        if let Some(namespace) = secret.namespace.as_deref().filter(|n| !n.is_empty())
            && !is_dns1123_label(namespace)
        {
            errors.push(FieldError::new(
                format!("{path}.authSecretRef.namespace"),
                format!("invalid namespace {namespace:?}"),
            ));
        }
    }
}

/// What is wrong with a chart repository URL, if anything.
fn chart_url_problem(url: &str) -> Option<String> {
    if url.is_empty() {
        return Some("chart repository URL is required".into());
    }
    match url::Url::parse(url) {
        Err(e) => Some(format!("invalid chart repository URL {url:?}: {e}")),
        Ok(parsed) if !matches!(parsed.scheme(), "http" | "https" | "oci") => Some(format!(
            "unsupported scheme {:?} in {url:?}: use an http(s) Helm repository or an oci:// registry",
            parsed.scheme()
        )),
        Ok(parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            Some(format!(
                "chart repository URL {url:?} holds a user or password: put credentials in a Secret named by authSecretRef"
            ))
        }
        Ok(parsed) if parsed.host_str().is_none_or(str::is_empty) => {
            Some(format!("chart repository URL {url:?} has no host"))
        }
        Ok(parsed)
            if parsed.scheme() == "oci"
                && (parsed.query().is_some() || parsed.fragment().is_some()) =>
        {
            Some(format!(
                "an oci:// repository URL takes no query or fragment: {url:?}"
            ))
        }
        Ok(_) => None,
    }
}

fn check_release(index: usize, app: &Application, policy: &Policy, errors: &mut Vec<FieldError>) {
    let release = &app.spec.release;
    let path = AppField(index, "spec.release");
    let namespace = &release.target_namespace;
    if !namespace.is_empty() && !is_dns1123_label(namespace) {
        errors.push(FieldError::new(
            format!("{path}.targetNamespace"),
            format!(
                "invalid namespace {namespace:?}: use at most 63 lower case letters, digits and '-'"
            ),
        ));
    }
    let effective = effective_namespace(release);
    if !policy.allows_namespace(effective) {
        errors.push(FieldError::new(
            format!("{path}.targetNamespace"),
            format!("namespace {effective:?} is forbidden by the cluster policy"),
        ));
    }
    for (field, value) in [
        ("timeout", &release.timeout),
        ("interval", &release.interval),
    ] {
        if let Some(Err(problem)) = value.as_deref().map(duration::parse) {
            errors.push(FieldError::new(format!("{path}.{field}"), problem));
        }
    }
    for (i, source) in release.values_from.iter().enumerate() {
        if source.name.is_empty() {
            errors.push(FieldError::new(
                format!("{path}.valuesFrom[{i}].name"),
                "name is required",
            ));
        }
    }
}

fn check_executors<'a>(
    index: usize,
    app: &'a Application,
    dags: &mut DagCheck<'a>,
    errors: &mut Vec<FieldError>,
) {
    let executors = &app.spec.workflow;
    let path = AppField(index, "spec.workflow");
    dags.check(path, "executor", executors, errors);

    let installers = executors
        .iter()
        .filter(|e| e.executor_type == ExecutorType::Helmrelease)
        .count();
    if installers > 1 {
        errors.push(FieldError::new(
            path.to_string(),
            "at most one helmrelease executor per application: it installs the chart",
        ));
    }
    for (i, executor) in executors.iter().enumerate() {
        // NB: formatted only for an error: nearly every executor is valid.
        let at = |field: &str| format!("{path}[{i}].{field}");
        if executor.executor_type == ExecutorType::Keptn && executor.dependencies.is_empty() {
            errors.push(FieldError::new(
                at("dependencies"),
                "a keptn executor evaluates a deployment: it must depend on the executor that deploys",
            ));
        }
        check_image(|| at("image"), executor, errors);
        if let (ExecutorType::Keptn, Some(params)) = (executor.executor_type, &executor.params) {
            errors.extend(
                keptn_params()
                    .errors(params)
                    .into_iter()
                    .map(|e| e.nested_in(&at("params"))),
            );
        }
    }
}

/// The executor's image (at `path()`): a string or a container, naming an image without spaces; a
/// custom executor needs one.
fn check_image(path: impl Fn() -> String, executor: &Executor, errors: &mut Vec<FieldError>) {
    let Some(image) = &executor.image else {
        if executor.executor_type == ExecutorType::Custom {
            errors.push(FieldError::new(path(), "a custom executor needs an image"));
        }
        return;
    };
    let container = match image.container() {
        Err(problems) => {
            let path = path();
            errors.extend(problems.into_iter().map(|e| e.nested_in(&path)));
            return;
        }
        Ok(container) => container,
    };
    let reference = container.image.as_deref();
    if executor.executor_type == ExecutorType::Custom && reference.is_none_or(str::is_empty) {
        errors.push(FieldError::new(path(), "a custom executor needs an image"));
        return;
    }
    // The image reference's own path: the field itself, or `image` in a container.
    let written_as_object = image.written().is_object();
    let field = |name: &str| {
        if written_as_object {
            format!("{}.{name}", path())
        } else {
            path()
        }
    };
    if let Some(reference) = reference.filter(|image| image.contains(char::is_whitespace)) {
        errors.push(FieldError::new(
            field("image"),
            format!("invalid image {reference:?}"),
        ));
    }
    let name = container.name.as_str();
    if !name.is_empty() && !is_dns1123_label(name) {
        errors.push(FieldError::new(
            field("name"),
            format!("invalid container name {name:?}: use a DNS-1123 label (lower case letters, digits and '-')"),
        ));
    }
}

/// Parameters the Keptn executor understands, as Azure Orkestra's Keptn executor reads them.
fn keptn_params() -> &'static OpenApiValidator {
    static SCHEMA: OnceLock<OpenApiValidator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let schema: Value = serde_json::json!({
            "type": "object",
            "properties": {
                "data": {
                    "type": "object",
                    "properties": {
                        "configmapRef": {
                            "type": "object",
                            "required": ["name", "namespace"],
                            "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}}
                        },
                        "timeout": {"type": "string"}
                    }
                }
            }
        });
        OpenApiValidator::new(&schema, false).unwrap_or_else(|e| unreachable!("static keptn schema: {e}"))
    })
}
