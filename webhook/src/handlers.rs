//! The admission endpoints: `POST /mutate` and `POST /validate`, with their limits.

use crate::limits::Limits;
use crate::metrics::{Endpoint, Metrics, Outcome};
use crate::policy_watch::PolicyStore;
use crate::review::{self, Answer, Unreadable};
use crate::secret_access::SecretAccess;
use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Semaphore, SemaphorePermit};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// Bodies above this size are reviewed on the blocking pool so that one huge group does not stall the
/// connections sharing its runtime thread.
const BLOCKING_THRESHOLD_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct AdmissionState {
    pub policy: Arc<PolicyStore>,
    pub metrics: Arc<Metrics>,
    /// Checks that the requester may read the Secrets a group names; `None` turns the check off
    /// (`--check-secret-access=false`).
    pub secret_access: Option<Arc<SecretAccess>>,
    /// The only requester that may set the last-successful annotation (`None`: nobody).
    pub controller_username: Option<Arc<str>>,
}

/// The memory budget of the reviews in flight (see [`Limits::max_review_memory`]): a semaphore
/// of KiB.
#[derive(Debug, Clone)]
struct ReviewMemory {
    kib: Arc<Semaphore>,
    limits: Limits,
}

impl ReviewMemory {
    fn new(limits: &Limits) -> Self {
        Self {
            kib: Arc::new(Semaphore::new(limits.max_review_memory.div_ceil(1024))),
            limits: limits.clone(),
        }
    }

    /// Waits until the budget has room for a review of `body_bytes`.
    async fn reserve(&self, body_bytes: usize) -> Option<SemaphorePermit<'_>> {
        let kib = self.limits.review_memory(body_bytes).div_ceil(1024);
        let kib = u32::try_from(kib).unwrap_or(u32::MAX);
        self.kib.acquire_many(kib).await.ok()
    }
}

/// The admission router: only the two review endpoints (health and metrics live on the admin port).
pub fn router(state: AdmissionState, limits: &Limits) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route("/validate", post(validate))
        .layer(Extension(ReviewMemory::new(limits)))
        .layer(
            ServiceBuilder::new()
                .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    limits.request_timeout,
                ))
                .layer(GlobalConcurrencyLimitLayer::new(
                    limits.max_concurrent_reviews,
                )),
        )
        // NB: axum's own 2 MB default would refuse legal 3 MiB reviews; RequestBodyLimitLayer applies.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn mutate(
    State(state): State<AdmissionState>,
    Extension(memory): Extension<ReviewMemory>,
    body: Bytes,
) -> Response {
    handle(Endpoint::Mutate, state, &memory, body).await
}

async fn validate(
    State(state): State<AdmissionState>,
    Extension(memory): Extension<ReviewMemory>,
    body: Bytes,
) -> Response {
    handle(Endpoint::Validate, state, &memory, body).await
}

async fn handle(
    endpoint: Endpoint,
    state: AdmissionState,
    memory: &ReviewMemory,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    // NB: held until the answer is written: a review that cannot fit waits (within its deadline)
    // rather than take the webhook past its memory limit.
    let _memory = memory.reserve(body.len()).await;
    let policy = state.policy.current();
    let large = body.len() > BLOCKING_THRESHOLD_BYTES;
    let review_body = body.clone();
    let secret_namespace = state
        .secret_access
        .as_ref()
        .map(|access| access.default_namespace.clone());
    let review = move || {
        answer_catching_panics(
            endpoint,
            &review_body,
            policy.as_deref(),
            secret_namespace.as_deref(),
        )
    };
    let mut answer = if large {
        tokio::task::spawn_blocking(review)
            .await
            .unwrap_or_else(|_| internal_error(&body))
    } else {
        review()
    };
    // NB: the recorded spec first: a review it refuses needs no SubjectAccessReview.
    if let Some(requester) = answer.records_spec_by.take()
        && state.controller_username.as_deref() != Some(requester.as_str())
    {
        answer.secret_checks = None;
        answer.refuse(
            review::recorded_spec_refusal(),
            "the last-successful annotation set by another than the controller".to_owned(),
        );
    }
    if let (Some(checks), Some(access)) = (answer.secret_checks.take(), &state.secret_access)
        && let Some(refusals) = checks.refusals(access).await
    {
        let detail = format!("{} Secret reference(s) refused", refusals.lines().count());
        answer.refuse(refusals, detail);
    }
    state.metrics.review(
        endpoint,
        answer.operation,
        answer.outcome,
        started.elapsed(),
    );
    log(endpoint, &answer);
    let body = crate::wire::to_json(&answer.review).unwrap_or_else(|_| FALLBACK_DENIAL.to_vec());
    (
        answer.status,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Logs the answer: denials and unreadable reviews at info, allowed ones at debug (they are the
/// bulk of the traffic, and the API server audits them already).
fn log(endpoint: Endpoint, answer: &Answer) {
    let refusal = match answer.outcome {
        Outcome::Invalid | Outcome::Denied => answer.detail.as_deref(),
        Outcome::Allowed | Outcome::Patched => None,
    };
    // NB: the span costs a tenth of a review with JSON logs (its fields are formatted when it
    // opens), so it is only opened for an event that is written: at info, allowed reviews make none.
    if refusal.is_none() && !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    // NB: opened once the answer is known, with every field at once: recording fields one by one
    // into an open span re-encodes all of its fields each time. Nothing inside a review logs.
    let subject = &answer.subject;
    let span = tracing::info_span!(
        "review",
        endpoint = endpoint.as_str(),
        uid = subject.uid.as_deref(),
        operation = answer.operation.as_str(),
        object_name = subject.object_name.as_deref(),
        dry_run = subject.dry_run,
        allowed = answer.outcome.allowed(),
    );
    let _entered = span.enter();
    match (answer.outcome, refusal) {
        (Outcome::Invalid, Some(detail)) => {
            tracing::info!(status = answer.status.as_u16(), reason = %detail, "unreadable review denied")
        }
        (Outcome::Denied, Some(detail)) => tracing::info!(errors = %detail, "review denied"),
        _ => tracing::debug!(result = answer.outcome.as_str(), "review answered"),
    }
}

/// A bug in the rules must not take the connection down: the API server gets a denial it can show.
fn answer_catching_panics(
    endpoint: Endpoint,
    body: &[u8],
    policy: Option<&orkestra_shared::policy::Policy>,
    secret_namespace: Option<&str>,
) -> Answer {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        review::answer(endpoint, body, policy, secret_namespace)
    }))
    .unwrap_or_else(|_| internal_error(body))
}

fn internal_error(body: &[u8]) -> Answer {
    tracing::error!("the review panicked");
    Unreadable {
        uid: review::lenient_uid(body),
        reason: "internal error in the webhook".to_owned(),
    }
    .into_answer()
}

/// Serializing an AdmissionReview does not fail; should it ever, the API server still gets a denial.
const FALLBACK_DENIAL: &[u8] = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":false,"status":{"message":"internal error in the webhook"}}}"#;
