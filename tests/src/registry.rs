//! A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution) on a free
//! loopback port with a temporary storage directory. Killed on drop.
//!
//! Install it with `controller/tests/prereqs` (`apt-get install docker-registry`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

pub mod token;

/// How the registry authenticates clients.
#[derive(Debug, Clone, Copy)]
enum Auth<'a> {
    Anonymous,
    /// htpasswd (bcrypt) basic auth.
    Basic(&'a str, &'a str),
    /// Bearer tokens from a [`token::TokenServer`] that knows this user.
    Token(&'a str, &'a str),
}

/// Where to find the binary: `$ORKESTRA_DOCKER_REGISTRY`, else `docker-registry` on PATH or in
/// /usr/bin.
fn binary() -> anyhow::Result<String> {
    if let Ok(path) = std::env::var("ORKESTRA_DOCKER_REGISTRY") {
        return Ok(path);
    }
    for candidate in ["/usr/bin/docker-registry", "/usr/local/bin/docker-registry"] {
        if std::path::Path::new(candidate).exists() {
            return Ok(candidate.to_owned());
        }
    }
    bail!(
        "docker-registry is not installed: run controller/tests/prereqs (apt-get install docker-registry) \
         or set ORKESTRA_DOCKER_REGISTRY"
    )
}

/// A running registry.
#[derive(Debug)]
pub struct Registry {
    /// `127.0.0.1:<port>`.
    pub host: String,
    child: Child,
    _storage: tempfile::TempDir,
    _token_server: Option<token::TokenServer>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Starts a writable registry.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(false, Auth::Anonymous).await
    }

    /// Starts a registry in read-only (maintenance) mode: every push is refused.
    pub async fn start_read_only() -> anyhow::Result<Self> {
        Self::start_with(true, Auth::Anonymous).await
    }

    /// Starts a writable registry that requires HTTP basic auth (htpasswd, bcrypt).
    pub async fn start_with_basic_auth(user: &str, password: &str) -> anyhow::Result<Self> {
        Self::start_with(false, Auth::Basic(user, password)).await
    }

    /// Starts a writable registry that requires bearer tokens, with a token server issuing them
    /// to `user`/`password` (the challenge flow of Docker Hub, GHCR, Harbor).
    pub async fn start_with_token_auth(user: &str, password: &str) -> anyhow::Result<Self> {
        Self::start_with(false, Auth::Token(user, password)).await
    }

    /// `oci://127.0.0.1:<port>/<path>`.
    pub fn oci_url(&self, path: &str) -> String {
        format!("oci://{}/{}", self.host, path.trim_matches('/'))
    }

    /// `http://127.0.0.1:<port>`, for direct API calls.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.host)
    }

    async fn start_with(read_only: bool, auth: Auth<'_>) -> anyhow::Result<Self> {
        let binary = binary()?;
        let storage = tempfile::tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let host = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    \
             rootdirectory: {root}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      \
             enabled: false\n    readonly:\n      enabled: {read_only}\nhttp:\n  addr: {host}\n",
            root = storage.path().join("data").display(),
        );
        let mut config = config;
        let mut token_server = None;
        match auth {
            Auth::Anonymous => {}
            Auth::Basic(user, password) => {
                // Cost 4, the minimum: the registry checks the hash on every request.
                let hash = bcrypt::hash(password, 4)?;
                let htpasswd = storage.path().join("htpasswd");
                std::fs::write(&htpasswd, format!("{user}:{hash}\n"))?;
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: orkestra-test\n    path: {}\n",
                    htpasswd.display()
                ));
            }
            Auth::Token(user, password) => {
                let server = token::TokenServer::start(user, password).await?;
                let bundle = storage.path().join("token-issuer.pem");
                std::fs::write(&bundle, &server.cert_pem)?;
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    server.realm,
                    token::SERVICE,
                    token::ISSUER,
                    bundle.display()
                ));
                token_server = Some(server);
            }
        }
        let config_path = storage.path().join("config.yml");
        std::fs::write(&config_path, config)?;
        let log = std::fs::File::create(storage.path().join("registry.log"))?;
        let child = Command::new(&binary)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        let mut registry = Self {
            host,
            child,
            _storage: storage,
            _token_server: token_server,
        };
        registry.wait_ready().await?;
        Ok(registry)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let url = format!("{}/v2/", self.http_url());
        loop {
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(self._storage.path().join("registry.log"))
                    .unwrap_or_default();
                bail!("docker-registry exited with {status}: {log}");
            }
            if probe(&url).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("docker-registry did not answer {url} within 15s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// True when `GET url` answers 200, or 401 from a registry requiring auth (a bare HTTP/1.0
/// request: no client crate needed).
async fn probe(url: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut stream) = tokio::net::TcpStream::connect(host).await else {
        return false;
    };
    let request = format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.is_ok() && (head.ends_with(b"200") || head.ends_with(b"401"))
}
