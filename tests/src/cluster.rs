//! The shared local control plane for a whole test run (see tests/README.md).
//!
//! `cargo nextest` runs every test in its own process, so sharing is cross-process: the first test
//! that needs the cluster takes a file lock, starts it with `tests/cluster/up --no-webhook` into a
//! state directory and releases the lock; every later test (in any process) finds the directory's
//! `cluster.env`, checks the processes are alive and reuses them. `tests/run` stops it at the end.
//!
//! State directory: `$ORKESTRA_CLUSTER_DIR` when set, else `<target dir>/orkestra-cluster`.
//!
//! With `ORKESTRA_TEST_NODE=1` the shared cluster is started with a node (`up --with-node`: kubelet,
//! containerd, runc; a running cluster without one is restarted with one). [`Cluster::node`] says
//! whether the cluster has one.
//!
//! [`Cluster::with_engines`] is a second cluster, shared the same way, where the engines Orkestra
//! drives run for real and nothing plays them (`up --with-node --with-flux --with-argo`): Flux's
//! source-controller and helm-controller, and Argo's workflow-controller running each step as a
//! pod on its node. Its state directory is the first one's with `-engines` appended. The two never
//! see each other's objects, so the tests that decide Flux's and Argo's answers by hand on the
//! first cannot race the real engines.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};

/// How long a test waits for another process that is starting the cluster. Generous: on a fresh
/// machine the first start may build the API server (`tests/cluster/prereqs`, several minutes).
const LOCK_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// A running local control plane: API server, etcd, OCI registry, chart repository.
#[derive(Clone, Debug)]
pub struct Cluster {
    dir: PathBuf,
    kubeconfig: PathBuf,
    registry: String,
    chart_repo: String,
    api_server: String,
    node: Option<String>,
    node_image: Option<String>,
    flux: bool,
    executor_image: Option<String>,
}

/// What a shared cluster runs beyond the control plane (`tests/cluster/up` flags).
#[derive(Clone, Copy, Debug)]
struct Flavor {
    node: bool,
    flux: bool,
    argo: bool,
}

static SHARED: Mutex<Option<Arc<Cluster>>> = Mutex::new(None);
static SHARED_WITH_ENGINES: Mutex<Option<Arc<Cluster>>> = Mutex::new(None);

impl Cluster {
    /// The cluster shared by every test of this run: started on first use, reused after.
    pub async fn shared() -> anyhow::Result<Arc<Cluster>> {
        let node = std::env::var("ORKESTRA_TEST_NODE").is_ok_and(|v| v == "1");
        let flavor = Flavor {
            node,
            flux: false,
            argo: false,
        };
        shared_one(&SHARED, state_dir(), flavor).await
    }

    /// The cluster with real Flux and real Argo on a node, shared by every test of this run that
    /// needs it (see the module documentation).
    pub async fn with_engines() -> anyhow::Result<Arc<Cluster>> {
        let mut dir = state_dir().into_os_string();
        dir.push("-engines");
        let flavor = Flavor {
            node: true,
            flux: true,
            argo: true,
        };
        shared_one(&SHARED_WITH_ENGINES, dir.into(), flavor).await
    }

    /// The image of the executor steps when the cluster runs real Argo (`up --with-argo`): the
    /// workspace's orkestra-controller binary, on the node (`orkestra-controller run
    /// --executor-image`).
    pub fn executor_image(&self) -> Option<&str> {
        self.executor_image.as_deref()
    }

    /// Reads a cluster started by `tests/cluster/up --dir DIR` (DIR/cluster.env), without
    /// starting anything.
    pub fn from_dir(dir: &Path) -> anyhow::Result<Cluster> {
        let env_file = dir.join("cluster.env");
        let text = fs::read_to_string(&env_file)
            .with_context(|| format!("reading {}", env_file.display()))?;
        let get = |key: &str| -> anyhow::Result<String> {
            text.lines()
                .find_map(|l| l.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
                .map(str::to_owned)
                .with_context(|| format!("{} has no {key}", env_file.display()))
        };
        Ok(Cluster {
            dir: dir.to_path_buf(),
            kubeconfig: PathBuf::from(get("KUBECONFIG")?),
            registry: get("ORKESTRA_REGISTRY")?,
            chart_repo: get("ORKESTRA_CHART_REPO")?,
            api_server: get("ORKESTRA_API_SERVER")?,
            node: get("ORKESTRA_NODE").ok().filter(|n| !n.is_empty()),
            node_image: get("ORKESTRA_NODE_IMAGE").ok().filter(|n| !n.is_empty()),
            flux: get("ORKESTRA_FLUX").is_ok_and(|f| f == "true"),
            executor_image: get("ORKESTRA_EXECUTOR_IMAGE")
                .ok()
                .filter(|i| !i.is_empty()),
        })
    }

    /// A new client for the admin user. Make one per test: a client belongs to the tokio runtime
    /// it was made on, and every `#[tokio::test]` has its own.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        Ok(kube::Client::try_from(self.admin_config().await?)?)
    }

