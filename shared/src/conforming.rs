//! The fast reading of an object that conforms to the CRD's schema: straight into the typed form,
//! without the schema pass.
//!
//! Nearly every object admission sees is valid, and for those the schema pass only repeats what the
//! typed reading checks anyway (types, required fields, enums). So the typed reading goes first and
//! is accepted when it proves conformance by itself: it succeeds, it leaves no field unread (an
//! unknown field), and the few schema rules serde does not know hold. Anything else goes the full
//! way (`admission::parse_tree`), which names every problem. The crate's tests check that this
//! reading never accepts an object the schema refuses.
//!
//! A `null` in an optional field reads as absent here; the full reading drops such nulls before its
//! schema pass, as the API server does (`OpenApiValidator::without_pruned_nulls`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::borrow::Cow;

use crate::crd::{ApplicationGroup, ApplicationGroupSpec, ApplicationGroupStatus, Release};
use crate::free_form::FreeForm;
use crate::names::MAX_LABEL_LEN;
use crate::names::{API_VERSION, KIND};
use crate::schema;

/// The root of an ApplicationGroup with its apiVersion and kind, which the typed form leaves out.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Root<'a> {
    #[serde(borrow)]
    api_version: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    metadata: ObjectMeta,
    #[serde(deserialize_with = "crate::json_form::object")]
    spec: ApplicationGroupSpec,
    /// Read as JSON and checked against the schema's status part: the typed status (k8s-openapi's
    /// `Condition`) fills in missing required fields that the schema refuses.
    #[serde(default)]
    status: Option<Value>,
}

/// An ApplicationGroup read from JSON that provably conforms to the schema. Reading it fails for
/// anything else, with no detail: the full reading (`admission::parse`) then names every problem.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conforming(pub ApplicationGroup);

impl<'de> Deserialize<'de> for Conforming {
    fn deserialize<D: Deserializer<'de>>(input: D) -> Result<Self, D::Error> {
        let not_conforming =
            || D::Error::custom("not an ApplicationGroup that conforms to its schema");
        let root = Root::deserialize(input)?;
        let conforms = root.api_version == API_VERSION
            && root.kind == KIND
            && keeps_rules_serde_does_not_know(&root.spec);
        if !conforms {
            return Err(not_conforming());
        }
        let status = match root.status {
            None => None,
            Some(status) if schema::application_group_status().is_valid(&status) => {
                Some(ApplicationGroupStatus::deserialize(status).map_err(|_| not_conforming())?)
            }
            Some(_) => return Err(not_conforming()),
        };
        Ok(Conforming(ApplicationGroup {
            metadata: root.metadata,
            spec: root.spec,
            status,
        }))
    }
}

/// The schema's rules that a successful typed reading does not imply: at least one application,
/// namespace lengths, and free-form fields that must be objects.
fn keeps_rules_serde_does_not_know(spec: &ApplicationGroupSpec) -> bool {
    let object_or_absent = |field: &Option<Value>| field.as_ref().is_none_or(Value::is_object);
    let release_ok = |release: &Release| {
        release.target_namespace.len() <= MAX_LABEL_LEN
            && [
                &release.values,
                &release.install,
                &release.upgrade,
                &release.rollback,
                &release.uninstall,
            ]
            .into_iter()
            .all(|field| field.as_ref().is_none_or(FreeForm::is_object))
    };
    !spec.applications.is_empty()
        && spec.applications.iter().all(|app| {
            release_ok(&app.spec.release)
                && app
                    .spec
                    .workflow
                    .iter()
                    .all(|executor| object_or_absent(&executor.params))
        })
}
