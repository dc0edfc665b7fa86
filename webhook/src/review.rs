//! AdmissionReview in, AdmissionReview out: reading a request body and deciding the answer.
//!
//! Pure: no I/O, no clock. A well-formed body is read in one pass into the few request fields the
//! answer needs; the objects in it are read straight into their typed form for validation
//! (`Conforming`), or kept as borrowed JSON text for defaulting (which needs the tree). No JSON tree
//! is built for a valid review. A body that this reading refuses (a broken review, an object that
//! does not conform to the schema, another kind) is read again in full: a JSON tree and kube's typed
//! `AdmissionReview`, which name the problem precisely. A body that cannot be read still gets a denying
//! AdmissionReview carrying the request uid whenever one can be found, or HTTP 400 when none can.

use crate::metrics::{Endpoint, OperationLabel, Outcome};
use crate::secret_access::SecretChecks;
use axum::http::StatusCode;
use k8s_openapi::api::authentication::v1::UserInfo;
use kube::core::admission::{
    AdmissionRequest, AdmissionResponse, AdmissionReview, META_API_VERSION_V1, META_KIND, Operation,
};
use kube::core::{DynamicObject, GroupVersionKind, GroupVersionResource};
use orkestra_shared::admission::{Conforming, Raw, mutate, validate};
use orkestra_shared::field_error::FieldError;
use orkestra_shared::policy::Policy;
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The API group, version and kind this webhook reviews; every other kind is allowed untouched.
pub const GROUP: &str = "orkestra.azure.microsoft.com";
pub const VERSION: &str = "v1alpha1";
pub const KIND: &str = orkestra_shared::admission::KIND;

/// The answer to one review: HTTP status, the AdmissionReview to send back, and what metrics and logs
/// say about it.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub review: AdmissionReview<DynamicObject>,
    pub outcome: Outcome,
    pub operation: OperationLabel,
    /// For logs: which request and object the review was about, as far as the body could be read.
    pub subject: Subject,
    /// For logs: the field paths of the errors (denied) or why the request was unreadable (invalid).
    /// Never object values.
    pub detail: Option<String>,
    /// The Secret references an allowed validation adds: the answer stands only if the requester
    /// may read them (see `secret_access`).
    pub secret_checks: Option<SecretChecks>,
}

impl Answer {
    /// Turns an allowing answer into a denial with `message` (one problem per line), keeping its
    /// warnings.
    pub fn refuse(&mut self, message: String) {
        if let Some(response) = self.review.response.take() {
            self.detail = Some(format!(
                "{} Secret reference(s) refused",
                message.lines().count()
            ));
            self.review.response = Some(response.deny(message));
        }
        self.outcome = Outcome::Denied;
    }
}

/// The identifying fields of a review, for its log span: never object contents.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub uid: Option<String>,
    pub object_name: Option<String>,
    pub dry_run: Option<bool>,
}

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

/// An object of the request: read typed (validation), JSON text borrowed from the body
/// (defaulting), or a tree when the body had to be read in full.
#[derive(Debug)]
pub enum Object<'a> {
    Read(Box<Conforming>),
    Text(&'a RawValue),
    Tree(Value),
}

impl Object<'_> {
    /// The object as the shared crate takes it. A typed object is handed over, not copied: call
    /// once.
    fn raw(&mut self) -> Raw<'_> {
        match self {
            Object::Read(read) => Raw::Read(std::mem::take(read)),
            Object::Text(text) => Raw::Text(text.get()),
            Object::Tree(tree) => Raw::Tree(tree),
        }
    }
}

/// How the envelope reads the objects of a request, per endpoint.
trait ObjectForm<'a>: Deserialize<'a> {
    fn into_object(self) -> Object<'a>;
}

impl<'a> ObjectForm<'a> for Conforming {
    fn into_object(self) -> Object<'a> {
        Object::Read(Box::new(self))
    }
}

impl<'a> ObjectForm<'a> for &'a RawValue {
    fn into_object(self) -> Object<'a> {
        Object::Text(self)
    }
}

