//! The JSON Patch that fills the defaults into an object, made from what the object leaves out.
//!
//! Every default is a field the object does not write (or writes as `null`, or as an empty list or
//! string where that means "unset"): the chart version, the release's timeout and interval, the
//! default executor, and the lists and executor type the typed form always writes (`dependencies`,
//! `type`). So the patch needs only to know which of those fields are present, which a light
//! reading of the object tells ([`Presence`]: every other field is skipped unread). A property test
//! (`shared/tests/validate.rs`) shows this patch and a diff of the whole defaulted object against it
//! make the same object.

use std::borrow::Cow;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, ReplaceOperation};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{CHART_VERSION, RELEASE_INTERVAL, RELEASE_TIMEOUT, default_executor};
use crate::crd::ExecutorType;

/// A field as the object writes it: `None` absent, `Some(None)` null, `Some(Some(v))` a value.
type Field<T> = Option<Option<T>>;

/// Reads a present field, null included (serde's `Option` alone cannot tell null from absent).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Field<T>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The fields of an object that defaults depend on: which of them it writes. Read from the
/// object's JSON (every other field is skipped unread).
#[derive(Debug, Deserialize)]
pub struct Presence<'a> {
    #[serde(borrow)]
    spec: Option<SpecPresence<'a>>,
}

#[derive(Debug, Deserialize)]
struct SpecPresence<'a> {
    #[serde(borrow, default)]
    applications: Vec<ApplicationPresence<'a>>,
}

#[derive(Debug, Deserialize)]
struct ApplicationPresence<'a> {
    #[serde(default, deserialize_with = "present")]
    dependencies: Field<IgnoredAny>,
    #[serde(borrow)]
    spec: Option<ApplicationSpecPresence<'a>>,
}

#[derive(Debug, Deserialize)]
struct ApplicationSpecPresence<'a> {
    #[serde(borrow)]
    chart: Option<ChartPresence<'a>>,
    release: Option<ReleasePresence>,
    #[serde(default)]
    subcharts: Option<Vec<NodePresence>>,
    #[serde(default, deserialize_with = "present")]
    workflow: Field<Vec<ExecutorPresence>>,
}

#[derive(Debug, Deserialize)]
struct ChartPresence<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    version: Field<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct ReleasePresence {
    #[serde(default, deserialize_with = "present")]
    timeout: Field<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    interval: Field<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct NodePresence {
    #[serde(default, deserialize_with = "present")]
    dependencies: Field<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct ExecutorPresence {
    #[serde(default, deserialize_with = "present")]
    dependencies: Field<IgnoredAny>,
    #[serde(rename = "type", default, deserialize_with = "present")]
    executor_type: Field<IgnoredAny>,
}

/// Collects the operations, each at a path under `spec.applications[i]`.
struct Ops {
    ops: Vec<PatchOperation>,
    app: usize,
}

impl Ops {
    /// Sets `value` at `path` (below the current application) unless `field` has a value: an
    /// absent field is added, a null one replaced.
    fn fill<T>(&mut self, field: &Field<T>, path: &[&str], value: impl FnOnce() -> Value) {
        let add = match field {
            None => true,
            Some(None) => false,
            Some(Some(_)) => return,
        };
        self.set(add, path, value());
    }

    fn set(&mut self, add: bool, path: &[&str], value: Value) {
        let mut pointer = PointerBuf::from_tokens(["spec", "applications"]);
        pointer.push_back(self.app);
        for token in path {
            pointer.push_back(*token);
        }
        self.ops.push(if add {
            PatchOperation::Add(AddOperation {
                path: pointer,
                value,
            })
        } else {
            PatchOperation::Replace(ReplaceOperation {
                path: pointer,
                value,
            })
        });
    }
}

/// The patch that fills the defaults into the object `presence` was read from. The object must
/// have read as an ApplicationGroup (so `chart` and `release` are objects).
pub fn defaults_patch(presence: &Presence<'_>) -> Patch {
    let mut ops = Ops {
        ops: Vec::new(),
        app: 0,
    };
    let applications = presence.spec.as_ref().map_or(&[][..], |s| &s.applications);
    for (i, app) in applications.iter().enumerate() {
        ops.app = i;
        ops.fill(&app.dependencies, &["dependencies"], empty_list);
        let Some(spec) = &app.spec else { continue };
        if let Some(chart) = &spec.chart {
            match &chart.version {
                Some(Some(version)) if !version.is_empty() => {}
                Some(_) => ops.set(false, &["spec", "chart", "version"], CHART_VERSION.into()),
                None => ops.set(true, &["spec", "chart", "version"], CHART_VERSION.into()),
            }
        }
        if let Some(release) = &spec.release {
            ops.fill(&release.timeout, &["spec", "release", "timeout"], || {
                RELEASE_TIMEOUT.into()
            });
            ops.fill(&release.interval, &["spec", "release", "interval"], || {
                RELEASE_INTERVAL.into()
            });
        }
        for (j, subchart) in spec.subcharts.iter().flatten().enumerate() {
            let index = j.to_string();
            ops.fill(
                &subchart.dependencies,
                &["spec", "subcharts", &index, "dependencies"],
                empty_list,
            );
        }
        match &spec.workflow {
            Some(Some(executors)) if !executors.is_empty() => {
                for (j, executor) in executors.iter().enumerate() {
                    let index = j.to_string();
                    let at = |field| ["spec", "workflow", &index, field];
                    ops.fill(&executor.dependencies, &at("dependencies"), empty_list);
                    ops.fill(&executor.executor_type, &at("type"), || {
                        serde_json::to_value(ExecutorType::Helmrelease).unwrap_or_default()
                    });
                }
            }
            workflow => {
                let executors = serde_json::to_value([default_executor()]).unwrap_or_default();
                ops.set(workflow.is_none(), &["spec", "workflow"], executors);
            }
        }
    }
    Patch(ops.ops)
}

fn empty_list() -> Value {
    Value::Array(Vec::new())
}