    /// The admin user's client configuration (see [`Cluster::client`]).
    pub(crate) async fn admin_config(&self) -> anyhow::Result<kube::Config> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        Ok(kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await?)
    }

    /// The admin kubeconfig (client certificate in system:masters).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The OCI registry, `127.0.0.1:PORT` (plain HTTP, no auth).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The Helm chart repository, `http://127.0.0.1:PORT` (fixture charts from `serve-charts`).
    pub fn chart_repo(&self) -> &str {
        &self.chart_repo
    }

    /// The API server, `https://127.0.0.1:PORT`.
    pub fn api_server(&self) -> &str {
        &self.api_server
    }

    /// The node's name when the cluster was started with one (`tests/cluster/up --with-node`):
    /// a kubelet with containerd, runc and a bridge pod network reachable from this machine only.
    /// No scheduler runs: pods name it in `spec.nodeName`. Nothing can be pulled: pods use a local
    /// image ([`Cluster::node_image`], `imagePullPolicy: Never`).
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// The node's local test image (busybox, `orkestra.test/busybox:1`), when there is a node.
    pub fn node_image(&self) -> Option<&str> {
        self.node_image.as_deref()
    }

    /// The state directory (logs/, pids/, pki/, kubeconfig, cluster.env).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `kubectl` against this cluster (KUBECONFIG set); add arguments and run it.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    /// `kubectl ARGS -f -` against this cluster with `object` on its standard input (as JSON, which
    /// kubectl reads as it reads YAML); what it printed once it exited.
    pub fn kubectl_with_object(
        &self,
        args: &[&str],
        object: &serde_json::Value,
    ) -> anyhow::Result<Output> {
        let mut child = self
            .kubectl()
            .args(args)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting kubectl")?;
        let mut stdin = child.stdin.take().context("kubectl's standard input")?;
        stdin
            .write_all(object.to_string().as_bytes())
            .context("writing the object to kubectl")?;
        drop(stdin);
        child.wait_with_output().context("waiting for kubectl")
    }

    /// A cluster reused across `cargo nextest` invocations may predate a regenerated
    /// chart/crds/applicationgroups.yaml: re-apply it when its hash differs from the installed one.
    fn refresh_application_group_crd(&self) -> anyhow::Result<()> {
        let crd = repo_root().join("chart/crds/applicationgroups.yaml");
        let Ok(bytes) = fs::read(&crd) else {
            return Ok(());
        };
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        let env_file = self.dir.join("cluster.env");
        let env = fs::read_to_string(&env_file)?;
        if env
            .lines()
            .any(|l| l == format!("ORKESTRA_AG_CRD_SHA256={sha}"))
        {
            return Ok(());
        }
        let apply = self
            .kubectl()
            .args([
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=orkestra-test-cluster",
                "-f",
            ])
            .arg(&crd)
            .output()?;
        if !apply.status.success() {
            bail!(
                "re-applying {}: {}",
                crd.display(),
                String::from_utf8_lossy(&apply.stderr)
            );
        }
        let established = self
            .kubectl()
            .args(["wait", "--for", "condition=established", "--timeout=30s"])
            .args(["crd", "applicationgroups.orkestra.azure.microsoft.com"])
            .output()?;
        if !established.status.success() {
            bail!(
                "the re-applied ApplicationGroup CRD is not established: {}",
                String::from_utf8_lossy(&established.stderr)
            );
        }
        let mut lines: Vec<String> = env
            .lines()
            .filter(|l| !l.starts_with("ORKESTRA_AG_CRD_SHA256="))
            .map(str::to_owned)
            .collect();
        lines.push(format!("ORKESTRA_AG_CRD_SHA256={sha}"));
        fs::write(&env_file, lines.join("\n") + "\n")?;
        Ok(())
    }

    /// Whether every process (the node's too, when it has one) is alive and the API server answers
    /// /readyz.
    fn is_healthy(&self) -> bool {
        let node: &[&str] = if self.node.is_some() {
            &["containerd", "kubelet"]
        } else {
            &[]
        };
        let flux: &[&str] = if self.flux {
            &["source-controller", "helm-controller"]
        } else {
            &[]
        };
        let argo: &[&str] = if self.executor_image.is_some() {
            &["workflow-controller"]
        } else {
            &[]
        };
        [
            "etcd",
            "apiserver",
            "controller-manager",
            "registry",
            "charts",
        ]
        .iter()
        .chain(node)
        .chain(flux)
        .chain(argo)
        .all(|name| pid_alive(&self.dir.join("pids").join(format!("{name}.pid"))))
            && self
                .kubectl()
                .args(["get", "--raw", "/readyz", "--request-timeout=5s"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    }
}

/// A name no other test (in this or another process of the run) uses: `prefix-<pid>-<n>-<time>`,
/// cut to a valid DNS-1123 label (at most 63 characters).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let suffix = format!("-{:x}-{n}-{:x}", std::process::id(), nanos % 0x1_0000);
    let prefix: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63 - suffix.len())
        .collect();
    let prefix = prefix.trim_matches('-');
    format!("{}{suffix}", if prefix.is_empty() { "t" } else { prefix })
}

