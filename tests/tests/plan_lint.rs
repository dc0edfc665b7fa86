//! Argo's own `argo lint --offline` accepts every Workflow the plan makes, in every direction: of
//! random groups (the strategies of shared/tests/plan_props.rs) and of the largest groups
//! admission accepts. Lives here, not in shared/tests: the lint is this
//! crate's, and shared cannot depend on it (this crate depends on shared).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../shared/tests/plan_support/mod.rs"]
mod plan_support;

use std::collections::HashSet;

use orkestra_shared::admission;
use orkestra_shared::crd::ApplicationGroupSpec;
use orkestra_shared::plan::{self, Direction, HelmRelease, PlanConfig, Resolved};
use orkestra_shared::policy::Policy;
use plan_support::strategies::application_group;
use proptest::strategy::{Strategy as _, ValueTree as _};
use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde_json::{Value, json};

/// Random groups linted per run: one `argo lint` over all their Workflows (four each) takes
/// about ten seconds; `PROPTEST_CASES` overrides.
const SAMPLE: u32 = 128;

/// The group `spec` as admission sees it, defaulted, or every problem.
fn admitted(name: &str, spec: &ApplicationGroupSpec) -> ApplicationGroupSpec {
    let object = json!({
        "apiVersion": admission::API_VERSION,
        "kind": admission::KIND,
        "metadata": {"name": name},
        "spec": spec,
    });
    admission::check(&object, &Policy::default())
        .unwrap_or_else(|errors| panic!("admission refuses {name}: {errors:#?}\n{object:#}"))
        .spec
}

/// What `spec` deployed before its last applications were added: the applications `keep` marks
/// whose dependencies are all kept too (at least one root), in the same order.
fn earlier(spec: &ApplicationGroupSpec, keep: &[bool]) -> ApplicationGroupSpec {
    let mut kept: HashSet<&str> = spec
        .applications
        .iter()
        .zip(keep)
        .filter(|(_, keep)| **keep)
        .map(|(a, _)| a.name.as_str())
        .collect();
    // Drop every application with a dropped dependency, until none is left.
    loop {
        let before = kept.len();
        for a in &spec.applications {
            if a.dependencies.iter().any(|d| !kept.contains(d.as_str())) {
                kept.remove(a.name.as_str());
            }
        }
        if kept.len() == before {
            break;
        }
    }
    if kept.is_empty()
        && let Some(root) = spec.applications.iter().find(|a| a.dependencies.is_empty())
    {
        kept.insert(&root.name);
    }
    let mut earlier = spec.clone();
    earlier
        .applications
        .retain(|a| kept.contains(a.name.as_str()));
    earlier
}

/// The Workflows of `spec`'s group in every direction the controller submits: forward, the
/// update from `last_good` (deletes what `spec` dropped first), reverse and the rollback to
/// `last_good`, each also clearing leftovers first (HelmReleases the plan does not name: here,
/// `spec`'s renamed, which takes more than one DAG for the largest groups); each labelled for a
/// failure message.
fn every_direction(
    group: &str,
    spec: &ApplicationGroupSpec,
    last_good: &ApplicationGroupSpec,
    config: &PlanConfig,
) -> Vec<(String, Value)> {
    let resolved = Resolved::default();
    let leftovers: Vec<HelmRelease> =
        plan::build(group, 1, spec, &resolved, Direction::Forward, config)
            .unwrap_or_else(|e| panic!("forward plan of {group}: {e}"))
            .helm_releases
            .into_iter()
            .map(|mut release| {
                release.metadata.name = Some(format!("gone-{}", release.name()));
                release
            })
            .collect();
    let directions = [
        ("forward", Direction::Forward),
        (
            "update",
            Direction::Update {
                last_good,
                last_good_resolved: &resolved,
            },
        ),
        ("reverse", Direction::Reverse),
        (
            "rollback",
            Direction::Rollback {
                last_good,
                last_good_resolved: &resolved,
            },
        ),
    ];
    directions
        .into_iter()
        .flat_map(|(label, direction)| {
            [
                (label.to_owned(), direction, &[][..]),
                (format!("{label} clearing"), direction, &leftovers[..]),
            ]
        })
        .map(|(label, direction, leftovers)| {
            let plan =
                plan::build_clearing(group, 2, spec, &resolved, direction, leftovers, config)
                    .unwrap_or_else(|e| panic!("{label} plan of {group}: {e}"));
            (
                format!("{group} {label}"),
                serde_json::to_value(&plan.workflow).unwrap(),
            )
        })
        .collect()
}

