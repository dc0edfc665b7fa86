//! The generated serving certificate verifies against the generated CA, as a TLS client (the API
//! server calling the webhook) would check it, for exactly the requested names.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use orkestra_certs::{CertRequest, Outcome, ensure_dir, generate};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

fn verify(ca_pem: &str, chain_pem: &str, name: &str) -> Result<(), rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in certs(ca_pem) {
        roots.add(ca).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .unwrap();
    let chain = certs(chain_pem);
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    verifier
        .verify_server_cert(&chain[0], &chain[1..], &server_name, &[], UnixTime::now())
        .map(|_| ())
}

fn request() -> CertRequest {
    CertRequest {
        dns_names: vec!["orkestra-webhook.orkestra.svc".into(), "localhost".into()],
        ips: vec!["127.0.0.1".parse().unwrap()],
        days: 30,
    }
}

#[test]
fn leaf_verifies_against_the_ca_for_every_requested_name() {
    let g = generate(&request()).unwrap();
    assert_eq!(certs(&g.chain_pem).len(), 2, "tls.crt holds leaf + CA");
    for name in ["orkestra-webhook.orkestra.svc", "localhost", "127.0.0.1"] {
        verify(&g.ca_pem, &g.chain_pem, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn leaf_does_not_verify_for_other_names_or_another_ca() {
    let g = generate(&request()).unwrap();
    assert!(verify(&g.ca_pem, &g.chain_pem, "evil.example.com").is_err());
    assert!(verify(&g.ca_pem, &g.chain_pem, "10.0.0.1").is_err());
    let other = generate(&request()).unwrap();
    assert!(verify(&other.ca_pem, &g.chain_pem, "localhost").is_err());
}

#[test]
fn key_is_pem_pkcs8() {
    let g = generate(&request()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(g.key_pem.as_bytes()).unwrap();
    assert!(matches!(key, PrivateKeyDer::Pkcs8(_)));
}

#[test]
fn no_names_and_bad_names_are_refused() {
    let none = CertRequest {
        dns_names: vec![],
        ips: vec![],
        days: 1,
    };
    assert_eq!(
        generate(&none).unwrap_err().to_string(),
        "at least one --dns-name or --ip is required"
    );
    let bad = CertRequest {
        dns_names: vec!["not a name".into()],
        ips: vec![],
        days: 1,
    };
    assert!(
        generate(&bad)
            .unwrap_err()
            .to_string()
            .contains("invalid DNS name \"not a name\"")
    );
    let zero = CertRequest {
        days: 0,
        ..request()
    };
    assert!(generate(&zero).is_err());
}

#[test]
fn writing_is_idempotent_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        ensure_dir(dir.path(), &request(), false).unwrap(),
        Outcome::Written
    );
    let first = std::fs::read_to_string(dir.path().join("tls.crt")).unwrap();
    assert_eq!(
        ensure_dir(dir.path(), &request(), false).unwrap(),
        Outcome::Kept
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("tls.crt")).unwrap(),
        first
    );
    assert_eq!(
        ensure_dir(dir.path(), &request(), true).unwrap(),
        Outcome::Written
    );
    assert_ne!(
        std::fs::read_to_string(dir.path().join("tls.crt")).unwrap(),
        first
    );
    let ca = std::fs::read_to_string(dir.path().join("ca.crt")).unwrap();
    let chain = std::fs::read_to_string(dir.path().join("tls.crt")).unwrap();
    verify(&ca, &chain, "localhost").unwrap();
}

#[test]
fn a_partial_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tls.key"), "old").unwrap();
    let err = ensure_dir(dir.path(), &request(), false).unwrap_err();
    assert!(err.to_string().contains("only some of"), "{err}");
}

/// The key is written through no link planted where the temporary files go (the temporary file
/// is created new, with the key's mode, never opened through an existing path), and ends as
/// `0600`. Before, every file went through `<name>.tmp`, written by `fs::write` with the umask's
/// mode: a link at `tls.tmp` received the private key.
#[cfg(unix)]
#[test]
fn the_key_is_never_written_through_a_planted_link() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = elsewhere.path().join("readable-by-all");
    std::fs::write(&victim, "nothing secret").unwrap();
    for planted in [
        "tls.tmp",
        ".tls.key.tmp",
        ".tls.crt.tmp",
        "ca.tmp",
        ".ca.crt.tmp",
    ] {
        std::os::unix::fs::symlink(&victim, dir.path().join(planted)).unwrap();
    }
    assert_eq!(
        ensure_dir(dir.path(), &request(), false).unwrap(),
        Outcome::Written
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "nothing secret");
    let key = std::fs::metadata(dir.path().join("tls.key")).unwrap();
    assert!(key.is_file());
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    let pem = std::fs::read_to_string(dir.path().join("tls.key")).unwrap();
    assert!(pem.contains("PRIVATE KEY"), "{pem}");
}
