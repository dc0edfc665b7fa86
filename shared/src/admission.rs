//! The admission decisions, as the webhook and the offline `check` command make them: read a raw
//! object, fill its defaults, validate it, warn about risky updates.

use serde::Deserialize;
use serde_json::Value;

use crate::crd::ApplicationGroup;
use crate::field_error::FieldError;
use crate::policy::Policy;
use crate::{defaults, schema, validate, warnings};

pub use crate::names::{API_VERSION, KIND};

/// The outcome of validating an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Every problem; the object is allowed when there are none.
    pub errors: Vec<FieldError>,
    /// What the user should know: keptn steps that will fail, and (on update) risky changes.
    pub warnings: Vec<String>,
}

impl Verdict {
    /// True when the object may be stored.
    pub fn allowed(&self) -> bool {
        self.errors.is_empty()
    }
}

pub use crate::conforming::{Conforming, ConformingForRules};
pub use crate::defaults::Presence;

/// An object as admission reads it: a JSON tree (offline `check`, tests), JSON text, or already
/// read by [`Conforming`] as part of a larger document (the webhook reads its AdmissionReviews so,
/// building no JSON tree at all for a conforming object).
#[derive(Debug, Clone)]
pub enum Raw<'a> {
    Tree(&'a Value),
    Text(&'a str),
    Read(Box<Conforming>),
}

impl From<Conforming> for Raw<'_> {
    fn from(read: Conforming) -> Self {
        Raw::Read(Box::new(read))
    }
}

impl<'a> From<&'a Value> for Raw<'a> {
    fn from(tree: &'a Value) -> Self {
        Raw::Tree(tree)
    }
}

impl<'a> From<&'a str> for Raw<'a> {
    fn from(text: &'a str) -> Self {
        Raw::Text(text)
    }
}

/// Reads a raw object as an ApplicationGroup: the right apiVersion and kind, the CRD's schema
/// (unknown fields included), then the typed form. A conforming object is read typed at once
/// (`Conforming`); only one that is not goes through the schema, which names every problem.
pub fn parse<'a>(object: impl Into<Raw<'a>>) -> Result<ApplicationGroup, Vec<FieldError>> {
    match object.into() {
        Raw::Tree(tree) => {
            Conforming::deserialize(tree).map_or_else(|_| parse_tree(tree), |read| Ok(read.0))
        }
        Raw::Read(read) => Ok(read.0),
        Raw::Text(text) => {
            if let Some(read) = read_whole::<Conforming>(text) {
                return Ok(read.0);
            }
            let tree: Value = serde_json::from_str(text)
                .map_err(|e| vec![FieldError::new("<root>", format!("invalid JSON: {e}"))])?;
            parse_tree(&tree)
        }
    }
}

/// `text` read as `T`, when it is exactly one `T` (nothing but whitespace after it).
fn read_whole<'de, T: Deserialize<'de>>(text: &'de str) -> Option<T> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let read = T::deserialize(&mut deserializer).ok()?;
    deserializer.end().ok().map(|()| read)
}

/// The full reading, for objects the fast path could not accept: every schema error, or the
/// typed form.
fn parse_tree(object: &Value) -> Result<ApplicationGroup, Vec<FieldError>> {
    let mut errors = Vec::new();
    if !object.is_object() {
        return Err(vec![FieldError::new("<root>", "expected an object")]);
    }
    for (field, expected) in [("apiVersion", API_VERSION), ("kind", KIND)] {
        match object.get(field).and_then(Value::as_str) {
            Some(found) if found == expected => {}
            found => errors.push(FieldError::new(
                field,
                format!("expected {expected:?}, found {:?}", found.unwrap_or("")),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let schema = schema::application_group();
    let object = schema.without_pruned_nulls(object);
    errors = schema.errors(&object);
    if !errors.is_empty() {
        return Err(errors);
    }
    ApplicationGroup::deserialize(&object)
        .map_err(|e| vec![FieldError::new("<root>", e.to_string())])
}

/// The JSON Patch (RFC 6902) that fills the defaults into `object`, and nothing else: only what
/// the object leaves out is added (see `defaults::patch`). An object that does not read as an
/// ApplicationGroup gets its problems instead. A typed object (`Raw::Read`) cannot be defaulted:
/// it no longer tells an absent field from a default one.
pub fn mutate<'a>(object: impl Into<Raw<'a>>) -> Result<json_patch::Patch, Vec<FieldError>> {
    let object = object.into();
    let presence = match &object {
        Raw::Tree(tree) => defaults::Presence::deserialize(*tree).map_err(|e| e.to_string()),
        Raw::Text(text) => serde_json::from_str(text).map_err(|e| e.to_string()),
        Raw::Read(_) => Err("the object was read typed, so its absent fields are unknown".into()),
    };
    // Only whether it conforms matters here, not its metadata: read for the rules, so kubectl's
    // last-applied annotation is not copied (the full reading names the problems otherwise).
    let conforms = match &object {
        Raw::Text(text) => read_whole::<ConformingForRules>(text).is_some(),
        _ => false,
    };
    if !conforms {
        parse(object)?;
    }
    presence
        .map(|presence| defaults::defaults_patch(&presence))
        .map_err(|e| vec![FieldError::new("<root>", format!("internal error: {e}"))])
}

/// The JSON Patch that fills the defaults into an object that reads as [`ConformingForRules`],
/// made from its [`Presence`] reading. For a reader that has both readings of one document
/// without keeping the object's text: the webhook reads them from its AdmissionReview.
pub fn defaults_patch(presence: &Presence<'_>) -> json_patch::Patch {
    defaults::defaults_patch(presence)
}

/// Every problem with `object` (defaulted first, so an object the mutating webhook has not seen is
/// judged the same), with warnings for keptn steps and, on update (`old` given), risky changes.
///
/// An update that leaves the spec as it was (labels, annotations, finalizers, as the controller and
/// a deletion write them) only has to conform: its spec was admitted before, and a policy or rule
/// that has become stricter since must not hold the group, least of all its deletion (the
/// controller removes its finalizer with such an update).
pub fn validate<'a, 'b>(
    object: impl Into<Raw<'a>>,
    old: Option<impl Into<Raw<'b>>>,
    policy: &Policy,
) -> Verdict {
    let mut group = match parse(object) {
        Ok(group) => group,
        Err(errors) => {
            return Verdict {
                errors,
                warnings: Vec::new(),
            };
        }
    };
    defaults::apply(&mut group.spec);
    let old = old.and_then(|old| parse(old).ok()).map(|mut old| {
        defaults::apply(&mut old.spec);
        old
    });
    if old.as_ref().is_some_and(|old| old.spec == group.spec) {
        return Verdict::default();
    }
    let errors = validate::validate(&group, policy);
    if !errors.is_empty() {
        return Verdict {
            errors,
            warnings: Vec::new(),
        };
    }
    let mut warnings = warnings::keptn_warnings(&group.spec);
    warnings.extend(warnings::values_from_warnings(&group.spec));
    if let Some(old) = &old {
        warnings.extend(warnings::update_warnings(&old.spec, &group.spec));
    }
    Verdict {
        errors: Vec::new(),
        warnings,
    }
}

/// Parses, defaults and validates one object: the defaulted group, or every problem.
pub fn check<'a>(
    object: impl Into<Raw<'a>>,
    policy: &Policy,
) -> Result<ApplicationGroup, Vec<FieldError>> {
    let mut group = parse(object)?;
    defaults::apply(&mut group.spec);
    let errors = validate::validate(&group, policy);
    if errors.is_empty() {
        Ok(group)
    } else {
        Err(errors)
    }
}
