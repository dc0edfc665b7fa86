//! The real ChartMuseum (v0.16.3, built from its Go module by `tests/cluster/prereqs
//! --with-engines`, see [`crate::engines`]), not a play of its API: started on 127.0.0.1 on a free
//! port with local storage in a directory it owns (or shares with another instance, as replicas
//! behind one Service do), optional basic auth and multitenancy. Killed on drop.
//!
//! Its output goes to `target/chartmuseum-logs/` (next to the cluster state directory), and
//! [`ChartMuseum::log`] gives it for failure messages.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::engines::Engines;

/// How long ChartMuseum may take to answer `/health` (it indexes its storage first).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How ChartMuseum lays out repositories (`--depth`, `--depth-dynamic`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Tenancy {
    /// One repository at `/` (the default, `--depth 0`).
    #[default]
    Single,
    /// Repositories `depth` path segments deep: `/org/team/index.yaml`, `/api/org/team/charts`.
    Depth(u32),
    /// Repositories at any depth (`--depth-dynamic`).
    Dynamic,
}

/// How to start ChartMuseum.
#[derive(Debug, Clone, Default)]
pub struct MuseumOptions {
    /// Required basic-auth user and password (`--basic-auth-user`, `--basic-auth-pass`).
    pub basic_auth: Option<(String, String)>,
    /// Multitenancy.
    pub tenancy: Tenancy,
    /// Serve everything under this path (`--context-path`, e.g. `/charts`), as behind a proxy.
    pub context_path: Option<String>,
    /// Use this storage directory instead of a fresh one (another instance's
    /// [`ChartMuseum::storage_dir`]): a second replica over the same storage.
    pub shared_storage: Option<PathBuf>,
}

/// A running ChartMuseum.
#[derive(Debug)]
pub struct ChartMuseum {
    port: u16,
    context_path: String,
    storage_dir: PathBuf,
    log_path: PathBuf,
    child: Child,
    /// The storage directory when this instance owns it.
    _storage: Option<tempfile::TempDir>,
}

impl Drop for ChartMuseum {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChartMuseum {
    /// Starts ChartMuseum as configured and waits until `/health` answers.
    pub async fn start(options: MuseumOptions) -> anyhow::Result<Self> {
        let MuseumOptions {
            basic_auth,
            tenancy,
            context_path,
            shared_storage,
        } = options;
        let binary = Engines::find()?.binary("chartmuseum");
        anyhow::ensure!(
            binary.exists(),
            "{} is missing: run tests/cluster/prereqs --with-engines",
            binary.display()
        );
        let (storage, storage_dir) = match shared_storage {
            Some(dir) => (None, dir),
            None => {
                let dir = tempfile::tempdir()?;
                let path = dir.path().to_path_buf();
                (Some(dir), path)
            }
        };
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let logs = crate::cluster::state_dir().with_file_name("chartmuseum-logs");
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        let log_path = logs.join(format!("{}.log", crate::unique_name("chartmuseum")));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;

        let mut command = Command::new(&binary);
        command
            .args(["--storage", "local", "--storage-local-rootdir"])
            .arg(&storage_dir)
            .args(["--listen-host", "127.0.0.1", "--port", &port.to_string()])
            // NB: no `?force` re-uploads: a version once stored stays as it is, as in production.
            .arg("--disable-force-overwrite");
        match tenancy {
            Tenancy::Single => {}
            Tenancy::Depth(depth) => {
                command.args(["--depth", &depth.to_string()]);
            }
            Tenancy::Dynamic => {
                command.arg("--depth-dynamic");
            }
        }
        let context_path = context_path
            .map(|p| format!("/{}", p.trim_matches('/')))
            .unwrap_or_default();
        if !context_path.is_empty() {
            command.args(["--context-path", &context_path]);
        }
        if let Some((user, password)) = &basic_auth {
            // NB: through the environment, so the password is not on a process list.
            command
                .env("BASIC_AUTH_USER", user)
                .env("BASIC_AUTH_PASS", password);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut museum = Self {
            port,
            context_path,
            storage_dir,
            log_path,
            child,
            _storage: storage,
        };
        museum.wait_ready().await?;
        Ok(museum)
    }

    /// `http://127.0.0.1:PORT` (with the context path, when one is set): the repository of a
    /// single-tenant ChartMuseum, and the base of tenants' URLs.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.context_path)
    }

    /// The URL of tenant repository `repo` (`org/team`): `{url}/org/team`.
    pub fn tenant_url(&self, repo: &str) -> String {
        format!("{}/{}", self.url(), repo.trim_matches('/'))
    }

    /// Where the chart archives are stored (tenants in subdirectories).
    pub fn storage_dir(&self) -> &Path {
        &self.storage_dir
    }

    /// What ChartMuseum has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path)
            .unwrap_or_else(|err| format!("<{}: {err}>", self.log_path.display()))
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let health = format!("127.0.0.1:{}", self.port);
        let path = format!("{}/health", self.context_path);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("chartmuseum exited with {status}:\n{}", self.log());
            }
            if health_ok(&health, &path).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "chartmuseum did not answer http://{health}{path} within {}s:\n{}",
                    READY_TIMEOUT.as_secs(),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// True when `GET path` on `host` answers 200 (a bare HTTP/1.0 request: no client crate needed).
async fn health_ok(host: &str, path: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(host).await else {
        return false;
    };
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.is_ok() && head.ends_with(b"200")
}
