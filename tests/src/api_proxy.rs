//! A plain-HTTP front for the test cluster's API server that sees every request: what a process
//! pointed at it does can be counted, and the Lease API can be cut off (as a partition between a
//! controller and the API server would cut its renewals) while everything else still passes. The
//! next writes, or the next writes of one path once another write passed, can be failed as
//! kube-apiserver fails them while etcd elects a new leader: `500` with the Status `etcdserver:
//! leader changed`.
//!
//! The proxy forwards each request as the cluster admin (through a `kube::Client`, which does the
//! TLS and the client certificate), streaming the answers (watches included). Clients reach it
//! with [`ApiProxy::kubeconfig`] (`http://127.0.0.1:<port>`, no credentials) or
//! [`ApiProxy::client`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::cluster::Cluster;

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Answered by the proxy with a failure instead of being passed on (see
    /// [`ApiProxy::fail_next_writes`], [`ApiProxy::fail_writes_after`], [`ApiProxy::cut_leases`]).
    pub failed: bool,
}

impl Seen {
    /// True for a request that changes something (create, update, patch, delete).
    pub fn is_write(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
    }

    /// True for a request of the Lease API.
    pub fn is_lease(&self) -> bool {
        self.uri.starts_with("/apis/coordination.k8s.io/")
    }
}

/// A running proxy; stops on drop.
#[derive(Debug)]
pub struct ApiProxy {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    /// Holds the kubeconfig that points at the proxy.
    dir: tempfile::TempDir,
}

struct Shared {
    upstream: kube::Client,
    seen: Mutex<Vec<Seen>>,
    leases_cut: AtomicBool,
    writes_to_fail: AtomicUsize,
    failing_after: Mutex<Option<FailAfter>>,
}

/// Writes to fail once another write passed.
#[derive(Debug)]
struct FailAfter {
    /// The write that arms the rule: its path contains this.
    after: String,
    armed: bool,
    /// The writes to fail: their paths end with this.
    ending: String,
    count: usize,
}

impl FailAfter {
    /// Whether `seen` is to be failed; arms the rule on the write it waits for.
    fn fails(&mut self, seen: &Seen) -> bool {
        if !seen.is_write() {
            return false;
        }
        let path = seen.uri.split('?').next().unwrap_or_default();
        if self.armed && self.count > 0 && path.ends_with(&self.ending) {
            self.count -= 1;
            return true;
        }
        if path.contains(&self.after) {
            self.armed = true;
        }
        false
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("leases_cut", &self.leases_cut)
            .finish_non_exhaustive()
    }
}

impl Drop for ApiProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ApiProxy {
    /// Starts a proxy to `cluster`'s API server on a free loopback port.
    pub async fn start(cluster: &Cluster) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("binding the API proxy")?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            upstream: cluster.client().await?,
            seen: Mutex::new(Vec::new()),
            leases_cut: AtomicBool::new(false),
            writes_to_fail: AtomicUsize::new(0),
            failing_after: Mutex::new(None),
        });
        let router = Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let dir = tempfile::tempdir().context("a directory for the proxy's kubeconfig")?;
        let config = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "proxy", "cluster": {"server": url}}],
            "users": [{"name": "proxy", "user": {}}],
            "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "proxy"}}],
            "current-context": "proxy",
        });
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, serde_norway::to_string(&config)?)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(Self {
            url,
            shared,
            task,
            dir,
        })
    }

    /// A kubeconfig that points at this proxy (for a process the test starts).
    pub fn kubeconfig(&self) -> std::path::PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// A client of the API server through this proxy.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let kubeconfig = kube::config::Kubeconfig::read_from(self.kubeconfig())?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// From now on, Lease requests are answered `503` without reaching the API server (`true`),
    /// or pass again (`false`).
    pub fn cut_leases(&self, cut: bool) {
        self.shared.leases_cut.store(cut, Ordering::SeqCst);
    }

    /// The next `count` writes are answered `500 etcdserver: leader changed` without reaching
    /// the API server.
    pub fn fail_next_writes(&self, count: usize) {
        self.shared.writes_to_fail.store(count, Ordering::SeqCst);
    }

    /// Once a write whose path contains `after` has passed, the next `count` writes whose path
    /// ends with `ending` are answered as [`ApiProxy::fail_next_writes`] answers them.
    pub fn fail_writes_after(&self, after: &str, ending: &str, count: usize) {
        *self
            .shared
            .failing_after
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(FailAfter {
            after: after.to_owned(),
            armed: false,
            ending: ending.to_owned(),
            count,
        });
    }

    /// Every request so far, in order of arrival.
    pub fn requests(&self) -> Vec<Seen> {
        self.shared
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let seen = Seen {
        at: Instant::now(),
        method: request.method().to_string(),
        uri: request
            .uri()
            .path_and_query()
            .map_or_else(|| request.uri().path().to_owned(), ToString::to_string),
        failed: false,
    };
    let record = |failed: bool| {
        shared
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Seen {
                failed,
                ..seen.clone()
            });
    };
    if seen.is_lease() && shared.leases_cut.load(Ordering::SeqCst) {
        record(true);
        return (StatusCode::SERVICE_UNAVAILABLE, "cut off by the test").into_response();
    }
    let fail_after = shared
        .failing_after
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_mut()
        .is_some_and(|rule| rule.fails(&seen));
    let fail = fail_after
        || seen.is_write()
            && shared
                .writes_to_fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
    record(fail);
    if fail {
        let status = serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "etcdserver: leader changed", "code": 500,
        });
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            status.to_string(),
        )
            .into_response();
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(err) => return (StatusCode::BAD_REQUEST, err.to_string()).into_response(),
    };
    let mut upstream = axum::http::Request::builder()
        .method(parts.method)
        .uri(seen.uri.as_str());
    for (name, value) in &parts.headers {
        if name != axum::http::header::HOST {
            upstream = upstream.header(name, value);
        }
    }
    let upstream = match upstream.body(kube::client::Body::from(body)) {
        Ok(request) => request,
        Err(err) => return (StatusCode::BAD_REQUEST, err.to_string()).into_response(),
    };
    match shared.upstream.send(upstream).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            Response::from_parts(parts, Body::new(body))
        }
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    }
}
