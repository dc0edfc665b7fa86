//! Reading an AdmissionReview request body. A well-formed body is read in one pass into the few
//! request fields the answer needs; the objects in it are read straight into their typed form for
//! validation (`Conforming`). For defaulting, the same pass proves the object conforms, and a
//! second, light pass over the body reads which defaulted fields it writes (`Presence`). No JSON
//! tree is built for a valid review. A body that this reading refuses (a broken review, an
//! object that does not conform to the schema, another kind) is read again in full: a JSON tree and
//! kube's typed `AdmissionReview`, which name the problem precisely.

use super::lenient_uid::lenient_uid;
use super::{json_string, last_applied};
use crate::metrics::Endpoint;
use crate::secret_access::SecretRef;
use k8s_openapi::api::authentication::v1::UserInfo;
use kube::core::admission::{
    AdmissionRequest, AdmissionReview, META_API_VERSION_V1, META_KIND, Operation,
};
use kube::core::{DynamicObject, GroupVersionKind, GroupVersionResource};
use orkestra_shared::admission::{Conforming, ConformingForRules, Presence, Raw};
use orkestra_shared::crd::ApplicationGroup;
use orkestra_shared::names::LAST_SUCCESSFUL_ANNOTATION;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A readable review: what the answer depends on.
#[derive(Debug)]
pub struct Review<'a> {
    pub uid: String,
    pub kind: GroupVersionKind,
    pub sub_resource: Option<String>,
    pub name: String,
    pub operation: Operation,
    pub dry_run: bool,
    pub user_info: UserInfo,
    pub object: Option<Object<'a>>,
    pub old_object: Option<Object<'a>>,
}

/// An object of the request: read typed (validation), known to conform with what defaulting needs
/// of it (defaulting), JSON text borrowed from the body (the old object of a defaulting review,
/// which is not read), or a tree when the body had to be read in full.
#[derive(Debug)]
pub enum Object<'a> {
    Read(Box<Conforming>),
    Defaulting(Presence<'a>),
    Text(&'a RawValue),
    Tree(Value),
}

impl Object<'_> {
    /// The `authSecretRef`s of the group, in application order; a reference without namespace
    /// names a Secret in `default_namespace`.
    pub(super) fn secret_references(&self, default_namespace: &str) -> Vec<SecretRef> {
        let reference = |index: usize, namespace: Option<&str>, name: Option<&str>, url: &str| {
            let name = name.filter(|n| !n.is_empty())?;
            Some(SecretRef {
                path: format!("spec.applications[{index}].spec.chart.authSecretRef"),
                namespace: namespace
                    .filter(|n| !n.is_empty())
                    .unwrap_or(default_namespace)
                    .to_owned(),
                name: name.to_owned(),
                url: url.to_owned(),
            })
        };
        match self {
            Object::Read(conforming) => typed(&conforming.0)
                .filter_map(|(i, ns, name, url)| reference(i, ns, name, url))
                .collect(),
            Object::Tree(tree) => tree
                .pointer("/spec/applications")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, app)| {
                    let secret = app.pointer("/spec/chart/authSecretRef")?;
                    let text = |key| secret.get(key).and_then(Value::as_str);
                    let url = app.pointer("/spec/chart/url").and_then(Value::as_str);
                    reference(i, text("namespace"), text("name"), url.unwrap_or_default())
                })
                .collect(),
            // Mutation only: the validating review reads objects typed or as a tree.
            Object::Defaulting(_) | Object::Text(_) => Vec::new(),
        }
    }

    /// The value of the last-successful annotation (the last deployed spec), if any.
    pub(super) fn last_successful(&self) -> Option<&str> {
        match self {
            Object::Read(conforming) => conforming
                .0
                .metadata
                .annotations
                .as_ref()?
                .get(LAST_SUCCESSFUL_ANNOTATION)
                .map(String::as_str),
            Object::Tree(tree) => tree
                .get("metadata")?
                .get("annotations")?
                .get(LAST_SUCCESSFUL_ANNOTATION)?
                .as_str(),
            // Mutation only: the validating review reads objects typed or as a tree.
            Object::Defaulting(_) | Object::Text(_) => None,
        }
    }

    /// The object as the shared crate validates it; `None` for a defaulting review's object. A
    /// typed object is handed over, not copied: call once.
    pub(super) fn raw(&mut self) -> Option<Raw<'_>> {
        match self {
            Object::Read(read) => Some(Raw::Read(std::mem::take(read))),
            Object::Text(text) => Some(Raw::Text(text.get())),
            Object::Tree(tree) => Some(Raw::Tree(tree)),
            Object::Defaulting(_) => None,
        }
    }
}

