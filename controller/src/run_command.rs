//! `orkestra-controller run`: the reconciler, with leader election and the admin server.
//!
//! Order: the admin server starts first (liveness at once; `/readyz` turns ready once the API
//! server has answered, on every replica, leader or standby, so that a rolling update of the
//! Deployment is not held up by its standbys; which replica leads is the `orkestra_leader` metric
//! and a log line), then leader election waits for the Lease, then the Controller runs until
//! SIGTERM/SIGINT or leadership is lost.
//!
//! On SIGTERM in-flight reconciles finish, then the Lease is released so a standby takes over at
//! once. On losing the Lease reconciling stops at once: the in-flight reconciles are dropped
//! before their next write, because another replica may already be writing the same groups. Then
//! the process exits with an error, so the pod restarts and stands by again rather than keeping a
//! replica that silently does nothing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::plan_config_args::PlanConfigArgs;
use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;
use orkestra_controller::reconcile::{self, Context, Metrics, ReconcilerConfig};
use orkestra_controller::staging::cache::CacheArgs;
use orkestra_controller::staging::cli::ReadArgs;
use orkestra_controller::staging::{Credentials, Stager, StagerConfig};
use orkestra_controller::{admin, leader};
use tokio_util::sync::CancellationToken;

/// Arguments of the `run` subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Staging repository the charts are pushed to: oci://HOST/PATH (an OCI registry) or
    /// https://CHARTMUSEUM[/TENANT] (a ChartMuseum repository; a path is a multitenant
    /// ChartMuseum's repository or its --context-path).
    #[arg(long, env = "ORKESTRA_STAGING_URL")]
    pub staging: String,

    /// A Secret with the staging repository's credentials (Flux's layout: username/password,
    /// ca.crt, tls.crt/tls.key), in the namespace of the staging HelmRepository, which names it as
    /// its `secretRef` so Flux pulls with them too. Read at start.
    #[arg(long, env = "ORKESTRA_STAGING_CREDENTIALS_SECRET")]
    pub staging_credentials_secret: Option<String>,

    /// The chart cache.
    #[command(flatten)]
    pub chart_cache: CacheArgs,

    /// Size limits and plain-HTTP registries for staging.
    #[command(flatten)]
    pub reads: ReadArgs,

    /// Workflow settings.
    #[command(flatten)]
    pub workflow: PlanConfigArgs,

    /// Namespace of an authSecretRef that names none (default: the workflow namespace).
    #[arg(long, env = "ORKESTRA_SECRET_NAMESPACE")]
    pub secret_namespace: Option<String>,

    /// A namespace, besides --secret-namespace, that authSecretRef may name; repeatable, or
    /// comma-separated in the variable. Secrets anywhere else are never read.
    #[arg(
        long = "allowed-secret-namespace",
        env = "ORKESTRA_ALLOWED_SECRET_NAMESPACES",
        value_delimiter = ','
    )]
    pub allowed_secret_namespaces: Vec<String>,

    /// Only reconcile ApplicationGroups matching this label selector (e.g. to shard, or in tests).
    #[arg(long, env = "ORKESTRA_GROUP_SELECTOR")]
    pub selector: Option<String>,

    /// Most groups reconciled at once.
    #[arg(long, env = "ORKESTRA_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// Address of the admin server (/healthz, /readyz, /metrics).
    #[arg(long, env = "ORKESTRA_ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    pub admin_addr: SocketAddr,

    /// Name of the leader-election Lease.
    #[arg(
        long,
        env = "ORKESTRA_LEASE_NAME",
        default_value = "orkestra-controller"
    )]
    pub lease_name: String,

    /// Namespace of the Lease (default: the workflow namespace).
    #[arg(long, env = "ORKESTRA_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,

    /// This replica's identity in the Lease, unique per replica (the pod name; default
    /// `<hostname>-<pid>`).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// How long the Lease stays valid without renewal (a Go duration).
    #[arg(long, env = "ORKESTRA_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,

    /// How often the leader renews the Lease (shorter than --lease-duration).
    #[arg(long, env = "ORKESTRA_LEASE_RENEW", default_value = "5s", value_parser = parse_duration)]
    pub lease_renew: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    orkestra_shared::duration::parse(text)
}

