//! Properties of the plan over random acyclic groups: the DAGs carry exactly the input's
//! dependencies (plus the parent-after-subcharts edges), the reverse plan is their exact transpose,
//! the shape is what admission counts, every generated name is valid and unique, and every
//! HelmRelease reference names the HelmRelease its task was planned with.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plan_support;

use std::collections::{BTreeSet, HashMap, HashSet};

use orkestra_shared::crd::ApplicationGroupSpec;
use orkestra_shared::limits::{AppShape, PlanShape};
use orkestra_shared::names::is_dns1123_label;
use orkestra_shared::plan::argo::{Template, Workflow};
use orkestra_shared::plan::naming::is_valid_argo_name;
use orkestra_shared::plan::{self, Direction, PlanConfig, Resolved};
use plan_support::strategies::application_group;
use plan_support::template;
use proptest::prelude::*;

/// Edges as (task, dependency) name pairs, per DAG template.
type Edges = BTreeSet<(String, String)>;

fn dag_edges(template: &Template) -> Edges {
    template
        .tasks()
        .iter()
        .flat_map(|t| {
            t.dependencies
                .iter()
                .map(move |d| (t.name.clone(), d.clone()))
        })
        .collect()
}

fn build(spec: &ApplicationGroupSpec, direction: Direction<'_>) -> plan::Plan {
    plan::build(
        "group",
        1,
        spec,
        &Resolved::default(),
        direction,
        &PlanConfig::default(),
    )
    .expect("plan")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_dags_carry_exactly_the_input_dependencies(spec in application_group()) {
        let workflow = build(&spec, Direction::Forward).workflow;
        let entry = template(&workflow, "entry");
        prop_assert_eq!(entry.tasks().len(), spec.applications.len());
        let entry_names: HashMap<&str, &str> =
            spec.applications.iter().zip(entry.tasks()).map(|(a, t)| (a.name.as_str(), t.name.as_str())).collect();
        let expected: Edges = spec.applications.iter().flat_map(|a| {
            let entry_names = &entry_names;
            a.dependencies.iter().map(move |d| (entry_names[a.name.as_str()].to_owned(), entry_names[d.as_str()].to_owned()))
        }).collect();
        prop_assert_eq!(dag_edges(entry), expected);

        for (application, task) in spec.applications.iter().zip(entry.tasks()) {
            let app_dag = template(&workflow, &task.template);
            let tasks = app_dag.tasks();
            prop_assert_eq!(tasks.len(), application.spec.subcharts.len() + 1);
            let by_subchart: HashMap<&str, &str> = application.spec.subcharts.iter().zip(tasks)
                .map(|(s, t)| (s.name.as_str(), t.name.as_str())).collect();
            let parent = tasks[tasks.len() - 1].name.clone();
            let mut expected: Edges = application.spec.subcharts.iter().flat_map(|s| {
                let by_subchart = &by_subchart;
                s.dependencies.iter().map(move |d| (by_subchart[s.name.as_str()].to_owned(), by_subchart[d.as_str()].to_owned()))
            }).collect();
            expected.extend(by_subchart.values().map(|t| (parent.clone(), (*t).to_owned())));
            prop_assert_eq!(dag_edges(app_dag), expected);

            let executors = &application.spec.workflow;
            let called = template(&workflow, &tasks[0].template);
            if executors.len() > 1 {
                let by_executor: HashMap<&str, &str> = executors.iter().zip(called.tasks())
                    .map(|(e, t)| (e.name.as_str(), t.name.as_str())).collect();
                let expected: Edges = executors.iter().flat_map(|e| {
                    let by_executor = &by_executor;
                    e.dependencies.iter().map(move |d| (by_executor[e.name.as_str()].to_owned(), by_executor[d.as_str()].to_owned()))
                }).collect();
                prop_assert_eq!(dag_edges(called), expected);
            } else {
                prop_assert!(called.container.is_some(), "one executor: the chart task calls a leaf");
            }
        }
    }

    #[test]
    fn the_reverse_plan_is_the_exact_transpose(spec in application_group()) {
        let forward = build(&spec, Direction::Forward).workflow;
        let reverse = build(&spec, Direction::Reverse).workflow;
        prop_assert_eq!(forward.spec.templates.len(), reverse.spec.templates.len());
        for (f, r) in forward.spec.templates.iter().zip(&reverse.spec.templates) {
            prop_assert_eq!(&f.name, &r.name);
            let f_tasks: BTreeSet<&str> = f.tasks().iter().map(|t| t.name.as_str()).collect();
            let r_tasks: BTreeSet<&str> = r.tasks().iter().map(|t| t.name.as_str()).collect();
            prop_assert_eq!(f_tasks, r_tasks);
            let transposed: Edges = dag_edges(f).into_iter().map(|(a, b)| (b, a)).collect();
            prop_assert_eq!(dag_edges(r), transposed, "template {}", f.name);
        }
        for task in reverse.spec.templates.iter().flat_map(|t| t.tasks()) {
            if let Some(action) = task.argument("action") {
                prop_assert!(action == "delete" || action == "{{inputs.parameters.action}}");
            }
        }
    }

    #[test]
    fn the_shape_is_what_admission_counts(spec in application_group()) {
        let workflow = build(&spec, Direction::Forward).workflow;
        let largest_dag = workflow.spec.templates.iter().map(|t| t.tasks().len()).max().unwrap_or(0);
        prop_assert_eq!(PlanShape::of(&spec), PlanShape { templates: workflow.spec.templates.len(), largest_dag });
    }

    #[test]
    fn the_shapes_of_updates_and_rollbacks_are_what_admission_counts(
        spec in application_group(),
        last_good in application_group(),
    ) {
        let none = Resolved::default();
        // What admission reads from the last-successful annotation: the spec as JSON.
        let deployed = AppShape::read_spec(&serde_json::to_string(&last_good).unwrap()).unwrap();
        let shapes: Vec<AppShape> = last_good.applications.iter().map(AppShape::of).collect();
        prop_assert_eq!(&deployed, &shapes);
        let shape = |workflow: &Workflow| PlanShape {
            templates: workflow.spec.templates.len(),
            largest_dag: workflow.spec.templates.iter().map(|t| t.tasks().len()).max().unwrap_or(0),
        };
        let update = build(&spec, Direction::Update { last_good: &last_good, last_good_resolved: &none });
        prop_assert_eq!(shape(&update.workflow), PlanShape::of_update(&spec, &deployed));
        let rollback = build(&spec, Direction::Rollback { last_good: &last_good, last_good_resolved: &none });
        prop_assert_eq!(shape(&rollback.workflow), PlanShape::of_rollback(&spec, &deployed));
    }

    #[test]
    fn every_name_is_valid_and_unique(spec in application_group()) {
        let plan = build(&spec, Direction::Forward);
        let mut templates = HashSet::new();
        for template in &plan.workflow.spec.templates {
            prop_assert!(is_valid_argo_name(&template.name), "template {}", template.name);
            prop_assert!(templates.insert(template.name.as_str()), "repeated template {}", template.name);
            let mut tasks = HashSet::new();
            for task in template.tasks() {
                prop_assert!(is_valid_argo_name(&task.name), "task {}", task.name);
                prop_assert!(tasks.insert(task.name.as_str()), "repeated task {}", task.name);
            }
        }
        let mut releases = HashSet::new();
        for release in &plan.helm_releases {
            prop_assert!(is_dns1123_label(release.name()) && release.name().len() <= 53, "{}", release.name());
            prop_assert!(releases.insert((release.namespace(), release.name())), "repeated {}", release.name());
        }
        let expected: usize = spec.applications.iter().map(|a| a.spec.subcharts.len() + 1).sum();
        prop_assert_eq!(plan.helm_releases.len(), expected);
    }

    #[test]
    fn every_reference_names_its_own_helm_release(spec in application_group()) {
        let plan = build(&spec, Direction::Forward);
        let stores: HashMap<&str, &std::collections::BTreeMap<String, String>> = plan
            .release_stores
            .iter()
            .map(|c| (c.metadata.name.as_deref().unwrap(), c.data.as_ref().unwrap()))
            .collect();
        let mut referred = Vec::new();
        for task in plan.workflow.spec.templates.iter().flat_map(|t| t.tasks()) {
            let Some(text) = task.argument("helmrelease").filter(|t| !t.starts_with("{{")) else {
                continue;
            };
            let reference = plan::ReleaseRef::parse(text).unwrap().unwrap();
            let json = stores.get(reference.config_map.as_str()).and_then(|d| d.get(&reference.key));
            prop_assert!(json.is_some(), "{} names nothing", text);
            prop_assert_eq!(reference.verify(json.unwrap().as_bytes()), Ok(()));
            let release: plan::HelmRelease = serde_json::from_str(json.unwrap()).unwrap();
            // A chart task is named after its own release (`t-` first where Argo wants a letter).
            let own = [release.name().to_owned(), format!("t-{}", release.name())];
            prop_assert!(own.contains(&task.name), "task {} refers to release {}", task.name, release.name());
            referred.push(release);
        }
        let keys: usize = stores.values().map(|d| d.len()).sum();
        prop_assert_eq!(referred.len(), keys, "a key that no task refers to");
        for release in &referred {
            prop_assert!(plan.helm_releases.contains(release), "{} was not planned", release.name());
        }
    }
}