/// A body that is not a readable AdmissionReview v1 request.
#[derive(Debug, PartialEq, Eq)]
pub struct Unreadable {
    pub uid: Option<String>,
    pub reason: String,
}

impl Unreadable {
    fn new(body: &[u8], reason: String) -> Unreadable {
        Unreadable {
            uid: lenient_uid(body),
            reason,
        }
    }

    /// A denying AdmissionReview; HTTP 200 when it can carry the request's uid (the API server then
    /// shows the reason), 400 when there is no uid to answer to.
    pub fn into_answer(self) -> Answer {
        let mut response = AdmissionResponse::invalid(format!(
            "this AdmissionReview cannot be read: {}",
            self.reason
        ));
        let status = match &self.uid {
            Some(uid) => {
                response.uid.clone_from(uid);
                StatusCode::OK
            }
            None => StatusCode::BAD_REQUEST,
        };
        Answer {
            status,
            review: response.into_review(),
            outcome: Outcome::Invalid,
            operation: OperationLabel::Unknown,
            subject: Subject {
                uid: self.uid,
                ..Subject::default()
            },
            detail: Some(self.reason),
            secret_checks: None,
        }
    }
}

/// Reads an AdmissionReview v1 request for `endpoint`.
pub fn parse(endpoint: Endpoint, body: &[u8]) -> Result<Review<'_>, Unreadable> {
    read_fast(endpoint, body).map_or_else(|| parse_in_full(body), Ok)
}

/// The one-pass reading alone; `None` where it gives up (the full reading then decides). Public
/// for the property tests and the fuzzer, which check that both readings agree.
pub fn read_fast(endpoint: Endpoint, body: &[u8]) -> Option<Review<'_>> {
    match endpoint {
        Endpoint::Validate => read_envelope::<Conforming>(body),
        Endpoint::Mutate => read_envelope::<&RawValue>(body),
    }
}

/// The full reading alone (a JSON tree and kube's typed `AdmissionReview`). Public for the
/// property tests and the fuzzer.
pub fn read_full(body: &[u8]) -> Result<Review<'static>, Unreadable> {
    parse_in_full(body)
}

/// Where the one-pass reading accepts `body`, the full reading must accept it too, with the same
/// request fields, and the same validation verdict under `policy`; `Err` says how they differ.
/// The property tests and the fuzzer call it.
pub fn readings_agree(endpoint: Endpoint, body: &[u8], policy: &Policy) -> Result<(), String> {
    let Some(fast) = read_fast(endpoint, body) else {
        return Ok(());
    };
    let full = read_full(body).map_err(|u| format!("only the fast reading accepts it: {u:?}"))?;
    let header = |r: &Review<'_>| {
        format!(
            "{} {:?} {:?} {} {:?} {} {:?} {} {}",
            r.uid,
            r.kind,
            r.sub_resource,
            r.name,
            r.operation,
            r.dry_run,
            r.user_info,
            r.object.is_some(),
            r.old_object.is_some()
        )
    };
    if header(&fast) != header(&full) {
        return Err(format!(
            "the readings differ:\n{}\n{}",
            header(&fast),
            header(&full)
        ));
    }
    if endpoint == Endpoint::Validate
        && let (Some(mut a), Some(mut b)) = (fast.object, full.object)
    {
        let (one, other) = (validate(a.raw(), None::<Raw<'_>>, policy), validate(b.raw(), None::<Raw<'_>>, policy));
        if one.errors != other.errors {
            return Err(format!(
                "the verdicts differ:\n{:?}\n{:?}",
                one.errors, other.errors
            ));
        }
    }
    Ok(())
}

fn read_envelope<'a, O: ObjectForm<'a>>(body: &'a [u8]) -> Option<Review<'a>> {
    // NB: checking UTF-8 once for the whole body is several times cheaper than serde_json's check
    // of every string it reads from bytes.
    let text = std::str::from_utf8(body).ok()?;
    match serde_json::from_str::<Envelope<'a, O>>(text).ok()? {
        Envelope {
            api_version,
            kind,
            request: Some(request),
        } if kind == META_KIND && api_version == META_API_VERSION_V1 => Some(request.into()),
        _ => None,
    }
}