/// Runs the controller until SIGTERM/SIGINT (Ok) or until leadership is lost (Err).
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let RunArgs {
        staging,
        staging_credentials_secret,
        chart_cache,
        reads,
        workflow,
        secret_namespace,
        allowed_secret_namespaces,
        selector,
        concurrency,
        admin_addr,
        lease_name,
        lease_namespace,
        identity,
        lease_duration,
        lease_renew,
    } = args;
    // NB: checked before anything runs: found only when the Lease is taken, it stopped replicas
    // that had already reported ready.
    if lease_renew.is_zero() || lease_renew >= lease_duration {
        anyhow::bail!(
            "--lease-renew {}s must be more than zero and shorter than --lease-duration {}s",
            lease_renew.as_secs_f64(),
            lease_duration.as_secs_f64()
        );
    }
    // NB: bound before anything else runs: an address in use stops the controller at start (the
    // server's task ended with the error unseen, and only the liveness probe noticed).
    let admin_listener = tokio::net::TcpListener::bind(admin_addr)
        .await
        .with_context(|| format!("--admin-addr {admin_addr}: cannot listen"))?;
    let identity = identity.unwrap_or_else(default_identity);
    let (limits, plain_http) = reads.into_parts();
    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;
    let plan = workflow.into_config();
    let staging_credentials = match &staging_credentials_secret {
        Some(name) => Some(
            read_credentials(&client, &plan.staging_source.namespace, name)
                .await
                .with_context(|| format!("--staging-credentials-secret {name}"))?,
        ),
        None => None,
    };
    let stager = Stager::new(StagerConfig {
        staging_url: staging,
        staging_credentials,
        cache: chart_cache.into_cache(),
        limits,
        plain_http,
    })?;
    let workflow_namespace = plan.workflow_namespace.clone();
    let secret_namespace = secret_namespace.unwrap_or_else(|| workflow_namespace.clone());
    let mut allowed_secret_namespaces = allowed_secret_namespaces;
    allowed_secret_namespaces.push(secret_namespace.clone());
    let config = ReconcilerConfig {
        plan,
        secret_namespace,
        allowed_secret_namespaces,
        staging_credentials_secret,
        group_selector: selector,
        concurrency,
        identity: identity.clone(),
    };

    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Metrics::new(&mut registry);
    let registry = Arc::new(registry);
    let ready = Arc::new(AtomicBool::new(false));
    let shutdown = CancellationToken::new();
    let admin_task = tokio::spawn(admin::serve(
        admin_listener,
        registry,
        ready.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(cancel_on_signal(shutdown.clone()));

    tokio::select! {
        () = wait_for_api(&client) => ready.store(true, Ordering::SeqCst),
        () = shutdown.cancelled() => {
            let _ = admin_task.await;
            return Ok(());
        }
    }
    metrics.set_leader(false);
    tracing::info!(%identity, "standing by for the Lease");

    let lease = leader::LeaseConfig {
        name: lease_name,
        namespace: lease_namespace.unwrap_or(workflow_namespace),
        identity: identity.clone(),
        lease_duration,
        renew_every: lease_renew,
    };
    let leadership = tokio::select! {
        leadership = leader::acquire(client.clone(), lease) => leadership?,
        () = shutdown.cancelled() => {
            tracing::info!("shut down before leading");
            let _ = admin_task.await;
            return Ok(());
        }
    };
    let lost = leadership.lost();
    metrics.set_leader(true);
    tracing::info!(%identity, "leading: reconciling ApplicationGroups");

    let ctx = Arc::new(Context::new(client, config, stager, metrics));
    let drain = shutdown.clone();
    let reconciling = reconcile::run(ctx.clone(), async move { drain.cancelled().await });
    // NB: biased, loss first: when the Lease is lost, the reconciler (and with it every in-flight
    // reconcile) is dropped here, at its next await, rather than drained.
    tokio::select! {
        biased;
        () = lost.cancelled() => {
            ctx.stop_writing();
            tracing::warn!(%identity, "leadership lost: reconciling stopped, in-flight reconciles cancelled");
        }
        () = reconciling => {}
    }
    ctx.metrics.set_leader(false);
    ready.store(false, Ordering::SeqCst);

    let was_lost = lost.is_cancelled() && !shutdown.is_cancelled();
    leadership.release().await;
    shutdown.cancel();
    let _ = admin_task.await;
    anyhow::ensure!(
        !was_lost,
        "leadership lost: exiting so that this replica stands by again"
    );
    tracing::info!("shut down");
    Ok(())
}

/// The credentials in Secret `namespace/name`.
async fn read_credentials(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> anyhow::Result<Credentials> {
    let secret = kube::Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .with_context(|| format!("reading Secret {namespace}/{name}"))?
        .with_context(|| format!("Secret {namespace}/{name} does not exist"))?;
    Ok(Credentials::from_secret(&secret))
}

/// Returns once the API server answers (retrying every few seconds): a replica that cannot reach
/// it is not ready.
async fn wait_for_api(client: &kube::Client) {
    loop {
        match client.apiserver_version().await {
            Ok(_) => return,
            Err(err) => tracing::warn!(error = %err, "the API server does not answer yet"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// `<hostname>-<pid>`: unique per process on a machine (and per pod, where POD_NAME is preferred).
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "orkestra".to_owned());
    format!("{host}-{}", std::process::id())
}

/// Cancels `token` on SIGTERM or SIGINT.
async fn cancel_on_signal(token: CancellationToken) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!("cannot listen for SIGTERM: {err}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = term => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
    }
    token.cancel();
}
