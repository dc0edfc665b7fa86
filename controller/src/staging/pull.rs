//! Fetching an application's chart from its source repository, HTTP(S) or OCI.

use super::cache::ChartCache;
use super::credentials::Credentials;
use super::error::StagingError;
use super::limits::Limits;
use super::plain_http::PlainHttp;
use super::{http_repo, oci_source};
use orkestra_shared::version::VersionConstraint;

/// A fetched chart archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The version resolved from the requested spec.
    pub version: String,
    /// The `.tgz` bytes.
    pub bytes: Vec<u8>,
    /// Hex sha256 of `bytes`.
    pub sha256: String,
    /// True when the archive came from the local cache.
    pub from_cache: bool,
}

/// Where a chart comes from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Repository URL: `http(s)://…` (index.yaml) or `oci://host/path`.
    pub url: &'a str,
    /// Chart name in the repository.
    pub name: &'a str,
    /// Requested version.
    pub version: &'a VersionConstraint,
    /// Credentials for the repository.
    pub credentials: Option<&'a Credentials>,
}

/// Resolves the version and fetches the archive.
pub async fn pull(
    client: &reqwest::Client,
    cache: &ChartCache,
    limits: &Limits,
    plain_http: &PlainHttp,
    source: Source<'_>,
) -> Result<Pulled, StagingError> {
    // A TLS setting (private CA, client certificate) needs a client of its own.
    let own_client;
    let client = match source.credentials.filter(|c| c.has_tls()) {
        Some(creds) => {
            own_client = creds.client(source.url)?;
            &own_client
        }
        None => client,
    };
    if source.url.starts_with("oci://") {
        oci_source::pull(client, cache, limits, plain_http, source).await
    } else if source.url.starts_with("https://") || source.url.starts_with("http://") {
        http_repo::pull(
            client,
            source.credentials,
            cache,
            limits,
            source.url,
            source.name,
            source.version,
        )
        .await
    } else {
        Err(StagingError::InvalidSpec(format!(
            "chart URL {:?} must start with https://, http:// or oci://",
            source.url
        )))
    }
}
