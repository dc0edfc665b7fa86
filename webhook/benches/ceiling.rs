//! The ceiling for the load run (benches/load.sh): a bare axum + rustls server on the same stack as
//! orkestra-webhook (tokio-rustls, hyper-util auto h1/h2, axum) that reads the request body and answers
//! a fixed, allowing AdmissionReview. Whatever the webhook does beyond this is the cost of reviewing.
//! Two routes: `/bare` answers without reading the body's JSON; `/reading` first walks all of it with
//! serde_json (`IgnoredAny`: every token read, nothing kept), the least any webhook that reads the
//! review must do. The load run compares the webhook with both.
//!
//! `ceiling --listen 127.0.0.1:18444 --tls-cert tls.crt --tls-key tls.key`

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::de::IgnoredAny;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const FIXED_REVIEW: &[u8] = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","allowed":true,"status":{"metadata":{},"message":"","reason":"","code":0}}}"#;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut cert, mut key) = (None, None, None);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = Some(value.parse::<SocketAddr>()?),
            "--tls-cert" => cert = Some(PathBuf::from(value)),
            "--tls-key" => key = Some(PathBuf::from(value)),
            // `cargo bench` passes --bench; ignore anything else.
            _ => {}
        }
    }
    let (Some(listen), Some(cert), Some(key)) = (listen, cert, key) else {
        bail!("usage: ceiling --listen ADDR --tls-cert FILE --tls-key FILE");
    };
    let chain = CertificateDer::pem_file_iter(&cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&key)?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let app = Router::new()
        .route("/bare", post(answer))
        .route("/reading", post(read_then_answer));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = TcpListener::bind(listen).await?;
            let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
            loop {
                let (stream, _) = listener.accept().await?;
                let (acceptor, app, builder) = (acceptor.clone(), app.clone(), builder.clone());
                tokio::spawn(async move {
                    let _nodelay = stream.set_nodelay(true);
                    if let Ok(tls) = acceptor.accept(stream).await {
                        let _closed = builder
                            .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                            .await;
                    }
                });
            }
        })
}

async fn answer(body: Bytes) -> impl IntoResponse {
    drop(body);
    ([(header::CONTENT_TYPE, "application/json")], FIXED_REVIEW)
}

async fn read_then_answer(body: Bytes) -> axum::response::Response {
    match serde_json::from_slice::<IgnoredAny>(&body) {
        Ok(IgnoredAny) => answer(body).await.into_response(),
        Err(_) => axum::http::StatusCode::BAD_REQUEST.into_response(),
    }
}