/// Lints all `workflows` in one run; on failure panics with Argo's messages, then the label and
/// `detail` of each Workflow refused (Argo names the files `<index>-<name>.json`).
fn assert_lint(workflows: Vec<(String, Value)>, detail: impl Fn(usize) -> String) {
    let (labels, workflows): (Vec<String>, Vec<Value>) = workflows.into_iter().unzip();
    if let Err(e) = orkestra_tests::argo::lint_all(&workflows) {
        let message = format!("{e:#}");
        let refused: Vec<String> = (0..labels.len())
            .filter(|i| message.contains(&format!("/{i:04}-")))
            .map(|i| format!("{i:04} {}: {}", labels[i], detail(i)))
            .collect();
        panic!("{message}\nrefused:\n{}", refused.join("\n"));
    }
}

#[test]
fn the_workflows_of_random_groups_pass_argo_lint() {
    let config = Config::default();
    // NB: a seed of our own, printed on failure: the sample is not shrunk, but it can be re-drawn
    // with PROPTEST_RNG_SEED.
    let seed = match config.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    };
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        config.cases
    } else {
        SAMPLE
    };
    let mut runner = TestRunner::new(Config {
        rng_seed: RngSeed::Fixed(seed),
        ..config
    });
    let strategy = (
        application_group(),
        proptest::collection::vec(proptest::bool::weighted(0.7), 12),
    );
    let (mut workflows, mut groups) = (Vec::new(), Vec::new());
    for case in 0..cases {
        let (spec, keep) = strategy.new_tree(&mut runner).unwrap().current();
        // NB: not through admission, which refuses some of these (e.g. a keptn executor first):
        // whatever the plan accepts must lint, a superset of what the controller plans.
        let name = format!("group-{case}");
        let last_good = earlier(&spec, &keep);
        // Half with a parallelism, as ORKESTRA_WORKFLOW_PARALLELISM sets it.
        let config = PlanConfig {
            parallelism: (case % 2 == 1).then_some(4),
            ..PlanConfig::default()
        };
        workflows.extend(every_direction(&name, &spec, &last_good, &config));
        groups.push(json!({"name": name, "spec": spec, "lastGood": last_good}));
    }
    let per_group = workflows.len() / groups.len();
    assert_lint(workflows, |i| {
        format!(
            "PROPTEST_RNG_SEED={seed} draws this sample again; the group was {:#}",
            groups[i / per_group]
        )
    });
}

#[test]
fn the_workflows_of_the_largest_groups_admission_accepts_pass_argo_lint() {
    // Most applications the default policy allows, each with 5 subcharts: 192 templates (of
    // 200); and the largest DAG: 10 applications of 199 subcharts and the chart, 200 tasks each.
    let most_applications = admitted("most-applications", &plan_support::large(190, 5));
    let largest_dag = admitted("largest-dag", &plan_support::large(10, 199));
    let mut workflows = every_direction(
        "most-applications",
        &most_applications,
        &admitted("most-applications", &plan_support::large(150, 5)),
        &PlanConfig::default(),
    );
    workflows.extend(every_direction(
        "largest-dag",
        &largest_dag,
        &admitted("largest-dag", &plan_support::large(5, 199)),
        &PlanConfig::default(),
    ));
    assert_lint(workflows, |_| "see plan_support::large".to_owned());
}