/// Each application's `authSecretRef` (namespace, name) with its index and chart URL.
fn typed(
    group: &ApplicationGroup,
) -> impl Iterator<Item = (usize, Option<&str>, Option<&str>, &str)> {
    group
        .spec
        .applications
        .iter()
        .enumerate()
        .filter_map(|(i, app)| {
            let chart = &app.spec.chart;
            let secret = chart.auth_secret_ref.as_deref()?;
            Some((
                i,
                secret.namespace.as_deref(),
                secret.name.as_deref(),
                chart.url.as_str(),
            ))
        })
}

/// How the envelope reads the objects of a request, per endpoint.
trait ObjectForm<'a>: Deserialize<'a> {
    fn into_object(self) -> Object<'a>;
}

impl<'a> ObjectForm<'a> for ConformingForRules {
    fn into_object(self) -> Object<'a> {
        Object::Read(Box::new(Conforming(self.0)))
    }
}

impl<'a> ObjectForm<'a> for &'a RawValue {
    fn into_object(self) -> Object<'a> {
        Object::Text(self)
    }
}

/// An object read only to learn that it conforms (read as the rules read it, then dropped); the
/// second pass over the body ([`PresenceEnvelope`]) reads what defaulting needs of it.
struct Conforms;

impl<'de> Deserialize<'de> for Conforms {
    fn deserialize<D: serde::Deserializer<'de>>(input: D) -> Result<Self, D::Error> {
        ConformingForRules::deserialize(input).map(|_| Conforms)
    }
}

/// A body that is not a readable AdmissionReview v1 request.
#[derive(Debug, PartialEq, Eq)]
pub struct Unreadable {
    pub uid: Option<String>,
    pub reason: String,
}

impl Unreadable {
    pub(super) fn new(body: &[u8], reason: String) -> Unreadable {
        Unreadable {
            uid: lenient_uid(body),
            reason,
        }
    }
}

/// Reads an AdmissionReview v1 request for `endpoint`; `copy` holds the body the one-pass reading
/// reads where that is not `body` itself (see [`read_fast`]).
pub fn parse<'a>(
    endpoint: Endpoint,
    body: &'a [u8],
    copy: &'a mut Vec<u8>,
) -> Result<Review<'a>, Unreadable> {
    read_fast(endpoint, body, copy).map_or_else(|| parse_in_full(body), Ok)
}

/// The one-pass reading alone; `None` where it gives up (the full reading then decides). It reads
/// `body` with kubectl's last-applied annotation cut out (into `copy`), which no answer depends on.
/// Public for the property tests and the fuzzer, which check that both readings agree.
pub fn read_fast<'a>(
    endpoint: Endpoint,
    body: &'a [u8],
    copy: &'a mut Vec<u8>,
) -> Option<Review<'a>> {
    let body = last_applied::cut(body, copy);
    if json_string::has_surrogate_escape(body) {
        return None;
    }
    match endpoint {
        Endpoint::Validate => {
            let (_, mut request) = read_envelope::<ConformingForRules, ConformingForRules>(body)?;
            let object = request.object.take().map(ObjectForm::into_object);
            Some(request.into_review(object))
        }
        Endpoint::Mutate => {
            let (text, mut request) = read_envelope::<Conforms, &RawValue>(body)?;
            let object = match request.object.take() {
                Some(Conforms) => {
                    let presence = serde_json::from_str::<PresenceEnvelope<'_>>(text).ok()?;
                    Some(Object::Defaulting(presence.request.object?))
                }
                None => None,
            };
            Some(request.into_review(object))
        }
    }
}

/// The full reading alone (a JSON tree and kube's typed `AdmissionReview`). Public for the
/// property tests and the fuzzer.
pub fn read_full(body: &[u8]) -> Result<Review<'static>, Unreadable> {
    parse_in_full(body)
}

