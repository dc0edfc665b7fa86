//! The controller's admin server: liveness, readiness and Prometheus metrics on plain HTTP, for the
//! kubelet's probes and the scraper (never exposed outside the cluster; no TLS, no auth).
//!
//! - `GET /healthz`: 200 `ok` while the process serves at all;
//! - `GET /readyz`: 200 `ready` while `ready` is true, else 503 `not ready` (the reconciler sets it,
//!   e.g. once it leads and its caches are synced);
//! - `GET /metrics`: the registry in the OpenMetrics text format, which Prometheus scrapes.
//!
//! Everything else is 404. On `shutdown` the listener closes and open requests finish.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// Content type of the OpenMetrics text exposition that `prometheus_client` writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone)]
struct AdminState {
    registry: Arc<Registry>,
    ready: Arc<AtomicBool>,
}

/// Serves /healthz (always 200 while the process runs), /readyz (200 only while `ready` is true), and /metrics (Prometheus text of `registry`) on plain HTTP until `shutdown` is cancelled.
/// `listener` is bound by the caller, so that an address in use stops the process at start.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: std::sync::Arc<prometheus_client::registry::Registry>,
    ready: std::sync::Arc<std::sync::atomic::AtomicBool>,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "admin server listening");
    }
    axum::serve(listener, router(registry, ready))
        .with_graceful_shutdown(shutdown_signal(shutdown))
        .await
}

async fn shutdown_signal(shutdown: CancellationToken) {
    shutdown.cancelled().await;
}

fn router(registry: Arc<Registry>, ready: Arc<AtomicBool>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(AdminState { registry, ready })
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, &'static str) {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics: {e}"),
        )
            .into_response(),
    }
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("ready", &self.ready)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use std::time::Duration;

    async fn get(client: &reqwest::Client, url: &str) -> (u16, String, String) {
        for _ in 0..50 {
            if let Ok(response) = client.get(url).send().await {
                let status = response.status().as_u16();
                let kind = response
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                return (status, kind, response.text().await.unwrap());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{url} never answered")
    }

    #[tokio::test]
    async fn health_readiness_and_metrics_are_served_until_shutdown() {
        let mut registry = Registry::default();
        let reconciliations = Counter::<u64>::default();
        registry.register(
            "orkestra_reconciliations",
            "Reconciliations run",
            reconciliations.clone(),
        );
        reconciliations.inc();
        let ready = Arc::new(AtomicBool::new(false));
        let shutdown = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(
            listener,
            Arc::new(registry),
            ready.clone(),
            shutdown.clone(),
        ));
        let client = reqwest::Client::new();
        let base = format!("http://{addr}");

        assert_eq!(get(&client, &format!("{base}/healthz")).await.0, 200);
        let (status, _, body) = get(&client, &format!("{base}/readyz")).await;
        assert_eq!((status, body.as_str()), (503, "not ready"));
        ready.store(true, Ordering::Release);
        assert_eq!(get(&client, &format!("{base}/readyz")).await.0, 200);

        let (status, kind, body) = get(&client, &format!("{base}/metrics")).await;
        assert_eq!(status, 200);
        assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
        assert!(
            body.contains("# HELP orkestra_reconciliations Reconciliations run."),
            "{body}"
        );
        assert!(body.contains("orkestra_reconciliations_total 1"), "{body}");
        assert!(body.trim_end().ends_with("# EOF"), "{body}");
        assert_eq!(get(&client, &format!("{base}/nothing")).await.0, 404);

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(
            client.get(format!("{base}/healthz")).send().await.is_err(),
            "still serving after shutdown"
        );
    }
}
