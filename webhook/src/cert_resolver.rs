//! The serving certificate: loaded from PEM files, swapped atomically when the files change.
//!
//! The resolver hands every new TLS handshake the certificate current at that moment; connections
//! already established keep theirs, so a rotation never fails a request in flight. The files are polled
//! (content compared), not watched with inotify: a Secret volume is updated by swapping its `..data`
//! symlink, which an inotify watch on the file itself does not see.

use crate::cert_info::CertInfo;
use crate::metrics::Metrics;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: PathBuf },
    #[error("{path}: bad PEM certificate: {message}")]
    BadCertificate { path: PathBuf, message: String },
    #[error("{path}: no usable PEM private key: {message}")]
    BadKey { path: PathBuf, message: String },
    #[error("certificate and key do not belong together (or the key type is not supported): {0}")]
    Mismatch(rustls::Error),
}

/// A certificate chain with its key, ready for rustls, and what the logs and metrics say about it.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    pub key: Arc<CertifiedKey>,
    pub info: Option<CertInfo>,
}

/// Parses a PEM chain (leaf first, then intermediates) and its PEM private key.
pub fn load_pem(
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<LoadedCert, CertError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::BadCertificate {
            path: cert_path.to_owned(),
            message: e.to_string(),
        })?;
    let Some(leaf) = chain.first() else {
        return Err(CertError::NoCertificate {
            path: cert_path.to_owned(),
        });
    };
    let info = CertInfo::from_der(leaf);
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| CertError::BadKey {
        path: key_path.to_owned(),
        message: e.to_string(),
    })?;
    let key = CertifiedKey::from_der(chain, key, provider).map_err(CertError::Mismatch)?;
    Ok(LoadedCert {
        key: Arc::new(key),
        info,
    })
}

/// Hands out the current certificate; `None` (handshake refused) until one was loaded.
#[derive(Debug, Default)]
pub struct CertResolver {
    current: RwLock<Option<Arc<CertifiedKey>>>,
}

impl CertResolver {
    pub fn set(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(key);
    }

    pub fn is_loaded(&self) -> bool {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The mounted certificate and key files, and what was last read from them.
#[derive(Debug)]
pub struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    last_seen: Option<(Vec<u8>, Vec<u8>)>,
    last_error: Option<String>,
}

impl CertFiles {
    pub fn new(cert: PathBuf, key: PathBuf) -> CertFiles {
        CertFiles {
            cert,
            key,
            last_seen: None,
            last_error: None,
        }
    }

    /// Reads both files and, when their content changed since the last call, loads them into the
    /// resolver. A failure keeps the certificate in use; it is logged and counted once per change.
    /// Cert and key written one after the other do not match for a moment: that attempt fails and the
    /// next poll, seeing the key change too, succeeds.
    pub fn reload_if_changed(
        &mut self,
        resolver: &CertResolver,
        provider: &CryptoProvider,
        metrics: &Metrics,
    ) {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| CertError::Read {
                path: path.to_owned(),
                source,
            })
        };
        let contents = read(&self.cert).and_then(|cert| Ok((cert, read(&self.key)?)));
        let (cert_pem, key_pem) = match contents {
            Ok(contents) => contents,
            Err(error) => return self.failed(error, metrics),
        };
        if self.last_seen.as_ref() == Some(&(cert_pem.clone(), key_pem.clone())) {
            return;
        }
        let loaded = load_pem(&self.cert, &cert_pem, &self.key, &key_pem, provider);
        self.last_seen = Some((cert_pem, key_pem));
        match loaded {
            Ok(LoadedCert { key, info }) => {
                resolver.set(key);
                self.last_error = None;
                let (serial, not_after) =
                    info.map_or((String::from("?"), 0), |i| (i.serial, i.not_after));
                metrics.certificate_loaded(not_after);
                tracing::info!(cert = %self.cert.display(), %serial, not_after, "serving certificate loaded");
            }
            Err(error) => self.failed(error, metrics),
        }
    }

    fn failed(&mut self, error: CertError, metrics: &Metrics) {
        let message = error.to_string();
        if self.last_error.as_ref() != Some(&message) {
            metrics.certificate_reload_failed();
            tracing::warn!(error = %message, "serving certificate not loaded; the previous one (if any) stays in use");
            self.last_error = Some(message);
        }
    }
}
