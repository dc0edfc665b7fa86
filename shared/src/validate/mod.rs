//! Validation: every rule of an ApplicationGroup, collecting all problems, each with its field path
//! and a message a user can act on. Runs on a defaulted group (see `admission`).

mod app_field;
mod application;
mod dag;
mod memo;
mod namespace;

use rustc_hash::FxHashMap;

use crate::crd::ApplicationGroup;
use crate::duration;
use crate::field_error::FieldError;
use crate::limits::{AppShape, MAX_DAG_TASKS, MAX_TEMPLATES, PlanShape};
use crate::names::{LAST_SUCCESSFUL_ANNOTATION, MAX_RELEASE_NAME_LEN, push_bounded_name};
use crate::policy::Policy;
use dag::DagCheck;
pub use namespace::{DEFAULT_TARGET_NAMESPACE, effective_namespace};

/// Every problem with `group`, in the order of the fields. Empty when the group is valid.
pub fn validate(group: &ApplicationGroup, policy: &Policy) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_group_name(group.metadata.name.as_deref(), &mut errors);
    let spec = &group.spec;
    if let Some(Err(problem)) = spec.interval.as_deref().map(duration::parse) {
        errors.push(FieldError::new("spec.interval", problem));
    }
    if spec.applications.is_empty() {
        errors.push(FieldError::new(
            "spec.applications",
            "at least one application is required",
        ));
    }
    if spec.applications.len() > policy.max_applications {
        errors.push(FieldError::new(
            "spec.applications",
            format!(
                "{} applications exceed the cluster policy's limit of {}",
                spec.applications.len(),
                policy.max_applications
            ),
        ));
    }

    // NB: a table of its own for the one long list: clearing a table costs its capacity, and the
    // per-application lists below reuse theirs thousands of times.
    DagCheck::default().check(
        "spec.applications",
        "application",
        &spec.applications,
        &mut errors,
    );
    let mut shared = application::Shared::for_applications(spec.applications.len());
    for (i, app) in spec.applications.iter().enumerate() {
        application::check(i, app, policy, &mut shared, &mut errors);
    }
    check_release_name_collisions(group, &mut errors);
    check_engine_limits(group, &mut errors);
    errors
}

fn check_group_name(name: Option<&str>, errors: &mut Vec<FieldError>) {
    let valid = |name: &str| {
        name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    match name {
        None | Some("") => errors.push(FieldError::new("metadata.name", "name is required")),
        Some(name) if !valid(name) => errors.push(FieldError::new(
            "metadata.name",
            format!(
                "invalid group name {:?}: it labels every object of the group, so use at most 63 lower case \
                 letters, digits, '-' and '.', starting and ending with a letter or digit",
                name.chars().take(70).collect::<String>()
            ),
        )),
        Some(_) => {}
    }
}

/// Two HelmReleases of one namespace may not share a name (`a` + subchart `b` vs application `a-b`).
fn check_release_name_collisions(group: &ApplicationGroup, errors: &mut Vec<FieldError>) {
    use std::collections::hash_map::Entry;
    // Where a name comes from: (application index, subchart index); paths are formatted on error only.
    type Origin = (usize, Option<usize>);
    let path = |(i, j): Origin| match j {
        None => format!("spec.applications[{i}].name"),
        Some(j) => format!("spec.applications[{i}].spec.subcharts[{j}].name"),
    };
    // NB: every name is written into one buffer first, so large groups cost no allocation per name.
    let mut buffer = String::new();
    let mut releases: Vec<(&str, std::ops::Range<usize>, Origin)> = Vec::new();
    for (i, app) in group.spec.applications.iter().enumerate() {
        if app.name.is_empty() {
            continue;
        }
        let namespace = effective_namespace(&app.spec.release);
        let mut push = |parts: &[&str], origin: Origin| {
            let start = buffer.len();
            push_bounded_name(&mut buffer, parts, MAX_RELEASE_NAME_LEN);
            releases.push((namespace, start..buffer.len(), origin));
        };
        push(&[&app.name], (i, None));
        for (j, sub) in app.spec.subcharts.iter().enumerate() {
            push(&[&app.name, &sub.name], (i, Some(j)));
        }
    }
    let mut taken: FxHashMap<(&str, &str), Origin> = FxHashMap::default();
    taken.reserve(releases.len());
    for (namespace, range, origin) in releases {
        let name = &buffer[range];
        match taken.entry((namespace, name)) {
            Entry::Vacant(slot) => {
                slot.insert(origin);
            }
            Entry::Occupied(first) => errors.push(FieldError::new(
                path(origin),
                format!(
                    "HelmRelease name {name:?} in namespace {namespace:?} is also generated for {}",
                    path(*first.get())
                ),
            )),
        }
    }
}

fn check_engine_limits(group: &ApplicationGroup, errors: &mut Vec<FieldError>) {
    let before = errors.len();
    push_over_limits(PlanShape::of(&group.spec), "the group needs", errors);
    let Some(last_good) = last_good_shape(group) else {
        return;
    };
    // NB: only while nothing is over: one excess is not reported again for the larger Workflows.
    if errors.len() == before {
        let update = PlanShape::of_update(&group.spec, &last_good);
        push_over_limits(
            update,
            "with the applications it drops uninstalled, its forward Workflow needs",
            errors,
        );
    }
    if errors.len() == before {
        let rollback = PlanShape::of_rollback(&group.spec, &last_good);
        push_over_limits(
            rollback,
            "a rollback to its last successful spec (the added applications uninstalled, then the \
             last spec installed) needs",
            errors,
        );
    }
}

/// The shapes of the applications of the group's last successful deployment, when its annotation
/// holds a spec (the controller reports an unreadable annotation when it needs it).
fn last_good_shape(group: &ApplicationGroup) -> Option<Vec<AppShape>> {
    let text = group
        .metadata
        .annotations
        .as_ref()?
        .get(LAST_SUCCESSFUL_ANNOTATION)?;
    AppShape::read_spec(text)
}

fn push_over_limits(shape: PlanShape, needs: &str, errors: &mut Vec<FieldError>) {
    if shape.templates > MAX_TEMPLATES {
        errors.push(FieldError::new(
            "spec.applications",
            format!(
                "{needs} {} workflow templates, over Argo Workflows' limit of {MAX_TEMPLATES} templates per \
                 Workflow: split it into smaller groups",
                shape.templates
            ),
        ));
    }
    if shape.largest_dag > MAX_DAG_TASKS {
        errors.push(FieldError::new(
            "spec.applications",
            format!(
                "{needs} {} tasks in one DAG, over Argo Workflows' limit of {MAX_DAG_TASKS} tasks per DAG \
                 template: split it into smaller groups or charts",
                shape.largest_dag
            ),
        ));
    }
}
