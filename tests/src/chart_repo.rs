//! A static Helm chart repository over a directory: plain HTTP or HTTPS with a private CA, with
//! optional basic auth. Binds a free loopback port (or a given address) and stops on drop.
//!
//! Basic auth answers 401 with a `WWW-Authenticate: Basic` challenge to a request without the
//! right credentials, missing or wrong, as nginx's `auth_basic`, Apache's and ChartMuseum's basic
//! auth answer. A required signature answers
//! 403 to any request whose query lacks `sig=<signature>`, as Azure Blob Storage does for a
//! container read through a shared access signature (SAS) URL.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::services::ServeDir;

/// How to serve the repository.
#[derive(Debug, Clone, Default)]
pub struct RepoOptions {
    /// Required basic-auth user and password.
    pub basic_auth: Option<(String, String)>,
    /// Serve HTTPS with a certificate from a fresh private CA (see [`ChartRepo::ca_pem`]).
    pub tls: bool,
    /// Address to listen on; default 127.0.0.1 on a free port.
    pub listen: Option<SocketAddr>,
    /// A signature every request must carry in its query (`?sig=…`), as a SAS URL does.
    pub signature: Option<String>,
}

/// A running chart repository.
#[derive(Debug)]
pub struct ChartRepo {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The CA certificate (PEM) that signed the server certificate, when serving HTTPS.
    pub ca_pem: Option<String>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Drop for ChartRepo {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.task.abort();
    }
}

impl ChartRepo {
    /// Serves `dir` as configured.
    pub async fn start(dir: &Path, options: RepoOptions) -> anyhow::Result<Self> {
        let RepoOptions {
            basic_auth,
            tls,
            listen,
            signature,
        } = options;
        let listen = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let addr = listener.local_addr()?;
        let mut router = Router::new().fallback_service(ServeDir::new(dir));
        if let Some((user, password)) = basic_auth {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            let expected = Arc::new(format!("Basic {encoded}"));
            router = router.layer(middleware::from_fn(move |request: Request, next: Next| {
                let expected = Arc::clone(&expected);
                async move { check_basic(&expected, request, next).await }
            }));
        }
        if let Some(signature) = signature {
            let expected = Arc::new(format!("sig={signature}"));
            router = router.layer(middleware::from_fn(move |request: Request, next: Next| {
                let expected = Arc::clone(&expected);
                async move {
                    let signed = request
                        .uri()
                        .query()
                        .is_some_and(|query| query.split('&').any(|pair| pair == *expected));
                    if signed {
                        next.run(request).await
                    } else {
                        StatusCode::FORBIDDEN.into_response()
                    }
                }
            }));
        }
        let (stop, stopped) = watch::channel(false);
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            addr.ip().to_string()
        };
        if tls {
            let (acceptor, ca_pem) = tls_acceptor()?;
            let task = tokio::spawn(serve_tls(listener, acceptor, router, stopped));
            Ok(Self {
                url: format!("https://{host}:{}", addr.port()),
                ca_pem: Some(ca_pem),
                stop,
                task,
            })
        } else {
            let mut stopped = stopped;
            let task = tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown)
                    .await;
            });
            Ok(Self {
                url: format!("http://{host}:{}", addr.port()),
                ca_pem: None,
                stop,
                task,
            })
        }
    }
}

async fn check_basic(expected: &str, request: Request, next: Next) -> Response {
    match request.headers().get(header::AUTHORIZATION) {
        Some(value) if value.as_bytes() == expected.as_bytes() => next.run(request).await,
        _ => {
            let mut response = StatusCode::UNAUTHORIZED.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"charts\""),
            );
            response
        }
    }
}

/// A TLS acceptor with a certificate for localhost/127.0.0.1 signed by a fresh CA; returns the
/// CA's PEM too.
fn tls_acceptor() -> anyhow::Result<(tokio_rustls::TlsAcceptor, String)> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let cert = params.signed_by(&key, &ca, &ca_key)?;
    let chain = vec![cert.der().clone()];
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key_der)?;
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca.pem()))
}

async fn serve_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            // A client that fails the handshake (e.g. distrusts the CA) just goes away.
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