/// Reads the envelope of a review, its object as `O` and its old object as `P`; with the body as
/// text.
fn read_envelope<'a, O: Deserialize<'a>, P: ObjectForm<'a>>(
    body: &'a [u8],
) -> Option<(&'a str, EnvelopeRequest<O, P>)> {
    // NB: checking UTF-8 once for the whole body is several times cheaper than serde_json's check
    // of every string it reads from bytes.
    let text = std::str::from_utf8(body).ok()?;
    match serde_json::from_str::<Envelope<'a, O, P>>(text).ok()? {
        Envelope {
            api_version,
            kind,
            request: Some(request),
        } if kind == META_KIND && api_version == META_API_VERSION_V1 => Some((text, request)),
        _ => None,
    }
}

/// The AdmissionReview fields kube's `AdmissionReview` reads, with the same types and the same
/// required fields, except that the objects stay JSON text.
#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    bound(deserialize = "O: Deserialize<'de>, P: Deserialize<'de>, 'de: 'a")
)]
struct Envelope<'a, O, P> {
    #[serde(borrow, default)]
    api_version: Cow<'a, str>,
    #[serde(borrow, default)]
    kind: Cow<'a, str>,
    request: Option<EnvelopeRequest<O, P>>,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    bound(deserialize = "O: Deserialize<'de>, P: Deserialize<'de>")
)]
struct EnvelopeRequest<O, P> {
    uid: String,
    kind: GroupVersionKind,
    #[serde(rename = "resource")]
    _resource: GroupVersionResource,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default, rename = "requestKind")]
    _request_kind: Option<GroupVersionKind>,
    #[serde(default, rename = "requestResource")]
    _request_resource: Option<GroupVersionResource>,
    #[serde(default, rename = "requestSubResource")]
    _request_sub_resource: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "namespace")]
    _namespace: Option<String>,
    operation: Operation,
    user_info: UserInfo,
    object: Option<O>,
    old_object: Option<P>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default, rename = "options")]
    _options: Option<IgnoredAny>,
}

impl<'a, O, P: ObjectForm<'a>> EnvelopeRequest<O, P> {
    /// The review, with `object`: what the caller made of `self.object`.
    fn into_review(self, object: Option<Object<'a>>) -> Review<'a> {
        Review {
            uid: self.uid,
            kind: self.kind,
            sub_resource: self.sub_resource,
            name: self.name,
            operation: self.operation,
            dry_run: self.dry_run,
            user_info: self.user_info,
            object,
            old_object: self.old_object.map(P::into_object),
        }
    }
}

/// What defaulting needs of a review's object, read from the whole body in a pass that skips
/// everything else.
#[derive(Deserialize)]
struct PresenceEnvelope<'a> {
    #[serde(borrow)]
    request: PresenceRequest<'a>,
}

#[derive(Deserialize)]
struct PresenceRequest<'a> {
    #[serde(borrow)]
    object: Option<Presence<'a>>,
}

/// The full reading, for bodies the envelope refused: says exactly what is wrong.
fn parse_in_full(body: &[u8]) -> Result<Review<'static>, Unreadable> {
    let unreadable = |reason: String| Unreadable::new(body, reason);
    let mut value: Value = serde_json::from_slice(body)
        .map_err(|e| unreadable(format!("the body is not JSON: {e}")))?;
    let Some(top) = value.as_object_mut() else {
        return Err(unreadable("the body is not a JSON object".to_owned()));
    };
    let field = |name: &str| {
        top.get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if kind != META_KIND || api_version != META_API_VERSION_V1 {
        return Err(unreadable(format!(
            "expected kind {META_KIND} of apiVersion {META_API_VERSION_V1}, got kind {kind:?} of apiVersion {api_version:?}"
        )));
    }
    let Some(request) = top.get_mut("request").and_then(Value::as_object_mut) else {
        return Err(unreadable("the AdmissionReview has no request".to_owned()));
    };
    let object = request.remove("object").filter(|v| !v.is_null());
    let old_object = request.remove("oldObject").filter(|v| !v.is_null());
    let review: AdmissionReview<DynamicObject> = serde_json::from_value(value)
        .map_err(|e| unreadable(format!("the AdmissionReview request is malformed: {e}")))?;
    let request: AdmissionRequest<DynamicObject> = review
        .try_into()
        .map_err(|_| unreadable("the AdmissionReview has no request".to_owned()))?;
    Ok(Review {
        uid: request.uid,
        kind: request.kind,
        sub_resource: request.sub_resource,
        name: request.name,
        operation: request.operation,
        dry_run: request.dry_run,
        user_info: request.user_info,
        object: object.map(Object::Tree),
        old_object: old_object.map(Object::Tree),
    })
}