/// The AdmissionReview fields kube's `AdmissionReview` reads, with the same types and the same
/// required fields, except that the objects stay JSON text.
#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    bound(deserialize = "O: ObjectForm<'de>, 'de: 'a")
)]
struct Envelope<'a, O> {
    #[serde(borrow, default)]
    api_version: Cow<'a, str>,
    #[serde(borrow, default)]
    kind: Cow<'a, str>,
    request: Option<EnvelopeRequest<O>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "O: Deserialize<'de>"))]
struct EnvelopeRequest<O> {
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
    old_object: Option<O>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default, rename = "options")]
    _options: Option<IgnoredAny>,
}

impl<'a, O: ObjectForm<'a>> From<EnvelopeRequest<O>> for Review<'a> {
    fn from(request: EnvelopeRequest<O>) -> Self {
        Review {
            uid: request.uid,
            kind: request.kind,
            sub_resource: request.sub_resource,
            name: request.name,
            operation: request.operation,
            dry_run: request.dry_run,
            user_info: request.user_info,
            object: request.object.map(O::into_object),
            old_object: request.old_object.map(O::into_object),
        }
    }
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

/// Answers one review body at `endpoint`. `policy` is `None` until a policy was loaded. With
/// `secret_namespace` (where a reference naming no namespace points), an allowed validation lists
/// the Secret references to check in [`Answer::secret_checks`].
pub fn answer(
    endpoint: Endpoint,
    body: &[u8],
    policy: Option<&Policy>,
    secret_namespace: Option<&str>,
) -> Answer {
    let mut review = match parse(endpoint, body) {
        Ok(review) => review,
        Err(unreadable) => return unreadable.into_answer(),
    };
    let secret_checks = match (endpoint, secret_namespace, &review.object) {
        (Endpoint::Validate, Some(namespace), Some(object)) if is_reviewed(&review) => {
            let old = review
                .old_object
                .as_ref()
                .filter(|_| review.operation == Operation::Update);
            SecretChecks::of(&review.user_info, object, old, namespace)
        }
        _ => None,
    };
    let (response, outcome, detail) = decide(endpoint, &mut review, policy);
    let secret_checks = secret_checks.filter(|_| outcome == Outcome::Allowed);
    Answer {
        status: StatusCode::OK,
        review: response.into_review(),
        outcome,
        operation: operation_label(&review.operation),
        subject: Subject {
            uid: Some(review.uid),
            object_name: Some(review.name),
            dry_run: Some(review.dry_run),
        },
        detail,
        secret_checks,
    }
}

/// An allowing response to the request with this uid (what kube's `From<&AdmissionRequest>` makes).
fn allowing(uid: &str) -> AdmissionResponse {
    let mut response = AdmissionResponse::invalid("");
    response.uid = uid.to_owned();
    response.allowed = true;
    response.result = Default::default();
    response
}

/// True for the creation or update of an ApplicationGroup's spec. Subresources (status) are the
/// controller's business, not the user's spec: never reviewed.
fn is_reviewed(review: &Review<'_>) -> bool {
    let kind = &review.kind;
    kind.group == GROUP
        && kind.version == VERSION
        && kind.kind == KIND
        && review.sub_resource.is_none()
        && matches!(review.operation, Operation::Create | Operation::Update)
}

