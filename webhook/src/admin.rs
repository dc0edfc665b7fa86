//! The plain-HTTP admin listener: `/healthz`, `/readyz`, `/metrics`. It never serves admission reviews.

use crate::cert_resolver::CertResolver;
use crate::metrics::Metrics;
use crate::policy_watch::PolicyStore;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone)]
pub struct AdminState {
    pub certificate: Arc<CertResolver>,
    pub policy: Arc<PolicyStore>,
    pub metrics: Arc<Metrics>,
    /// Set once shutdown has begun: not ready, so the Service stops sending reviews here.
    pub stopping: Arc<AtomicBool>,
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Ready once a serving certificate is loaded and the policy parsed (before that, reviews would
/// fail), and until shutdown begins.
async fn readyz(State(state): State<AdminState>) -> Response {
    let mut missing = Vec::new();
    if state.stopping.load(Ordering::SeqCst) {
        missing.push("shutting down");
    }
    if !state.certificate.is_loaded() {
        missing.push("no serving certificate loaded");
    }
    if !state.policy.is_loaded() {
        missing.push("no policy loaded");
    }
    if missing.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", missing.join(", ")),
        )
            .into_response()
    }
}

async fn metrics(State(state): State<AdminState>) -> Response {
    match state.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
