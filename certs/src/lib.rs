//! Certificates for the Orkestra admission webhook: a fresh CA and a serving certificate signed by
//! it, as PEM. Used by the `orkestra-certs` binary (local clusters, the chart's bootstrap Job) and
//! in-process by tests.

mod args;
mod generate;
mod output;

pub use args::{Args, run};
pub use generate::{CertRequest, Generated, generate};
pub use output::{CA_CERT_FILE, Outcome, TLS_CERT_FILE, TLS_KEY_FILE, ensure_dir};

/// Everything that can go wrong while making or writing certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// A certificate needs at least one name to be valid for.
    #[error("at least one --dns-name or --ip is required")]
    NoNames,
    /// A DNS name that cannot appear in a certificate.
    #[error("invalid DNS name {0:?}: use letters, digits, '-', '.', optionally a leading '*.'")]
    InvalidDnsName(String),
    /// Validity must be from one day to [`generate::MAX_DAYS`].
    #[error("--days must be from 1 to {max}, got {0}", max = generate::MAX_DAYS)]
    InvalidDays(u32),
    /// rcgen refused the parameters or failed to sign.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Only some of the output files exist: refusing to mix old and new material.
    #[error("{dir} holds only some of ca.crt, tls.crt, tls.key; remove them or pass --force")]
    Partial {
        /// The output directory.
        dir: std::path::PathBuf,
    },
}