fn decide(
    endpoint: Endpoint,
    review: &mut Review<'_>,
    policy: Option<&Policy>,
) -> (AdmissionResponse, Outcome, Option<String>) {
    let response = allowing(&review.uid);
    if !is_reviewed(review) {
        return (response, Outcome::Allowed, None);
    }
    let Some(object) = &mut review.object else {
        let reason = "the AdmissionReview request carries no object".to_owned();
        return (response.deny(&reason), Outcome::Invalid, Some(reason));
    };
    match endpoint {
        Endpoint::Mutate => {
            let defaults = match object {
                Object::Tree(tree) => mutate(tree),
                Object::Text(text) => serde_json::from_str(text.get())
                    .map_err(|e| vec![FieldError::new("<root>", format!("invalid JSON: {e}"))])
                    .and_then(|tree| mutate(&tree)),
                // NB: `parse` keeps the objects of a mutate review as text: a typed object has lost
                // the difference between absent and default fields that the patch is made of.
                Object::Read(_) => Err(vec![FieldError::new(
                    "<root>",
                    "internal error: the object was read for validation, not defaulting",
                )]),
            };
            match defaults {
                Ok(patch) if patch.0.is_empty() => (response, Outcome::Allowed, None),
                Ok(patch) => match response.with_patch(patch) {
                    Ok(patched) => (patched, Outcome::Patched, None),
                    Err(error) => {
                        let reason = format!("the defaults could not be encoded: {error}");
                        (
                            allowing(&review.uid).deny(&reason),
                            Outcome::Invalid,
                            Some(reason),
                        )
                    }
                },
                Err(errors) => denied(response, &errors),
            }
        }
        Endpoint::Validate => {
            let Some(policy) = policy else {
                let reason =
                    "the webhook has not loaded its policy yet; try again shortly".to_owned();
                return (response.deny(&reason), Outcome::Denied, Some(reason));
            };
            let old = match review.operation {
                Operation::Update => review.old_object.as_mut().map(Object::raw),
                _ => None,
            };
            let verdict = validate(object.raw(), old, policy);
            let mut response = response;
            if !verdict.warnings.is_empty() {
                response.warnings = Some(verdict.warnings);
            }
            if verdict.errors.is_empty() {
                (response, Outcome::Allowed, None)
            } else {
                denied(response, &verdict.errors)
            }
        }
    }
}

/// Denies with every error on its own line, `path: message`: what `kubectl apply` shows.
fn denied(
    response: AdmissionResponse,
    errors: &[FieldError],
) -> (AdmissionResponse, Outcome, Option<String>) {
    let message = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let paths = errors
        .iter()
        .map(|e| e.path.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    (
        response.deny(message),
        Outcome::Denied,
        Some(format!("{} error(s) at {paths}", errors.len())),
    )
}

fn operation_label(operation: &Operation) -> OperationLabel {
    match operation {
        Operation::Create => OperationLabel::Create,
        Operation::Update => OperationLabel::Update,
        Operation::Delete => OperationLabel::Delete,
        Operation::Connect => OperationLabel::Connect,
    }
}

/// Finds `request.uid` in a body that may be truncated or otherwise broken, reading only as far as
/// needed: the uid is kept the moment it is read, whatever fails after it.
pub fn lenient_uid(body: &[u8]) -> Option<String> {
    let mut uid = None;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let _ignored = Seek {
        depth: 0,
        uid: &mut uid,
    }
    .deserialize(&mut deserializer);
    uid
}

/// Walks `{"request": {"uid": …}}`: depth 0 is the review, depth 1 the request.
struct Seek<'a> {
    depth: u8,
    uid: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an AdmissionReview")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match (self.depth, key.as_str()) {
                (0, "request") => map.next_value_seed(Seek {
                    depth: 1,
                    uid: &mut *self.uid,
                })?,
                (1, "uid") => *self.uid = Some(map.next_value::<String>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn uid_is_found_in_a_truncated_body() {
        let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"abc-1","kind":{"gro"#;
        assert_eq!(lenient_uid(body), Some("abc-1".to_owned()));
    }

    #[test]
    fn nested_uids_are_not_the_request_uid() {
        let body =
            br#"{"request":{"userInfo":{"uid":"user"},"object":{"metadata":{"uid":"obj"}}}}"#;
        assert_eq!(lenient_uid(body), None);
        assert_eq!(lenient_uid(br#"{"uid":"top","request":5}"#), None);
        assert_eq!(lenient_uid(b"\xff\xfe"), None);
    }
}
