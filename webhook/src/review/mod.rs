//! AdmissionReview in, AdmissionReview out: reading a request body and deciding the answer.
//!
//! Pure: no I/O, no clock. A well-formed body is read in one pass into the few request fields the
//! answer needs; the objects in it are read straight into their typed form (`Conforming`). For
//! defaulting, that pass only proves the object conforms, and a light second pass over the body
//! reads which defaulted fields it writes (`Presence`). No JSON tree is built for a valid review. A body that this reading refuses (a broken review, an object that
//! does not conform to the schema, another kind) is read again in full: a JSON tree and kube's typed
//! `AdmissionReview`, which name the problem precisely. A body that cannot be read still gets a denying
//! AdmissionReview carrying the request uid whenever one can be found, or HTTP 400 when none can.
//!
//! [`read`] reads the body, [`answer`] decides; [`last_applied`] cuts kubectl's copy of the object
//! out of the body the one-pass reading reads (no answer depends on it); [`lenient_uid`] finds the
//! uid of a broken body and [`agreement`] checks that the one-pass and the full readings agree.

mod agreement;
mod json_string;
mod last_applied;
mod lenient_uid;
mod read;

pub use agreement::readings_agree;
pub use lenient_uid::lenient_uid;
pub use read::{Object, Review, Unreadable, parse, read_fast, read_full};

use crate::metrics::{Endpoint, OperationLabel, Outcome};
use crate::secret_access::SecretChecks;
use axum::http::StatusCode;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionResponse, AdmissionReview, Operation};
use orkestra_shared::admission::{defaults_patch, mutate, validate};
use orkestra_shared::field_error::FieldError;
use orkestra_shared::names::LAST_SUCCESSFUL_ANNOTATION;
use orkestra_shared::policy::Policy;

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
    /// The requester's username when an allowed validation sets the last-successful annotation
    /// (a value the old object did not have): the answer stands only if it is the controller.
    pub records_spec_by: Option<String>,
}

/// Why a group setting the last-successful annotation is denied to anyone but the controller.
pub fn recorded_spec_refusal() -> String {
    format!(
        "metadata.annotations[{LAST_SUCCESSFUL_ANNOTATION}]: only the Orkestra controller sets this \
         annotation (it records the last deployed spec, which a rollback installs and an update \
         compares with to uninstall what it drops): remove it from the manifest, or leave the \
         value the controller wrote"
    )
}

impl Answer {
    /// Turns an allowing answer into a denial with `message` (one problem per line, as a user
    /// sees it), keeping its warnings; `detail` says why in the log.
    pub fn refuse(&mut self, message: String, detail: String) {
        if let Some(response) = self.review.response.take() {
            self.detail = Some(detail);
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

impl Unreadable {
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
            records_spec_by: None,
        }
    }
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
    let mut copy = Vec::new();
    let mut review = match parse(endpoint, body, &mut copy) {
        Ok(review) => review,
        Err(unreadable) => return unreadable.into_answer(),
    };
    let secret_checks = match (endpoint, secret_namespace, &review.object) {
        (Endpoint::Validate, Some(namespace), Some(object)) if is_reviewed(&review) => {
            let old = review
                .old_object
                .as_ref()
                .filter(|_| review.operation == Operation::Update)
                .map(|old| old.secret_references(namespace))
                .unwrap_or_default();
            SecretChecks::added(&review.user_info, object.secret_references(namespace), old)
        }
        _ => None,
    };
    let records_spec_by = match (endpoint, &review.object) {
        (Endpoint::Validate, Some(object)) if is_reviewed(&review) => {
            let old = review
                .old_object
                .as_ref()
                .filter(|_| review.operation == Operation::Update)
                .and_then(Object::last_successful);
            object
                .last_successful()
                .filter(|recorded| old != Some(*recorded))
                .map(|_| review.user_info.username.clone().unwrap_or_default())
        }
        _ => None,
    };
    let (response, outcome, detail) = decide(endpoint, &mut review, policy);
    let secret_checks = secret_checks.filter(|_| outcome == Outcome::Allowed);
    let records_spec_by = records_spec_by.filter(|_| outcome == Outcome::Allowed);
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
        records_spec_by,
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
                Object::Defaulting(presence) => Ok(defaults_patch(presence)),
                Object::Tree(tree) => mutate(&*tree),
                Object::Text(text) => mutate(text.get()),
                // NB: `parse` reads the object of a mutate review for its presence: a typed object
                // has lost the difference between absent and default fields that the patch is made of.
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
                Operation::Update => review.old_object.as_mut().and_then(Object::raw),
                _ => None,
            };
            let Some(object) = object.raw() else {
                let reason = "internal error: the object was read for defaulting, not validation";
                return (
                    response.deny(reason),
                    Outcome::Invalid,
                    Some(reason.to_owned()),
                );
            };
            let verdict = validate(object, old, policy);
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
