//! `orkestra-webhook serve`: wires the certificate, the policy, the two listeners and the reload timer,
//! and shuts down gracefully on SIGTERM or SIGINT.

use crate::admin::{self, AdminState};
use crate::args::ServeArgs;
use crate::cert_resolver::{CertFiles, CertResolver};
use crate::handlers::{self, AdmissionState};
use crate::limits::Limits;
use crate::listener;
use crate::logging;
use crate::metrics::Metrics;
use crate::policy_watch::{PolicyFile, PolicyStore};
use crate::secret_access::SecretAccess;
use anyhow::Context;
use orkestra_shared::policy::Policy;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Everything `serve` needs; built from the command line, or directly by tests.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub policy: Option<PathBuf>,
    pub reload_interval: Duration,
    pub limits: Limits,
    /// The Secret access check, when on.
    pub secret_access: Option<SecretAccess>,
    /// The only requester that may set the last-successful annotation.
    pub controller_username: Option<String>,
}

/// The `serve` subcommand: runs until SIGTERM or SIGINT, then drains and returns.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        listen,
        admin_listen,
        tls_cert,
        tls_key,
        policy,
        log_format,
        reload_interval,
        check_secret_access,
        secret_namespace,
        controller_username,
        shutdown_delay,
    } = args;
    logging::init(log_format);
    let secret_access = if check_secret_access {
        let client = kube::Client::try_default().await.context(
            "connecting to the Kubernetes API for --check-secret-access (turn it off with --check-secret-access=false)",
        )?;
        Some(SecretAccess {
            client,
            default_namespace: secret_namespace,
        })
    } else {
        None
    };
    let config = ServeConfig {
        listen,
        admin_listen,
        tls_cert,
        tls_key,
        policy,
        reload_interval,
        limits: Limits::default(),
        secret_access,
        controller_username,
    };
    let shutdown = CancellationToken::new();
    let server = start(config, shutdown.clone()).await?;
    tracing::info!(listen = %server.tls_addr, admin = %server.admin_addr, "orkestra-webhook serving");
    shutdown_signal().await?;
    tracing::info!(delay = ?shutdown_delay, "shutdown signal received: not ready, still accepting reviews until the delay has passed");
    server.stop_being_ready();
    tokio::time::sleep(shutdown_delay).await;
    shutdown.cancel();
    server.wait().await
}

/// A running server: where it listens, and its tasks.
#[derive(Debug)]
pub struct RunningServer {
    pub tls_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    stopping: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// `/readyz` says "shutting down" from now on; reviews are still served.
    pub fn stop_being_ready(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Waits for the listeners and the reload timer to stop (after the shutdown token fired).
    pub async fn wait(self) -> anyhow::Result<()> {
        for task in self.tasks {
            task.await.context("a server task failed")?;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Loads what it can, binds both listeners and serves until `shutdown` fires. A missing or bad
/// certificate or policy does not stop the start: the server reports not ready and keeps polling.
pub async fn start(
    config: ServeConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<RunningServer> {
    let ServeConfig {
        listen,
        admin_listen,
        tls_cert,
        tls_key,
        policy,
        reload_interval,
        limits,
        secret_access,
        controller_username,
    } = config;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let metrics = Arc::new(Metrics::new());
    let resolver = Arc::new(CertResolver::default());
    let mut cert_files = CertFiles::new(tls_cert, tls_key);
    cert_files.reload_if_changed(&resolver, &provider, &metrics);
    let (store, mut policy_file) = match policy {
        Some(path) => (
            Arc::new(PolicyStore::default()),
            Some(PolicyFile::new(path)),
        ),
        None => (Arc::new(PolicyStore::with(Policy::default())), None),
    };
    if let Some(file) = policy_file.as_mut() {
        file.reload_if_changed(&store, &metrics);
    }

    let tls = Arc::new(
        crate::tls::server_config(resolver.clone(), provider.clone())
            .context("TLS configuration")?,
    );
    let tls_listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let admin_listener = TcpListener::bind(admin_listen)
        .await
        .with_context(|| format!("cannot listen on {admin_listen}"))?;
    let (tls_addr, admin_addr) = (tls_listener.local_addr()?, admin_listener.local_addr()?);

    let app = handlers::router(
        AdmissionState {
            policy: store.clone(),
            metrics: metrics.clone(),
            secret_access: secret_access.map(Arc::new),
            controller_username: controller_username.map(Arc::from),
        },
        &limits,
    );
    let stopping = Arc::new(AtomicBool::new(false));
    let admin_app = admin::router(AdminState {
        certificate: resolver.clone(),
        policy: store.clone(),
        metrics: metrics.clone(),
        stopping: stopping.clone(),
    });
    let admission = tokio::spawn(listener::serve_tls(
        tls_listener,
        tls,
        app,
        limits,
        shutdown.clone(),
    ));
    let admin_shutdown = shutdown.clone();
    let admin = tokio::spawn(async move {
        let served = axum::serve(admin_listener, admin_app)
            .with_graceful_shutdown(admin_shutdown.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "admin listener failed");
        }
    });
    let reload_metrics = metrics.clone();
    let reload = tokio::spawn(async move {
        let mut timer = tokio::time::interval(reload_interval);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = timer.tick() => {}
            }
            // Small files, read on a blocking thread so a slow volume never stalls the runtime.
            let (resolver, store, metrics, provider) = (
                resolver.clone(),
                store.clone(),
                reload_metrics.clone(),
                provider.clone(),
            );
            let (files, policy) = (cert_files, policy_file);
            let reloaded = tokio::task::spawn_blocking(move || {
                let (mut files, mut policy) = (files, policy);
                files.reload_if_changed(&resolver, &provider, &metrics);
                if let Some(file) = policy.as_mut() {
                    file.reload_if_changed(&store, &metrics);
                }
                (files, policy)
            })
            .await;
            match reloaded {
                Ok((files, policy)) => (cert_files, policy_file) = (files, policy),
                Err(error) => {
                    tracing::error!(%error, "reload task failed; certificate and policy are no longer re-read");
                    break;
                }
            }
        }
    });
    Ok(RunningServer {
        tls_addr,
        admin_addr,
        metrics,
        stopping,
        tasks: vec![admission, admin, reload],
    })
}

async fn shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        _ = terminate.recv() => {}
        interrupted = tokio::signal::ctrl_c() => interrupted.context("cannot listen for SIGINT")?,
    }
    Ok(())
}
