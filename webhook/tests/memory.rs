//! What reviews in flight take together: the webhook's memory budget (`Limits::max_review_memory`)
//! holds under the heaviest reviews there are, malformed ones (the one-pass reading refuses them,
//! so they are read again as a JSON tree) of the largest body, sent at once.
//!
//! Its own test binary: dhat counts every allocation of the process (its heap statistics, no
//! profile written).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::Request;
use common::*;
use orkestra_shared::policy::Policy;
use orkestra_webhook::handlers::{AdmissionState, router};
use orkestra_webhook::limits::Limits;
use orkestra_webhook::metrics::Metrics;
use orkestra_webhook::policy_watch::PolicyStore;
use serde_json::json;
use std::sync::Arc;
use tower::ServiceExt;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// A review just under the 3 MiB body limit whose values are a list of a million and a half
/// zeros (32 bytes of tree for 2 of JSON), and whose `spec.interval` is no string: the tree is
/// built. Four at once took 600 MB before the budget (the limit of the chart's pod is 192 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_reviews_of_the_largest_body_stay_within_the_memory_budget() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut application = app("web", &[]);
    application["spec"]["release"]["values"] = json!({"zeros": vec![0; 1_450_000]});
    let mut group = group("huge", vec![application]);
    group["spec"]["interval"] = json!(5);
    let body = serde_json::to_vec(&create(group)).unwrap();
    let limits = Limits::default();
    assert!(
        body.len() > 2 << 20 && body.len() < limits.max_body_bytes,
        "{}",
        body.len()
    );

    let state = AdmissionState {
        policy: Arc::new(PolicyStore::with(Policy::default())),
        metrics: Arc::new(Metrics::new()),
        secret_access: None,
        controller_username: None,
    };
    let app = router(state, &limits);
    let before = dhat::HeapStats::get().curr_bytes;
    let reviews = (0..4).map(|_| {
        let request = Request::post("/validate")
            .header("content-type", "application/json")
            .body(Body::from(body.clone()))
            .unwrap();
        app.clone().oneshot(request)
    });
    for answer in futures::future::join_all(reviews).await {
        let answer = answer.unwrap();
        assert_eq!(answer.status(), 200);
        let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
            .await
            .unwrap();
        let review: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let message = review["response"]["status"]["message"].as_str().unwrap();
        assert!(message.contains("spec.interval"), "{message}");
    }
    let peak = dhat::HeapStats::get().max_bytes - before;
    let budget = limits.max_review_memory + 4 * body.len();
    assert!(
        peak <= budget + budget / 2,
        "the reviews took {} MiB at once; the budget is {} MiB",
        peak >> 20,
        limits.max_review_memory >> 20
    );
}
