//! Test helpers: fixtures, certificates generated on the fly, a server on loopback and a small
//! HTTPS/1.1 client that also reports the certificate the server presented.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use orkestra_webhook::cert_info::CertInfo;
use orkestra_webhook::limits::Limits;
use orkestra_webhook::serve::{RunningServer, ServeConfig, start};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

// ---------- fixtures ----------

pub fn app(name: &str, dependencies: &[&str]) -> Value {
    json!({
        "name": name,
        "dependencies": dependencies,
        "spec": {
            "chart": {"url": "https://charts.example.com", "name": name, "version": "1.0.0"},
            "release": {"targetNamespace": name},
        },
    })
}

pub fn group(name: &str, applications: Vec<Value>) -> Value {
    json!({
        "apiVersion": "orkestra.azure.microsoft.com/v1alpha1",
        "kind": "ApplicationGroup",
        "metadata": {"name": name},
        "spec": {"applications": applications},
    })
}

/// A group of `n` applications in a chain of dependencies, each with some values: the load-test shape.
pub fn big_group(n: usize) -> Value {
    let apps = (0..n)
        .map(|i| {
            let name = format!("app-{i}");
            let previous = [format!("app-{}", i.saturating_sub(1))];
            let dependencies: Vec<&str> = previous
                .iter()
                .take(usize::from(i > 0))
                .map(String::as_str)
                .collect();
            let mut app = app(&name, &dependencies);
            app["spec"]["release"]["values"] =
                json!({"replicaCount": 2, "image": {"tag": "1.2.3"}});
            app
        })
        .collect();
    group("big", apps)
}

pub fn review(operation: &str, object: Option<Value>, old_object: Option<Value>) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "orkestra.azure.microsoft.com", "version": "v1alpha1", "kind": "ApplicationGroup"},
            "resource": {"group": "orkestra.azure.microsoft.com", "version": "v1alpha1", "resource": "applicationgroups"},
            "name": "bookinfo",
            "operation": operation,
            "userInfo": {"username": "admin", "groups": ["system:masters"]},
            "object": object,
            "oldObject": old_object,
            "dryRun": false,
        },
    })
}

pub fn create(object: Value) -> Value {
    review("CREATE", Some(object), None)
}

// ---------- certificates ----------

pub struct Ca {
    pub cert: rcgen::Certificate,
    pub key: rcgen::KeyPair,
}

impl Ca {
    pub fn root(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    pub fn intermediate(&self, name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Ca { cert, key }
    }

    /// A serving certificate for `localhost` with `serial`: (cert PEM, key PEM).
    pub fn leaf(&self, serial: u64) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.serial_number = Some(rcgen::SerialNumber::from(serial));
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }
}

pub fn write_pair(dir: &Path, cert_pem: &str, key_pem: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    (cert, key)
}

// ---------- server ----------

pub struct TestServer {
    pub running: Option<RunningServer>,
    pub tls_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub shutdown: CancellationToken,
}

impl TestServer {
    pub async fn start(
        cert: PathBuf,
        key: PathBuf,
        policy: Option<PathBuf>,
        limits: Limits,
    ) -> TestServer {
        let config = ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_listen: "127.0.0.1:0".parse().unwrap(),
            tls_cert: cert,
            tls_key: key,
            policy,
            reload_interval: Duration::from_millis(50),
            limits,
            secret_access: None,
            controller_username: None,
        };
        let shutdown = CancellationToken::new();
        let running = start(config, shutdown.clone()).await.unwrap();
        TestServer {
            tls_addr: running.tls_addr,
            admin_addr: running.admin_addr,
            running: Some(running),
            shutdown,
        }
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(running) = self.running.take() {
            tokio::time::timeout(Duration::from_secs(20), running.wait())
                .await
                .unwrap()
                .unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

// ---------- client ----------

pub fn client_config(root: CertificateDer<'static>, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // Every connection a full handshake: a resumed session shows the certificate of the session it
    // resumes, which would hide a rotation.
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: Vec<u8>,
    /// Serial of the certificate the server presented.
    pub serial: String,
}

impl HttpAnswer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

pub async fn tls_connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// One HTTP/1.1 request on a fresh TLS connection (so every call makes a new handshake).
pub async fn post(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    path: &str,
    body: &[u8],
) -> std::io::Result<HttpAnswer> {
    let mut tls = tls_connect(addr, config).await?;
    let serial = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| CertInfo::from_der(c))
        .map(|i| i.serial)
        .unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await?;
    // The server may answer (413) and close before the whole body is sent: read the answer anyway.
    let sent = async {
        tls.write_all(body).await?;
        tls.flush().await
    }
    .await;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw).await {
        Ok(_) => {}
        Err(_) if !raw.is_empty() => {}
        Err(e) => return Err(sent.err().unwrap_or(e)),
    }
    let mut answer = parse_http(&raw)?;
    answer.serial = serial;
    Ok(answer)
}

pub fn parse_http(raw: &[u8]) -> std::io::Result<HttpAnswer> {
    let bad = |what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{what}: {}", String::from_utf8_lossy(raw)),
        )
    };
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("head not UTF-8"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok(HttpAnswer {
        status,
        body,
        serial: String::new(),
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
    out
}

/// GET on the plain-HTTP admin listener: (status, body).
pub async fn admin_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.unwrap();
    let answer = parse_http(&raw).unwrap();
    (answer.status, String::from_utf8(answer.body).unwrap())
}

/// A CA, a leaf written to `dir`, and a running server using them.
pub async fn server_with_fresh_certs(dir: &Path, limits: Limits) -> (Ca, TestServer) {
    let ca = Ca::root("test root");
    let (cert_pem, key_pem) = ca.leaf(1);
    let (cert, key) = write_pair(dir, &cert_pem, &key_pem);
    let server = TestServer::start(cert, key, None, limits).await;
    (ca, server)
}

/// An AdmissionReview (CREATE) of a valid one-application group.
pub fn valid_review() -> Vec<u8> {
    serde_json::to_vec(&create(group("bookinfo", vec![app("web", &[])]))).unwrap()
}

/// POSTs [`valid_review`] to `/validate` over TLS, trusting `root`.
pub async fn post_valid_review(addr: SocketAddr, root: CertificateDer<'static>) -> HttpAnswer {
    post(addr, client_config(root, &[]), "/validate", &valid_review())
        .await
        .unwrap()
}

/// The server still answers a valid review, allowing it.
pub async fn assert_server_still_serves(server: &TestServer, ca: &Ca) {
    let answer = post_valid_review(server.tls_addr, ca.der()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["response"]["allowed"], true);
}