/// The repository root (tests/ is one level down).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// `$ORKESTRA_CLUSTER_DIR`, else `<target dir>/orkestra-cluster`.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ORKESTRA_CLUSTER_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    target.join("orkestra-cluster")
}

/// The cluster of `slot`, started (or found running) in `dir` on first use.
async fn shared_one(
    slot: &Mutex<Option<Arc<Cluster>>>,
    dir: PathBuf,
    flavor: Flavor,
) -> anyhow::Result<Arc<Cluster>> {
    let poisoned = || anyhow::anyhow!("cluster mutex poisoned");
    if let Some(cluster) = slot.lock().map_err(|_| poisoned())?.clone() {
        return Ok(cluster);
    }
    let cluster = tokio::task::spawn_blocking(move || start_or_reuse(&dir, flavor)).await??;
    let cluster = Arc::new(cluster);
    *slot.lock().map_err(|_| poisoned())? = Some(cluster.clone());
    Ok(cluster)
}

fn start_or_reuse(dir: &Path, flavor: Flavor) -> anyhow::Result<Cluster> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock_path = dir.join(".lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    let deadline = Instant::now() + LOCK_TIMEOUT;
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                bail!(
                    "another process held {} for {LOCK_TIMEOUT:?} (stuck cluster start?)",
                    lock_path.display()
                )
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).context(format!("locking {}", lock_path.display()));
            }
        }
    }
    // The lock is released when `lock` is dropped, including on every error path below.
    if let Ok(cluster) = Cluster::from_dir(dir)
        && cluster.is_healthy()
        && (!flavor.node || cluster.node.is_some())
        && (!flavor.flux || cluster.flux)
        && (!flavor.argo || cluster.executor_image.is_some())
    {
        cluster.refresh_application_group_crd()?;
        return Ok(cluster);
    }
    let up = repo_root().join("tests/cluster/up");
    let log_path = dir.with_extension("up.log");
    let log =
        File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let status = Command::new(&up)
        .args(["--dir".as_ref(), dir.as_os_str(), "--no-webhook".as_ref()])
        .args(flavor.node.then_some("--with-node"))
        .args(flavor.flux.then_some("--with-flux"))
        .args(flavor.argo.then_some("--with-argo"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .with_context(|| format!("running {}", up.display()))?;
    if !status.success() {
        let text = fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = text
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        bail!(
            "{} --dir {} failed ({status}); last lines of {}:\n{}",
            up.display(),
            dir.display(),
            log_path.display(),
            tail.join("\n")
        );
    }
    drop(lock);
    Cluster::from_dir(dir)
}

fn pid_alive(pid_file: &Path) -> bool {
    let Ok(pid) = fs::read_to_string(pid_file) else {
        return false;
    };
    let pid = pid.trim();
    !pid.is_empty() && Path::new("/proc").join(pid).exists()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_are_unique_dns_labels() {
        let a = unique_name("Cluster_Test");
        let b = unique_name("Cluster_Test");
        assert_ne!(a, b);
        for name in [a, b, unique_name(&"x".repeat(100)), unique_name("--")] {
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            assert!(!name.starts_with('-') && !name.ends_with('-'), "{name}");
        }
    }
}
