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

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use serde::de::{Error as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::crd::{ApplicationGroup, ApplicationGroupSpec, ApplicationGroupStatus, Release};
use crate::free_form::FreeForm;
use crate::names::{API_VERSION, KIND};
use crate::names::{LAST_SUCCESSFUL_ANNOTATION, MAX_LABEL_LEN};
use crate::schema;

/// The root of an ApplicationGroup with its apiVersion and kind, which the typed form leaves out;
/// `metadata` read as `M`.
#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    bound(deserialize = "M: Deserialize<'de>, 'de: 'a")
)]
struct Root<'a, M> {
    #[serde(borrow)]
    api_version: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(deserialize_with = "crate::json_form::object")]
    metadata: M,
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
        read::<'de, ObjectMeta, D>(input, |metadata| metadata).map(Conforming)
    }
}

/// A [`Conforming`] group read for its rules, from JSON text only (it borrows from it): `metadata`
/// is checked as `ObjectMeta` reads it, field by field, but only its name and the last-successful
/// annotation (the last deployed spec, whose rollback the rules check) are kept; other annotation
/// values are checked to be strings without being copied. kubectl's
/// `last-applied-configuration` annotation holds the whole object again, escaped: unescaping and
/// copying it was half the cost of reading a review after `kubectl apply`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConformingForRules(pub ApplicationGroup);

impl<'de> Deserialize<'de> for ConformingForRules {
    fn deserialize<D: Deserializer<'de>>(input: D) -> Result<Self, D::Error> {
        read::<'de, RulesMetadata<'de>, D>(input, |metadata| ObjectMeta {
            name: metadata.name.map(Cow::into_owned),
            annotations: metadata
                .annotations
                .and_then(|a| a.last_successful)
                .map(|spec| BTreeMap::from([(LAST_SUCCESSFUL_ANNOTATION.to_owned(), spec)])),
            ..ObjectMeta::default()
        })
        .map(ConformingForRules)
    }
}

/// `ObjectMeta`'s fields with its types, except that strings are borrowed where they hold no
/// escape, annotation values are only checked to be strings, and a managed fields entry's
/// `fieldsV1` is skipped (`FieldsV1` reads any JSON value).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RulesMetadata<'a> {
    #[serde(default)]
    annotations: Option<RuleAnnotations>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(default, rename = "creationTimestamp")]
    _creation_timestamp: Option<Time>,
    #[serde(default, rename = "deletionGracePeriodSeconds")]
    _deletion_grace_period_seconds: Option<i64>,
    #[serde(default, rename = "deletionTimestamp")]
    _deletion_timestamp: Option<Time>,
    #[serde(borrow, default, rename = "finalizers")]
    _finalizers: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default, rename = "generateName")]
    _generate_name: Option<Cow<'a, str>>,
    #[serde(default, rename = "generation")]
    _generation: Option<i64>,
    #[serde(borrow, default, rename = "labels")]
    _labels: Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
    #[serde(default, rename = "managedFields")]
    _managed_fields: Option<Vec<ManagedFieldsEntryForRules>>,
    #[serde(borrow, default, rename = "namespace")]
    _namespace: Option<Cow<'a, str>>,
    #[serde(default, rename = "ownerReferences")]
    _owner_references: Option<Vec<OwnerReference>>,
    #[serde(borrow, default, rename = "resourceVersion")]
    _resource_version: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "selfLink")]
    _self_link: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "uid")]
    _uid: Option<Cow<'a, str>>,
}

/// A managed fields entry, read as `ManagedFieldsEntry` reads it: only from a JSON object (a
/// derived reader would also take an array of its fields).
struct ManagedFieldsEntryForRules;

impl<'de> Deserialize<'de> for ManagedFieldsEntryForRules {
    fn deserialize<D: Deserializer<'de>>(input: D) -> Result<Self, D::Error> {
        crate::json_form::object::<D, ManagedFieldsEntryFields<'de>>(input)
            .map(|_| ManagedFieldsEntryForRules)
    }
}

/// `ManagedFieldsEntry`'s fields with its types, strings borrowed, `fieldsV1` skipped.
#[derive(Deserialize)]
struct ManagedFieldsEntryFields<'a> {
    #[serde(borrow, default, rename = "apiVersion")]
    _api_version: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "fieldsType")]
    _fields_type: Option<Cow<'a, str>>,
    #[serde(default, rename = "fieldsV1")]
    _fields_v1: Option<IgnoredAny>,
    #[serde(borrow, default, rename = "manager")]
    _manager: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "operation")]
    _operation: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "subresource")]
    _subresource: Option<Cow<'a, str>>,
    #[serde(default, rename = "time")]
    _time: Option<Time>,
}

/// A JSON object whose values are strings, checked without copying them, except the one the
/// rules read.
struct RuleAnnotations {
    last_successful: Option<String>,
}

impl<'de> Deserialize<'de> for RuleAnnotations {
    fn deserialize<D: Deserializer<'de>>(input: D) -> Result<Self, D::Error> {
        input.deserialize_map(RuleAnnotationsVisitor)
    }
}

struct RuleAnnotationsVisitor;

impl<'de> Visitor<'de> for RuleAnnotationsVisitor {
    type Value = RuleAnnotations;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RuleAnnotations, A::Error> {
        let mut last_successful = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            // NB: the one value the rules read is unescaped as it is read, in the same pass; the
            // others (kubectl's last-applied one is the whole object again) are only checked.
            if key == LAST_SUCCESSFUL_ANNOTATION {
                last_successful = Some(map.next_value::<String>()?);
                continue;
            }
            let value = map.next_value::<&'de RawValue>()?;
            if !value.get().starts_with('"') {
                return Err(A::Error::custom(format!(
                    "expected a string, found {}",
                    value.get()
                )));
            }
        }
        Ok(RuleAnnotations { last_successful })
    }
}

/// Reads a group whose `metadata` is read as `M` and kept as `keep` makes it.
fn read<'de, M: Deserialize<'de>, D: Deserializer<'de>>(
    input: D,
    keep: impl FnOnce(M) -> ObjectMeta,
) -> Result<ApplicationGroup, D::Error> {
    let not_conforming = || D::Error::custom("not an ApplicationGroup that conforms to its schema");
    let root = Root::<M>::deserialize(input)?;
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
    Ok(ApplicationGroup {
        metadata: keep(root.metadata),
        spec: root.spec,
        status,
    })
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
