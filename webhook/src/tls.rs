//! The TLS server configuration: TLS 1.2 and 1.3 only, HTTP/2 and HTTP/1.1 by ALPN, the certificate
//! from the rotating resolver.

use crate::cert_resolver::CertResolver;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use std::sync::Arc;

pub fn server_config(
    resolver: Arc<CertResolver>,
    provider: Arc<CryptoProvider>,
) -> Result<ServerConfig, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
