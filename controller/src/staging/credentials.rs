//! Repository credentials and the HTTP clients built from them.
//!
//! The caller resolves credentials (the reconciler from the Secret named by `authSecretRef`, the
//! CLI from a YAML file), so staging makes no Kubernetes calls. Keys follow Flux's Secret layout:
//! `username`/`password`, `ca.crt`, `tls.crt`/`tls.key` (PEM data, not paths); the older
//! `caFile`/`certFile`/`keyFile` keys are accepted too.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::staging::error::StagingError;

/// How long one HTTP request may take; a stuck repository must not stall a reconcile forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Connect timeout: an unreachable host should fail fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Credentials for one repository or registry.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// Basic-auth user (also used to obtain registry bearer tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Basic-auth password or token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// PEM CA bundle trusted in addition to the public roots.
    #[serde(
        default,
        rename = "ca.crt",
        alias = "caFile",
        skip_serializing_if = "Option::is_none"
    )]
    pub ca_pem: Option<String>,
    /// PEM client certificate (chain).
    #[serde(
        default,
        rename = "tls.crt",
        alias = "certFile",
        skip_serializing_if = "Option::is_none"
    )]
    pub cert_pem: Option<String>,
    /// PEM private key of the client certificate.
    #[serde(
        default,
        rename = "tls.key",
        alias = "keyFile",
        skip_serializing_if = "Option::is_none"
    )]
    pub key_pem: Option<String>,
}

// NB: hand-written so that secrets never reach logs through `{:?}`.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca_pem", &self.ca_pem.is_some())
            .field("cert_pem", &self.cert_pem.is_some())
            .field("key_pem", &self.key_pem.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Credentials {
    /// Credentials from a Kubernetes Secret's `data` (already base64-decoded).
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Self {
        let get = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| data.get(*k))
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        Self {
            username: get(&["username"]),
            password: get(&["password"]),
            ca_pem: get(&["ca.crt", "caFile"]),
            cert_pem: get(&["tls.crt", "certFile"]),
            key_pem: get(&["tls.key", "keyFile"]),
        }
    }

    /// Credentials from a Kubernetes Secret (`data`, and `stringData` as a client may have left
    /// it).
    pub fn from_secret(secret: &k8s_openapi::api::core::v1::Secret) -> Self {
        let mut data: BTreeMap<String, Vec<u8>> = secret
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        for (key, value) in secret.string_data.iter().flatten() {
            data.insert(key.clone(), value.clone().into_bytes());
        }
        Self::from_secret_data(&data)
    }

    /// The basic-auth pair, when a username is set.
    pub fn basic(&self) -> Option<(&str, &str)> {
        self.username
            .as_deref()
            .map(|u| (u, self.password.as_deref().unwrap_or("")))
    }

    /// True when the credentials change the TLS setup (and so need a client of their own).
    pub fn has_tls(&self) -> bool {
        self.ca_pem.is_some() || self.cert_pem.is_some()
    }

    /// An HTTP client trusting the public roots plus `ca.crt`, presenting `tls.crt`/`tls.key`.
    pub fn client(&self, url: &str) -> Result<reqwest::Client, StagingError> {
        let bad = |reason: String| StagingError::InvalidCredentials {
            url: url.to_owned(),
            reason,
        };
        let mut builder = base_client_builder();
        if let Some(ca) = &self.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(ca.as_bytes())
                .map_err(|err| bad(format!("ca.crt is not a PEM certificate bundle: {err}")))?;
            if certs.is_empty() {
                return Err(bad("ca.crt holds no certificate".to_owned()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        match (&self.cert_pem, &self.key_pem) {
            (Some(cert), Some(key)) => {
                let pem = format!("{cert}\n{key}");
                let identity = reqwest::Identity::from_pem(pem.as_bytes()).map_err(|err| {
                    bad(format!(
                        "tls.crt/tls.key are not a PEM certificate and key: {err}"
                    ))
                })?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => return Err(bad("tls.crt and tls.key must be given together".to_owned())),
        }
        builder.build().map_err(|err| bad(err.to_string()))
    }
}

/// The client settings every staging client shares.
pub fn base_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("orkestra-controller/", env!("CARGO_PKG_VERSION")))
}

/// Credentials by repository URL, as the CLI's `--credentials FILE` gives them: a YAML mapping
/// from repository URL (or URL prefix) to [`Credentials`]. The longest matching prefix wins; a
/// prefix matches whole path segments only (`https://h/charts` matches `https://h/charts/x`, not
/// `https://h/charts2` or `https://h/charts.evil.net`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CredentialsMap(pub BTreeMap<String, Credentials>);

impl CredentialsMap {
    /// The credentials for `url`, if any prefix matches.
    pub fn lookup(&self, url: &str) -> Option<&Credentials> {
        let url = url.trim_end_matches('/');
        self.0
            .iter()
            .filter(|(prefix, _)| {
                url.strip_prefix(prefix.trim_end_matches('/'))
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, creds)| creds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_follow_flux() {
        let data: BTreeMap<String, Vec<u8>> =
            [("username", "u"), ("password", "p"), ("caFile", "CA")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
                .collect();
        let creds = Credentials::from_secret_data(&data);
        assert_eq!(creds.basic(), Some(("u", "p")));
        assert_eq!(creds.ca_pem.as_deref(), Some("CA"));
        assert!(!format!("{creds:?}").contains("\"p\""));
    }

    #[test]
    fn the_longest_prefix_wins() {
        let map: CredentialsMap = serde_norway::from_str(
            "https://h/: {username: a}\nhttps://h/charts: {username: b, password: x}\n",
        )
        .unwrap_or_default();
        assert_eq!(
            map.lookup("https://h/charts/")
                .and_then(|c| c.username.as_deref()),
            Some("b")
        );
        assert_eq!(
            map.lookup("https://h/other")
                .and_then(|c| c.username.as_deref()),
            Some("a")
        );
        assert_eq!(map.lookup("https://elsewhere"), None);
    }

    #[test]
    fn a_prefix_matches_whole_segments_only() {
        let map: CredentialsMap = serde_norway::from_str(
            "https://charts.example.com: {username: a, password: x}
https://h/charts: {username: b, password: y}
",
        )
        .unwrap_or_default();
        let user = |url| map.lookup(url).and_then(|c| c.username.as_deref());
        assert_eq!(user("https://charts.example.com/stable"), Some("a"));
        assert_eq!(user("https://charts.example.com"), Some("a"));
        assert_eq!(user("https://charts.example.com.evil.net/stable"), None);
        assert_eq!(user("https://charts.example.com:8443/stable"), None);
        assert_eq!(user("https://h/charts2"), None);
        assert_eq!(user("https://h/charts/x"), Some("b"));
    }
}
