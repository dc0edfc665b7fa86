//! AdmissionReview in, AdmissionReview out: reading a request body and deciding the answer.
//!
//! Pure: no I/O, no clock. The body is parsed once into a JSON tree; `request.object` and
//! `request.oldObject` are moved out of it (the shared crate reads them as raw JSON) and the small rest is
//! read as kube's typed `AdmissionReview`. A body that cannot be read still gets a denying
//! AdmissionReview carrying the request uid whenever one can be found, or HTTP 400 when none can.

use crate::metrics::{Endpoint, OperationLabel, Outcome};
use axum::http::StatusCode;
use kube::core::DynamicObject;
use kube::core::admission::{
    AdmissionRequest, AdmissionResponse, AdmissionReview, META_API_VERSION_V1, META_KIND, Operation,
};
use orkestra_shared::admission::{mutate, validate};
use orkestra_shared::field_error::FieldError;
use orkestra_shared::policy::Policy;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
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
    /// For logs: the field paths of the errors (denied) or why the request was unreadable (invalid).
    /// Never object values.
    pub detail: Option<String>,
}

/// A readable review: the typed request, and the objects as raw JSON.
#[derive(Debug)]
pub struct Review {
    pub request: AdmissionRequest<DynamicObject>,
    pub object: Option<Value>,
    pub old_object: Option<Value>,
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
        let status = match self.uid {
            Some(uid) => {
                response.uid = uid;
                StatusCode::OK
            }
            None => StatusCode::BAD_REQUEST,
        };
        Answer {
            status,
            review: response.into_review(),
            outcome: Outcome::Invalid,
            operation: OperationLabel::Unknown,
            detail: Some(self.reason),
        }
    }
}

/// Reads an AdmissionReview v1 request.
pub fn parse(body: &[u8]) -> Result<Review, Unreadable> {
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
        request,
        object,
        old_object,
    })
}

/// Answers one review body at `endpoint`. `policy` is `None` until a policy was loaded.
/// Records uid, operation, object_name, dry_run and allowed in the current tracing span.
pub fn answer(endpoint: Endpoint, body: &[u8], policy: Option<&Policy>) -> Answer {
    let span = tracing::Span::current();
    let Review {
        request,
        object,
        old_object,
    } = match parse(body) {
        Ok(review) => review,
        Err(unreadable) => {
            if let Some(uid) = &unreadable.uid {
                span.record("uid", uid.as_str());
            }
            span.record("allowed", false);
            return unreadable.into_answer();
        }
    };
    let operation = operation_label(&request.operation);
    span.record("uid", request.uid.as_str());
    span.record("operation", operation.as_str());
    span.record("object_name", request.name.as_str());
    span.record("dry_run", request.dry_run);
    let (response, outcome, detail) = decide(endpoint, &request, object, old_object, policy);
    span.record("allowed", outcome.allowed());
    Answer {
        status: StatusCode::OK,
        review: response.into_review(),
        outcome,
        operation,
        detail,
    }
}

fn decide(
    endpoint: Endpoint,
    request: &AdmissionRequest<DynamicObject>,
    object: Option<Value>,
    old_object: Option<Value>,
    policy: Option<&Policy>,
) -> (AdmissionResponse, Outcome, Option<String>) {
    let response = AdmissionResponse::from(request);
    let kind = &request.kind;
    // Subresources (status) are the controller's business, not the user's spec: never reviewed.
    let reviewed = kind.group == GROUP
        && kind.version == VERSION
        && kind.kind == KIND
        && request.sub_resource.is_none();
    if !reviewed || !matches!(request.operation, Operation::Create | Operation::Update) {
        return (response, Outcome::Allowed, None);
    }
    let Some(object) = object else {
        let reason = "the AdmissionReview request carries no object".to_owned();
        return (response.deny(&reason), Outcome::Invalid, Some(reason));
    };
    match endpoint {
        Endpoint::Mutate => match mutate(&object) {
            Ok(patch) if patch.0.is_empty() => (response, Outcome::Allowed, None),
            Ok(patch) => match response.with_patch(patch) {
                Ok(patched) => (patched, Outcome::Patched, None),
                Err(error) => {
                    let reason = format!("the defaults could not be encoded: {error}");
                    (
                        AdmissionResponse::from(request).deny(&reason),
                        Outcome::Invalid,
                        Some(reason),
                    )
                }
            },
            Err(errors) => denied(response, &errors),
        },
        Endpoint::Validate => {
            let Some(policy) = policy else {
                let reason =
                    "the webhook has not loaded its policy yet; try again shortly".to_owned();
                return (response.deny(&reason), Outcome::Denied, Some(reason));
            };
            let old = match request.operation {
                Operation::Update => old_object.as_ref(),
                _ => None,
            };
            let verdict = validate(&object, old, policy);
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
